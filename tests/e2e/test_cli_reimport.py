"""Re-importing an office's own sheet after it was edited: tasks keep their identity (progress, notices,
supervision) when rows are inserted above them and codes renumber; the diff says what moved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import run

HEADER = {
    "simplified": ["序号", "工作任务", "目标要求", "牵头领导", "牵头单位", "配合单位", "完成时限"],
    "traditional": ["序號", "工作任務", "目標要求", "牽頭領導", "牽頭單位", "配合單位", "完成時限"],
}
# One county's 任务分解表, as its office types it (simplified), and the same rows in traditional script.
TASKS = {
    "simplified": [
        ("农村公路提档升级", "新改建农村公路，完善安防设施", "张志强（副县长）", "县交通运输局", "县财政局、各乡镇人民政府", "2026年11月底前"),
        ("饮水安全巩固提升", "完成集中供水工程改造", "李明（副县长）", "县水利局", "县卫生健康局", "2026年12月底前"),
        ("人居环境整治", "开展村庄清洁行动", "张志强（副县长）", "县农业农村局", "各乡镇人民政府", "2026年10月底前"),
    ],
    "traditional": [
        ("農村公路提檔升級", "新改建農村公路，完善安防設施", "張志強（副縣長）", "縣交通運輸局", "縣財政局、各鄉鎮人民政府", "2026年11月底前"),
        ("飲水安全鞏固提升", "完成集中供水工程改造", "李明（副縣長）", "縣水利局", "縣衛生健康局", "2026年12月底前"),
        ("人居環境整治", "開展村莊清潔行動", "張志強（副縣長）", "縣農業農村局", "各鄉鎮人民政府", "2026年10月底前"),
    ],
}
INSERTED = {
    "simplified": ("产业项目谋划", "谋划储备一批产业项目", "李明（副县长）", "县发展和改革局", "", "2026年9月底前"),
    "traditional": ("產業項目謀劃", "謀劃儲備一批產業項目", "李明（副縣長）", "縣發展和改革局", "", "2026年9月底前"),
}


def write_sheet(path: Path, script: str, rows: list[tuple[str, ...]]) -> Path:
    """A one-sheet 任务分解表: a title row, the header, tasks numbered 1, 2, 3 … by 序号."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["某县2026年乡村振兴重点任务分解表" if script == "simplified" else "某縣2026年鄉村振興重點任務分解表"])
    ws.append(HEADER[script])
    for number, row in enumerate(rows, 1):
        ws.append([number, *row])
    wb.save(path)
    return path


def _import(tmp_path: Path, db_url: str, sheet: Path, as_of: str = "2026-03-02") -> dict:
    out = run(["matrix", "import", str(sheet), "--plan", "county", "--allow-new-units", "--as-of", as_of,
               "--json"], cwd=tmp_path, db_url=db_url).stdout
    return json.loads(out)


@pytest.mark.parametrize("script", ["simplified", "traditional"])
def test_a_row_inserted_above_keeps_the_tasks_below(tmp_path: Path, db_url: str, script: str) -> None:
    first = write_sheet(tmp_path / "v1.xlsx", script, TASKS[script])
    assert _import(tmp_path, db_url, first)["added"] == ["1", "2", "3"]
    unit = TASKS[script][1][3]
    run(["progress", "report", "2", "--plan", "county", "--unit", unit, "--percent", "40", "--as-of", "2026-03-10"],
        cwd=tmp_path, db_url=db_url)

    # The office inserts a task at the top: 序号 renumbers, every task below moves down one code.
    second = write_sheet(tmp_path / "v2.xlsx", script, [INSERTED[script], *TASKS[script]])
    result = _import(tmp_path, db_url, second, as_of="2026-03-12")
    assert result["added"] == ["1"] and result["archived"] == [] and result["restored"] == []
    assert result["changed"] == {code: [{"field": "code", "old": old, "new": code}]
                                 for old, code in (("1", "2"), ("2", "3"), ("3", "4"))}
    history = json.loads(run(["history", "3", "--plan", "county", "--json"], cwd=tmp_path, db_url=db_url).stdout)
    assert [e["kind"] for e in history] == ["task.added", "progress.reported", "task.changed"]
    shown = {r["code"]: r for r in json.loads(run(["matrix", "show", "--plan", "county", "--json"], cwd=tmp_path,
                                                   db_url=db_url).stdout)}
    assert shown["3"]["title"] == TASKS[script][1][0] and shown["1"]["title"] == INSERTED[script][0]

    out = run(["matrix", "import", str(first), "--plan", "county", "--allow-new-units", "--as-of", "2026-03-13",
               "--dry-run"], cwd=tmp_path, db_url=db_url).stdout
    assert "~ 2" in out and "code: 3 → 2" in out and "- 1" in out and "0 added, 3 changed, 1 archived" in out


