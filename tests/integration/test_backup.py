"""`duban backup` and `duban restore` as a user runs them: a copy taken while sweeps run, put back, used.

A backup taken in the middle of a replay (a real process sweeping and delivering day after day) is a
consistent database: every finished sweep's notices are there, no half-written sweep, integrity ok,
mode 0600. Restored into a fresh place it passes every command. Refusals (a newer database, a file
that is not a duban database, PostgreSQL, `duban run` running) print one clear line, exit 1 and
change nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import PLANS, ROOT

REPLAY_DAYS = ["2015-07-28", "2015-09-30", "2015-10-30", "2015-12-04", "2016-01-29", "2016-03-31"]


def _env(tmp_path: Path, db_url: str) -> dict:
    return {**os.environ, "DUBAN_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT), "COLUMNS": "200",
            "DUBAN_OUTBOX_DIR": str(tmp_path / "outbox"), "DUBAN_CONFIG_DIR": str(tmp_path / "duban-config")}


def duban(args: list[str], *, cwd: Path, db_url: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "duban.workflows.cli", *args], cwd=cwd, env=_env(cwd, db_url),
                          capture_output=True, text=True, timeout=180)
    if check and proc.returncode != 0:
        raise AssertionError(f"duban {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def _rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _digest(folder: Path) -> dict[str, str]:
    """Every file in the folder (recursively) with a hash of its bytes: what 'nothing changed' compares."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _assert_consistent(backup: Path) -> None:
    """A copy from one moment: sound, and every sweep in it either finished with all its notices or wrote none."""
    assert _rows(backup, "PRAGMA integrity_check") == [("ok",)]
    assert _rows(backup, "SELECT count(*) FROM alembic_version") == [(1,)]
    for sweep_id, status, counts in _rows(backup, "SELECT id, status, counts FROM sweep"):
        notices = _rows(backup, f"SELECT count(*) FROM notice WHERE sweep_id = {sweep_id}")[0][0]
        if status == "done":
            c = json.loads(counts)
            assert notices == c["reminder"] + c["chase"] + c["escalation"], (sweep_id, c, notices)
        else:
            assert notices == 0, (sweep_id, status, notices)
    # A message exists only with the deliveries it carries (planned in one transaction).
    assert _rows(backup, "SELECT count(*) FROM message m WHERE NOT EXISTS "
                         "(SELECT 1 FROM delivery d WHERE d.message_pk = m.id)") == [(0,)]


