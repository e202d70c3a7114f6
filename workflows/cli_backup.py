"""The ``duban backup`` and ``duban restore`` commands: a consistent copy of the database, and putting one back.

Registered on the main app by ``workflows.cli``; the work is ``workflows.backup_service``'s. SQLite only
(the embedded default); on PostgreSQL both say how to use ``pg_dump`` and ``pg_restore`` instead. A
refusal (PostgreSQL, not a duban database, a newer database, `duban run` running) prints one line and
exits 1 with nothing changed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import typer

from duban.workflows.cli_common import console, emit_json, settings

Json = typer.Option(False, "--json", help="Print JSON with stable keys: {path, size, revision, counts, latest_activity, latest}.")


def _refuse(message: str) -> NoReturn:
    sys.stderr.write(f"duban: error: {message}\n")
    raise typer.Exit(1)


def _print_info(info, title: str) -> None:
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
    from duban.matrix.errors import Refused
    from duban.workflows.backup_service import backup_database

    try:
        info = backup_database(settings().database_url, file, overwrite=force)
    except Refused as e:
        _refuse(str(e))
    if as_json:
        emit_json(info.as_dict())
        return
    _print_info(info, "wrote")


def restore_command(
    file: Path = typer.Argument(..., help="A backup written by `duban backup` (a duban SQLite database)."),
    force: bool = typer.Option(False, "--force", help="Replace the database even if it is newer than the backup."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: {restored: {…}, replaced: {…} | null, kept: path | null}."),
) -> None:
    """Put a backup in place of the database; the replaced one is kept as <db>.before-restore-<time>.
    Refuses a file that is not a duban database, a database newer than the backup (without --force),
    and while `duban run` runs."""
    from duban.matrix.errors import Refused
    from duban.workflows.backup_service import restore_database

    try:
        result = restore_database(settings().database_url, file, force=force)
    except Refused as e:
        _refuse(str(e))
    source, newer, upgrade_to = result.pop("source"), result.pop("newer"), result.pop("upgrade_to")
    if as_json:
        emit_json(result)
        return
    _print_info(source, f"restored {result['database']} from")
    out = console()
    if result["kept"]:
        out.print(f"  the database it replaced is kept as {result['kept']}", markup=False, highlight=False, soft_wrap=True)
    if newer:
        out.print(f"  replaced a newer database (--force): {'; '.join(newer)}", markup=False, highlight=False, soft_wrap=True)
    if upgrade_to:
        out.print(f"  schema {source.revision} is upgraded to {upgrade_to} by the next command", markup=False,
                  highlight=False)
