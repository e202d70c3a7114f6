"""Shared fixtures: real databases (a SQLite file in tmp_path; PostgreSQL at 127.0.0.1:5432 when present).

Each PostgreSQL test gets a schema of its own in database ``test`` (search_path set on the URL), so
tests never see each other's rows and leave nothing behind.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLANS = ROOT / "config" / "plans"
FIXTURES = Path(__file__).parent / "fixtures"
SHANGHAI = ZoneInfo("Asia/Shanghai")
PG_BASE = os.environ.get("DUBAN_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def at(y: int, m: int, d: int, hh: int = 9) -> dt.datetime:
    return dt.datetime(y, m, d, hh, tzinfo=SHANGHAI)


def _pg_available() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", connect_timeout=3):
            return None
    except Exception as e:  # noqa: BLE001 - any failure means: no PostgreSQL here
        return f"PostgreSQL at 127.0.0.1:5432/test is not reachable ({e.__class__.__name__})"


_PG_SKIP = _pg_available()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'duban.db'}"


@pytest.fixture
def pg_url():
    if _PG_SKIP:
        pytest.skip(_PG_SKIP)
    import psycopg

    schema = f"duban_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as conn:
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
