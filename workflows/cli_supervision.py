"""The supervision commands: ``duban sweep``, ``status``, ``outbox``, ``ack``, ``sweeps`` and ``history``.

Registered on the main app by ``workflows.cli``. Only typer and the standard library are imported at
module level (``duban --help`` stays fast); each command parses its options, calls
a service (``sweep_service``, ``status_service``, ``notice_service``, ``history_service``) and prints.
"""

from __future__ import annotations

import datetime as dt
import json

import typer

from duban.matrix.vocabulary import ONGOING_MARK
from duban.workflows.cli_common import Commands, app, console, day_option, emit_json, engine, now_for, policies, styled

commands = Commands()

AsOf = day_option("--as-of", "Act as if today were this date (YYYY-MM-DD), to replay a plan.")
Json = typer.Option(False, "--json", help="Print JSON with stable keys instead of a table.")


@commands("history")
def history(
    task: str = typer.Argument(..., help="Task code, e.g. 3.2.1"),
    plan: str | None = typer.Option(None, "--plan", "-p"),
    as_json: bool = Json,
) -> None:
    """The append-only history of one task: imports, changes, progress, notices, escalations, extensions."""
    from duban.workflows.history_service import task_history

    events = task_history(engine(), task=task, plan=plan)
    if as_json:
        emit_json(events)
        return
    out = console()
    for e in events:
        out.print(styled(f"{e['at']}  ", (e["kind"], "bold"), f"  {e['actor']}  {json.dumps(e['data'], ensure_ascii=False) if e['data'] else ''}"))



LIGHT_STYLE = {"red": "bold red", "yellow": "yellow", "green": "green", "closed": "dim"}
LIGHT_MARK = {"red": "●紅", "yellow": "●黃", "green": "●綠", "closed": "✓結"}


