"""Backup and restore of duban's SQLite database: a consistent copy while `duban run` keeps writing.

``backup(db_path, target)`` copies the database with SQLite's online backup API. The copy is read from
one snapshot (a read transaction held for the whole copy: in WAL mode it does not block writers), page
batch by page batch with a short pause between batches, into a temporary file beside the target
(mode 0600) that is checked, then renamed into place — a backup file is complete or absent.

``restore(db_path, source)`` puts a backup in place of the database: the source must be a duban
database (an ``alembic_version`` row, ``PRAGMA integrity_check`` ok), the database it replaces must not
be newer (later activity or a newer schema) unless forced, and the replaced database is kept beside it
as ``<db>.before-restore-<timestamp>``. PostgreSQL has its own tools (pg_dump, pg_restore); the CLI
says how to use them. Standard library only (sqlite3): this is about files, not the ORM.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from duban.matrix.errors import Refused, StoreError

SQLITE_MAGIC = b"SQLite format 3\x00"
PAGES_PER_STEP = 1024  # 4 MB at SQLite's default page size: a step takes milliseconds
PAUSE_SECONDS = 0.002  # between steps, so the disk is shared with the process that is working

# What "newer" means: the latest time of each kind of activity (compared kind by kind, each kind's
# column being written by the same clock in both databases).
ACTIVITY = {
    "event": "SELECT max(at) FROM event",
    "notice": "SELECT max(created_at) FROM notice",
    "message": "SELECT max(max(created_at), coalesce(max(sent_at), '')) FROM message",
    "progress": "SELECT max(recorded_at) FROM progress_report",
    "sweep": "SELECT max(started_at) FROM sweep",
}
COUNTED = ("plan", "task", "notice", "message", "event", "sweep")


class BackupRefused(Refused):
    """A backup or restore that would lose or damage data, or cannot work on this database."""


@dataclass
class DatabaseInfo:
    """What a database file holds, enough to tell one copy from another."""

    path: Path
    size: int
    revision: str | None
    counts: dict[str, int] = field(default_factory=dict)
    latest: dict[str, str] = field(default_factory=dict)  # kind -> latest time (as stored)

    @property
    def latest_activity(self) -> str | None:
        """The latest business time written (events, notices, messages, progress), as stored."""
        times = [v for k, v in self.latest.items() if k != "sweep" and v]
        return max(times) if times else None

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "size": self.size, "revision": self.revision, "counts": self.counts,
                "latest_activity": self.latest_activity, "latest": self.latest}


def _connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)


def is_sqlite_file(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def inspect(conn: sqlite3.Connection, path: Path) -> DatabaseInfo:
    """Revision, row counts and latest activity of the database open on ``conn``."""
    tables = _tables(conn)
    revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] \
        if "alembic_version" in tables else None
    counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in COUNTED if t in tables}
    latest = {}
    for kind, sql in ACTIVITY.items():
        table = "progress_report" if kind == "progress" else kind
        if table in tables:
            value = conn.execute(sql).fetchone()[0]
            if value:
                latest[kind] = str(value)
    return DatabaseInfo(path=path, size=path.stat().st_size if path.exists() else 0, revision=revision,
                        counts=counts, latest=latest)


def _check_duban_file(path: Path) -> DatabaseInfo:
    """Refuse a file that is not a sound duban database; describe it otherwise."""
    if not path.is_file():
        raise BackupRefused(f"{path}: no such file")
    if not is_sqlite_file(path):
        raise BackupRefused(f"{path}: not a SQLite database, so not a duban backup")
    try:
        conn = _connect_ro(path)
        try:
            problems = [r[0] for r in conn.execute("PRAGMA integrity_check(5)")]
            if problems != ["ok"]:
                raise BackupRefused(f"{path}: the database is damaged (integrity_check: {_short('; '.join(problems))})")
            if "alembic_version" not in _tables(conn):
                raise BackupRefused(f"{path}: a SQLite database but not duban's (no alembic_version table)")
            info = inspect(conn, path)
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        raise BackupRefused(f"{path}: the database is damaged or not a database ({_short(str(e))})") from None
    if info.revision is None:
        raise BackupRefused(f"{path}: a duban database with no schema revision (its creation never finished)")
    return info


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def revision_key(revision: str | None) -> tuple[int, str]:
    """Order of schema revisions (duban's are numbered 0001, 0002 …)."""
    if revision is None:
        return (-1, "")
    return (int(revision), revision) if revision.isdigit() else (0, revision)


def _temp_beside(target: Path) -> Path:
    """A new empty file (duban's file mode, 0600 unless DUBAN_FILE_MODE says otherwise) in the target's
    folder, so the final rename is atomic."""
    from duban.store.files import file_mode, make_dirs

    make_dirs(target.parent)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, file_mode())
    os.fchmod(fd, file_mode())  # whatever the umask
    os.close(fd)
    return tmp


def _copy(source: sqlite3.Connection, tmp: Path, *, pages: int, pause: float) -> None:
    """Copy the database open on ``source`` into ``tmp`` from one snapshot, batch by batch."""
    dest = sqlite3.connect(tmp)
    try:
        # One read transaction for the whole copy: every batch comes from the same snapshot, so the
        # copy is consistent and never restarts however much is written meanwhile (WAL: writers go on).
        source.execute("BEGIN")
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()
        try:
            source.backup(dest, pages=pages, progress=lambda *_: time.sleep(pause) if pause else None)
        finally:
            source.execute("COMMIT")
        # The copy is one self-contained file (no -wal beside it); duban switches it back to WAL on use.
        dest.execute("PRAGMA journal_mode=DELETE").fetchone()
        problems = [r[0] for r in dest.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise StoreError(f"the copy failed its check ({_short('; '.join(problems))}); nothing was written")
    finally:
        dest.close()
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())


