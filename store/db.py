"""Engines, schema upgrades (Alembic) and transactions for duban's database.

SQLite (a file, the embedded default) and PostgreSQL (by URL) are both first-class. Nothing here
runs at import time: the CLI builds the settings, then calls ``open_database(url)``.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from matrix.errors import StoreError

# The newest migration; checked cheaply on every start so that Alembic is only imported to upgrade.
HEAD_REVISION = "0004"
_MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the sweep, the sweep not readers
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _json_dumps(value) -> str:
    """JSON columns are written by orjson: the sweep writes tens of thousands of them at a time."""
    import orjson

    return orjson.dumps(value).decode()


def _json_loads(text):
    import orjson

    return orjson.loads(text)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created, PostgreSQL needs psycopg installed."""
    json_kw = {"json_serializer": _json_dumps, "json_deserializer": _json_loads}
    if url.startswith("sqlite"):
        db_path = sa.engine.make_url(url).database
        if db_path and db_path != ":memory:":
            Path(db_path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, **json_kw)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql"):
        try:
            return sa.create_engine(url, pool_pre_ping=True, **json_kw)
        except ModuleNotFoundError as e:
            raise StoreError(f"{url.split('@')[-1]}: the PostgreSQL driver is missing ({e.name}); "
                             "install duban[postgres]") from None
    raise StoreError(f"unsupported database URL {url!r}: use sqlite:///path or postgresql+psycopg://…")


def _alembic_config(connection: sa.Connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        try:
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        except sa.exc.ProgrammingError:  # PostgreSQL: no such table (yet)
            return None
        except sa.exc.OperationalError as e:  # SQLite says "no such table" this way
            if "no such table" in str(e.orig):
                return None
            raise


def upgrade(engine: Engine) -> str | None:
    """Bring the schema to the newest revision; returns the revision it was at before."""
    before = current_revision(engine)
    if before == HEAD_REVISION:
        return before
    from alembic import command

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Two processes starting at once must not both create the tables.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(76543210)"))
        command.upgrade(_alembic_config(conn), "head")
    return before


def open_database(url: str, *, migrate: bool = True) -> Engine:
    """Connect and make sure the schema is current (migrating it when ``migrate``)."""
    engine = make_engine(url)
    try:
        rev = current_revision(engine)
    except sa.exc.OperationalError as e:
        raise StoreError(f"cannot open the database {_safe(url)}: {e.orig}") from None
    if rev != HEAD_REVISION:
        if not migrate:
            raise StoreError(f"the database {_safe(url)} is at schema {rev or 'none'}, expected {HEAD_REVISION}; run `duban init`")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            upgrade(engine)
    return engine


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as given
        return url


@contextlib.contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: everything inside commits together or not at all."""
    with Session(engine, expire_on_commit=False) as session:
        with session.begin():
            yield session
