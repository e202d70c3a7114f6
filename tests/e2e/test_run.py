"""`duban run`: the embedded scheduler as a user runs it — once, one per database, clean stop, catch-up."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.e2e.test_cli import run
from tests.support import PLANS, ROOT

pytestmark = pytest.mark.slow  # real `duban run` processes and their schedules


def _env(tmp_path: Path, db_url: str) -> dict:
    return {**os.environ, "DUBAN_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT), "COLUMNS": "160",
            "DUBAN_OUTBOX_DIR": str(tmp_path / "var" / "outbox"), "DUBAN_CONFIG_DIR": str(tmp_path / "duban-config")}


def _start(tmp_path: Path, db_url: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "duban.workflows.cli", "run", "--quiet"], cwd=tmp_path,
                            env=_env(tmp_path, db_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = ""
    for _ in range(10):  # the banner may wrap over several lines
        line = proc.stdout.readline()
        seen += line
        if "scheduler started" in line or not line:
            break
    assert "scheduler started" in seen, seen + proc.stderr.read()
    return proc


def test_run_once_runs_every_job(tmp_path: Path, sqlite_url: str) -> None:
    run(["matrix", "import", str(PLANS / "district-2015.yaml")], cwd=tmp_path, db_url=sqlite_url)
    proc = subprocess.run([sys.executable, "-m", "duban.workflows.cli", "run", "--once", "--as-of", "2015-12-04"], cwd=tmp_path,
                          env=_env(tmp_path, sqlite_url), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "6 new notices (0 chases, 6 escalations)" in proc.stdout  # 3.1 and 3.5 are past level 3: no chase
    assert list((tmp_path / "var" / "outbox").glob("*.eml"))
    assert "weekly_report" in proc.stdout


def test_a_second_run_refuses_and_sigterm_stops_cleanly(tmp_path: Path, sqlite_url: str) -> None:
    run(["matrix", "import", str(PLANS / "district-2015.yaml")], cwd=tmp_path, db_url=sqlite_url)
    first = _start(tmp_path, sqlite_url)
    try:
        second = subprocess.run([sys.executable, "-m", "duban.workflows.cli", "run", "--quiet"], cwd=tmp_path,
                                env=_env(tmp_path, sqlite_url), capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        assert "already running" in second.stderr and f"pid {first.pid}" in second.stderr
        once = subprocess.run([sys.executable, "-m", "duban.workflows.cli", "run", "--once"], cwd=tmp_path,
                              env=_env(tmp_path, sqlite_url), capture_output=True, text=True, timeout=120)
        assert once.returncode == 2 and "already running" in once.stderr  # --once is no way around it
    finally:
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert "stopped cleanly" in out
    # The lock went with the process: a new run may start.
    again = _start(tmp_path, sqlite_url)
    again.send_signal(signal.SIGINT)
    again.communicate(timeout=60)
    assert again.returncode == 0


def test_after_downtime_one_catch_up_sweep_not_one_per_missed_slot(tmp_path: Path, sqlite_url: str) -> None:
    """The office machine was off for three days: the sweep's stored next run is in the past. On start
    it runs once (coalesced), not once per missed morning."""
    import pickle

    from duban.store.db import open_database
    from duban.workflows.runner import JOBSTORE_TABLE

    run(["matrix", "import", str(PLANS / "district-2015.yaml")], cwd=tmp_path, db_url=sqlite_url)
    (tmp_path / "duban-config").mkdir(exist_ok=True)
    (tmp_path / "duban-config" / "schedule.yaml").write_text(
        "jobs:\n  sweep: {cron: '30 8 * * *', working_days_only: false}\n", encoding="utf-8")
    first = _start(tmp_path, sqlite_url)  # stores the jobs with their next run times
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=60)
    engine = open_database(sqlite_url)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    with engine.begin() as c:
        state = pickle.loads(c.execute(sa.text(f"SELECT job_state FROM {JOBSTORE_TABLE} WHERE id = 'sweep'")).scalar())
        state["next_run_time"] = past
        c.execute(sa.text(f"UPDATE {JOBSTORE_TABLE} SET job_state = :s, next_run_time = :t WHERE id = 'sweep'"),
                  {"s": pickle.dumps(state, pickle.HIGHEST_PROTOCOL), "t": past.timestamp()})
        assert c.execute(sa.text("SELECT count(*) FROM sweep")).scalar() == 0
    engine.dispose()
    proc = _start(tmp_path, sqlite_url)
    try:
        engine = open_database(sqlite_url)
        deadline = time.monotonic() + 60
        sweeps = 0
        while time.monotonic() < deadline:
            with engine.connect() as c:
                sweeps = c.execute(sa.text("SELECT count(*) FROM sweep WHERE status = 'done'")).scalar()
            if sweeps:
                break
            time.sleep(0.3)
        time.sleep(2)  # had it queued one run per missed day, the others would follow now
        with engine.connect() as c:
            sweeps = c.execute(sa.text("SELECT count(*) FROM sweep")).scalar()
        engine.dispose()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert sweeps == 1


def test_sigterm_in_the_middle_of_a_delivery_lets_it_finish(tmp_path: Path, sqlite_url: str) -> None:
    """SIGTERM while the deliver job is sending (a slow mail server): the job sends every message it
    took, records them, and only then does `duban run` exit, cleanly — nothing left "sending"."""
    import asyncio
    import pickle

    from duban.notifications.sink import loopback_smtp
    from duban.store.db import open_database
    from duban.workflows.runner import JOBSTORE_TABLE

    received: list[bytes] = []

    class Slow:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            await asyncio.sleep(0.25)
            received.append(envelope.original_content)
            return "250 OK"

    smtp = loopback_smtp(Slow())
    port = smtp.port
    env_extra = {"DUBAN_SMTP_URL": f"smtp://127.0.0.1:{port}", "DUBAN_SMTP_CONCURRENCY": "1",
                 "DUBAN_ALLOW_REPLAY_MAIL": "1"}  # a replay of 2015, mailed to the test's own server
    try:
        run(["matrix", "import", str(PLANS / "district-2015.yaml")], cwd=tmp_path, db_url=sqlite_url)
        run(["sweep", "--as-of", "2015-12-04"], cwd=tmp_path, db_url=sqlite_url)
        os.environ.update(env_extra)
        try:
            first = _start(tmp_path, sqlite_url)  # stores the jobs; the deliver job is not due yet
            first.send_signal(signal.SIGTERM)
            first.communicate(timeout=60)
            engine = open_database(sqlite_url)
            past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
            with engine.begin() as c:  # the deliver run was missed: it runs at once on the next start
                state = pickle.loads(c.execute(sa.text(f"SELECT job_state FROM {JOBSTORE_TABLE} WHERE id = 'deliver'")).scalar())
                state["next_run_time"] = past
                c.execute(sa.text(f"UPDATE {JOBSTORE_TABLE} SET job_state = :s, next_run_time = :t WHERE id = 'deliver'"),
                          {"s": pickle.dumps(state, pickle.HIGHEST_PROTOCOL), "t": past.timestamp()})
            proc = _start(tmp_path, sqlite_url)
            deadline = time.monotonic() + 60
            while not received and time.monotonic() < deadline:
                time.sleep(0.05)
            assert received, "the deliver job started"
            proc.send_signal(signal.SIGTERM)  # mid-delivery: a few of the digests are out
            at_sigterm = len(received)
            out, err = proc.communicate(timeout=120)
        finally:
            for key in env_extra:
                os.environ.pop(key, None)
    finally:
        smtp.stop()
    assert proc.returncode == 0, err
    assert "stopped cleanly" in out
    with engine.connect() as c:
        states = dict(c.execute(sa.text("SELECT status, count(*) FROM message GROUP BY status")).all())
    engine.dispose()
    assert set(states) == {"sent"} and states["sent"] == len(received) > at_sigterm, (states, len(received), at_sigterm)


def _big_plan(tmp_path: Path, db_url: str) -> None:
    """A generated plan of 4,000 tasks (bench/synthetic.py): its sweep takes seconds, time to press Ctrl-C in."""
    from bench.synthetic import write_synthetic

    plan = write_synthetic(tmp_path / "big", tasks=4000, units=400)
    run(["matrix", "import", str(plan), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=db_url)


def _once_interrupted(tmp_path: Path, db_url: str, signals: int) -> tuple[subprocess.CompletedProcess, dict]:
    """`run --once` on the big plan, sent ``signals`` SIGINTs while its sweep runs (seen as a running sweep
    row); returns the process and the sweep rows' statuses."""
    import sqlite3

    db = tmp_path / "duban.db"
    proc = subprocess.Popen([sys.executable, "-m", "duban.workflows.cli", "run", "--once", "--as-of", "2016-03-01"],
                            cwd=tmp_path, env=_env(tmp_path, db_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    running = 0
    while not running and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        with sqlite3.connect(db, timeout=30) as con:
            running = con.execute("SELECT count(*) FROM sweep WHERE status = 'running'").fetchone()[0]
    assert running, "the sweep started"
    for _ in range(signals):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
    out, err = proc.communicate(timeout=300)
    with sqlite3.connect(db) as con:
        statuses = dict(con.execute("SELECT status, count(*) FROM sweep GROUP BY status").fetchall())
        statuses["notices"] = con.execute("SELECT count(*) FROM notice").fetchone()[0]
        statuses["messages"] = con.execute("SELECT count(*) FROM message").fetchone()[0]
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), statuses


def test_ctrl_c_during_run_once_finishes_the_sweep_and_starts_no_other_job(tmp_path: Path, sqlite_url: str) -> None:
    """Ctrl-C while `run --once` sweeps: the sweep finishes (done, its notices written), deliver and the
    weekly report do not start, and it says so; status 130."""
    _big_plan(tmp_path, sqlite_url)
    proc, db = _once_interrupted(tmp_path, sqlite_url, signals=1)
    assert proc.returncode == 130, proc.stderr
    assert "stopping: sweep finishes first" in proc.stderr and "Traceback" not in proc.stderr
    assert "stopped after sweep (Ctrl-C); the sweep finished; deliver not run; weekly report not run" in proc.stdout
    assert "sweep " in proc.stdout and "new notices" in proc.stdout
    assert db["done"] == 1 and "failed" not in db and db["notices"] > 1000 and db["messages"] == 0
    assert not (tmp_path / "var").exists()  # no mail, no report


def test_a_second_ctrl_c_stops_run_once_at_once_and_says_what_was_left(tmp_path: Path, sqlite_url: str) -> None:
    """Ctrl-C twice while `run --once` sweeps: it stops at once (status 130), the sweep wrote nothing (its
    record says it failed), and the output says what was left undone."""
    _big_plan(tmp_path, sqlite_url)
    proc, db = _once_interrupted(tmp_path, sqlite_url, signals=2)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr
    assert ("stopped during sweep (Ctrl-C twice); the sweep did not finish; deliver not run; weekly report not run"
            in proc.stdout), proc.stdout
    assert db.get("failed") == 1 and db["notices"] == 0 and db["messages"] == 0
    sweeps = json.loads(run(["sweeps", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert sweeps[0]["error"] == "stopped (Ctrl-C) before it finished; nothing it planned was written"


def test_a_second_signal_stops_duban_run_at_once_naming_the_unfinished_job(tmp_path: Path, sqlite_url: str) -> None:
    """`duban run` sweeping (a missed sweep, run on start): the first Ctrl-C says the sweep finishes first; a
    second stops the process at once (status 130) naming the sweep, which wrote nothing."""
    import pickle
    import sqlite3

    from duban.workflows.runner import JOBSTORE_TABLE

    _big_plan(tmp_path, sqlite_url)
    (tmp_path / "duban-config").mkdir(exist_ok=True)
    (tmp_path / "duban-config" / "schedule.yaml").write_text(
        "jobs:\n  sweep: {cron: '30 8 * * *', working_days_only: false}\n", encoding="utf-8")
    first = _start(tmp_path, sqlite_url)  # stores the jobs with their next run times
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=60)
    db = tmp_path / "duban.db"
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with sqlite3.connect(db) as con:  # the morning's sweep was missed: it runs as soon as `duban run` starts
        state = pickle.loads(con.execute(f"SELECT job_state FROM {JOBSTORE_TABLE} WHERE id = 'sweep'").fetchone()[0])
        state["next_run_time"] = past
        con.execute(f"UPDATE {JOBSTORE_TABLE} SET job_state = ?, next_run_time = ? WHERE id = 'sweep'",
                    (pickle.dumps(state, pickle.HIGHEST_PROTOCOL), past.timestamp()))
    proc = _start(tmp_path, sqlite_url)
    running, deadline = 0, time.monotonic() + 120
    while not running and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        with sqlite3.connect(db, timeout=30) as con:
            running = con.execute("SELECT count(*) FROM sweep WHERE status = 'running'").fetchone()[0]
    assert running, "the sweep started"
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "stopping: sweep finishes first (Ctrl-C again to stop at once)" in err, err
    assert "stopped at once during sweep: sweep did not finish" in err and "Traceback" not in err
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM notice").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM sweep WHERE status = 'done'").fetchone()[0] == 0