def _replace(tmp: Path, target: Path) -> None:
    os.replace(tmp, target)
    try:
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # some file systems cannot sync a folder; the rename is still atomic
        pass


def backup(db_path: Path, target: Path, *, overwrite: bool = False, pages: int = PAGES_PER_STEP,
           pause: float = PAUSE_SECONDS) -> DatabaseInfo:
    """Write a consistent copy of the SQLite database at ``db_path`` to ``target``; describe the copy."""
    if not db_path.is_file():
        raise BackupRefused(f"{db_path}: no database here, nothing to back up")
    if target.exists() and target.resolve() == db_path.resolve():
        raise BackupRefused(f"{target}: that is the database itself; back up to another file")
    if target.is_dir():
        raise BackupRefused(f"{target}: is a folder; give the backup's file name")
    if target.exists() and not overwrite:
        raise BackupRefused(f"{target}: already exists; choose another name or pass --force to replace it")
    tmp = _temp_beside(target)
    try:
        source = sqlite3.connect(db_path, timeout=30, isolation_level=None)
        try:
            source.execute("PRAGMA busy_timeout=30000")
            _copy(source, tmp, pages=pages, pause=pause)
        finally:
            source.close()
        conn = _connect_ro(tmp)
        try:
            info = inspect(conn, target)
        finally:
            conn.close()
        _replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    info.size = target.stat().st_size
    return info


@dataclass
class RestorePlan:
    """What a restore would do: the backup, the database it replaces (if any) and why that is allowed."""

    source: DatabaseInfo
    current: DatabaseInfo | None
    newer: list[str]  # why the current database is newer than the backup (empty: it is not)


def describe_database(db_path: Path) -> DatabaseInfo | None:
    """The current database as it is (None if there is none); a file that is not SQLite is refused."""
    if not db_path.exists():
        return None
    if not is_sqlite_file(db_path) and db_path.stat().st_size > 0:
        raise BackupRefused(f"{db_path}: the file at the database's place is not a SQLite database; move it away first")
    try:
        conn = _connect_ro(db_path)
        try:
            return inspect(conn, db_path)
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return DatabaseInfo(path=db_path, size=db_path.stat().st_size, revision=None)


def newer_than(current: DatabaseInfo, source: DatabaseInfo) -> list[str]:
    """Reasons the current database is newer than the backup: a later schema, or later activity of a kind."""
    reasons = []
    if revision_key(current.revision) > revision_key(source.revision):
        reasons.append(f"schema {current.revision} is newer than the backup's {source.revision}")
    for kind in ACTIVITY:
        mine, theirs = current.latest.get(kind), source.latest.get(kind)
        if mine and (not theirs or mine > theirs):
            reasons.append(f"latest {kind} {mine[:19]} is later than the backup's {theirs[:19] if theirs else '(none)'}")
    return reasons


def plan_restore(db_path: Path, source_path: Path, *, head: str) -> RestorePlan:
    source = _check_duban_file(source_path)
    if revision_key(source.revision) > revision_key(head):
        raise BackupRefused(f"{source_path}: made by a newer duban (schema {source.revision}; this duban knows up to "
                            f"{head}); upgrade duban first")
    if source_path.resolve() == db_path.resolve():
        raise BackupRefused(f"{source_path}: that is the database itself")
    current = describe_database(db_path)
    return RestorePlan(source=source, current=current, newer=newer_than(current, source) if current else [])


def _quiesce(db_path: Path) -> None:
    """Fold the WAL into the database file and leave it a single file; refused if anyone else has it open."""
    conn = sqlite3.connect(db_path, timeout=5, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        if mode.lower() != "delete":
            raise BackupRefused(f"{db_path}: the database is in use by another process (a sweep, a delivery, "
                                "a command); wait for it or stop it, then restore")
    except sqlite3.OperationalError as e:
        raise BackupRefused(f"{db_path}: the database is in use by another process ({e}); "
                            "wait for it or stop it, then restore") from None
    finally:
        conn.close()


def restore(db_path: Path, plan: RestorePlan, *, force: bool = False,
            stamp: str | None = None) -> Path | None:
    """Put the backup of ``plan`` in place of the database; returns where the replaced database was kept."""
    if plan.newer and not force:
        raise BackupRefused(f"{db_path} is newer than the backup {plan.source.path} ({'; '.join(plan.newer)}); "
                            "nothing was changed — pass --force to replace it anyway (it is kept beside it)")
    tmp = _temp_beside(db_path)
    kept = None
    try:
        source = sqlite3.connect(f"{plan.source.path.resolve().as_uri()}?mode=ro", uri=True, timeout=30,
                                 isolation_level=None)
        try:
            _copy(source, tmp, pages=-1, pause=0)
        finally:
            source.close()
        if db_path.exists():
            _quiesce(db_path)
            stamp = stamp or dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            kept = db_path.with_name(f"{db_path.name}.before-restore-{stamp}")
            n = 1
            while kept.exists():
                n += 1
                kept = db_path.with_name(f"{db_path.name}.before-restore-{stamp}-{n}")
            os.replace(db_path, kept)
        for suffix in ("-wal", "-shm"):  # none after _quiesce; a stale one must not meet the new file
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        _replace(tmp, db_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return kept
