"""The ``duban progress`` and ``duban extension`` commands: reports, closing (辦結) and extension requests.

Registered on the main app by ``workflows.cli``; the shared helpers (engine, now_for, emit_json, console,
print_problems) come from ``workflows.cli_common``, and nothing heavier than typer is imported at module
level (``duban --help`` stays fast).
Quantities are taken as text and parsed by the service, so ``--done 十八`` gets duban's own message.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer

from duban.workflows.cli_common import console, day_option, emit_json, engine, now_for, print_problems, settings, styled

progress_app = typer.Typer(help="Progress reports (進展報送) and closing (辦結) of milestones and periods.",
                           no_args_is_help=True)
extension_app = typer.Typer(help="Extension requests (延期申請): filed by the lead unit, decided by the office.",
                            no_args_is_help=True)

TaskArg = typer.Argument(..., help="Task code, e.g. 3.2.1")
UnitOpt = typer.Option(..., "--unit", "-u", help="The reporting unit (either script, aliases too).")
PlanOpt = typer.Option(None, "--plan", "-p", help="Plan code (default: the only plan).")
MilestoneOpt = typer.Option(None, "--milestone", "-m", help="Milestone number in the task, from 1 (default: the earliest open one).")
PeriodOpt = day_option("--period", "A date inside the period of a recurring obligation (YYYY-MM-DD).")
BeneficiaryOpt = typer.Option(None, "--beneficiary", "-b",
                              help="The household or village whose series this is, for a task owed to each (每戶…).")
ByOpt = typer.Option("", "--by", help="Name of the person acting.")
AsOf = day_option("--as-of", "Act as if today were this date (YYYY-MM-DD), to replay a plan.")
Json = typer.Option(False, "--json", help="Print JSON with stable keys.")


def _day(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value is not None else None


def _amount(value: Any) -> str:
    from decimal import Decimal

    if value is None:
        return ""
    d = Decimal(str(value))
    return format(d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize(), "f")


def describe(result: dict[str, Any], verb: str = "reported") -> str:
    """One line for a person: 區交委 reported 18/25村 on 3.2.1 milestone 1 (due 2015-12-31)."""
    item = result["item"]
    if item["kind"] == "milestone":
        if item["done_quantity"] is not None:
            what = f"{_amount(item['done_quantity'])}" + (f"/{_amount(item['quantity'])}" if item["quantity"] is not None else "") + (item["measure"] or "")
        elif item["percent"] is not None:
            what = f"{_amount(item['percent'])}%"
        else:
            what = "progress"
        where = f"{result['task']} milestone {item['seq']}"
    else:
        parts = []
        if item["min_count"] is not None or item["done_count"]:
            parts.append(f"{item['done_count']}" + (f"/{item['min_count']}" if item["min_count"] is not None else "") + "次")
        if item["min_amount"] is not None or item["done_amount"] is not None:
            parts.append(f"{_amount(item['done_amount'] or 0)}" + (f"/{_amount(item['min_amount'])}" if item["min_amount"] is not None else "")
                         + (item["amount_unit"] or ""))
        what = ", ".join(parts) or "progress"
        where = f"{result['task']} period {item['period']}" + (f" for {item['beneficiary']}" if item.get("beneficiary") else "")
    line = f"{result['unit']} {verb} {what} on {where} (due {item['due']})" if verb == "reported" else \
        f"{result['unit']} closed {where} (due {item['due']})"
    if verb == "reported" and result.get("state") == "pending":
        line += " — pending (待确认): a supporting unit's part counts once the lead unit or the office accepts it"
    elif verb == "reported" and item["closed"]:
        line += " — closed (辦結)"
    return line


@progress_app.command("report")
def progress_report(
    task: str = TaskArg,
    unit: str = UnitOpt,
    done: str | None = typer.Option(None, "--done", help="Quantity done so far (cumulative), e.g. 18 of 25 村."),
    percent: str | None = typer.Option(None, "--percent", help="Percent done so far, 0–100."),
    count: str | None = typer.Option(None, "--count", help="Occurrences done in the period (added to earlier reports)."),
    amount: str | None = typer.Option(None, "--amount", help="Amount paid in the period (added to earlier reports)."),
    note: str = typer.Option("", "--note", help="進展情況: what was done."),
    evidence: list[Path] = typer.Option([], "--evidence", "-e",
                                        help="An evidence file (佐證: PDF, image, Office document, text); repeatable."),
    by: str = ByOpt,
    on: dt.datetime | None = day_option("--on", "Date of the report (YYYY-MM-DD; default: today / --as-of)."),
    milestone: int | None = MilestoneOpt,
    period: dt.datetime | None = PeriodOpt,
    beneficiary: str | None = BeneficiaryOpt,
    plan: str | None = PlanOpt,
    as_of: dt.datetime | None = AsOf,
    as_json: bool = Json,
) -> None:
    """Report progress (進展報送) on a task: a milestone's quantity/percent or a period's count/amount,
    with evidence files if any (checked and kept as closing requests' files are)."""
    from duban.workflows.progress_service import evidence_files, evidence_store, report_progress

    files = evidence_files(evidence, settings()) if evidence else []
    result = report_progress(engine(), task=task, unit=unit, now=now_for(as_of), plan=plan, done=done, percent=percent,
                             count=count, amount=amount, note=note, reported_by=by, reported_on=_day(on),
                             milestone=milestone, period=_day(period), source="cli", beneficiary=beneficiary,
                             files=files, store=evidence_store(settings()) if files else None)
    if as_json:
        emit_json(result)
        return
    out = console()
    out.print(describe(result))
    for f in result["files"]:
        out.print(f" evidence: {f['name']} ({f['size']} bytes)")
    for w in result["warnings"]:
        out.print(styled(("warning", "yellow"), f" {w}"))


@progress_app.command("close")
def progress_close(
    task: str = TaskArg,
    unit: str = UnitOpt,
    evidence: str = typer.Option(..., "--evidence", help="佐證: what shows the work is done."),
    by: str = ByOpt,
    milestone: int | None = MilestoneOpt,
    period: dt.datetime | None = PeriodOpt,
    beneficiary: str | None = BeneficiaryOpt,
    plan: str | None = PlanOpt,
    as_of: dt.datetime | None = AsOf,
    as_json: bool = Json,
) -> None:
    """Close (辦結) a milestone or period with evidence; only the lead unit may."""
    from duban.workflows.progress_service import close_item

    result = close_item(engine(), task=task, unit=unit, now=now_for(as_of), evidence=evidence, closed_by=by, plan=plan,
                        milestone=milestone, period=_day(period), beneficiary=beneficiary)
    if as_json:
        emit_json(result)
        return
    console().print(describe(result, verb="closed"))


@progress_app.command("import")
def progress_import(
    file: Path = typer.Argument(..., help="The sheet units send back: .csv (UTF-8 or GBK) or .xlsx"),
    plan: str | None = PlanOpt,
    as_of: dt.datetime | None = AsOf,
    as_json: bool = Json,
) -> None:
    """Import a sheet of progress reports, all or nothing: every bad row is listed (exit 1), nothing written."""
    from duban.matrix.errors import ValidationFailed
    from duban.workflows.progress_service import import_progress

    try:
        rows = import_progress(engine(), file, now=now_for(as_of), plan=plan, limits=settings().input_limits())
    except ValidationFailed as err:
        print_problems(err, as_json)
        raise typer.Exit(1) from None
    if as_json:
        emit_json({"ok": True, "file": str(file), "rows": rows})
        return
    out = console()
    for r in rows:
        line = describe(r) if r["report_id"] is not None else describe(r, verb="closed")
        out.print(f"row {r['row']}: {line}")
        for w in r.get("warnings", []):
            out.print(styled("  ", ("warning", "yellow"), f" {w}"))
    closed = sum(1 for r in rows if r["item"]["closed"])
    out.print(f"imported {len(rows)} row{'s' if len(rows) != 1 else ''} from {file} ({closed} closed)")


@progress_app.command("read")
def progress_read(
    file: Path = typer.Argument(..., help="The unit's progress report: .docx or .txt"),
    unit: str = UnitOpt,
    plan: str | None = PlanOpt,
    confirm: str | None = typer.Option(None, "--confirm", help="Record these proposals: numbers such as 1,3, or all."),
    by: str = ByOpt,
    as_of: dt.datetime | None = AsOf,
    as_json: bool = Json,
) -> None:
    """Read a unit's progress report (答卷): propose entries for its open milestones, each with its sentence;
    nothing counts until confirmed (--confirm 1,2 or all). Quantities are cumulative (so far)."""
    from duban.workflows import progress_document_service as documents

    eng = engine()
    proposed = documents.propose(eng, plan=plan, unit=unit, file=file, max_bytes=settings().evidence_max_bytes)
    results: list[dict[str, Any]] = []
    if confirm is not None:
        chosen = documents.choose(proposed["proposals"], confirm)
        results = documents.confirm(eng, plan=proposed["plan"], unit=proposed["unit"], chosen=chosen, now=now_for(as_of),
                                    reported_by=by, document=proposed["document"])
    if as_json:
        emit_json({**proposed, "recorded": results})
        return
    out = console()
    out.print(f"{proposed['document']}: {len(proposed['proposals'])} proposed for {proposed['unit']} "
              f"in {proposed['plan']} ({proposed['milestones']} open milestones with a measure); "
              "quantities are cumulative (done so far), replacing what was reported before")
    for p in proposed["proposals"]:
        target = f"/{_amount(p['target'])}" if p["target"] is not None else ""
        role = "" if p["role"] == "lead" else f", as {p['role'].replace('_', '-')} unit"
        out.print(f" {p['number']}. {p['task']} milestone {p['milestone']} ({p['title']}{role}): "
                  f"{_amount(p['quantity'])}{target}{p['measure']} [{p['level']}] — {p['shown']}")
        out.print(styled((f"    {p['why']}", "dim")))
    for u in proposed["unmatched"]:
        out.print(f" unmatched: {u['written']} — {u['reason']} — {u['shown']}")
    if confirm is None:
        if proposed["proposals"]:
            out.print("nothing recorded: confirm with --confirm 1,2 or --confirm all")
        return
    for r in results:
        out.print(describe(r))
        for w in r["warnings"]:
            out.print(styled(("warning", "yellow"), f" {w}"))


def _part_line(p: dict[str, Any]) -> str:
    """#12 3.2.1 #1 區農委 (lead 區交委): 3村 on 2016-01-15 — 3個村 [pending]."""
    what = ", ".join(x for x in (
        f"{_amount(p['done'])}{p['measure'] or ''}" if p["done"] is not None else "",
        f"{_amount(p['percent'])}%" if p["percent"] is not None else "",
        f"{p['count']}次" if p["count"] is not None else "",
        _amount(p["amount"]) if p["amount"] is not None else "") if x) or "a note"
    decided = f" by {p['decided_by']}" if p["decided_by"] else ""
    reason = f": {p['reason']}" if p["reason"] else ""
    return (f"#{p['report_id']} {p['task']} {p['item']} {p['unit']} (lead {p['lead_unit']}): {what} "
            f"on {p['reported_on']}" + (f" — {p['note']}" if p["note"] else "") + f" [{p['state']}{decided}{reason}]")


@progress_app.command("pending")
def progress_pending(
    plan: str | None = typer.Option(None, "--plan", "-p", help="Only this plan."),
    task: str | None = typer.Option(None, "--task", help="Only this task (with --plan unless there is one plan)."),
    lead: str | None = typer.Option(None, "--lead", help="Only the tasks this unit leads."),
    as_json: bool = Json,
) -> None:
    """Supporting units' parts waiting for the lead unit or the office (配合单位报送，待确认), oldest first;
    they count nothing until accepted (duban progress accept ID)."""
    from duban.workflows.progress_service import pending_reports

    rows = pending_reports(engine(), plan=plan, task=task, lead_unit=lead)
    if as_json:
        emit_json(rows)
        return
    out = console()
    if not rows:
        out.print("no supporting unit's part waits for acceptance")
    for p in rows:
        out.print(_part_line(p))


@progress_app.command("accept")
def progress_accept(
    report_id: int = typer.Argument(..., help="The part's number, as `duban progress pending` lists it."),
    refuse: bool = typer.Option(False, "--refuse", help="Refuse it instead (needs --reason): it never counts."),
    reason: str = typer.Option("", "--reason", help="Why (required with --refuse; a note when accepting)."),
    by: str = ByOpt,
    as_of: dt.datetime | None = AsOf,
    as_json: bool = Json,
) -> None:
    """Accept a supporting unit's pending part for the office: it counts from today (a done quantity is added
    to the milestone's cumulative figure) and may close its milestone; --refuse --reason keeps it out."""
    from duban.workflows.progress_service import accept_report, refuse_report

    actor = by or "督办部门"
    if refuse:
        result = refuse_report(engine(), report_id=report_id, now=now_for(as_of), actor=actor, reason=reason)
    else:
        result = accept_report(engine(), report_id=report_id, now=now_for(as_of), actor=actor, note=reason)
    if as_json:
        emit_json(result)
        return
    item = result["item"]
    where = f"milestone {item['seq']}" if item["kind"] == "milestone" else f"period {item['period']}"
    if result["state"] == "refused":
        console().print(f"#{result['report_id']} refused: {result['unit']}'s part on {result['task']} {where} "
                        f"does not count ({result['reason']})")
        return
    done = (f"{_amount(item['done_quantity'])}" + (f"/{_amount(item['quantity'])}" if item["quantity"] is not None else "")
            + (item["measure"] or "")) if item["kind"] == "milestone" and item["done_quantity"] is not None else \
        (f"{_amount(item['percent'])}%" if item["kind"] == "milestone" and item["percent"] is not None else
         f"{item['done_count']}次" if item["kind"] == "instance" else "progress")
    console().print(f"#{result['report_id']} accepted: {result['unit']}'s part on {result['task']} {where} counts "
                    f"from {result['counted_on']}; now {done}" + (" — closed (辦結)" if item["closed"] else ""))


# --------------------------------------------------------------------------------------------
# extension


def _extension_line(e: dict[str, Any]) -> str:
    item = e["item"]
    where = f"milestone {item['seq']}" if item["kind"] == "milestone" else f"period {item['period']}"
    decided = f" {e['decided_on']}" + (f" by {e['decided_by']}" if e["decided_by"] else "") if e["decided_on"] else ""
    note = f" — {e['decision_note']}" if e["decision_note"] else ""
    return (f"#{e['id']} {e['status']}{decided}: {e['unit']} {e['task']} {where} {e['old_due']} → {e['new_due']} "
            f"(requested {e['requested_on']}: {e['reason']}){note}")


@extension_app.command("request")
def extension_request(
    task: str = TaskArg,
    unit: str = UnitOpt,
    until: dt.datetime = day_option("--until", "The new due date asked for (YYYY-MM-DD).", default=...),
    reason: str = typer.Option(..., "--reason", help="Why the work cannot be done in time."),
    by: str = ByOpt,
    milestone: int | None = MilestoneOpt,
    period: dt.datetime | None = PeriodOpt,
    beneficiary: str | None = BeneficiaryOpt,
    plan: str | None = PlanOpt,
    as_of: dt.datetime | None = AsOf,
    as_json: bool = Json,
) -> None:
    """Request an extension (延期申請) before the due date; a late request is recorded as refused."""
    from duban.workflows.extension_service import request_extension

    result = request_extension(engine(), task=task, unit=unit, new_due=until.date(), reason=reason, now=now_for(as_of),
                               plan=plan, milestone=milestone, period=_day(period), requested_by=by,
                               beneficiary=beneficiary)
    if as_json:
        emit_json(result)
        return
    console().print(_extension_line(result))


def _decide(extension_id: int, approve: bool, by: str, note: str, as_of: dt.datetime | None, as_json: bool) -> None:
    from duban.workflows.extension_service import decide_extension

    result = decide_extension(engine(), extension_id=extension_id, approve=approve, now=now_for(as_of),
                              decided_by=by, note=note)
    if as_json:
        emit_json(result)
        return
    console().print(_extension_line(result))


@extension_app.command("approve")
def extension_approve(
    extension_id: int = typer.Argument(..., help="Request number, as `duban extension list` shows it."),
    by: str = ByOpt,
    note: str = typer.Option("", "--note", help="Decision note."),
    as_of: dt.datetime | None = AsOf,
    as_json: bool = Json,
) -> None:
    """Approve a pending request: the item's due date moves, its overdue cycle starts afresh."""
    _decide(extension_id, True, by, note, as_of, as_json)


@extension_app.command("refuse")
def extension_refuse(
    extension_id: int = typer.Argument(..., help="Request number, as `duban extension list` shows it."),
    by: str = ByOpt,
    note: str = typer.Option("", "--note", help="Decision note."),
    as_of: dt.datetime | None = AsOf,
    as_json: bool = Json,
) -> None:
    """Refuse a pending request: the due date stays."""
    _decide(extension_id, False, by, note, as_of, as_json)


@extension_app.command("list")
def extension_list(
    status: str | None = typer.Option(None, "--status", help="pending | approved | refused"),
    plan: str | None = typer.Option(None, "--plan", "-p", help="Only this plan."),
    as_json: bool = Json,
) -> None:
    """List extension requests, oldest first."""
    from duban.workflows.extension_service import list_extensions

    rows = list_extensions(engine(), status=status, plan=plan)
    if as_json:
        emit_json(rows)
        return
    out = console()
    if not rows:
        out.print("no extension requests" + (f" with status {status}" if status else ""))
    for e in rows:
        out.print(_extension_line(e))
