"""Periods of a recurring obligation that ended before supervision began are not owed, as a county office
meets it: a plan started on 2026-03-01 is imported on 2026-12-07 with ongoing work (持續推進, a progress
report due each 5th) and a monthly visit (每月走訪不少於1次). The first sweep, `status` and the weekly report
owe only the period running on the import day; with `--supervise-from 2026-03-01` the back periods are owed.
"""

from __future__ import annotations

import json
from pathlib import Path

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
  - {name: 縣農業農村局, emails: [ny@example.org]}
  - {name: 縣民政局, emails: [mz@example.org]}
"""

TASKS = [
    ("1", "人居環境整治", "縣農業農村局", "持續推進"),
    ("2", "困難群眾走訪", "縣民政局", "每月走訪不少於1次"),
]


def _plan(tmp_path: Path, *, simplified: bool = False) -> Path:
    fold = to_simplified if simplified else (lambda s: s)
    (tmp_path / "county.units.yaml").write_text(fold(UNITS), encoding="utf-8")
    doc = {"plan": {"code": "county-2026", "title": fold("縣鄉村振興重點任務分工方案"), "base_year": 2026,
                    "start": "2026-03-01", "end": "2027-12-31", "reporting": fold("每月5日前報送")},
           "directory": "county.units.yaml",
           "tasks": [{"code": c, "title": fold(t), "lead_unit": fold(u), "deadline": fold(d)} for c, t, u, d in TASKS]}
    path = tmp_path / "county.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _cli(args: list[str], tmp_path: Path, url: str) -> str:
    return run(args, cwd=tmp_path, db_url=url).stdout


def _status(tmp_path: Path, url: str, day: str) -> dict[str, dict]:
    return {t["code"]: t for t in json.loads(_cli(["status", "--as-of", day, "--json"], tmp_path, url))}


def _weekly(tmp_path: Path, url: str, day: str) -> str:
    out = tmp_path / "reports"
    _cli(["report", "weekly", "--as-of", day, "--format", "md", "--out", str(out), "--lang", "zh-Hant"], tmp_path, url)
    return (out / f"weekly-{day}.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("simplified", [False, True], ids=["traditional", "simplified"])
def test_a_plan_imported_late_owes_no_period_that_ended_before_the_import_day(
        tmp_path: Path, db_url: str, simplified: bool) -> None:
    _cli(["matrix", "import", str(_plan(tmp_path, simplified=simplified)), "--as-of", "2026-12-07"], tmp_path, db_url)
    dry = json.loads(_cli(["sweep", "--dry-run", "--as-of", "2026-12-07", "--json"], tmp_path, db_url))
    assert dry["created"]["chase"] == 0 and dry["created"]["escalation"] == 0, dry
    swept = json.loads(_cli(["sweep", "--as-of", "2026-12-07", "--json"], tmp_path, db_url))
    assert swept["created"]["chase"] == 0 and swept["created"]["escalation"] == 0, swept
    assert all(n["due"] >= "2026-12-07" for n in json.loads(_cli(["outbox", "--json"], tmp_path, db_url)))

    lights = _status(tmp_path, db_url, "2026-12-07")
    for code in ("1", "2"):
        assert lights[code]["light"] != "red", lights[code]
        assert [i["due"] for i in lights[code]["items"]] == ["2027-01-05" if code == "1" else "2026-12-31"]
    table = _cli(["status", "--as-of", "2026-12-07"], tmp_path, db_url)
    assert "overdue" not in table, table
    weekly = _weekly(tmp_path, db_url, "2026-12-11")
    assert "2026-11-05" not in weekly and "2026年11月5日" not in weekly, weekly

    # The period running on the import day is owed as usual: overdue the day after it, chased once.
    later = json.loads(_cli(["sweep", "--as-of", "2027-01-04", "--json"], tmp_path, db_url))
    assert later["created"]["chase"] == 1  # the December visit (due 12-31); the report is due 01-05
    assert [(n["task"], n["due"]) for n in json.loads(_cli(["outbox", "--json"], tmp_path, db_url))
            if n["kind"] == "chase"] == [("2", "2026-12-31")]


def test_supervise_from_the_plan_start_owes_the_back_periods(tmp_path: Path, db_url: str) -> None:
    _cli(["matrix", "import", str(_plan(tmp_path)), "--as-of", "2026-12-07", "--supervise-from", "2026-03-01"],
         tmp_path, db_url)
    dry = json.loads(_cli(["sweep", "--dry-run", "--as-of", "2026-12-07", "--json"], tmp_path, db_url))
    # Progress reports due 04-05 … 12-05 and visits of March … November (9 each) are all owed, overdue
    # from their due dates: the two latest are chased, the older ones have gone up the ladder.
    assert dry["items"] == 18 and dry["created"]["chase"] == 2 and dry["created"]["escalation"] > 0, dry
    lights = _status(tmp_path, db_url, "2026-12-07")
    assert lights["1"]["light"] == "red" and lights["2"]["light"] == "red"
    assert [i["due"] for i in lights["1"]["items"] if i["light"] == "red"][0] == "2026-04-05"


def test_a_sweep_dated_before_the_import_day_still_replays_the_periods(tmp_path: Path, sqlite_url: str) -> None:
    _cli(["matrix", "import", str(_plan(tmp_path)), "--as-of", "2026-12-07"], tmp_path, sqlite_url)
    # 2026-05-11 is before the import day: history is replayed as if supervised from the start.
    swept = json.loads(_cli(["sweep", "--as-of", "2026-05-11", "--json"], tmp_path, sqlite_url))
    assert swept["created"]["chase"] >= 2
    # … and on the import day the periods that ended before it are not owed, though their rows exist.
    lights = _status(tmp_path, sqlite_url, "2026-12-07")
    assert all(i["due"] >= "2026-12-07" for t in lights.values() for i in t["items"])
    assert json.loads(_cli(["sweep", "--as-of", "2026-12-07", "--json"], tmp_path, sqlite_url))["created"]["chase"] == 0
    weekly = _weekly(tmp_path, sqlite_url, "2026-12-11")
    assert "2026-05-05" not in weekly and "2026年5月5日" not in weekly, weekly