def test_a_backup_taken_during_a_replay_restores_and_passes_every_command(tmp_path: Path) -> None:
    work = tmp_path / "office"
    work.mkdir()
    url = f"sqlite:///{work / 'var' / 'duban.db'}"
    duban(["init"], cwd=work, db_url=url)
    duban(["matrix", "import", str(PLANS / "district-2015.yaml"), "--as-of", "2015-07-01"], cwd=work, db_url=url)
    db = work / "var" / "duban.db"

    # A real process replaying the plan day after day: sweep, then deliver (.eml), for each day.
    script = "set -e\n" + "".join(
        f"{sys.executable} -m duban.workflows.cli sweep --as-of {d} >/dev/null\n"
        f"{sys.executable} -m duban.workflows.cli deliver --as-of {d} >/dev/null\n" for d in REPLAY_DAYS)
    replay = subprocess.Popen(["bash", "-c", script], cwd=work, env=_env(work, url),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    backups: list[tuple[Path, bool]] = []
    try:
        deadline = time.monotonic() + 60
        while _rows(db, "SELECT count(*) FROM sweep WHERE status = 'done'")[0][0] == 0:
            assert replay.poll() is None and time.monotonic() < deadline, replay.stderr.read() if replay.poll() else ""
            time.sleep(0.1)
        while replay.poll() is None and len(backups) < 4:
            time.sleep(0.5)  # leave the replay most of the machine
            target = tmp_path / "backups" / f"duban-{len(backups) + 1}.db"
            was_running = replay.poll() is None
            proc = duban(["backup", str(target), "--json"], cwd=work, db_url=url)
            backups.append((target, was_running and replay.poll() is None))
            info = json.loads(proc.stdout)
            assert info["revision"] and info["size"] == target.stat().st_size
        _, err = replay.communicate(timeout=120)  # reads and closes its pipes
        assert replay.returncode == 0, err
    finally:
        if replay.poll() is None:
            replay.kill()
            replay.communicate()
    during = [b for b, mid in backups if mid]
    assert len(during) >= 2, f"only {len(during)} backups finished while the replay ran"
    for b, _ in backups:
        _assert_consistent(b)
        assert stat.S_IMODE(b.stat().st_mode) == 0o600
        assert not Path(f"{b}-wal").exists()
    assert not list((tmp_path / "backups").glob(".*tmp")), "a temporary file was left behind"

    # The human summary says what was written.
    final = tmp_path / "backups" / "final.db"
    text = duban(["backup", str(final)], cwd=work, db_url=url).stdout
    assert f"wrote {final}" in text and "schema 0" in text and "plans" in text and "notices" in text
    assert "messages" in text and "latest activity 20" in text

    # Restore the last copy taken mid-replay into a fresh place, and use it.
    chosen = during[-1]
    expected = {t: _rows(chosen, f"SELECT count(*) FROM {t}")[0][0] for t in ("plan", "task", "notice", "message")}
    fresh = tmp_path / "elsewhere"
    fresh.mkdir()
    furl = f"sqlite:///{fresh / 'restored.db'}"
    restored = json.loads(duban(["restore", str(chosen), "--json"], cwd=fresh, db_url=furl).stdout)
    assert restored["kept"] is None and restored["replaced"] is None
    assert restored["restored"]["counts"]["notice"] == expected["notice"]
    assert stat.S_IMODE((fresh / "restored.db").stat().st_mode) == 0o600

    assert [p["code"] for p in json.loads(duban(["plans", "--json"], cwd=fresh, db_url=furl).stdout)] == ["district-2015"]
    assert len(json.loads(duban(["matrix", "show", "--json"], cwd=fresh, db_url=furl).stdout)) == expected["task"]
    assert json.loads(duban(["status", "--as-of", "2016-04-01", "--json"], cwd=fresh, db_url=furl).stdout)
    assert len(json.loads(duban(["outbox", "--json"], cwd=fresh, db_url=furl).stdout)) == expected["notice"]
    assert len(json.loads(duban(["messages", "--json"], cwd=fresh, db_url=furl).stdout)) == expected["message"]
    sweeps = json.loads(duban(["sweeps", "--json"], cwd=fresh, db_url=furl).stdout)
    assert sweeps and all(s["status"] in ("done", "running", "interrupted") for s in sweeps)
    assert json.loads(duban(["history", "3.1", "--json"], cwd=fresh, db_url=furl).stdout)[0]["kind"] == "task.added"
    report = json.loads(duban(["report", "weekly", "--as-of", "2016-04-01", "--out", str(fresh / "reports"), "--json"],
                              cwd=fresh, db_url=furl).stdout)
    assert report["files"]
    duban(["deliver", "--as-of", "2016-04-01"], cwd=fresh, db_url=furl)
    again = json.loads(duban(["sweep", "--as-of", "2016-04-29", "--json"], cwd=fresh, db_url=furl).stdout)
    assert again["sweep"] > max(s["id"] for s in sweeps)
    duban(["deliver", "--as-of", "2016-04-29"], cwd=fresh, db_url=furl)
    assert not json.loads(duban(["messages", "--status", "pending", "--json"], cwd=fresh, db_url=furl).stdout)


def _setup(tmp_path: Path) -> tuple[Path, str, Path]:
    work = tmp_path / "office"
    work.mkdir()
    url = f"sqlite:///{work / 'var' / 'duban.db'}"
    duban(["matrix", "import", str(PLANS / "district-2015.yaml"), "--as-of", "2015-07-01"], cwd=work, db_url=url)
    duban(["sweep", "--as-of", "2015-10-30"], cwd=work, db_url=url)
    return work, url, work / "var" / "duban.db"


def test_restore_refuses_a_newer_database_unless_forced_and_keeps_the_replaced_one(tmp_path: Path) -> None:
    work, url, db = _setup(tmp_path)
    backup = tmp_path / "old.db"
    duban(["backup", str(backup)], cwd=work, db_url=url)
    # The database moves on: the year-end reminders (3.1 and 3.5 are past level 3 since October: no more chases).
    duban(["sweep", "--as-of", "2015-12-24"], cwd=work, db_url=url)
    notices_now = _rows(db, "SELECT count(*) FROM notice")[0][0]
    assert notices_now > _rows(backup, "SELECT count(*) FROM notice")[0][0]

    before = _digest(work / "var")
    proc = duban(["restore", str(backup)], cwd=work, db_url=url, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "newer than the backup" in proc.stderr and "latest notice" in proc.stderr and "--force" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert _digest(work / "var") == before

    # A newer schema counts as newer too.
    conn = sqlite3.connect(backup)
    conn.execute("UPDATE alembic_version SET version_num = '0001'")
    conn.commit()
    conn.close()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    fresh_url = f"sqlite:///{fresh / 'duban.db'}"
    duban(["init"], cwd=fresh, db_url=fresh_url)
    proc = duban(["restore", str(backup)], cwd=fresh, db_url=fresh_url, check=False)
    assert proc.returncode == 1 and "schema 0" in proc.stderr and "newer than the backup's 0001" in proc.stderr

    # The same database as the backup is not newer: restored without --force, the replaced one kept.
    same = tmp_path / "same.db"
    duban(["backup", str(same)], cwd=work, db_url=url)
    again = json.loads(duban(["restore", str(same), "--json"], cwd=work, db_url=url).stdout)
    assert again["kept"] and not again["forced_over_newer"]

    # Forced over a newer database: the replaced one is kept whole beside it.
    old = tmp_path / "before-january.db"
    duban(["backup", str(old)], cwd=work, db_url=url)
    duban(["sweep", "--as-of", "2016-01-29"], cwd=work, db_url=url)
    newest = _rows(db, "SELECT count(*) FROM notice")[0][0]
    text = duban(["restore", str(old), "--force"], cwd=work, db_url=url).stdout
    assert "replaced a newer database (--force)" in text and "kept as" in text
    kept = sorted((work / "var").glob("duban.db.before-restore-*"))
    assert len(kept) == 2
    assert _rows(kept[-1], "SELECT count(*) FROM notice")[0][0] == newest
    assert _rows(kept[-1], "PRAGMA integrity_check") == [("ok",)]
    assert _rows(db, "SELECT count(*) FROM notice")[0][0] < newest
    assert not Path(f"{db}-wal").exists() or _rows(db, "PRAGMA integrity_check") == [("ok",)]
    duban(["sweep", "--as-of", "2016-01-29"], cwd=work, db_url=url)  # and it works on


def test_restore_refuses_what_is_not_a_duban_database(tmp_path: Path) -> None:
    work, url, db = _setup(tmp_path)
    text = tmp_path / "notes.db"
    text.write_text("not a database\n" * 100, encoding="utf-8")
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    good = tmp_path / "good.db"
    duban(["backup", str(good)], cwd=work, db_url=url)
    damaged = tmp_path / "damaged.db"
    data = bytearray(good.read_bytes())
    data[len(data) // 2: len(data) // 2 + 20000] = b"\xff" * 20000
    damaged.write_bytes(bytes(data))
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(good.read_bytes()[:5000])

    before = _digest(work / "var")
    for path, words in ((text, "not a SQLite database"), (other, "not duban's (no alembic_version table)"),
                        (damaged, "damaged"), (truncated, str(truncated)), (tmp_path / "missing.db", "no such file")):
        proc = duban(["restore", str(path)], cwd=work, db_url=url, check=False)
        assert proc.returncode == 1, (path, proc.stdout, proc.stderr)
        assert words in proc.stderr and proc.stderr.startswith("duban: error: "), (path, proc.stderr)
        assert "Traceback" not in proc.stderr and len(proc.stderr) < 400
        assert _digest(work / "var") == before, path
    assert not list(work.rglob("*.tmp"))


def test_backup_and_restore_on_postgresql_say_how_to_use_pg_dump(tmp_path: Path) -> None:
    url = "postgresql+psycopg://duban:s3cret@127.0.0.1:5432/duban"
    for args in (["backup", str(tmp_path / "x.db")], ["restore", str(tmp_path / "x.db")]):
        proc = duban(args, cwd=tmp_path, db_url=url, check=False)
        assert proc.returncode == 1, proc.stderr
        assert "pg_dump -Fc -d 'postgresql://duban@127.0.0.1:5432/duban' -f duban.dump" in proc.stderr
        assert "pg_restore --clean" in proc.stderr and "s3cret" not in proc.stderr
        assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_backup_refuses_to_overwrite_and_when_there_is_no_database(tmp_path: Path) -> None:
    work, url, db = _setup(tmp_path)
    target = tmp_path / "b.db"
    target.write_text("precious", encoding="utf-8")
    proc = duban(["backup", str(target)], cwd=work, db_url=url, check=False)
    assert proc.returncode == 1 and "already exists" in proc.stderr and target.read_text(encoding="utf-8") == "precious"
    duban(["backup", str(target), "--force"], cwd=work, db_url=url)
    assert _rows(target, "SELECT count(*) FROM plan") == [(1,)]
    proc = duban(["backup", str(db)], cwd=work, db_url=url, check=False)
    assert proc.returncode == 1 and "the database itself" in proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = duban(["backup", str(tmp_path / "c.db")], cwd=empty, db_url=f"sqlite:///{empty / 'none.db'}", check=False)
    assert proc.returncode == 1 and "nothing to back up" in proc.stderr and not (tmp_path / "c.db").exists()


def test_restore_refuses_while_duban_run_runs(tmp_path: Path) -> None:
    work, url, db = _setup(tmp_path)
    backup = tmp_path / "b.db"
    duban(["backup", str(backup)], cwd=work, db_url=url)
    runner = subprocess.Popen([sys.executable, "-m", "duban.workflows.cli", "run", "--quiet"], cwd=work,
                              env=_env(work, url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = ""
        for _ in range(10):
            line = runner.stdout.readline()
            seen += line
            if "scheduler started" in line or not line:
                break
        assert "scheduler started" in seen, seen + runner.stderr.read()
        before = _rows(db, "SELECT count(*) FROM notice")
        proc = duban(["restore", str(backup), "--force"], cwd=work, db_url=url, check=False)
        assert proc.returncode == 1 and "`duban run` is running" in proc.stderr and "pid " in proc.stderr
        assert not list((work / "var").glob("duban.db.before-restore-*"))
        assert _rows(db, "SELECT count(*) FROM notice") == before
    finally:
        runner.send_signal(signal.SIGTERM)
        runner.communicate(timeout=60)  # reads and closes its pipes
    restored = json.loads(duban(["restore", str(backup), "--json"], cwd=work, db_url=url).stdout)
    assert restored["kept"]


@pytest.mark.parametrize("pages", [1, 1024])
def test_the_copy_is_one_snapshot_however_small_the_steps(tmp_path: Path, pages: int) -> None:
    """In-process: writers committing between every step of the copy neither block nor tear it."""
    from duban.store.backup import backup

    work, url, db = _setup(tmp_path)
    writer = sqlite3.connect(db, timeout=30, isolation_level=None)
    n0 = _rows(db, "SELECT count(*) FROM event")[0][0]
    steps = 0

    import duban.store.backup as mod

    real_sleep = mod.time.sleep

    def write_between(_seconds: float) -> None:  # the pause between steps: another connection writes
        nonlocal steps
        steps += 1
        writer.execute("INSERT INTO event (at, kind, actor, data) VALUES ('2030-01-01', 'test.write', 't', '{}')")

    mod.time.sleep = write_between
    try:
        info = backup(db, tmp_path / "snap.db", pages=pages, pause=0.001)
    finally:
        mod.time.sleep = real_sleep
        writer.close()
    assert steps >= (2 if pages == 1 else 1)
    assert info.counts["event"] == n0 and _rows(tmp_path / "snap.db", "SELECT count(*) FROM event") == [(n0,)]
    assert _rows(db, "SELECT count(*) FROM event")[0][0] == n0 + steps


def test_a_backup_follows_the_configured_file_mode(tmp_path: Path) -> None:
    """Backups are private like the database (0600, folders 0700), or as DUBAN_FILE_MODE says."""
    work, url, db = _setup(tmp_path)
    duban(["backup", str(tmp_path / "private" / "b.db")], cwd=work, db_url=url)
    assert stat.S_IMODE((tmp_path / "private" / "b.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o700
    (work / ".env").write_text("DUBAN_FILE_MODE=0640\n", encoding="utf-8")
    duban(["backup", str(tmp_path / "shared" / "b.db")], cwd=work, db_url=url)
    assert stat.S_IMODE((tmp_path / "shared" / "b.db").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o750
