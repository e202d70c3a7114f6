"""Supervised from the import day, as a user meets it: `matrix import --as-of/--supervise-from`, then `sweep`.

A plan imported on 2019-07-15 whose items fell due months before: the first sweep chases each once (the
letter says since when), the ladder counts from the import day, a sweep dated before the import day
replays history as before, and a quarterly obligation of a plan without a start opens no period before
the import day. A database from before supervised-from days (NULL) is supervised as before.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.e2e.test_cli import run
from tests.support import PLANS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "db"

LATE_PLAN = """\
plan:
  code: late-2019
  title: 遲到的方案
  base_year: 2019
  timezone: Asia/Shanghai
directory: district-2015.units.yaml
officials:
  - {name: 劉儀, title: 區人民政府副區長, email: liu.yi@example.org}
tasks:
  - {code: "1", title: 道路硬化, lead_officials: ["劉儀(區人民政府副區長)"], lead_unit: 區交委,
     supporting_units: [區農委], deadline: 2019年3月底}
  - {code: "2", title: 危房改造, lead_unit: 區城鄉建委, deadline: 2019年1月底}
  - {code: "3", title: 季度報送, lead_unit: 區扶貧辦, deadline: 每季度}
  - {code: "4", title: 年底完成, lead_unit: 區農委, deadline: 2019年12月底}
