"""The ``duban prune`` command: remove evidence and personal data past retention (workflows.prune_service).

Registered on the main app by ``workflows.cli``. ``--dry-run`` lists what would go and changes nothing.
"""

from __future__ import annotations

import datetime as dt

import typer

from duban.workflows.cli_common import console, day_option, emit_json, engine, now_for, policies, settings

KIND_TEXT = {"evidence_links": "evidence links", "evidence_files": "evidence files", "messages": "messages",
             "deliveries": "delivery addresses", "client_addresses": "client addresses"}


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {KIND_TEXT[k]}" for k, n in counts.items() if n) or "nothing"


def _kept(until: dict[str, str]) -> str:
    days = set(until.values())
    if len(days) == 1:
        return f"kept until {days.pop()}"
    return "kept until " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in until.items())


def prune_command(
    as_of: dt.datetime | None = day_option("--as-of", "Prune as if today were this date (YYYY-MM-DD)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be removed; change nothing."),
    by: str = typer.Option("", "--by", help="Name of the person acting (recorded in the events)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON with stable keys."),
) -> None:
    """Remove evidence files and personal data of plans past retention (policy `retention:`), one event per plan.

    The plans, their tasks and history stay. Files are deleted after each plan's transaction commits;
    files a crash left behind are deleted by the next run."""
    from duban.workflows.closing_service import evidence_store
    from duban.workflows.prune_service import prune

    now = now_for(as_of)
    result = prune(engine(), retention=policies().retention, store=evidence_store(settings()), as_of=now.date(),
                   now=now, dry_run=dry_run, actor=by)
    if as_json:
        emit_json(result)
        return
    out = console()
    verb = "would remove" if dry_run else "removed"
    out.print(f"prune as of {result['as_of']}" + (" (dry run: nothing is changed)" if dry_run else ""))
    for p in result["plans"]:
        if p["status"] == "no_end":
            line = "no due date and no end date: kept"
        elif p["status"] == "within_retention":
            line = f"ended {p['end']}, within retention ({_kept(p['kept_until'])}): untouched"
        elif p["status"] == "already_pruned":
            line = f"ended {p['end']}, past retention: nothing left to remove"
        else:
            line = f"ended {p['end']}, past retention: {verb} {_counts(p['counts'])}"
        out.print(f"  {p['plan']}: {line}")
    if result["logins"]["client_addresses"]:
        out.print(f"  logins: {verb} {result['logins']['client_addresses']} client addresses")
    if result["files_deleted"] or result["orphans"]:
        out.print(f"  files on disk: {verb} {result['files_deleted']}"
                  + (f" and {result['orphans']} left by an earlier run" if result["orphans"] else ""))
    if not result["removed"]:
        out.print("nothing to remove")
