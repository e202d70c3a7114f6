"""Export → import loses nothing: every example plan in config/plans, imported, exported by duban (XLSX with
its 方案信息 sheet, and YAML), imported into a fresh database, reads back field by field as it was stored.

This is the net for new plan fields: a field the model gains that the export does not write, or the
import does not read back, shows here as a difference naming the plan, the task and the field.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli import run
from tests.support import PLANS

PLAN_FILES = sorted(p for p in PLANS.glob("*.yaml") if not p.name.endswith(".units.yaml"))


def _stored(db_url: str, code: str) -> Any:
    """The plan as the store gives it back, where it came from (file and line) left out."""
    from duban.matrix.model import SourceRef
    from duban.store.db import open_database, transaction
    from duban.store.repository import read_plan

    engine = open_database(db_url)
    try:
        with transaction(engine) as session:
            plan = read_plan(session, code)
    finally:
        engine.dispose()
    return dataclasses.replace(
        plan,
        tasks=tuple(dataclasses.replace(t, source=SourceRef()) for t in plan.tasks),
        stages=tuple(dataclasses.replace(s, source=SourceRef()) for s in plan.stages),
    )


def _differences(before: Any, after: Any, where: str = "plan") -> list[str]:
    """Every field that differs, named by its path (plan.tasks[3.2.1].milestones[0].due: a → b)."""
    if dataclasses.is_dataclass(before) and dataclasses.is_dataclass(after):
        out: list[str] = []
        for f in dataclasses.fields(before):
            out += _differences(getattr(before, f.name), getattr(after, f.name), f"{where}.{f.name}")
        return out
    if isinstance(before, tuple) and isinstance(after, tuple) and len(before) == len(after):
        out = []
        for i, (a, b) in enumerate(zip(before, after, strict=True)):
            label = getattr(a, "code", None) or getattr(a, "name", None) or i
            out += _differences(a, b, f"{where}[{label}]")
        return out
    return [] if before == after else [f"{where}: {before!r} → {after!r}"]


# A plan that uses every field a plan and a task may have, written as a county office would (traditional).
EVERY_FIELD_PLAN = """\
plan:
  code: county-2026
  title: 某縣2026年鄉村振興重點任務分工方案
  issuer: 某縣鄉村振興領導小組辦公室
  base_year: 2026
  start: 2026-03-01
  end: 2027-12-31
  timezone: Asia/Shanghai
  source: 縣委辦發〔2026〕3號
  reporting: 每季度
  default_unit: 縣農業農村局
directory: county-2026.units.yaml
officials:
  - {name: 張志強, title: 縣人民政府副縣長, email: zhang.zhiqiang@example.org}
tasks:
  - code: "1.1"
    section: ["一、基礎設施", "（一）交通"]
    title: 農村公路提檔升級
    target: 新改建農村公路50公里
    lead_officials: ["張志強(縣人民政府副縣長)", "李明(縣人民政府副縣長)"]
    lead_unit: 縣交通運輸局
    co_lead_units: [縣應急管理局]
    supporting_units: [縣財政局, 各鄉鎮人民政府]
    deadline: 2026年6月底前完成20公里，12月底前累計完成50公里
    veto: true
  - code: "1.2"
    section: ["一、基礎設施"]
    title: 慰問困難群眾
    lead_unit: 縣民政局
    deadline: 每年春節前不少於300元
  - code: "2.1"
    title: 人居環境整治
    deadline: 2026年底前完成，2027年持續推進
stages:
  - {code: S1, kind: stage, title: 動員部署, deadline: 2026年3月31日前, text: 召開動員大會, units: [縣農業農村局, 縣財政局]}
  - {code: W1, kind: current_work, title: 摸底調查, deadline: 4月底前}
"""
EVERY_FIELD_UNITS = """\
office: {name: 某縣鄉村振興領導小組辦公室, emails: [office@example.org]}
units:
  - {name: 縣交通運輸局, emails: [jt@example.org]}
  - {name: 縣應急管理局, emails: [yj@example.org]}
  - {name: 縣財政局, emails: [cz@example.org]}
  - {name: 縣民政局, emails: [mz@example.org]}
  - {name: 縣農業農村局, emails: [nl@example.org]}
  - {name: 各鄉鎮人民政府, kind: group, emails: [xz@example.org]}
