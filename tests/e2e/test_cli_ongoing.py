"""Ongoing work (持續推進, 長期堅持 …) and deadline cells as offices write them, through the CLI: a county's
task sheet and a YAML plan are imported, the sweep owes each month's progress report, status, `matrix
show`, letters and the weekly report name it 持續 with its cadence, and a progress report closes a period."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
import yaml

from duban.matrix.script import to_simplified
from tests.e2e.test_cli import run

UNITS = """\
office:
  name: 縣鄉村振興領導小組辦公室
  kind: office
  emails: [office@example.org]
units:
  - {name: 縣交通運輸局, emails: [jt@example.org]}
  - {name: 縣農業農村局, emails: [ny@example.org]}
  - {name: 縣生態環境局, emails: [st@example.org]}
  - {name: 縣水利局, emails: [sl@example.org]}
"""

# (code, task, lead unit, 時間要求) as a county's 重點任務分工方案 writes them
TASKS = [
    ("1", "農村公路建設", "縣交通運輸局", "2026年11月底前新改建農村公路50公里"),
    ("2", "人居環境整治", "縣農業農村局", "2026年4月底前制定整頓方案，12月底前全面完成，2027年持續推進"),
    ("3", "河長制", "縣生態環境局", "長期堅持"),
    ("4", "高標準農田", "縣農業農村局", "6月底前完成20個村，12月底前累計完成45個村"),
    ("5", "水利設施管護", "縣水利局", "2026年底前完成並長效推進"),
]


def _plan(tmp_path: Path, *, simplified: bool, reporting: object = None) -> Path:
    fold = to_simplified if simplified else (lambda s: s)
    (tmp_path / "county.units.yaml").write_text(fold(UNITS), encoding="utf-8")
    header: dict[str, object] = {"code": "county-2026", "title": fold("縣鄉村振興重點任務分工方案"), "base_year": 2026,
                                 "start": "2026-01-01", "end": "2027-12-31"}
    if reporting is not None:
        header["reporting"] = reporting
    doc = {"plan": header, "directory": "county.units.yaml",
           "tasks": [{"code": c, "title": fold(t), "lead_unit": fold(u), "deadline": fold(d)} for c, t, u, d in TASKS]}
    path = tmp_path / "county.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("simplified", [False, True], ids=["traditional", "simplified"])
def test_ongoing_work_is_supervised_by_monthly_progress_reports(tmp_path: Path, sqlite_url: str, simplified: bool) -> None:
    plan = _plan(tmp_path, simplified=simplified)
    run(["matrix", "import", str(plan), "--as-of", "2026-01-01"], cwd=tmp_path, db_url=sqlite_url)
    shown = {r["code"]: r for r in json.loads(run(["matrix", "show", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)}
    assert [(m["due"], m["quantity"], m["measure"]) for m in shown["1"]["milestones"]] == [("2026-11-30", 50, "公里")]
    assert [(m["due"], m["quantity"]) for m in shown["4"]["milestones"]] == [("2026-06-30", 20), ("2026-12-31", 45)]
    assert [m["due"] for m in shown["2"]["milestones"]] == ["2026-04-30", "2026-12-31"]
    ongoing = [(r["freq"], r["rule"], r["start"], r["ongoing"]) for r in shown["2"]["recurrence"]]
    assert ongoing == [("monthly", "FREQ=MONTHLY;BYMONTHDAY=1;X-WORKDAY=5", "2027-01-01", True)]
    assert shown["3"]["recurrence"][0]["start"] == "2026-01-01" and shown["5"]["recurrence"][0]["start"] == "2027-01-01"
    table = run(["matrix", "show"], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "持續（每月第5個工作日前報送進展）" in table

    # January's report is due on the 5th working day of February, Friday the 6th: on the 9th it is overdue
    # and chased, once
    swept = json.loads(run(["sweep", "--as-of", "2026-02-09", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert swept["created"]["chase"] == 1
    notices = json.loads(run(["outbox", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert [(n["kind"], n["task"], n["due"]) for n in notices] == [("chase", "3", "2026-02-06")]

    lights = {r["code"]: r for r in json.loads(run(["status", "--as-of", "2026-02-09", "--json"], cwd=tmp_path,
                                                   db_url=sqlite_url).stdout)}
    river = lights["3"]
    assert river["light"] == "red" and [i["ongoing"] for i in river["items"]] == [True, True]
    assert [i["due"] for i in river["items"]] == ["2026-02-06", "2026-03-06"]
    assert all(not i["ongoing"] for i in lights["1"]["items"])
    table = run(["status", "--as-of", "2026-02-09"], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "持續 2026-02-06 overdue 1 wd" in table

    letter = run(["notices", "preview", "chase", "-t", "3", "--as-of", "2026-02-09", "--lang", "zh-Hant"],
                 cwd=tmp_path, db_url=sqlite_url).stdout
    assert "長期堅持（每月第5個工作日前報送進展）" in letter and "本期進展報送時限為2026年2月6日" in letter
    assert "本期尚未報送進展" in letter

    report = tmp_path / "reports"
    run(["report", "weekly", "--as-of", "2026-02-13", "--format", "md", "--out", str(report), "--lang", "zh-Hans"],
        cwd=tmp_path, db_url=sqlite_url)
    weekly = (report / "weekly-2026-02-13.md").read_text(encoding="utf-8")
    assert "长期坚持（每月第5个工作日前报送进展）" in weekly

    # a progress report in the period (a note is enough) is the period's report: it closes the period
    unit = to_simplified("縣生態環境局") if simplified else "縣生態環境局"
    done = json.loads(run(["progress", "report", "3", "-u", unit, "--note", "本月巡河12次", "--on", "2026-03-02",
                           "--as-of", "2026-03-02", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert (done["item"]["due"], done["item"]["done_count"], done["item"]["closed"]) == ("2026-03-06", 1, True)


def test_the_plans_reporting_cadence_sets_the_report_dates(tmp_path: Path, sqlite_url: str) -> None:
    plan = _plan(tmp_path, simplified=False, reporting={"every": "quarterly", "due": 10})
    run(["matrix", "import", str(plan), "--as-of", "2026-01-01"], cwd=tmp_path, db_url=sqlite_url)
    swept = json.loads(run(["sweep", "--as-of", "2026-04-14", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert swept["created"]["chase"] >= 1
    notices = json.loads(run(["outbox", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert ("chase", "3", "2026-04-10") in [(n["kind"], n["task"], n["due"]) for n in notices]
    assert "持續（每季度次月10日前報送進展）" in run(["matrix", "show"], cwd=tmp_path, db_url=sqlite_url).stdout
    exported = yaml.safe_load(run(["matrix", "export"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert exported["plan"]["reporting"] == {"every": "quarterly", "due": 10}
    (tmp_path / "again.yaml").write_text(yaml.safe_dump({**exported, "directory": "county.units.yaml"}, allow_unicode=True),
                                         encoding="utf-8")
    again = json.loads(run(["matrix", "import", str(tmp_path / "again.yaml"), "--as-of", "2026-04-14", "--json"],
                           cwd=tmp_path, db_url=sqlite_url).stdout)
    assert not again.get("header") and not again.get("changed"), again
    # the office's sheet (with its 方案信息 sheet) carries the cadence too
    xlsx = tmp_path / "county.xlsx"
    run(["matrix", "export", "--format", "xlsx", "--out", str(xlsx)], cwd=tmp_path, db_url=sqlite_url)
    run(["matrix", "import", str(xlsx), "--plan", "copy", "--directory", str(tmp_path / "county.units.yaml"),
         "--as-of", "2026-04-14"], cwd=tmp_path, db_url=sqlite_url)
    copy = json.loads(run(["matrix", "export", "--format", "json", "--plan", "copy"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert copy["plan"]["reporting"] == {"every": "quarterly", "due": 10}
    assert [r["rule"] for r in copy["tasks"][2]["recurrence"]] == ["FREQ=YEARLY;BYMONTH=1,4,7,10;BYMONTHDAY=10"]


@pytest.mark.parametrize("reporting, words", [
    ("fortnightly", "not a cadence"),
    ({"every": "weekly", "due": "5th working day"}, "weekday"),
    ({"every": "monthly", "due": "20th working day"}, "1–15"),
    ({"every": "monthly", "due": 31}, "1–28"),
])
def test_a_bad_reporting_setting_is_a_problem_naming_the_field(tmp_path: Path, sqlite_url: str, reporting: object,
                                                                words: str) -> None:
    plan = _plan(tmp_path, simplified=False, reporting=reporting)
    proc = run(["matrix", "validate", str(plan)], cwd=tmp_path, db_url=sqlite_url, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "reporting" in out and words in out and "Traceback" not in out, out


def _sheet(path: Path, *, simplified: bool) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "任務分解表"
    ws.append(["某縣2026年鄉村振興重點任務分解表"])
    rows = [["序號", "任務", "牽頭單位", "時間要求"],
            *[[c, t, u, d] for c, t, u, d in TASKS],
            ["6", "垃圾分類", "縣生態環境局", "常態化開展"],
            ["7", "防汛值守", "縣水利局", "２０２６年６月３０日前完成隱患排查；持續推進"]]
    for row in rows:
        ws.append([to_simplified(c) if simplified else c for c in row])
    wb.save(path)
    return path


@pytest.mark.parametrize("simplified", [False, True], ids=["traditional", "simplified"])
def test_a_task_sheet_with_ongoing_cells_goes_in_on_the_first_try(tmp_path: Path, sqlite_url: str, simplified: bool) -> None:
    (tmp_path / "county.units.yaml").write_text(UNITS, encoding="utf-8")
    path = _sheet(tmp_path / "plan.xlsx", simplified=simplified)
    checked = run(["matrix", "validate", str(path), "--directory", str(tmp_path / "county.units.yaml"),
                   "--base-year", "2026"], cwd=tmp_path, db_url=sqlite_url)
    assert "7 tasks" in checked.stdout, checked.stdout
    run(["matrix", "import", str(path), "--directory", str(tmp_path / "county.units.yaml"), "--base-year", "2026",
         "--start", "2026-01-01", "--as-of", "2026-01-01"], cwd=tmp_path, db_url=sqlite_url)
    shown = {r["code"]: r for r in json.loads(run(["matrix", "show", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)}
    assert [r["ongoing"] for r in shown["6"]["recurrence"]] == [True]
    assert [m["due"] for m in shown["7"]["milestones"]] == ["2026-06-30"]
    assert [(r["ongoing"], r["start"]) for r in shown["7"]["recurrence"]] == [(True, "2026-07-01")]
    lights = json.loads(run(["status", "--as-of", "2026-02-09", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert {r["code"] for r in lights if any(i["ongoing"] for i in r["items"])} == {"3", "6"}


# 時間要求 cells as offices write them every day (a count after the verb, 5G, 即日起至, 次年, one date a line)
EVERYDAY = [
    ("11", "防汛調度", "縣水利局", "每週調度1次"),
    ("12", "聯席會議", "縣農業農村局", "每季度開展1次"),
    ("13", "5G覆蓋", "縣交通運輸局", "2026年9月底前建成5G基站30個"),
    ("14", "專項整治", "縣生態環境局", "即日起至2026年12月31日"),
    ("15", "年度考核", "縣農業農村局", "次年1月底前"),
    ("16", "進度報送", "縣水利局", "2026年3月起每月5日前報送"),
    ("17", "河道治理", "縣水利局", "2026年6月底前\n2026年12月底前"),
    ("18", "環境整治", "縣生態環境局", "持續推進，2026年底見成效"),
]


@pytest.mark.parametrize("simplified", [False, True], ids=["traditional", "simplified"])
def test_everyday_deadline_cells_go_in_on_the_first_try(tmp_path: Path, sqlite_url: str, simplified: bool) -> None:
    (tmp_path / "county.units.yaml").write_text(UNITS, encoding="utf-8")
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in [["序號", "任務", "牽頭單位", "時間要求"], *[list(r) for r in EVERYDAY], ["19", "危房改造", "縣農業農村局", "已完成"]]:
        ws.append([to_simplified(c) if simplified else c for c in row])
    path = tmp_path / "plan.xlsx"
    wb.save(path)
    units = ["--directory", str(tmp_path / "county.units.yaml"), "--base-year", "2026", "--start", "2026-01-01"]
    refused = run(["matrix", "validate", str(path), *units], cwd=tmp_path, db_url=sqlite_url, check=False)
    out = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "already done" in out and "Traceback" not in out, out
    assert "1 problem" in out and "8 of 9 tasks" in out, out
    run(["matrix", "import", str(path), *units, "--skip-invalid", "--as-of", "2026-01-01"], cwd=tmp_path, db_url=sqlite_url)
    shown = {r["code"]: r for r in json.loads(run(["matrix", "show", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)}
    assert [(r["freq"], r["min_count"]) for r in shown["11"]["recurrence"]] == [("weekly", 1)]
    assert [(r["freq"], r["min_count"]) for r in shown["12"]["recurrence"]] == [("quarterly", 1)]
    assert [(m["due"], m["quantity"]) for m in shown["13"]["milestones"]] == [("2026-09-30", 30)]
    assert [(m["start"], m["due"]) for m in shown["14"]["milestones"]] == [("2026-01-01", "2026-12-31")]
    assert [m["due"] for m in shown["15"]["milestones"]] == ["2027-01-31"]
    assert [(r["rule"], r["start"]) for r in shown["16"]["recurrence"]] == [("FREQ=MONTHLY;BYMONTHDAY=5", "2026-03-01")]
    assert [m["due"] for m in shown["17"]["milestones"]] == ["2026-06-30", "2026-12-31"]
    assert [m["due"] for m in shown["18"]["milestones"]] == ["2026-12-31"]
    assert [r["ongoing"] for r in shown["18"]["recurrence"]] == [True]
    assert "19" not in shown
