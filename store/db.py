"""Engines, schema upgrades (Alembic) and transactions for duban's database.

SQLite (a file, the embedded default) and PostgreSQL (by URL) are both first-class. Nothing here
runs at import time: the CLI builds the settings, then calls ``open_database(url)``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
import time
import traceback
import warnings
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from duban.matrix.errors import StoreError

# The newest migration; checked cheaply on every start so that Alembic is only imported to upgrade.
HEAD_REVISION = "0027"
_MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_CONNECTIONS = 15  # per process, kept open


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the sweep, the sweep not readers
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER)\b", re.IGNORECASE)
_WRITING = "duban_writing"  # in a pooled connection's info: it holds its engine's write turn
WRITE_TURNS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()  # by SQLite engine


def _one_writer_at_a_time(engine: Engine) -> None:
    """A SQLite file has one writer at a time. Threads of one process that write at once (the console's
    pages and a unit's link actions) each wait in SQLite's busy handler, which sleeps 1, 2, 5 … 100 ms
    between tries: under load the file sat unwritten between the sleeps (about 30 link actions a second
    on two cores). So a connection takes its engine's write turn (a lock) before its transaction's first
    write and gives it back at commit or rollback: the next writer starts as soon as one ends. Waiting
    for the turn is bounded like busy_timeout; past it the write goes on to SQLite's own waiting, as
    before (no deadlock for a thread holding the turn on another connection). Other processes are
    still kept apart by SQLite's locks."""
    turn = WRITE_TURNS[engine] = threading.Lock()

    @event.listens_for(engine, "before_cursor_execute")
    def _take(conn, _cursor, statement, _params, _context, _executemany) -> None:  # type: ignore[no-untyped-def]
        if _WRITE.match(statement) and _WRITING not in conn.info:
            conn.info[_WRITING] = turn.acquire(timeout=30)

    def _give_back(info: dict) -> None:
        if info.pop(_WRITING, False):
            turn.release()

    def _ended(conn: sa.Connection) -> None:
        if not conn.invalidated:  # an invalidated one (an interrupt mid-statement): the pool's invalidate gives it back
            _give_back(conn.info)

    event.listen(engine, "commit", _ended)
    event.listen(engine, "rollback", _ended)
    event.listen(engine, "checkin", lambda _dbapi, record: _give_back(record.info))  # returned to the pool
    event.listen(engine, "invalidate", lambda _dbapi, record, _exc: _give_back(record.info))


def _json_dumps(value) -> str:
    """JSON columns are written by orjson: the sweep writes tens of thousands of them at a time."""
    import orjson

    return orjson.dumps(value).decode()


def _json_loads(text):
    import orjson

    return orjson.loads(text)


def sqlite_file(url: str | sa.URL) -> str | None:
    """The file a SQLite URL names (a plain path), or None (another database, memory, a ``file:`` URI)."""
    parsed = sa.engine.make_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created, PostgreSQL needs psycopg installed."""
    json_kw = {"json_serializer": _json_dumps, "json_deserializer": _json_loads}
    if url.startswith("sqlite"):
        db_path = sa.engine.make_url(url).database
        file = sqlite_file(url)
        if file:
            from duban.store.files import create_file, make_dirs

            # Private (0600 in a 0700 folder unless DUBAN_FILE_MODE says otherwise): created here, empty (an
            # empty file is an empty database), so SQLite's -wal and -shm files take the same mode.
            path = Path(file).expanduser()
            make_dirs(path.parent)
            create_file(path)
        # Connections kept open, none made and closed per request: `duban serve` runs as many pages at once
        # as the pool has connections (web.app), and a connection opened for one request (an overflow one)
        # costs its opening and pragmas each time. They are opened when first needed: a CLI command opens one.
        in_memory = not db_path or db_path == ":memory:" or "mode=memory" in url
        pool = {} if in_memory else {"pool_size": SQLITE_CONNECTIONS, "max_overflow": 0}
        engine = sa.create_engine(url, **pool, **json_kw)
        event.listen(engine, "connect", _sqlite_pragmas)
        _one_writer_at_a_time(engine)
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


def _transactional_sqlite(engine: Engine) -> Engine:
    """A second engine on the same SQLite file whose transactions really are transactions, DDL included.

    pysqlite runs CREATE TABLE and ALTER TABLE outside any transaction (it only opens one before
    INSERT/UPDATE/DELETE), so a process killed half-way through a migration left some tables and no
    schema version. This is SQLAlchemy's documented recipe for pysqlite: the driver's own transaction
    handling off (``isolation_level = None``) and a BEGIN of our own — IMMEDIATE, so two processes
    starting at once migrate one after the other, as the advisory lock does on PostgreSQL."""
    migrating = make_engine(engine.url.render_as_string(hide_password=False))

    @event.listens_for(migrating, "connect")
    def _driver_autocommit(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        # SQLite's procedure for altering a table (rebuild, drop, rename) needs foreign keys off, set
        # before the transaction begins; upgrade checks them all before it commits.
        dbapi_connection.execute("PRAGMA foreign_keys=OFF")

    @event.listens_for(migrating, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return migrating


def _refuse_half_created(engine: Engine) -> None:
    """duban's tables without a schema version: a first ``init`` killed half-way by duban before
    schema creation was one transaction on SQLite. Nothing can have been imported into it; say how to
    start again rather than fail on "table … already exists"."""
    from duban.store.tables import SQLModel

    present = sorted(set(sa.inspect(engine).get_table_names()) & set(SQLModel.metadata.tables))
    if not present:
        return
    url = engine.url
    if url.get_backend_name() == "sqlite":
        where = url.database or ""
        how = f"move {where} (and any {where}-wal, {where}-shm next to it) aside and run `duban init` again"
    else:
        how = "drop those tables (or the schema) and run `duban init` again"
    raise StoreError(f"the database {_safe(url.render_as_string(hide_password=False))} has {len(present)} of duban's tables "
                     f"({', '.join(present[:3])}{', …' if len(present) > 3 else ''}) but no schema version: its first "
                     f"`duban init` was interrupted before it finished, and nothing was imported into it; {how}")


def upgrade(engine: Engine) -> str | None:
    """Bring the schema to the newest revision; returns the revision it was at before.

    All or nothing on SQLite and PostgreSQL alike: every migration runs in one transaction, so a
    process killed half-way leaves the schema as it was, and the next start finishes the job."""
    before = current_revision(engine)
    if before == HEAD_REVISION:
        return before
    if before is None:
        _refuse_half_created(engine)
    from alembic import command

    sqlite = engine.dialect.name == "sqlite"
    migrating = _transactional_sqlite(engine) if sqlite else engine
    try:
        with migrating.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Two processes starting at once must not both create the tables.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(76543210)"))
            command.upgrade(_alembic_config(conn), "head")
            if sqlite:
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise StoreError(f"cannot bring the database {_safe(str(engine.url))} from schema {before or 'none'} "
                                     f"to {HEAD_REVISION} (nothing was changed): {len(broken)} broken references, "
                                     f"first in table {broken[0][0]}")
    except sa.exc.DBAPIError as e:
        raise StoreError(f"cannot bring the database {_safe(str(engine.url))} from schema {before or 'none'} to "
                         f"{HEAD_REVISION} (nothing was changed): {e.orig}") from None
    finally:
        if sqlite:
            migrating.dispose()
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


def real_clock(engine: Engine) -> Callable[[], dt.datetime]:
    """The real time, for leases, retry times and heartbeats — never a replay's as-of day.

    PostgreSQL's clock (which every worker on every machine shares), read once and advanced by this
    process's monotonic clock; on SQLite, a file on this machine, the machine's clock (UTC)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            base = conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
        started = time.monotonic()
        return lambda: base + dt.timedelta(seconds=time.monotonic() - started)
    return lambda: dt.datetime.now(dt.UTC)


def begin_immediate(session: Session, *, patience: float = 600.0) -> None:
    """On SQLite, make the session's transaction a writer from its first statement (BEGIN IMMEDIATE),
    so that what it reads stays true until it commits; waits while another process writes (each try
    waits busy_timeout). Must come first in the transaction; nothing to do on PostgreSQL."""
    if session.get_bind().dialect.name != "sqlite":
        return
    conn = session.connection()
    deadline = time.monotonic() + patience
    while True:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except sa.exc.OperationalError as e:
            if "locked" not in str(e.orig) or time.monotonic() > deadline:
                raise


def release_interrupted(error: BaseException) -> None:
    """Let go of the database objects an exception's traceback holds before writing anything else.

    A KeyboardInterrupt (a second Ctrl-C) raised inside SQLAlchemy's execute invalidates the connection,
    but its cursor stays referenced from the traceback's frames; on SQLite that keeps the unfinished
    statement, and with it the write lock, alive (a closed connection with live statements is only closed
    once they are finalized), so the next write waits out the busy timeout and fails with 'database is
    locked'. Clearing the frames' locals drops the cursor; the traceback still prints."""
    traceback.clear_frames(error.__traceback__)
    for chained in (error.__cause__, error.__context__):
        if chained is not None and chained is not error:
            traceback.clear_frames(chained.__traceback__)


@contextlib.contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: everything inside commits together or not at all."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session
