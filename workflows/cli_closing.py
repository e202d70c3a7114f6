"""The ``duban closing`` commands: closing requests (辦結申請) with evidence files, the office's review.

``request`` files one for a lead or co-lead unit (``--file`` repeated: PDF, images, Office documents,
text); ``list`` shows the queue, pending first; ``close`` closes the item (辦結) and ``return`` sends the
request back to its unit with a reason (退回). Registered on the main app by ``workflows.cli``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer

from duban.workflows.cli_common import console, day_option, emit_json, engine, now_for, settings

closing_app = typer.Typer(help="Closing requests (辦結申請) with evidence, reviewed by the office (複核): close or return.",
                          no_args_is_help=True)

AsOf = day_option("--as-of", "Act as if today were this date (YYYY-MM-DD), to replay a plan.")
Json = typer.Option(False, "--json", help="Print JSON with stable keys.")
ByOpt = typer.Option("", "--by", help="Name of the person acting (recorded in the event).")
IdArg = typer.Argument(..., help="Request number, as `duban closing list` shows it.")
STATUS_ZH = {"pending": "待複核", "closed": "已辦結", "returned": "已退回"}


def _line(r: dict[str, Any]) -> str:
    item = r["item"]
    where = f"milestone {item['seq']}" if item["kind"] == "milestone" else f"period {item['period']}"
    files = "、".join(f["name"] for f in r["files"])
    line = (f"#{r['id']} {r['status']} ({STATUS_ZH[r['status']]}): {r['unit']} {r['plan']} {r['task']} {where} "
            f"(due {item['due']}), requested {r['requested_on']} by {r['requested_by']}")
    if r["note"]:
        line += f" — {r['note']}"
    if files:
        line += f" [evidence: {files}]"
    if r["decided_at"]:
        line += f"; {r['status']} {r['decided_on']}" + (f" by {r['decided_by']}" if r["decided_by"] else "")
        if r["decision_note"]:
            line += (f", reason: {r['decision_note']}" if r["status"] == "returned" else f": {r['decision_note']}")
    return line


def _emit(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(result)
    else:
        console().print(_line(result), markup=False, highlight=False)


@closing_app.command("request")
def closing_request(
    task: str = typer.Argument(..., help="Task code, e.g. 3.2.1"),
    unit: str = typer.Option(..., "--unit", "-u", help="The lead or co-lead unit asking (either script, aliases too)."),
    files: list[Path] = typer.Option([], "--file", "-f", help="An evidence file (repeat for more): PDF, PNG, JPEG, "
                                                             "DOCX, XLSX, PPTX, DOC, XLS or TXT."),
    note: str = typer.Option("", "--note", help="What was done (辦結情況)."),
    by: str = ByOpt,
    milestone: int | None = typer.Option(None, "--milestone", "-m", help="Milestone number in the task, from 1 (default: the earliest open one)."),
    period: dt.datetime | None = day_option("--period", "A date inside the period of a recurring obligation (YYYY-MM-DD)."),
    plan: str | None = typer.Option(None, "--plan", "-p", help="Plan code (default: the only plan)."),
    as_of: dt.datetime | None = AsOf,
    as_json: bool = Json,
) -> None:
    """File a closing request (辦結申請) with evidence; it waits for the office's review."""
    from duban.workflows.closing_service import evidence_store, files_on_disk, request_closing

    store = evidence_store(settings())
    checked = files_on_disk(files, settings())
    result = request_closing(engine(), task=task, unit=unit, note=note, files=checked, now=now_for(as_of), actor=by,
                             store=store, plan=plan, milestone=milestone,
                             period=period.date() if period is not None else None)
    _emit(result, as_json)


@closing_app.command("list")
def closing_list(
    status: str | None = typer.Option(None, "--status", help="pending | closed | returned"),
    plan: str | None = typer.Option(None, "--plan", "-p", help="Only this plan."),
    task: str | None = typer.Option(None, "--task", "-t", help="Only this task."),
    as_json: bool = Json,
) -> None:
    """List closing requests, pending first, with their evidence files."""
    from duban.workflows.closing_service import list_closing_requests

    rows = list_closing_requests(engine(), status=status, plan=plan, task=task)
    if as_json:
        emit_json(rows)
        return
    out = console()
    if not rows:
        out.print("no closing requests" + (f" with status {status}" if status else ""))
    for r in rows:
        out.print(_line(r), markup=False, highlight=False)


@closing_app.command("close")
def closing_close(
    request_id: int = IdArg,
    by: str = ByOpt,
    note: str = typer.Option("", "--note", help="The office's note."),
    as_of: dt.datetime | None = AsOf,
    as_json: bool = Json,
) -> None:
    """Close (辦結) the item of a pending request, as `duban progress close` does."""
    from duban.workflows.closing_service import close_request

    _emit(close_request(engine(), request_id=request_id, now=now_for(as_of), actor=by, note=note), as_json)


@closing_app.command("return")
def closing_return(
    request_id: int = IdArg,
    reason: str = typer.Option(..., "--reason", help="Why the request goes back to its unit (退回理由)."),
    by: str = ByOpt,
    as_of: dt.datetime | None = AsOf,
    as_json: bool = Json,
) -> None:
    """Return (退回) a pending request to its unit with a reason; the item stays open."""
    from duban.workflows.closing_service import return_request

    _emit(return_request(engine(), request_id=request_id, reason=reason, now=now_for(as_of), actor=by), as_json)