def test_a_title_retyped_in_the_other_script_is_the_same_task(tmp_path: Path, sqlite_url: str) -> None:
    """Codes renumbered and the sheet retyped in traditional script: titles match folded, nothing archived."""
    run(["matrix", "import", str(write_sheet(tmp_path / "v1.xlsx", "simplified", TASKS["simplified"])), "--plan", "county",
         "--allow-new-units", "--as-of", "2026-03-02"], cwd=tmp_path, db_url=sqlite_url)
    renumbered = [TASKS["traditional"][2], TASKS["traditional"][0], TASKS["traditional"][1]]
    result = _import(tmp_path, sqlite_url, write_sheet(tmp_path / "v2.xlsx", "traditional", renumbered))
    assert result["added"] == [] and result["archived"] == []
    moved = {code: {c["field"]: (c["old"], c["new"]) for c in changes} for code, changes in result["changed"].items()}
    assert moved["1"]["code"] == ("3", "1") and moved["1"]["title"] == ("人居环境整治", "人居環境整治")
    assert moved["2"]["code"] == ("1", "2") and moved["3"]["code"] == ("2", "3")


def test_a_title_edited_in_place_keeps_its_code(tmp_path: Path, sqlite_url: str) -> None:
    """Same 序号, new wording: the task is the one with that code (changed, not archived and re-added)."""
    rows = list(TASKS["simplified"])
    _import(tmp_path, sqlite_url, write_sheet(tmp_path / "v1.xlsx", "simplified", rows))
    rows[1] = ("农村饮水安全巩固提升", *rows[1][1:])
    result = _import(tmp_path, sqlite_url, write_sheet(tmp_path / "v2.xlsx", "simplified", rows))
    assert result["added"] == [] and result["archived"] == []
    assert result["changed"] == {"2": [{"field": "title", "old": "饮水安全巩固提升", "new": "农村饮水安全巩固提升"}]}


def test_a_removed_row_archives_that_task_only(tmp_path: Path, sqlite_url: str) -> None:
    """The first task deleted and the rest renumbered: the deleted one is archived under its code; its code
    goes to the task that now holds it, the archived row is renamed out of the way."""
    _import(tmp_path, sqlite_url, write_sheet(tmp_path / "v1.xlsx", "simplified", TASKS["simplified"]))
    result = _import(tmp_path, sqlite_url, write_sheet(tmp_path / "v2.xlsx", "simplified", TASKS["simplified"][1:]))
    assert result["archived"] == ["1"] and result["added"] == []
    assert set(result["changed"]) == {"1", "2"}
    again = _import(tmp_path, sqlite_url, write_sheet(tmp_path / "v3.xlsx", "simplified", TASKS["simplified"]))
    assert again["restored"] == ["1"] and again["added"] == [] and again["archived"] == []


# --------------------------------------------------------------------------------------------
# import --skip-invalid


def _broken(script: str) -> list[tuple[str, ...]]:
    """Four tasks, two of them unreadable: a deadline in words only, and no lead unit."""
    rows = [*TASKS[script], INSERTED[script]]
    rows[1] = (*rows[1][:5], "争取早日完成" if script == "simplified" else "爭取早日完成")
    rows[2] = (*rows[2][:3], "", *rows[2][4:])
    return rows


@pytest.mark.parametrize("script", ["simplified", "traditional"])
def test_skip_invalid_imports_the_readable_tasks_and_lists_the_rest(tmp_path: Path, db_url: str, script: str) -> None:
    sheet = write_sheet(tmp_path / "plan.xlsx", script, _broken(script))
    base = ["--plan", "county", "--allow-new-units", "--as-of", "2026-03-02"]
    checked = run(["matrix", "validate", str(sheet), *base[:3]], cwd=tmp_path, db_url=db_url, check=False)
    assert checked.returncode == 1
    assert "2 of 4 tasks are readable and would be imported with --skip-invalid" in checked.stderr
    refused = run(["matrix", "import", str(sheet), *base, "--json"], cwd=tmp_path, db_url=db_url, check=False)
    body = json.loads(refused.stdout)
    assert refused.returncode == 1 and body["readable_tasks"] == 2 and body["tasks"] == 4
    assert [(p["row"], p["field"]) for p in body["problems"]] == [(4, "deadline"), (5, "lead_unit")]
    assert json.loads(run(["plans", "--json"], cwd=tmp_path, db_url=db_url).stdout) == []

    out = run(["matrix", "import", str(sheet), *base, "--skip-invalid"], cwd=tmp_path, db_url=db_url).stdout
    assert "+2" in out and "skipped 2 unreadable tasks" in out
    assert "row 4, deadline: cannot read the deadline" in out and "row 5, lead_unit: missing lead unit" in out
    shown = json.loads(run(["matrix", "show", "--plan", "county", "--json"], cwd=tmp_path, db_url=db_url).stdout)
    assert [r["code"] for r in shown] == ["1", "4"]
    units = {u["name"] for u in json.loads(run(["units", "--json"], cwd=tmp_path, db_url=db_url).stdout)}
    assert TASKS[script][1][3] not in units  # named by a skipped task only: not added


