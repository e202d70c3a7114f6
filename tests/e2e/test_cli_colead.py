"""A county's own task sheet as offices type it: lead officials written every way one cell holds them, and
several lead units in one cell (the first leads, the others are co-leads, 共同牽頭), through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
import yaml

from duban.matrix.script import to_simplified
from tests.e2e.test_cli import run

HEADER = ["序號", "任務", "牽頭領導", "牽頭單位", "配合單位", "時間要求"]
# (code, task, lead officials cell, lead unit cell, supporting, deadline) → the officials expected.
OFFICIAL_ROWS = [
    ("1", "新改建農村公路", "張志強\n(區人民政府副區長)", "區交通局", "區財政局", "2026年11月底前",
     [("張志強", "區人民政府副區長")]),
    ("2", "農村危房改造", "張志強（副區長）", "區住建局", "", "2026年12月底前", [("張志強", "副區長")]),
    ("3", "飲水安全鞏固", "副區長 張志強", "區水利局", "", "2026年10月底前", [("張志強", "副區長")]),
    ("4", "產業項目落地", "副區長：張志強", "區農業農村局", "", "2026年9月底前", [("張志強", "副區長")]),
    ("5", "就業培訓", "張志強(副區長)\n李明(區委常委、副區長)", "區人社局", "", "2026年8月底前",
     [("張志強", "副區長"), ("李明", "區委常委、副區長")]),
    ("6", "醫療救助", "張志強、李明", "區衛健局", "", "2026年7月底前", [("張志強", ""), ("李明", "")]),
    ("7", "教育資助", "副區長 張志強；副區長 李明", "區教育局", "", "2026年6月底前",
     [("張志強", "副區長"), ("李明", "副區長")]),
    ("8", "兜底保障", "張志強（副區長），李明（副區長）", "區民政局", "", "2026年5月底前",
     [("張志強", "副區長"), ("李明", "副區長")]),
    ("9", "應急演練", "張志強\n副區長", "區應急管理局", "", "2026年4月底前", [("張志強", "副區長")]),
]


def _sheet(path: Path, rows: list[list[str]], *, simplified: bool) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "任務分解表"
    ws.append(["某區2026年重點任務分解表"])  # a title row above the header, as offices print it
    for row in [HEADER, *rows]:
        ws.append([to_simplified(c) if simplified and isinstance(c, str) else c for c in row])
    wb.save(path)
    return path


@pytest.mark.parametrize("simplified", [False, True], ids=["traditional", "simplified"])
def test_officials_every_way_a_cell_holds_them(tmp_path: Path, sqlite_url: str, simplified: bool) -> None:
    fold = to_simplified if simplified else (lambda s: s)
    path = _sheet(tmp_path / "plan.xlsx", [list(r[:6]) for r in OFFICIAL_ROWS], simplified=simplified)
    run(["matrix", "import", str(path), "--allow-new-units", "--as-of", "2026-03-01"], cwd=tmp_path, db_url=sqlite_url)
    rows = {r["code"]: r for r in json.loads(run(["matrix", "show", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)}
    for code, *_cells, expected in OFFICIAL_ROWS:
        got = [(o["name"], o["title"]) for o in rows[code]["lead_officials"]]
        assert got == [(fold(n), fold(t)) for n, t in expected], code
    shown = run(["matrix", "show", "--official", fold("李明")], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "4 tasks" in shown


@pytest.mark.parametrize("simplified", [False, True], ids=["traditional", "simplified"])
def test_an_unreadable_officials_cell_is_a_problem_naming_row_field_and_text(tmp_path: Path, sqlite_url: str,
                                                                            simplified: bool) -> None:
    rows = [list(r[:6]) for r in OFFICIAL_ROWS[:2]]
    rows[1][2] = "張志強（副區長）\n李明（副區長"  # the second official's parenthesis never closes
    path = _sheet(tmp_path / "plan.xlsx", rows, simplified=simplified)
    proc = run(["matrix", "validate", str(path), "--allow-new-units"], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "row 4" in out and "lead_officials" in out and "cannot read the official" in out, out
    assert (to_simplified("李明（副區長") if simplified else "李明（副區長") in out, out
    assert "Traceback" not in out


# Several lead units in one cell: the first leads, the rest are co-leads (共同牽頭).
CO_LEAD_ROWS = [
    ["1", "農村公路安全隱患整治", "副縣長 張志強", "縣交通運輸局；縣應急管理局", "縣財政局", "2026年4月30日前"],
    ["2", "防汛物資儲備", "張志強\n(縣人民政府副縣長)", "縣應急管理局\n縣水利局", "縣應急管理局、縣財政局", "2026年5月31日前"],
    ["3", "高標準農田建設", "李明（副縣長）", "縣農業農村局、縣自然資源局，縣水利局", "", "2026年10月31日前"],
    ["4", "農技培訓", "李明（副縣長）", "縣農業農村局", "縣人社局", "2026年11月30日前"],
]


def _co_lead_sheet(tmp_path: Path, simplified: bool, rows: list[list[str]] | None = None) -> Path:
    return _sheet(tmp_path / "plan.xlsx", rows or CO_LEAD_ROWS, simplified=simplified)


def _json(args: list[str], tmp_path: Path, db_url: str):
    return json.loads(run([*args, "--json"], cwd=tmp_path, db_url=db_url).stdout)


@pytest.mark.parametrize("simplified", [False, True], ids=["traditional", "simplified"])
def test_several_lead_units_in_one_cell_are_the_lead_and_its_co_leads(tmp_path: Path, db_url: str, simplified: bool) -> None:
    f = to_simplified if simplified else (lambda s: s)
    path = _co_lead_sheet(tmp_path, simplified)
    out = run(["matrix", "import", str(path), "--allow-new-units", "--as-of", "2026-03-02"], cwd=tmp_path, db_url=db_url)
    assert "problem" not in out.stdout, out.stdout
    rows = {r["code"]: r for r in _json(["matrix", "show"], tmp_path, db_url)}
    assert (rows["1"]["lead_unit"], rows["1"]["co_lead_units"]) == (f("縣交通運輸局"), [f("縣應急管理局")])
    assert rows["1"]["supporting_units"] == [f("縣財政局")]
    # A co-lead named again among the supporting units is a co-lead only.
    assert (rows["2"]["lead_unit"], rows["2"]["co_lead_units"], rows["2"]["supporting_units"]) == (
        f("縣應急管理局"), [f("縣水利局")], [f("縣財政局")])
    assert rows["3"]["co_lead_units"] == [f("縣自然資源局"), f("縣水利局")]
    assert rows["4"]["co_lead_units"] == []
    # --unit finds the tasks a unit co-leads, in matrix show and in status.
    assert [r["code"] for r in _json(["matrix", "show", "--unit", "縣水利局"], tmp_path, db_url)] == ["2", "3"]
    table = run(["matrix", "show", "--unit", "县应急管理局"], cwd=tmp_path, db_url=db_url).stdout
    assert "2 tasks" in table and "共同牽頭" in table
    status = _json(["status", "--unit", "縣應急管理局", "--as-of", "2026-03-02"], tmp_path, db_url)
    assert [(r["code"], r["co_lead_units"]) for r in status] == [("1", [f("縣應急管理局")]), ("2", [f("縣水利局")])]


def test_co_leads_are_addressed_on_every_notice_of_the_task(tmp_path: Path, db_url: str) -> None:
    """A reminder and a chase go To (主送) the lead unit and each co-lead; the ladder's level 1 (the lead unit's
    head) reaches the co-lead's head too; supporting units stay copies (抄送)."""
    path = _co_lead_sheet(tmp_path, False)
    run(["matrix", "import", str(path), "--allow-new-units", "--as-of", "2026-03-02"], cwd=tmp_path, db_url=db_url)

    def notices(as_of: str) -> list[dict]:
        dry = _json(["sweep", "--as-of", as_of, "--dry-run"], tmp_path, db_url)
        return [n for n in dry["notices"] if n["task"] == "1"]

    def names(people: list[dict]) -> list[tuple[str, str]]:
        return [(p["role"], p["name"]) for p in people]

    reminder = notices("2026-04-28")
    assert [n["kind"] for n in reminder] == ["reminder"]
    assert names(reminder[0]["to"]) == [("unit", "縣交通運輸局"), ("unit", "縣應急管理局")]
    chase = notices("2026-05-06")
    assert [n["kind"] for n in chase] == ["chase"]
    assert names(chase[0]["to"]) == [("unit", "縣交通運輸局"), ("unit", "縣應急管理局")]
    assert names(chase[0]["cc"]) == [("unit", "縣財政局")]
    level1 = [n for n in notices("2026-05-12") if n["kind"] == "escalation"]
    assert names(level1[0]["to"]) == [("unit_head", "縣交通運輸局"), ("unit_head", "縣應急管理局")]
    table = run(["sweep", "--as-of", "2026-05-06", "--dry-run"], cwd=tmp_path, db_url=db_url).stdout
    assert "縣應急管理局" in table and "to (主送)" in table


