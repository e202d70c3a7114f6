"""`duban sweep`, `status`, `outbox`, `ack`, `sweeps`, `history` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli import run
from tests.support import PLANS, dump


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
    assert notices[2]["to"] == [{"role": "official", "name": "林光"}]
    assert notices[2]["cc"] == [{"role": "office", "name": ""}, {"role": "unit", "name": "各鄉鎮人民政府"},
                                {"role": "unit", "name": "街道辦事處"}]  # level 2 copies the supporting units
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


def test_as_of_yyyymmdd_is_that_day_never_a_unix_timestamp(tmp_path: Path, sqlite_url: str) -> None:
    """`--as-of 20150728` is 2015-07-28 (it was read as a timestamp: a sweep "for 1970-08-22")."""
    run(["matrix", "import", str(PLANS / "district-2015.yaml"), "--as-of", "20150701"], cwd=tmp_path, db_url=sqlite_url)
    swept = json.loads(run(["sweep", "--as-of", "20150728", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert swept["as_of"] == "2015-07-28"
    assert (swept["created"]["chase"], swept["created"]["escalation"]) == (1, 2)
    assert [s["as_of"] for s in json.loads(run(["sweeps", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)] == ["2015-07-28"]


BAD_DAYS = ["2019-7-5", "15/07/2019", "1563148800", "2019-02-30", ""]


def test_a_date_that_is_not_yyyy_mm_dd_is_refused_naming_the_option(tmp_path: Path, sqlite_url: str) -> None:
    """Every date option refuses anything but YYYY-MM-DD (or YYYYMMDD) in one line that names the option and
    the text, with status 2, before the command does anything: no sweep row, no notice, no report."""
    run(["matrix", "import", str(PLANS / "district-2015.yaml"), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=sqlite_url)
    for text in BAD_DAYS:
        proc = run(["sweep", "--as-of", text], cwd=tmp_path, db_url=sqlite_url, check=False)
        assert proc.returncode == 2, (text, proc.stdout, proc.stderr)
        assert proc.stderr.strip() == f'duban: error: --as-of: "{text}" is not a date; use YYYY-MM-DD', proc.stderr
        assert proc.stdout == ""
    others = [["run", "--once", "--as-of"], ["report", "weekly", "--out", str(tmp_path / "r"), "--as-of"],
              ["outbox", "--since"], ["matrix", "show", "--due-before"], ["notices", "preview", "chase", "--task", "3.1", "--as-of"],
              ["progress", "report", "3.1", "--unit", "区扶贫办", "--on"],
              ["extension", "request", "3.1", "--unit", "区扶贫办", "--reason", "x", "--until"]]
    for args in others:
        proc = run([*args, "2019-7-5"], cwd=tmp_path, db_url=sqlite_url, check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert f'{args[-1]}: "2019-7-5" is not a date; use YYYY-MM-DD' in proc.stderr, (args, proc.stderr)
    assert json.loads(run(["sweeps", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout) == []
    assert json.loads(run(["outbox", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout) == []
    assert not (tmp_path / "r").exists() and not (tmp_path / "var").exists()


NOTICE_FIELDS = ("key", "kind", "level", "task", "item", "due", "days", "planned_for", "to", "cc")


def _content(db_url: str, tmp_path: Path) -> object:
    """The whole database: on SQLite every row as SQL, on PostgreSQL every table's rows (sorted)."""
    if db_url.startswith("sqlite"):
        return dump(tmp_path / "duban.db")
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as c:
            tables = sa.inspect(c).get_table_names()
            return {t: sorted(map(repr, c.execute(sa.text(f'SELECT * FROM "{t}"')).all())) for t in tables}
    finally:
        engine.dispose()


def test_sweep_dry_run_writes_nothing_and_lists_what_the_sweep_then_writes(tmp_path: Path, db_url: str) -> None:
    """`sweep --dry-run` prints each notice the sweep would write (kind, level, to whom) and the totals, and the
    database is as it was: no sweep row, no notice, no frozen ladder, no event. The real sweep that follows
    writes exactly that list."""
    run(["matrix", "import", str(PLANS / "district-2015.yaml"), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=db_url)
    before = _content(db_url, tmp_path)
    dry = json.loads(run(["sweep", "--as-of", "2016-01-15", "--dry-run", "--json"], cwd=tmp_path, db_url=db_url).stdout)
    table = run(["sweep", "--as-of", "2016-01-15", "--dry-run"], cwd=tmp_path, db_url=db_url).stdout
    assert _content(db_url, tmp_path) == before
    assert dry["dry_run"] is True and dry["sweep"] is None and len(dry["notices"]) == sum(dry["created"].values()) > 10
    assert f"{len(dry['notices'])} notices would be written" in table and "nothing written" in table
    assert "督辦" in table and "主要領導" in table and "to (主送)" in table and "cc (抄送)" in table

    real = json.loads(run(["sweep", "--as-of", "2016-01-15", "--json"], cwd=tmp_path, db_url=db_url).stdout)
    written = json.loads(run(["outbox", "--json"], cwd=tmp_path, db_url=db_url).stdout)
    assert [{k: n[k] for k in NOTICE_FIELDS} for n in dry["notices"]] == [{k: n[k] for k in NOTICE_FIELDS} for n in written]
    totals = ("items", "created", "instances_created", "newly_overdue")
    assert {k: dry[k] for k in totals} == {k: real[k] for k in totals}


def test_run_once_dry_run_sweeps_in_dry_run_and_skips_delivery_and_report(tmp_path: Path, sqlite_url: str) -> None:
    run(["matrix", "import", str(PLANS / "district-2015.yaml"), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=sqlite_url)
    before = dump(tmp_path / "duban.db")
    out = run(["run", "--once", "--dry-run", "--as-of", "2015-12-04"], cwd=tmp_path, db_url=sqlite_url).stdout
    assert dump(tmp_path / "duban.db") == before
    # 3.1 and 3.5 are past level 3 on 12-04: their escalations, no chase (the series has ended)
    assert "dry run: would write 6 new notices (0 chases, 6 escalations); nothing written" in out
    assert "6 notices would be written" in out and "督辦" in out
    assert "deliver        not run (dry run)" in out and "weekly_report  not run (dry run)" in out
    assert not (tmp_path / "var").exists()
    proc = run(["run", "--dry-run"], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode == 2 and "--dry-run goes with --once" in proc.stderr