def test_a_task_that_became_unreadable_is_kept_as_stored(tmp_path: Path, db_url: str) -> None:
    rows = list(TASKS["traditional"])
    _import(tmp_path, db_url, write_sheet(tmp_path / "v1.xlsx", "traditional", rows))
    run(["progress", "report", "2", "--plan", "county", "--unit", rows[1][3], "--percent", "40", "--as-of", "2026-03-10"],
        cwd=tmp_path, db_url=db_url)
    rows[1] = (*rows[1][:5], "爭取早日完成")
    rows[0] = (rows[0][0] + "（含危橋改造）", *rows[0][1:])
    sheet = write_sheet(tmp_path / "v2.xlsx", "traditional", [INSERTED["traditional"], *rows])
    args = ["matrix", "import", str(sheet), "--plan", "county", "--allow-new-units", "--as-of", "2026-03-12"]
    refused = run(args, cwd=tmp_path, db_url=db_url, check=False)
    assert refused.returncode == 1 and "3 of 4 tasks are readable" in refused.stderr

    result = json.loads(run([*args, "--skip-invalid", "--json"], cwd=tmp_path, db_url=db_url).stdout)
    assert result["kept_tasks"] == ["3"] and result["archived"] == [] and result["added"] == ["1"]
    assert [(s["code"], s["line"], s["problems"][0]["field"]) for s in result["skipped"]] == [("3", 5, "deadline")]
    assert result["changed"]["2"][0] == {"field": "code", "old": "1", "new": "2"}
    shown = {r["code"]: r for r in json.loads(run(["matrix", "show", "--plan", "county", "--json"], cwd=tmp_path,
                                                   db_url=db_url).stdout)}
    assert shown["3"]["deadline"] == "2026年12月底前" and shown["3"]["milestones"][0]["due"] == "2026-12-31"
    history = json.loads(run(["history", "3", "--plan", "county", "--json"], cwd=tmp_path, db_url=db_url).stdout)
    assert [e["kind"] for e in history] == ["task.added", "progress.reported"]
    out = run(["matrix", "import", str(sheet), "--plan", "county", "--allow-new-units", "--as-of", "2026-03-13",
               "--skip-invalid"], cwd=tmp_path, db_url=db_url).stdout
    assert "kept as stored (unreadable in the file, never archived; notices go on): 3" in out and "no changes" in out


def test_a_plan_level_problem_still_refuses_everything(tmp_path: Path, sqlite_url: str) -> None:
    """No deadline names a year and no --base-year: the plan's own problem, so --skip-invalid imports nothing."""
    rows = [(*r[:5], r[5].replace("2026年", "")) for r in TASKS["simplified"]]
    sheet = write_sheet(tmp_path / "plan.xlsx", "simplified", rows)
    proc = run(["matrix", "import", str(sheet), "--plan", "county", "--allow-new-units", "--skip-invalid"],
               cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode == 1 and "base_year" in proc.stderr
    assert "--skip-invalid would import nothing" in proc.stderr
    assert json.loads(run(["plans", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout) == []


def test_skip_invalid_in_a_yaml_plan_names_the_line(tmp_path: Path, sqlite_url: str) -> None:
    """The YAML plan: a task whose deadline became unreadable is skipped by its line, and kept as stored."""
    import shutil

    from tests.support import PLANS

    plans = tmp_path / "plans"
    shutil.copytree(PLANS, plans)
    plan = plans / "district-2015.yaml"
    run(["matrix", "import", str(plan), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=sqlite_url)
    import yaml

    doc = yaml.safe_load(plan.read_text(encoding="utf-8"))
    task = next(t for t in doc["tasks"] if t["code"] == "3.2.1")
    task["deadline"] = "爭取早日完成"
    plan.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    line = next(n for n, row in enumerate(plan.read_text(encoding="utf-8").splitlines(), 1) if "爭取早日完成" in row)
    out = run(["matrix", "import", str(plan), "--as-of", "2015-07-02", "--skip-invalid", "--json"], cwd=tmp_path,
              db_url=sqlite_url).stdout
    result = json.loads(out)
    assert [(s["code"], s["problems"][0]["line"], s["problems"][0]["field"]) for s in result["skipped"]] == [
        ("3.2.1", line, "deadline")]
    assert result["kept_tasks"] == ["3.2.1"] and result["archived"] == [] and result["changed"] == {}
