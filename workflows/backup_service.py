"""Backing up and restoring duban's SQLite database (``duban backup`` / ``duban restore``).

SQLite only (the embedded default): on PostgreSQL the refusal says how to use ``pg_dump`` and
``pg_restore`` instead. Every refusal (PostgreSQL, not a duban database, a newer database, `duban run`
running) is a :class:`~duban.matrix.errors.Refused` with nothing changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from duban.matrix.errors import Refused


def _libpq_url(url: str) -> str:
    """The URL as pg_dump reads it: no driver suffix, no password."""
    import sqlalchemy as sa

    u = sa.engine.make_url(url)
    return sa.engine.URL.create("postgresql", username=u.username, host=u.host, port=u.port,
                                database=u.database).render_as_string(hide_password=False)


def sqlite_path(url: str, verb: str) -> Path:
    """The SQLite file of ``url``; refused (with PostgreSQL's own tools named) for anything else."""
    import sqlalchemy as sa

    try:
        u = sa.engine.make_url(url)
    except Exception:  # noqa: BLE001 - a malformed URL is refused as given
        raise Refused(f"DUBAN_DATABASE_URL {url!r} is not a database URL") from None
    if u.get_backend_name() == "postgresql":
        target = _libpq_url(url)
        raise Refused(f"duban {verb} works on a SQLite database; on PostgreSQL use PostgreSQL's own tools: "
                      f"`pg_dump -Fc -d '{target}' -f duban.dump` to back up (consistent while duban runs), "
                      f"`pg_restore --clean --if-exists -d '{target}' duban.dump` to restore (stop `duban run` first)")
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        raise Refused(f"duban {verb} needs a SQLite file database (DUBAN_DATABASE_URL=sqlite:///path), not {url!r}")
    return Path(u.database).expanduser()


def _runner_lock(db: Path):
    """Hold `duban run`'s lock (workflows.runner.RunnerLock's file) for the restore: refused while it
    runs, and it cannot start meanwhile. No lock file means no `duban run` ever ran here: none is made."""
    import fcntl

    path = Path(f"{db}.run.lock")
    try:
        f = open(path, encoding="utf-8")  # noqa: SIM115 - held (locked) until it is returned
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = f.read().strip()
        f.close()
        raise Refused(f"`duban run` is running on {db}" + (f" ({holder})" if holder else "")
                      + "; stop it first (Ctrl-C or SIGTERM), then restore — nothing was changed") from None
    return f


def backup_database(url: str, file: Path, *, overwrite: bool = False):
    """A consistent copy of the database at ``url`` in ``file`` (mode 0600), while `duban run` keeps working.
    Returns the copy's info (path, size, revision, counts, latest activity)."""
    from duban.store.backup import backup

    return backup(sqlite_path(url, "backup"), file, overwrite=overwrite)


def restore_database(url: str, file: Path, *, force: bool = False) -> dict[str, Any]:
    """Put the backup ``file`` in place of the database at ``url``; the replaced one is kept beside it.

    Returns ``{restored, database, replaced, kept, forced_over_newer}`` (JSON-able) and, under the
    keys ``source``, ``newer`` and ``upgrade_to``, what a person is told: the backup's info, why it was
    newer, and the revision the next command upgrades it to (None when it is current)."""
    from duban.store.backup import plan_restore, restore
    from duban.store.db import HEAD_REVISION

    db = sqlite_path(url, "restore")
    lock = _runner_lock(db)
    try:
        plan = plan_restore(db, file, head=HEAD_REVISION)
        kept = restore(db, plan, force=force)
    finally:
        if lock is not None:
            lock.close()
    return {"restored": plan.source.as_dict(), "database": str(db),
            "replaced": plan.current.as_dict() if plan.current else None,
            "kept": str(kept) if kept else None, "forced_over_newer": bool(plan.newer),
            "source": plan.source, "newer": list(plan.newer),
            "upgrade_to": HEAD_REVISION if plan.source.revision != HEAD_REVISION else None}