"""


def _plan(tmp_path: Path) -> Path:
    shutil.copy(PLANS / "district-2015.units.yaml", tmp_path / "district-2015.units.yaml")
    path = tmp_path / "late-2019.yaml"
    path.write_text(LATE_PLAN, encoding="utf-8")
    return path


def _sweep(day: str, tmp_path: Path, url: str) -> dict:
    return json.loads(run(["sweep", "--as-of", day, "--json"], cwd=tmp_path, db_url=url).stdout)["created"]


def _outbox(tmp_path: Path, url: str) -> list[dict]:
    return json.loads(run(["outbox", "--json"], cwd=tmp_path, db_url=url).stdout)


def test_a_plan_imported_late_gets_one_chase_then_the_ladder_from_the_import_day(tmp_path: Path, sqlite_url: str) -> None:
    out = run(["matrix", "import", str(_plan(tmp_path)), "--as-of", "2019-07-15"], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "supervised from 2019-07-15" in out
    # Items 1 (due 03-31) and 2 (due 01-31) are long overdue on the import day: one chase each, no escalation.
    assert _sweep("2019-07-15", tmp_path, sqlite_url) == {"reminder": 0, "chase": 2, "escalation": 0}
    chases = {n["task"]: n for n in _outbox(tmp_path, sqlite_url)}
    assert (chases["1"]["due"], chases["1"]["days"], chases["1"]["planned_for"]) == ("2019-03-31", 73, "2019-07-15")
    assert (chases["2"]["due"], chases["2"]["days"]) == ("2019-01-31", 111)  # the real working days overdue
    assert chases["1"]["cc"] == [{"role": "unit", "name": "區農委"}]  # the first chase copies the supporting unit
    assert _sweep("2019-07-17", tmp_path, sqlite_url) == {"reminder": 0, "chase": 0, "escalation": 0}
    # 3 working days after the import day: level 1 only (for both), counted from that day.
    assert _sweep("2019-07-18", tmp_path, sqlite_url) == {"reminder": 0, "chase": 0, "escalation": 2}
    levels = [(n["task"], n["level"], n["days"]) for n in _outbox(tmp_path, sqlite_url) if n["kind"] == "escalation"]
    assert sorted(levels) == [("1", 1, 76), ("2", 1, 114)]
    # 10 working days after it, level 2 (with its chase of the 7th day caught up).
    assert _sweep("2019-07-29", tmp_path, sqlite_url) == {"reminder": 0, "chase": 2, "escalation": 2}


def test_a_sweep_dated_before_the_import_day_replays_history(tmp_path: Path, sqlite_url: str) -> None:
    run(["matrix", "import", str(_plan(tmp_path)), "--as-of", "2019-07-15"], cwd=tmp_path, db_url=sqlite_url)
    # 2019-04-12 is before the import day: the plan acts as if supervised from its start (catch-up as before).
    created = _sweep("2019-04-12", tmp_path, sqlite_url)
    by_task = {}
    for n in _outbox(tmp_path, sqlite_url):
        by_task.setdefault(n["task"], []).append(n["key"].rsplit(":", 1)[1])
    assert by_task["1"] == ["n3", "L1"]  # 9 working days overdue: the chase of the 7th day and level 1
    assert by_task["2"] == ["L1", "L2", "L3"]  # 47 working days overdue: every level, the chases have ended
    assert created["escalation"] >= 4


def test_a_quarterly_obligation_of_a_plan_without_start_opens_no_period_before_the_import_day(
        tmp_path: Path, sqlite_url: str) -> None:
    run(["matrix", "import", str(_plan(tmp_path)), "--as-of", "2019-07-15"], cwd=tmp_path, db_url=sqlite_url)
    first = json.loads(run(["sweep", "--as-of", "2019-07-15", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert first["instances_created"] == 0 and first["created"]["escalation"] == 0
    # The first quarter is the one that ends after the import day (09-30); 10-08 is its first working day overdue.
    assert _sweep("2019-10-08", tmp_path, sqlite_url)["chase"] == 1  # (items 1 and 2 have passed level 3)
    lights = {t["code"]: t for t in json.loads(run(["status", "--as-of", "2019-10-08", "--json"], cwd=tmp_path,
                                                   db_url=sqlite_url).stdout)}
    assert [i["due"] for i in lights["3"]["items"]] == ["2019-09-30"]
    assert [(n["kind"], n["due"]) for n in _outbox(tmp_path, sqlite_url) if n["task"] == "3"] == [("chase", "2019-09-30")]


def test_supervise_from_overrides_and_shows_in_plans_and_show(tmp_path: Path, sqlite_url: str) -> None:
    plan = _plan(tmp_path)
    run(["matrix", "import", str(plan), "--as-of", "2019-07-15", "--supervise-from", "2019-07-01"],
        cwd=tmp_path, db_url=sqlite_url)
    assert json.loads(run(["plans", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)[0]["supervised_from"] == "2019-07-01"
    assert "2019-07-01" in run(["plans"], cwd=tmp_path, db_url=sqlite_url).stdout
    # On 07-15 the ladder counts from 07-01: 10 working days on, levels 1 and 2 (and the chase of the 7th day).
    assert _sweep("2019-07-15", tmp_path, sqlite_url) == {"reminder": 0, "chase": 2, "escalation": 4}
    # A task added by a later import is supervised from that import's day; the others keep theirs.
    plan.write_text(LATE_PLAN + '  - {code: "5", title: 補充任務, lead_unit: 區交委, deadline: 2019年6月底}\n', encoding="utf-8")
    run(["matrix", "import", str(plan), "--as-of", "2019-08-01"], cwd=tmp_path, db_url=sqlite_url)
    tasks = {t["code"]: t["supervised_from"] for t in json.loads(run(["matrix", "show", "--json"], cwd=tmp_path,
                                                                     db_url=sqlite_url).stdout)}
    assert tasks == {"1": "2019-07-01", "2": "2019-07-01", "3": "2019-07-01", "4": "2019-07-01", "5": "2019-08-01"}
    assert "supervised from 2019-07-01 … 2019-08-01" in run(["matrix", "show"], cwd=tmp_path, db_url=sqlite_url).stdout
    assert _sweep("2019-08-01", tmp_path, sqlite_url)["chase"] >= 1
    five = [n for n in _outbox(tmp_path, sqlite_url) if n["task"] == "5"]
    assert [(n["kind"], n["planned_for"]) for n in five] == [("chase", "2019-08-01")]


def test_a_database_from_before_supervised_from_days_is_supervised_as_before(tmp_path: Path) -> None:
    """The fixture's township plan (due 2018-12-31) was swept to level 1 on 2019-01-07 by old code; its rows
    have no supervised-from day: a sweep on 2019-02-01 catches up levels 2 and 3 from the due date."""
    path = tmp_path / "duban.db"
    shutil.copy(FIXTURES / "duban-0005-before-namespace.db", path)
    url = f"sqlite:///{path}"
    assert _sweep("2019-02-01", tmp_path, url) == {"reminder": 0, "chase": 0, "escalation": 20}
    assert json.loads(run(["plans", "--json"], cwd=tmp_path, db_url=url).stdout)[0]["supervised_from"] is None
    assert "the start" in run(["plans"], cwd=tmp_path, db_url=url).stdout


def test_a_bad_supervise_from_day_is_refused_and_imports_nothing(tmp_path: Path, sqlite_url: str) -> None:
    proc = run(["matrix", "import", str(_plan(tmp_path)), "--supervise-from", "2019-7-15"], cwd=tmp_path,
               db_url=sqlite_url, check=False)
    assert proc.returncode == 2 and "--supervise-from" in proc.stderr and "YYYY-MM-DD" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert json.loads(run(["plans", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout) == []