@commands("sweep")
def sweep_cmd(
    as_of: dt.datetime | None = AsOf,
    plan: str | None = typer.Option(None, "--plan", "-p", help="Only this plan."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the notices this sweep would write (kind, level, "
                                                         "to whom) and write nothing."),
    as_json: bool = Json,
) -> None:
    """Evaluate every open milestone and obligation and write today's notices to the outbox (idempotent)."""
    from duban.workflows.rules_service import record_for
    from duban.workflows.sweep_service import sweep

    now = now_for(as_of)
    if not dry_run:
        record_for(app(), now.date())  # the policy in force, versioned (workflows.rules_service)
    result = sweep(engine(), now=now, policies=policies(), plan=plan, calendar=app().calendar, dry_run=dry_run)
    if as_json:
        emit_json(result.as_dict())
        return
    out = console()
    c = result.created
    if dry_run:
        out.print(planned_table(result.notices or [], f"dry run for {result.as_of}: {len(result.notices or [])} "
                                                       "notices would be written"))
    head = (f"dry run for {result.as_of}, nothing written: {result.items} open items due or overdue; would write: "
            if dry_run else f"sweep {result.sweep_id} for {result.as_of}: {result.items} open items due or overdue; new notices: ")
    out.print(head + f"{c['reminder']} reminders, {c['chase']} chases, {c['escalation']} escalations"
              + (f"; {result.newly_overdue} newly overdue" if result.newly_overdue else "")
              + (f"; {result.instances_created} recurring periods opened" if result.instances_created else ""))
    _calendar_note(result.calendar_fallback_years, out)


def _calendar_note(years, out) -> None:
    """Once per command: working days of years the official calendar does not cover were counted Mon–Fri."""
    if years:
        out.print(styled(("note", "yellow"), f" no official holiday calendar for {', '.join(map(str, sorted(years)))}: "
                         "working days there are Monday–Friday (load the year's holiday notice: duban calendar import FILE)"))


@commands("status")
def status_cmd(
    unit: str | None = typer.Option(None, "--unit", "-u", help="Tasks this unit leads, co-leads or supports."),
    plan: str | None = typer.Option(None, "--plan", "-p"),
    as_of: dt.datetime | None = AsOf,
    as_json: bool = Json,
) -> None:
    """Status lights: red overdue, yellow due soon or behind pace, green on track, closed."""
    from duban.workflows.status_service import status

    cal = app().calendar
    rows = status(engine(), now=now_for(as_of), policies=policies(), plan=plan, unit=unit, calendar=cal)
    if as_json:
        emit_json(rows)
        _calendar_note(cal.fallback_years, console(stderr=True))  # stdout stays JSON
        return
    from rich.table import Table

    counts = {k: sum(r["light"] == k for r in rows) for k in ("red", "yellow", "green", "closed")}
    day = now_for(as_of).date()
    table = Table(title=f"status at {day} — " + "  ".join(f"{LIGHT_MARK[k]} {v}" for k, v in counts.items()),
                  header_style="bold", show_lines=False)
    for col, kw in (("", {"no_wrap": True}), ("code", {"no_wrap": True}), ("task", {}), ("lead unit", {}),
                    ("items", {"no_wrap": True})):
        table.add_column(col, overflow="fold", **kw)
    for r in rows:
        parts = []
        for i in r["items"]:
            if i["light"] == "closed":
                parts.append((f"{i['due']} closed", "dim"))
                continue
            what = {"overdue": f"overdue {i['working_days_overdue']} wd", "due_soon": f"due in {i['working_days_left']} wd",
                    "behind_pace": "behind pace", "on_track": "on track"}[i["reason"]]
            qty = f" {i['done_quantity'] or 0}/{i['quantity']}{i['measure'] or ''}" if i["quantity"] is not None else ""
            cnt = f" {i['done_count']}/{i['min_count']}次" if i["min_count"] else ""
            ongoing = f"{ONGOING_MARK['zh-Hant']} " if i.get("ongoing") else ""  # 持續: a period of ongoing work
            if i.get("beneficiary"):  # one household's (or village's) series: name it, with its amount
                cnt += f" {i['beneficiary']}" + (f" {i['done_amount'] or 0}/{i['min_amount']}" if i["min_amount"] is not None else "")
            parts.append((f"{ongoing}{i['due']} {what}{qty}{cnt}", LIGHT_STYLE[i["light"]]))
        lines = [p for part in parts for p in (part, "\n")][:-1]
        table.add_row(styled((LIGHT_MARK[r["light"]], LIGHT_STYLE[r["light"]])), r["code"], r["title"],
                      "、".join([r["lead_unit"], *(f"{u}(共同牽頭)" for u in r.get("co_lead_units", ()))]), styled(*lines))
    console().print(table)
    _calendar_note(cal.fallback_years, console())


def _who(people) -> str:
    return "、".join(f"{r['name']}" + ("(負責人)" if r["role"] == "unit_head" else "") if r["name"] else
                    {"office": "辦公室", "office_head": "辦公室主任", "top_leader": "主要領導"}.get(r["role"], r["role"])
                    for r in people)


def planned_table(rows, title: str):
    """A dry run's notices, as `outbox` would list them once written (no id, no status yet)."""
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    for col in ("planned", "kind", "level", "task", "item", "due", "days", "to (主送)", "cc (抄送)"):
        table.add_column(col, overflow="fold")
    label = {"reminder": "提醒", "chase": "催辦", "escalation": "督辦"}
    for r in rows:
        table.add_row(r["planned_for"], label.get(r["kind"], r["kind"]), str(r["level"]), f"{r['task']} {r['title']}",
                      r["item"], r["due"], str(r["days"]), _who(r["to"]), _who(r["cc"]))
    return table


@commands("outbox")
def outbox_cmd(
    status_: str | None = typer.Option(None, "--status", help="pending, sending, sent, held, failed, undeliverable, superseded (comma-separated)."),
    kind: str | None = typer.Option(None, "--kind", help="reminder, chase, escalation (comma-separated)."),
    plan: str | None = typer.Option(None, "--plan", "-p"),
    task: str | None = typer.Option(None, "--task"),
    since: dt.datetime | None = day_option("--since", "Planned on or after this date (YYYY-MM-DD)."),
    limit: int | None = typer.Option(None, "--limit"),
    as_json: bool = Json,
) -> None:
    """The notices planned by the sweep, oldest first."""
    from duban.workflows.notice_service import list_notices

    rows = list_notices(engine(), status_=status_, kind=kind, plan=plan, task=task,
                        since=since.date() if since else None, limit=limit)
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    def who(rs):
        return "、".join(f"{r['name']}" + ("(負責人)" if r["role"] == "unit_head" else "") if r["name"] else
                        {"office": "辦公室", "office_head": "辦公室主任", "top_leader": "主要領導"}.get(r["role"], r["role"]) for r in rs)

    table = Table(title=f"{len(rows)} notices", header_style="bold")
    for col in ("id", "planned", "kind", "task", "due", "days", "to", "cc", "status"):
        table.add_column(col, overflow="fold")
    label = {"reminder": "提醒", "chase": "催辦", "escalation": "督辦"}
    for r in rows:
        k = label[r["kind"]] + (f" L{r['level']}" if r["kind"] == "escalation" else "")
        st = (r["reason"] or r["status"]) + (" ✓簽收" if r["acknowledged_at"] else "")  # held: why
        table.add_row(str(r["id"]), r["planned_for"], k, f"{r['task']} {r['title']}", r["due"], str(r["days"]),
                      who(r["to"]), who(r["cc"]), st)
    console().print(table)


@commands("ack")
def ack_cmd(
    notice: int = typer.Argument(..., help="Notice id (see `duban outbox`)."),
    by: str = typer.Option("", "--by", help="Who acknowledges."),
    as_of: dt.datetime | None = AsOf,
    as_json: bool = Json,
) -> None:
    """簽收: acknowledge a notice; repeats of it stop, escalation of an overdue item does not."""
    from duban.workflows.notice_service import acknowledge

    row = acknowledge(engine(), notice_id=notice, now=now_for(as_of), by=by)
    if as_json:
        emit_json(row)
        return
    console().print(f"notice {row['id']} ({row['kind']}, task {row['task']}) acknowledged"
                    + (f" by {by}" if by else "") + "; its repeats will not be sent")


@commands("sweeps")
def sweeps_cmd(limit: int = typer.Option(20, "--limit"), as_json: bool = Json) -> None:
    """Recent sweeps: when, for which day, what they wrote."""
    from duban.workflows.sweep_service import list_sweeps

    rows = list_sweeps(engine(), limit=limit)
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table(header_style="bold")
    for col in ("id", "as of", "started", "status", "counts"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(str(r["id"]), r["as_of"], r["started_at"][:19], r["status"] + (f" {r['error']}" if r["error"] else ""),
                      ", ".join(f"{k} {v}" for k, v in r["counts"].items()))
    console().print(table)


