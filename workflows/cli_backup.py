"""The ``duban backup`` and ``duban restore`` commands: a consistent copy of the database, and putting one back.

Registered on the main app by ``workflows.cli``. SQLite only (the embedded default); on PostgreSQL both
say how to use ``pg_dump`` and ``pg_restore`` instead. A refusal (PostgreSQL, not a duban database, a
newer database, `duban run` running) prints one line and exits 1 with nothing changed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import typer

Json = typer.Option(False, "--json", help="Print JSON with stable keys: {path, size, revision, counts, latest_activity, latest}.")


def _refuse(message: str) -> NoReturn:
    sys.stderr.write(f"duban: error: {message}\n")
    raise typer.Exit(1)


def _libpq_url(url: str) -> str:
    """The URL as pg_dump reads it: no driver suffix, no password."""
    import sqlalchemy as sa

    u = sa.engine.make_url(url)
    return sa.engine.URL.create("postgresql", username=u.username, host=u.host, port=u.port,
                                database=u.database).render_as_string(hide_password=False)


def _sqlite_path(url: str, verb: str) -> Path:
    import sqlalchemy as sa

    try:
        u = sa.engine.make_url(url)
    except Exception:  # noqa: BLE001 - a malformed URL is refused as given
        _refuse(f"DUBAN_DATABASE_URL {url!r} is not a database URL")
    if u.get_backend_name() == "postgresql":
        target = _libpq_url(url)
        _refuse(f"duban {verb} works on a SQLite database; on PostgreSQL use PostgreSQL's own tools: "
                f"`pg_dump -Fc -d '{target}' -f duban.dump` to back up (consistent while duban runs), "
                f"`pg_restore --clean --if-exists -d '{target}' duban.dump` to restore (stop `duban run` first)")
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        _refuse(f"duban {verb} needs a SQLite file database (DUBAN_DATABASE_URL=sqlite:///path), not {url!r}")
    return Path(u.database).expanduser()


def _print_info(info, title: str) -> None:
    from duban.workflows.cli import console

    out = console()

    def line(text: str) -> None:
        out.print(text, markup=False, highlight=False, soft_wrap=True)

    c = info.counts
    line(f"{title} {info.path}  ({info.size:,} bytes, schema {info.revision or 'none'})")
    line(f"  {c.get('plan', 0)} plans, {c.get('task', 0)} tasks, {c.get('notice', 0)} notices, "
         f"{c.get('message', 0)} messages, {c.get('event', 0)} events, {c.get('sweep', 0)} sweeps")
    line(f"  latest activity {(info.latest_activity or 'none')[:19]}" + (" UTC" if info.latest_activity else "")
         + (f", last sweep started {info.latest['sweep'][:19]} UTC" if info.latest.get("sweep") else ""))


def backup_command(
    file: Path = typer.Argument(..., help="Where to write the copy (a new file; its folder is created)."),
    force: bool = typer.Option(False, "--force", help="Replace FILE if it exists."),
    as_json: bool = Json,
) -> None:
    """Write a consistent copy of the database to FILE while `duban run` keeps working (SQLite; mode 0600)."""
    from duban.store.backup import backup
    from duban.matrix.errors import Refused
    from duban.workflows.cli import emit_json, settings

    db = _sqlite_path(settings().database_url, "backup")
    try:
        info = backup(db, file, overwrite=force)
    except Refused as e:
        _refuse(str(e))
    if as_json:
        emit_json(info.as_dict())
        return
    _print_info(info, "wrote")


def _runner_lock(db: Path):
    """Hold `duban run`'s lock (workflows.runner.RunnerLock's file) for the restore: refused while it
    runs, and it cannot start meanwhile. No lock file means no `duban run` ever ran here: none is made."""
    import fcntl

    path = Path(f"{db}.run.lock")
    try:
        f = open(path, "r", encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = f.read().strip()
        f.close()
        _refuse(f"`duban run` is running on {db}" + (f" ({holder})" if holder else "")
                + "; stop it first (Ctrl-C or SIGTERM), then restore — nothing was changed")
    return f


def restore_command(
    file: Path = typer.Argument(..., help="A backup written by `duban backup` (a duban SQLite database)."),
    force: bool = typer.Option(False, "--force", help="Replace the database even if it is newer than the backup."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: {restored: {…}, replaced: {…} | null, kept: path | null}."),
) -> None:
    """Put a backup in place of the database; the replaced one is kept as <db>.before-restore-<time>.
    Refuses a file that is not a duban database, a database newer than the backup (without --force),
    and while `duban run` runs."""
    from duban.matrix.errors import Refused
    from duban.store.backup import plan_restore, restore
    from duban.store.db import HEAD_REVISION
    from duban.workflows.cli import console, emit_json, settings

    url = settings().database_url
    db = _sqlite_path(url, "restore")
    lock = _runner_lock(db)
    try:
        try:
            plan = plan_restore(db, file, head=HEAD_REVISION)
            kept = restore(db, plan, force=force)
        except Refused as e:
            _refuse(str(e))
    finally:
        if lock is not None:
            lock.close()
    result: dict[str, Any] = {"restored": plan.source.as_dict(), "database": str(db),
                              "replaced": plan.current.as_dict() if plan.current else None,
                              "kept": str(kept) if kept else None, "forced_over_newer": bool(plan.newer)}
    if as_json:
        emit_json(result)
        return
    _print_info(plan.source, f"restored {db} from")
    out = console()
    if kept:
        out.print(f"  the database it replaced is kept as {kept}", markup=False, highlight=False, soft_wrap=True)
    if plan.newer:
        out.print(f"  replaced a newer database (--force): {'; '.join(plan.newer)}", markup=False, highlight=False, soft_wrap=True)
    if plan.source.revision != HEAD_REVISION:
        out.print(f"  schema {plan.source.revision} is upgraded to {HEAD_REVISION} by the next command", markup=False,
                  highlight=False)