@pytest.mark.parametrize("lang", ["zh-Hans", "zh-Hant", "en"])
def test_a_letter_to_a_lead_and_its_co_lead_names_both(tmp_path: Path, sqlite_url: str, lang: str) -> None:
    path = _co_lead_sheet(tmp_path, False)
    run(["matrix", "import", str(path), "--allow-new-units", "--as-of", "2026-03-02"], cwd=tmp_path, db_url=sqlite_url)
    letter = run(["notices", "preview", "chase", "--task", "1", "--as-of", "2026-05-06", "--lang", lang],
                 cwd=tmp_path, db_url=sqlite_url).stdout
    if lang == "en":
        assert "縣交通運輸局 and 縣應急管理局 jointly lead item 1" in letter, letter
        assert "(co-lead: 縣應急管理局)" in letter
        return
    f = to_simplified if lang == "zh-Hans" else (lambda s: s)
    assert f("縣交通運輸局、縣應急管理局：") in letter, letter  # 主送, both
    assert f("縣交通運輸局、縣應急管理局共同牽頭負責第1項") in letter, letter
    assert f("你單位") not in letter  # a letter to two units does not say "your unit"
    assert f("（共同牽頭：縣應急管理局）") in letter


def test_a_changed_co_lead_shows_in_the_reimport_diff_and_export_reads_back(tmp_path: Path, db_url: str) -> None:
    path = _co_lead_sheet(tmp_path, False)
    run(["matrix", "import", str(path), "--allow-new-units", "--as-of", "2026-03-02"], cwd=tmp_path, db_url=db_url)
    rows = [list(r) for r in CO_LEAD_ROWS]
    rows[0][3] = "縣交通運輸局；縣公安局"
    path = _co_lead_sheet(tmp_path, False, rows)
    diff = _json(["matrix", "import", str(path), "--allow-new-units", "--as-of", "2026-03-09"], tmp_path, db_url)
    assert diff["changed"] == {"1": [{"field": "co_lead_units", "old": ["縣應急管理局"], "new": ["縣公安局"]}]}, diff
    assert _json(["matrix", "show", "--unit", "縣公安局"], tmp_path, db_url)[0]["code"] == "1"
    assert [r["code"] for r in _json(["matrix", "show", "--unit", "縣應急管理局"], tmp_path, db_url)] == ["2"]
    # Every export reads back as co-leads: yaml (co_lead_units:), json, and xlsx (the lead cell A；B).
    exported = yaml.safe_load(run(["matrix", "export", "--format", "yaml"], cwd=tmp_path, db_url=db_url).stdout)
    assert exported["tasks"][0]["co_lead_units"] == ["縣公安局"]
    assert json.loads(run(["matrix", "export", "--format", "json"], cwd=tmp_path, db_url=db_url).stdout
                      )["tasks"][2]["co_lead_units"] == ["縣自然資源局", "縣水利局"]
    for fmt in ("yaml", "xlsx"):
        out = tmp_path / f"export.{fmt}"
        run(["matrix", "export", "--format", fmt, "--out", str(out)], cwd=tmp_path, db_url=db_url)
        again = _json(["matrix", "import", str(out), "--plan", "plan", "--as-of", "2026-03-16"], tmp_path, db_url)
        assert again["changed"] == {} and again["added"] == [] and again["archived"] == [], (fmt, again)


