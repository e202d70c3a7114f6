"""`duban sweep`, `status`, `outbox`, `ack`, `sweeps`, `history` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli import run
from tests.support import PLANS


def test_sweep_status_outbox_ack(tmp_path: Path, sqlite_url: str) -> None:
    run(["matrix", "import", str(PLANS / "district-2015.yaml"), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=sqlite_url)
    out = run(["sweep", "--as-of", "2015-07-28"], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "1 chases, 2 escalations" in out and "1 newly overdue" in out and "open items due or overdue" in out
    again = json.loads(run(["sweep", "--as-of", "2015-07-28", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert again["created"] == {"reminder": 0, "chase": 0, "escalation": 0}

    lights = json.loads(run(["status", "--as-of", "2015-07-28", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    first = lights[0]
    assert (first["code"], first["light"], first["items"][0]["working_days_overdue"]) == ("3.1", "red", 12)
    table = run(["status", "--unit", "区扶贫办", "--as-of", "2015-07-28"], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "overdue 12 wd" in table and "3.1" in table

    notices = json.loads(run(["outbox", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert [(n["kind"], n["level"]) for n in notices] == [("chase", 0), ("escalation", 1), ("escalation", 2), ("reminder", 0)]
    assert set(notices[0]) >= {"id", "key", "kind", "level", "plan", "task", "due", "days", "planned_for", "to", "cc", "status"}
    assert notices[2]["to"] == [{"role": "official", "name": "林光"}] and notices[2]["cc"] == [{"role": "office", "name": ""}]
    assert len(json.loads(run(["outbox", "--kind", "escalation", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)) == 2

    acked = json.loads(run(["ack", str(notices[0]["id"]), "--by", "張三", "--as-of", "2015-07-28", "--json"],
                           cwd=tmp_path, db_url=sqlite_url).stdout)
    assert acked["acknowledged_by"] == "張三"
    proc = run(["ack", str(notices[0]["id"])], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode == 2 and "already acknowledged" in proc.stderr
    assert run(["sweep", "--as-of", "2015-07-29"], cwd=tmp_path, db_url=sqlite_url).stdout.count("0 chases") == 1

    sweeps = json.loads(run(["sweeps", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert [s["status"] for s in sweeps] == ["done", "done", "done"]
    history = [e["kind"] for e in json.loads(run(["history", "3.1", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)]
    assert history[0] == "task.added" and "item.overdue" in history and "notice.acknowledged" in history
    assert history.count("notice.escalation") == 2


def test_a_bad_policy_file_is_one_clear_line(tmp_path: Path, sqlite_url: str) -> None:
    (tmp_path / "duban-config").mkdir()
    (tmp_path / "duban-config" / "policy.yaml").write_text("chase: {every_working_days: 0}\n", encoding="utf-8")
    run(["matrix", "import", str(PLANS / "district-2015.yaml")], cwd=tmp_path, db_url=sqlite_url)
    proc = run(["sweep", "--as-of", "2015-07-28"], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode == 2 and "policy.yaml" in proc.stderr and "at least 1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_status_says_when_it_counted_working_days_monday_to_friday(tmp_path: Path, sqlite_url: str) -> None:
    """Past the official calendar's last year, status (like sweep) says once that it counted Mon–Fri,
    on stderr when stdout is JSON; within the calendar it says nothing."""
    run(["matrix", "import", str(PLANS / "district-2015.yaml"), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=sqlite_url)
    late = run(["status", "--as-of", "2040-03-01", "--json"], cwd=tmp_path, db_url=sqlite_url)
    assert json.loads(late.stdout) and "no official holiday calendar for" in late.stderr and "2040" in late.stderr
    table = run(["status", "--as-of", "2040-03-01"], cwd=tmp_path, db_url=sqlite_url).stdout
    assert table.count("no official holiday calendar") == 1
    inside = run(["status", "--as-of", "2015-07-28", "--json"], cwd=tmp_path, db_url=sqlite_url)
    assert "holiday calendar" not in inside.stderr