"""


def _every_field_plan(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "county-2026.units.yaml").write_text(EVERY_FIELD_UNITS, encoding="utf-8")
    plan = folder / "county-2026.yaml"
    plan.write_text(EVERY_FIELD_PLAN, encoding="utf-8")
    return plan


@pytest.mark.parametrize("plan_file", [*PLAN_FILES, None], ids=lambda p: p.stem if p else "every-field")
@pytest.mark.parametrize("fmt", ["xlsx", "yaml"])
def test_export_then_import_loses_nothing(tmp_path: Path, db_url: str, plan_file: Path | None, fmt: str) -> None:
    plan_file = plan_file or _every_field_plan(tmp_path / "own")
    original = f"sqlite:///{tmp_path / 'original.db'}"
    code = plan_file.stem
    run(["matrix", "import", str(plan_file), "--as-of", "2020-01-01"], cwd=tmp_path, db_url=original)
    exported = tmp_path / f"exported.{fmt}"  # not named after the plan: its code must come from the file
    run(["matrix", "export", "--plan", code, "--format", fmt, "--out", str(exported)], cwd=tmp_path, db_url=original)

    directory = plan_file.with_name(f"{code}.units.yaml")
    run(["matrix", "import", str(exported), "--directory", str(directory), "--as-of", "2020-01-01"],
        cwd=tmp_path, db_url=db_url)
    assert _differences(_stored(original, code), _stored(db_url, code)) == []
    if plan_file.parent.name == "own":  # the header's default_unit is stored and read back, beside leading 2.1
        assert (_stored(db_url, code).default_unit, _stored(db_url, code).task("2.1").lead_unit) == ("縣農業農村局",) * 2
    again = run(["matrix", "import", str(exported), "--directory", str(directory), "--as-of", "2020-01-02"],
                cwd=tmp_path, db_url=db_url).stdout
    assert "no changes" in again, again


def test_the_xlsx_carries_the_plan_facts_sheet(tmp_path: Path, sqlite_url: str) -> None:
    """方案信息 holds the header as key/value rows and the stages and officials as tables, readable by a person."""
    from openpyxl import load_workbook

    run(["matrix", "import", str(PLANS / "district-2015.yaml")], cwd=tmp_path, db_url=sqlite_url)
    out = tmp_path / "district.xlsx"
    run(["matrix", "export", "--format", "xlsx", "--out", str(out)], cwd=tmp_path, db_url=sqlite_url)
    book = load_workbook(out)
    assert book.sheetnames == ["責任分解", "方案信息"]
    rows = [[c for c in row if c is not None] for row in book["方案信息"].iter_rows(values_only=True)]
    assert rows[0] == ["plan"] and ["code", "district-2015"] in rows and ["base_year", "2015"] in rows
    assert ["start", "2015-07-01"] in rows and any(r[:1] == ["issuer"] for r in rows)
    assert ["stages"] in rows and rows[rows.index(["stages"]) + 1][:5] == ["code", "kind", "title", "deadline", "text"]
    assert ["officials"] in rows and rows[rows.index(["officials"]) + 1][:2] == ["name", "title"]


def test_an_edited_plan_facts_sheet_is_checked_like_a_yaml_header(tmp_path: Path, sqlite_url: str) -> None:
    """The office edits 方案信息: a changed issuer is imported, a key duban does not know is refused at its row."""
    from openpyxl import load_workbook

    run(["matrix", "import", str(PLANS / "village-2018.yaml")], cwd=tmp_path, db_url=sqlite_url)
    out = tmp_path / "village.xlsx"
    run(["matrix", "export", "--format", "xlsx", "--out", str(out)], cwd=tmp_path, db_url=sqlite_url)
    book = load_workbook(out)
    facts = book["方案信息"]
    issuer = next(row for row in facts.iter_rows() if row[0].value == "issuer")
    issuer[1].value = "縣扶貧開發領導小組辦公室"
    book.save(out)
    units = str(PLANS / "village-2018.units.yaml")
    result = run(["matrix", "import", str(out), "--directory", units], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "~ plan issuer: 市XXX局 → 縣扶貧開發領導小組辦公室" in result

    facts.insert_rows(2)  # a row of its own in the plan block, right under 「plan」
    facts["A2"], facts["B2"] = "owner", "某人"
    book.save(out)
    proc = run(["matrix", "validate", str(out), "--directory", units], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode == 1 and "owner" in proc.stderr and "unknown field of the plan header" in proc.stderr


def test_the_default_unit_is_exported_and_an_edit_of_it_is_a_change(tmp_path: Path, sqlite_url: str) -> None:
    """The header's default_unit (the lead unit of a task that names none) is in the YAML export's plan: and in
    方案信息; an office that edits it there changes it; a task sheet alone (no 方案信息) keeps the stored one."""
    import yaml
    from openpyxl import load_workbook

    plan_file = _every_field_plan(tmp_path / "own")
    units = str(plan_file.with_name("county-2026.units.yaml"))
    run(["matrix", "import", str(plan_file)], cwd=tmp_path, db_url=sqlite_url)
    exported = tmp_path / "exported.yaml"
    run(["matrix", "export", "--format", "yaml", "--out", str(exported)], cwd=tmp_path, db_url=sqlite_url)
    assert yaml.safe_load(exported.read_text(encoding="utf-8"))["plan"]["default_unit"] == "縣農業農村局"
    out = tmp_path / "county.xlsx"
    run(["matrix", "export", "--format", "xlsx", "--out", str(out)], cwd=tmp_path, db_url=sqlite_url)
    book = load_workbook(out)
    row = next(row for row in book["方案信息"].iter_rows() if row[0].value == "default_unit")
    assert row[1].value == "縣農業農村局"
    row[1].value = "縣財政局"
    book.save(out)
    result = run(["matrix", "import", str(out), "--directory", units], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "~ plan default_unit: 縣農業農村局 → 縣財政局" in result, result
    assert _stored(sqlite_url, "county-2026").default_unit == "縣財政局"

    del book["方案信息"]
    book.save(out)
    result = run(["matrix", "import", str(out), "--directory", units, "--plan", "county-2026", "--base-year", "2026"],
                 cwd=tmp_path, db_url=sqlite_url).stdout
    assert "kept as stored" in result and "default_unit" in result, result
    assert _stored(sqlite_url, "county-2026").default_unit == "縣財政局"