def _plan_docx(path: Path, simplified: bool) -> Path:
    """A 重點任務分工方案 whose matrix is a Word table; a cell's lines are paragraphs of their own."""
    docx = pytest.importorskip("docx")
    f = to_simplified if simplified else (lambda s: s)
    document = docx.Document()
    document.add_paragraph(f("東林縣2026年防汛工作重點任務分工方案"))
    table = document.add_table(rows=1, cols=6)
    for cell, label in zip(table.rows[0].cells, ["序號", "重點任務", "責任領導", "牽頭單位", "配合單位", "完成時限"]):
        cell.text = f(label)
    rows = [["1", ["防汛物資儲備"], ["張志強", "(縣人民政府副縣長)"], ["縣應急管理局", "縣水利局"], ["縣財政局"],
             ["2026年5月31日前"]],
            ["2", ["農技培訓"], ["副縣長：李明"], ["縣農業農村局；縣自然資源局"], ["縣人社局"], ["2026年11月30日前"]]]
    for values in rows:
        for cell, paragraphs in zip(table.add_row().cells, values):
            first, *more = [paragraphs] if isinstance(paragraphs, str) else paragraphs
            cell.paragraphs[0].text = f(first)
            for text in more:
                cell.add_paragraph(f(text))
    document.save(str(path))
    return path


@pytest.mark.parametrize("simplified", [False, True], ids=["traditional", "simplified"])
def test_a_word_table_gives_co_leads_and_officials_across_paragraphs(tmp_path: Path, sqlite_url: str,
                                                                     simplified: bool) -> None:
    f = to_simplified if simplified else (lambda s: s)
    path = _plan_docx(tmp_path / "flood.docx", simplified)
    proc = run(["matrix", "extract", str(path), "--out", "plan.yaml"], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tasks = {t["code"]: t for t in yaml.safe_load((tmp_path / "plan.yaml").read_text("utf-8"))["tasks"]}
    assert tasks["1"]["lead_officials"] == [f("張志強(縣人民政府副縣長)")] and "review" not in tasks["1"]
    assert (tasks["1"]["lead_unit"], tasks["1"]["co_lead_units"]) == (f("縣應急管理局"), [f("縣水利局")])
    assert tasks["2"]["lead_officials"] == [f("李明(副縣長)")]
    assert tasks["2"]["co_lead_units"] == [f("縣自然資源局")] and tasks["2"]["supporting_units"] == [f("縣人社局")]
    run(["matrix", "import", "plan.yaml", "--allow-new-units", "--as-of", "2026-03-02"], cwd=tmp_path, db_url=sqlite_url)
    shown = {r["code"]: r for r in _json(["matrix", "show", "--unit", f("縣水利局")], tmp_path, sqlite_url)}
    assert list(shown) == ["1"] and shown["1"]["lead_officials"] == [{"name": f("張志強"), "title": f("縣人民政府副縣長")}]
