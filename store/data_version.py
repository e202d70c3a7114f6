"""A cheap stamp of the database's state: two equal stamps mean no transaction committed in between.

It lets a reader keep what it computed from the database (the console's pages) until anything changes,
by anyone: this process, `duban sweep` in a terminal, `duban run`'s jobs, a Prefect worker. Nothing
has to remember to say that it wrote; the database itself tells.

- SQLite: ``PRAGMA data_version`` on one read-only connection of this process (a "watcher") changes
  whenever any other connection — of this process or another — commits to the file. The watcher
  itself never writes, so its value is a stamp for the whole database.
- PostgreSQL: the snapshot a new transaction would take (``pg_current_snapshot()``): its ``xmax`` and
  the transactions still in progress change when any transaction that wrote ends.
- Anything else: no stamp (None), so nothing is kept.

A stamp must be read *before* the data it stamps: what is read after it is at least as new, and a later
equal stamp proves nothing committed since — so what was read is still what the database holds.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


class DataVersion:
    """``stamp()``: the database's current stamp, or None when this kind of database has none."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._watcher: sqlite3.Connection | None = None
        self._read: Callable[[], Hashable | None]
        from duban.store.db import sqlite_file

        path = sqlite_file(engine.url)
        if path is not None:
            self._path = path
            self._read = self._sqlite
        elif engine.url.get_backend_name() == "postgresql":
            self._read = self._postgresql
        else:
            self._read = lambda: None

    def stamp(self) -> Hashable | None:
        return self._read()

    def _sqlite(self) -> Hashable | None:
        with self._lock:  # one watcher connection, used by one thread at a time
            if self._watcher is None:
                from pathlib import Path

                uri = Path(self._path).resolve().as_uri() + "?mode=ro"
                self._watcher = sqlite3.connect(uri, uri=True, check_same_thread=False)
            return ("sqlite", self._watcher.execute("PRAGMA data_version").fetchone()[0])

    def _postgresql(self) -> Hashable | None:
        with self._engine.connect() as conn:  # txid_current_snapshot: the same, before PostgreSQL 13
            name = "pg_current_snapshot" if conn.dialect.server_version_info >= (13,) else "txid_current_snapshot"
            return ("postgresql", conn.execute(sa.text(f"SELECT {name}()::text")).scalar_one())

    def close(self) -> None:
        with self._lock:
            if self._watcher is not None:
                self._watcher.close()
                self._watcher = None
