"""The console's read cache (web.kept_reads) over the database's stamp (store.data_version): what a page
read is answered again only while nothing has committed — by this process, another engine, another
process — and the first view after any commit reads the database again. A real SQLite file and, where
present, PostgreSQL; and a real `duban serve` showing a change the CLI made in another process."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy as sa

from tests.console import PASSWORD, add_user, cli, district, served


def _sqlite(tmp_path):
    from duban.store.db import open_database

    url = f"sqlite:///{tmp_path / 'duban.db'}"
    return open_database(url), url


@pytest.fixture
def pg_engine(pg_url):
    from duban.store.db import open_database

    engine = open_database(pg_url)
    yield engine
    engine.dispose()


def _touch(engine, actor: str = "test") -> None:
    from duban.store.db import transaction
    from duban.store.tables import EventRow

    with transaction(engine) as s:
        s.add(EventRow(at=sa.func.now(), kind="test.touch", actor=actor, data={}))


def test_sqlite_stamp_moves_with_every_commit_and_only_then(tmp_path):
    from duban.store.data_version import DataVersion

    engine, url = _sqlite(tmp_path)
    version = DataVersion(engine)
    first = version.stamp()
    assert first is not None and version.stamp() == first
    with engine.connect() as conn:  # reads, and a transaction rolled back, commit nothing
        conn.execute(sa.text("SELECT count(*) FROM event")).all()
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO event (at, kind, actor, data) VALUES (CURRENT_TIMESTAMP, 'x', 'y', '{}')"))
        conn.rollback()
    assert version.stamp() == first
    _touch(engine)  # this process's engine
    second = version.stamp()
    assert second != first and version.stamp() == second
    subprocess.run([sys.executable, "-c", f"""
import sqlite3; c = sqlite3.connect({str(tmp_path / 'duban.db')!r})
c.execute("INSERT INTO event (at, kind, actor, data) VALUES (CURRENT_TIMESTAMP, 'x', 'other process', '{{}}')"); c.commit()
"""], check=True)
    assert version.stamp() != second  # another process's commit
    version.close()


@pytest.mark.postgres
def test_postgresql_stamp_moves_with_a_commit_elsewhere(pg_engine):
    from duban.store.data_version import DataVersion

    version = DataVersion(pg_engine)
    first = version.stamp()
    assert first is not None
    with pg_engine.connect() as conn:
        conn.execute(sa.text("SELECT count(*) FROM event")).all()
    assert version.stamp() == first, "a read assigns no transaction id: the stamp stays"
    _touch(pg_engine)
    assert version.stamp() != first


def test_kept_until_a_commit_then_read_again(tmp_path):
    from duban.web.kept_reads import KeptReads

    engine, _ = _sqlite(tmp_path)
    kept = KeptReads(engine, enabled=True)
    reads = []

    def count_events() -> int:
        reads.append(1)
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM event")).scalar_one())

    n = kept.get(("events",), count_events)
    assert kept.get(("events",), count_events) == n and len(reads) == 1
    assert kept.get(("other",), count_events) == n and len(reads) == 2  # another key is its own
    _touch(engine)
    assert kept.get(("events",), count_events) == n + 1 and len(reads) == 3
    assert kept.get(("events",), count_events) == n + 1 and len(reads) == 3
    # what was kept under an older stamp is let go at once
    assert all(key[0] == kept.version.stamp() for key in kept._entries)


def test_bounded_and_one_computation_per_key_at_a_time(tmp_path):
    from duban.web.kept_reads import KeptReads

    engine, _ = _sqlite(tmp_path)
    kept = KeptReads(engine, max_entries=3, enabled=True)
    for k in range(10):
        kept.get(("page", k), lambda k=k: k)
    assert len(kept._entries) == 3
    assert [key[1] for key in kept._entries] == [("page", 7), ("page", 8), ("page", 9)]

    started, release, calls = threading.Event(), threading.Event(), []

    def slow() -> str:
        calls.append(1)
        started.set()
        release.wait(10)
        return "page"

    results: list[str] = []
    first = threading.Thread(target=lambda: results.append(kept.get(("slow",), slow)))
    first.start()
    started.wait(10)
    others = [threading.Thread(target=lambda: results.append(kept.get(("slow",), slow))) for _ in range(5)]
    for t in others:
        t.start()
    time.sleep(0.2)  # the others are waiting for the first's computation, not computing their own
    release.set()
    for t in [first, *others]:
        t.join(10)
    assert results == ["page"] * 6 and len(calls) == 1


def test_a_failed_computation_is_not_kept(tmp_path):
    from duban.web.kept_reads import KeptReads

    engine, _ = _sqlite(tmp_path)
    kept = KeptReads(engine, enabled=True)

    def fails() -> None:
        raise LookupError("no such task")

    for _ in range(2):
        with pytest.raises(LookupError):
            kept.get(("task", "9.9"), fails)
    assert not kept._entries and not kept._flights


def test_off_by_environment_or_without_a_stamp(tmp_path, monkeypatch):
    from duban.store.db import open_database
    from duban.web.kept_reads import KEEP_ENV, KeptReads

    engine, _ = _sqlite(tmp_path)
    monkeypatch.setenv(KEEP_ENV, "0")
    off, calls = KeptReads(engine), []
    off.get(("x",), lambda: calls.append(1))
    off.get(("x",), lambda: calls.append(1))
    assert len(calls) == 2
    monkeypatch.delenv(KEEP_ENV)
    memory = KeptReads(open_database("sqlite://"), enabled=True)  # an in-memory database has no stamp
    assert memory.version.stamp() is None
    memory.get(("x",), lambda: calls.append(1))
    memory.get(("x",), lambda: calls.append(1))
    assert len(calls) == 4


def test_the_console_shows_what_another_process_changed(tmp_path):
    """A task page viewed, then progress reported with the CLI in another process: the next view shows it
    (and the overview's counts move with a sweep run from the CLI)."""
    import httpx

    url = f"sqlite:///{tmp_path / 'duban.db'}"
    district(tmp_path, url)
    add_user("office", "office", cwd=tmp_path, db_url=url)
    with served(tmp_path, url, "--as-of", "2016-01-15") as base, httpx.Client(base_url=base) as client:
        from tests.console import csrf_of

        page = client.get("/login")
        client.post("/login", data={"name": "office", "password": PASSWORD, "csrf": csrf_of(page.text), "next": "/"})
        before = client.get("/tasks/district-2015/3.2.1")
        assert before.status_code == 200 and "跨進程的進展說明" not in before.text
        assert client.get("/tasks/district-2015/3.2.1").text == before.text  # kept: the same page
        cli(["progress", "report", "3.2.1", "-u", "區交委", "--done", "3", "--note", "跨進程的進展說明",
             "--as-of", "2016-01-15"], cwd=tmp_path, db_url=url)
        after = client.get("/tasks/district-2015/3.2.1")
        assert "跨進程的進展說明" in after.text
