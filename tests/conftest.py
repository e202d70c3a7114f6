"""Shared fixtures: real databases (a SQLite file in tmp_path; PostgreSQL at 127.0.0.1:5432 when present),
real SMTP servers on loopback (``start_smtp``, ``recorder``), the shipped policy, and ``../shared``.

Each PostgreSQL test gets a schema of its own in database ``test`` (search_path set on the URL), so
tests never see each other's rows and leave nothing behind. Plain names (ROOT, PLANS, at, …) are in
tests/support.py.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from tests.support import PG_ADMIN, PG_BASE, PG_SKIP, PLANS, POLICY, ROOT, Recorder


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'duban.db'}"


@pytest.fixture
def pg_url():
    if PG_SKIP:
        pytest.skip(PG_SKIP)
    import psycopg

    schema = f"duban_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path: Path) -> str:
    """Run the test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(db_url):
    from duban.store.db import open_database

    eng = open_database(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def plans_dir(tmp_path: Path) -> Path:
    """A writable copy of the example plans, for tests that edit them."""
    target = tmp_path / "plans"
    shutil.copytree(PLANS, target)
    return target


@pytest.fixture(scope="session")
def policy():
    """The shipped supervision policy (config/policy.yaml), loaded once (tests.support.POLICY)."""
    return POLICY


@pytest.fixture
def start_smtp():
    """Start real SMTP servers on loopback: ``start_smtp(handler=None, **controller_options)`` returns the
    started aiosmtpd Controller (``.port`` is the port it bound, ``.handler`` the handler: a new Recorder
    when none is given). Each binds port 0, so no port is picked before it is bound; all stop at teardown."""
    from duban.notifications.sink import loopback_smtp

    started = []

    def start(handler=None, **options):
        handler = Recorder() if handler is None else handler
        controller = loopback_smtp(handler, **options)
        started.append(controller)
        if hasattr(handler, "port"):
            handler.port = controller.port
        return controller

    yield start
    for controller in reversed(started):
        controller.stop()


@pytest.fixture
def recorder(start_smtp) -> Recorder:
    """A running SMTP server's Recorder: ``.port`` to send to, ``.messages`` received, ``.refuse`` to
    refuse chosen recipients, ``.delay`` to answer DATA slowly."""
    return start_smtp().handler


@pytest.fixture
def smtp_server(recorder) -> Recorder:
    """The same as ``recorder`` (the name the delivery tests use)."""
    return recorder


@pytest.fixture(scope="session")
def shared() -> Path:
    """The folder beside the checkout that holds the seed documents (``../shared``; DUBAN_SHARED to point
    elsewhere). The one way a test reaches a file outside the checkout; skips with a reason without it."""
    import os

    folder = Path(os.environ.get("DUBAN_SHARED") or ROOT.parent / "shared")
    if not folder.is_dir():
        pytest.skip(f"{folder} (../shared beside the checkout, or DUBAN_SHARED) is not here")
    return folder


@pytest.fixture
def allow_replay_mail(monkeypatch) -> None:
    """DUBAN_ALLOW_REPLAY_MAIL=1 for a test that replays old dates over a real SMTP server (or another
    channel that reaches people): without it, the notices of a replayed sweep are held in the outbox."""
    monkeypatch.setenv("DUBAN_ALLOW_REPLAY_MAIL", "1")
