"""The ``duban matrix`` commands (validate, import, show, export), ``duban plans`` and ``duban units`` (list, template).

Registered on the main app by ``workflows.cli``. Only typer and the standard library are imported at
module level (``duban --help`` stays fast); each command parses its options, calls
``workflows.matrix_service`` and prints.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import typer

from duban.workflows.cli_common import (
    Commands,
    console,
    day_option,
    emit_json,
    engine,
    now_for,
    print_problems,
    settings,
    styled,
)

matrix_app = typer.Typer(help="Validate, import, show and export responsibility matrices.", no_args_is_help=True)
commands = Commands()

AsOf = day_option("--as-of", "Act as if today were this date (YYYY-MM-DD), to replay a plan.")
Json = typer.Option(False, "--json", help="Print JSON with stable keys instead of a table.")


def _options(directory, allow_new_units, plan, base_year, sheet, title=None, start=None, skip_invalid=False):
    from duban.workflows.matrix_service import PlanOptions

    return PlanOptions(directory=directory, allow_new_units=allow_new_units, plan_code=plan, base_year=base_year,
                       sheet=sheet, title=title, start=start.date() if start else None,
                       limits=settings().input_limits(), skip_invalid=skip_invalid)


def _refused(err: Any, as_json: bool, *, skip_invalid: bool = False) -> None:
    """Every problem of a refused plan, and how many of its tasks --skip-invalid would import."""
    readable, total = getattr(err, "readable_tasks", None), getattr(err, "tasks", None)
    if as_json:
        warnings = list(getattr(err, "warnings", ()))
        emit_json({"ok": False, "problems": [p.as_dict() for p in err.problems], **({"warnings": warnings} if warnings else {}),
                   "tasks": total, "readable_tasks": readable})
        return
    print_problems(err, as_json)
    if readable is None:
        if total:
            console(stderr=True).print("not all of these problems are a task's: --skip-invalid would import nothing")
    elif readable and not skip_invalid:
        console(stderr=True).print(f"{readable} of {total} tasks are readable and would be imported with --skip-invalid")
    elif not readable:
        console(stderr=True).print(f"none of the {total} tasks is readable")


DirectoryOpt = typer.Option(None, "--directory", "-d", help="Unit directory (YAML or CSV); default: the one the plan names.")
AllowNew = typer.Option(False, "--allow-new-units", help="Add units missing from the directory instead of refusing them.")
PlanOpt = typer.Option(None, "--plan", "-p", help="Plan code (default: the plan file's own, or its file name).")
BaseYear = typer.Option(None, "--base-year", help="Year for deadlines written without one (sheets only need it if no deadline names a year).")
SheetOpt = typer.Option(None, "--sheet", help="Read only this worksheet of an .xlsx file (default: every sheet with a task header).")
TitleOpt = typer.Option(None, "--title", help="Plan title (sheets: default the title row above the header).")
StartOpt = day_option("--start", "Plan start (YYYY-MM-DD): 三年內 and recurrences count from it.")
SuperviseFromOpt = day_option(
    "--supervise-from",
    "Supervise what this import adds from this day (YYYY-MM-DD; default: the --as-of day, else today). "
    "An item already overdue then gets one chase that day, then the escalation ladder counts from it.")


@matrix_app.command("validate")
def matrix_validate(
    file: Path = typer.Argument(..., help="Plan file: .yaml, .csv or .xlsx"),
    directory: Path | None = DirectoryOpt,
    allow_new_units: bool = AllowNew,
    plan: str | None = PlanOpt,
    base_year: int | None = BaseYear,
    sheet: str | None = SheetOpt,
    title: str | None = TitleOpt,
    start: dt.datetime | None = StartOpt,
    offline: bool = typer.Option(False, "--offline", help="Do not consult the database for known units."),
    as_json: bool = Json,
) -> None:
    """Check a plan file and report every problem at once (exit 1 if any). Changes nothing."""
    from duban.matrix.errors import ValidationFailed
    from duban.workflows.matrix_service import validate_file

    try:
        loaded = validate_file(file, _options(directory, allow_new_units, plan, base_year, sheet, title, start),
                               engine=None if offline else engine())
    except ValidationFailed as err:
        _refused(err, as_json)
        raise typer.Exit(1) from None
    p = loaded.plan
    n_m = sum(len(t.milestones) for t in p.tasks)
    n_r = sum(len(t.recurrences) for t in p.tasks)
    if as_json:
        emit_json({"ok": True, "plan": p.code, "tasks": len(p.tasks), "milestones": n_m, "recurrences": n_r,
                   "stages": len(p.stages), "new_units": [u.name for u in loaded.new_units], "warnings": loaded.warnings})
        return
    out = console()
    for w in loaded.warnings:
        out.print(styled(("warning", "yellow"), f" {w}"))
    out.print(styled(("ok", "green"), f" {file}: plan {p.code} 「{p.title}」 — {len(p.tasks)} tasks, {n_m} milestones, "
              f"{n_r} recurrences, {len(p.stages)} stages"))
    if loaded.new_units:
        out.print("new units (will be added): " + "、".join(u.name for u in loaded.new_units))


@matrix_app.command("import")
def matrix_import(
    file: Path = typer.Argument(..., help="Plan file: .yaml, .csv or .xlsx"),
    directory: Path | None = DirectoryOpt,
    allow_new_units: bool = AllowNew,
    plan: str | None = PlanOpt,
    base_year: int | None = BaseYear,
    sheet: str | None = SheetOpt,
    title: str | None = TitleOpt,
    start: dt.datetime | None = StartOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change, change nothing."),
    as_of: dt.datetime | None = AsOf,
    supervise_from: dt.datetime | None = SuperviseFromOpt,
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help=(
        "Import the tasks that can be read and list those skipped (a stored task that became unreadable is "
        "kept as stored). Problems of the plan itself (base year, header, stages) still refuse it.")),
    as_json: bool = Json,
) -> None:
    """Validate and import a plan in one transaction; re-importing updates it in place and prints the diff.

    What the import adds is supervised from its --as-of day (default today) or --supervise-from: a sweep
    dated before that day replays history."""
    from duban.matrix.errors import ValidationFailed
    from duban.workflows.matrix_service import import_file

    try:
        loaded, result = import_file(engine(), file, _options(directory, allow_new_units, plan, base_year, sheet, title, start,
                                                              skip_invalid),
                                     now=now_for(as_of), actor="cli", dry_run=dry_run,
                                     supervise_from=supervise_from.date() if supervise_from else None)
    except ValidationFailed as err:
        _refused(err, as_json, skip_invalid=skip_invalid)
        raise typer.Exit(1) from None
    if as_json:
        emit_json({"ok": True, "dry_run": dry_run, **result.as_dict(), "skipped": [
            {"code": s.code, "title": s.title, "line": s.line, "problems": [p.as_dict() for p in s.problems]}
            for s in loaded.skipped], "warnings": loaded.warnings})
        return
    _print_import(loaded, result, file, dry_run)
    _print_skipped(loaded, result)


def _print_skipped(loaded: Any, result: Any) -> None:
    """The tasks --skip-invalid left out, each problem with its place, and the stored ones kept as they were."""
    if not loaded.skipped:
        return
    out = console()
    out.print(styled((f"  skipped {len(loaded.skipped)} unreadable task{'s' if len(loaded.skipped) != 1 else ''}",
                      "bold yellow"), " (fix them and import again):"))
    for s in loaded.skipped:
        out.print(f"    {s.code or '?'} 「{_short(s.title, 40)}」")
        for p in s.problems:
            where = (f"[{p.sheet}] " if p.sheet else "") + (f"line {p.line}" if p.row_kind == "line" else f"row {p.line}")
            out.print(f"      {where}, {p.field}: {p.message}" + (f" 「{_short(p.text, 60)}」" if p.text else ""))
    if result.kept_tasks:
        out.print(f"  kept as stored (unreadable in the file, never archived; notices go on): {'、'.join(result.kept_tasks)}")


def _print_import(loaded: Any, result: Any, file: Path, dry_run: bool) -> None:
    """What an import did (or would do): the plan, its units, and the diff by task."""
    out = console()
    for w in loaded.warnings:
        out.print(styled(("warning", "yellow"), f" {w}"))
    verb = "would import" if dry_run else "imported"
    what = "new plan" if result.created_plan else "update of plan"
    out.print(styled(f"{verb} {what} ", (result.plan_code, "bold"), f" 「{loaded.plan.title}」 from {file}"))
    if result.units_added:
        out.print(f"  units added: {len(result.units_added)}" + ("" if len(result.units_added) > 12 else " (" + "、".join(result.units_added) + ")"))
    if result.units_updated:
        out.print(f"  units updated: {'、'.join(result.units_updated)}")
    if result.added and result.supervised_from:
        out.print(f"  supervised from {result.supervised_from.isoformat()} (what is overdue then: one chase that day, "
                  "then the ladder from it)")
    if result.created_plan:
        out.print(styled("  ", (f"+{len(result.added)}", "green"), " tasks"))
        return
    for code in result.added:
        out.print(styled("  ", (f"+ {code}", "green"), f"  {loaded.plan.task(code).title}"))
    for code in result.restored:
        out.print(styled("  ", (f"↺ {code}", "cyan"), "  restored from the archive"))
    for code, changes in result.changed.items():
        out.print(styled("  ", (f"~ {code}", "yellow")))
        for c in changes:
            out.print(f"      {c.field}: {_short(c.old)} → {_short(c.new)}")
    for code in result.archived:
        out.print(styled("  ", (f"- {code}", "red"), "  archived (progress and history kept)"))
    for c in result.header:
        out.print(styled("  ", (f"~ plan {c.field}", "yellow"), f": {_short(c.old)} → {_short(c.new)}"))
    if result.stages:
        out.print(styled("  ", ("~ stages", "yellow"), f": {' '.join(result.stages)}"))
    if result.kept:
        out.print(f"  kept as stored (the file does not give them): {', '.join(result.kept)}")
    if result.is_noop:
        out.print("  no changes")
    else:
        out.print(f"  {len(result.added)} added, {len(result.changed)} changed, {len(result.archived)} archived, "
                  f"{len(result.restored)} restored, {result.unchanged} unchanged")


def _short(value: Any, limit: int = 80) -> str:
    text = "、".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _period(recurrence: dict[str, Any]) -> str:
    """A recurrence in `matrix show`: its period (monthly …), or for ongoing work 持續 and its cadence."""
    from duban.workflows.matrix_service import period_words

    return period_words(recurrence)


@matrix_app.command("show")
def matrix_show(
    plan: str | None = typer.Option(None, "--plan", "-p", help="Only this plan."),
    unit: str | None = typer.Option(None, "--unit", "-u", help="Tasks this unit leads, co-leads or supports (either script, aliases too)."),
    official: str | None = typer.Option(None, "--official", "-o", help="Tasks this official leads."),
    due_before: dt.datetime | None = day_option("--due-before", "Tasks with a milestone due on or before this date (YYYY-MM-DD)."),
    as_json: bool = Json,
) -> None:
    """Show the stored matrix as a table, filtered."""
    from duban.workflows.matrix_service import show

    rows = show(engine(), plan=plan, unit=unit, official=official, due_before=due_before.date() if due_before else None)
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    plans_shown = sorted({r["plan"] for r in rows})
    one_plan = len(plans_shown) == 1
    what = " · ".join(filter(None, (unit, official, f"due by {due_before.date()}" if due_before else None)))
    title = f"{len(rows)} tasks" + (f" — {what}" if what else "") + (f" ({plans_shown[0]})" if one_plan else "")
    days = sorted({r["supervised_from"] or "the start" for r in rows}, key=lambda d: (d != "the start", d))
    if days:
        title += " — supervised from " + (days[0] if len(days) == 1 else f"{days[0]} … {days[-1]}")
    table = Table(title=title, header_style="bold", show_lines=True)
    columns = [("code", {"no_wrap": True}), ("task", {"min_width": 8}), ("lead officials", {}), ("lead unit", {"min_width": 6}),
               ("supporting units", {"max_width": 36}), ("milestones", {"no_wrap": True})]
    if not one_plan:
        columns.insert(0, ("plan", {"no_wrap": True}))
    for col, kw in columns:
        table.add_column(col, overflow="fold", **kw)
    for r in rows:
        ms = "\n".join(m["due"] + (f"  {m['quantity']}{m['measure'] or ''}" if m["quantity"] is not None else "") for m in r["milestones"])
        if r["recurrence"]:
            ms = "\n".join(filter(None, [ms, *(_period(x) + (f" ≥{x['min_count']}次" if x["min_count"] else "")
                                                + (f" ≥{x['min_amount']}{x['amount_unit'] or ''}" if x["min_amount"] else "")
                                                for x in r["recurrence"])]))
        supporting = r["supporting_units"]
        support_text = "、".join(supporting[:6]) + (f" …(+{len(supporting) - 6})" if len(supporting) > 6 else "")
        task = r["title"] + (f"\n備註：{r['note']}" if r.get("note") else "")  # under the title: no column of its own
        cells = [r["code"], task, "、".join(o["name"] for o in r["lead_officials"]),
                 "、".join([r["lead_unit"], *(f"{u}(共同牽頭)" for u in r["co_lead_units"])]), support_text, ms]
        table.add_row(*([r["plan"]] if not one_plan else []), *cells)
    console().print(table)


@matrix_app.command("export")
def matrix_export(
    plan: str | None = typer.Option(None, "--plan", "-p", help="Plan code (default: the only plan)."),
    fmt: str = typer.Option("yaml", "--format", "-f", help="yaml | xlsx | json"),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write to this file (default: stdout; required for xlsx)."),
) -> None:
    """Export a stored plan as canonical YAML, the office's XLSX sheet, or JSON."""
    from duban.workflows.matrix_service import export_plan

    if fmt not in ("yaml", "xlsx", "json"):
        raise typer.BadParameter(f"unknown format {fmt!r}; use yaml, xlsx or json", param_hint="--format")
    data = export_plan(engine(), plan=plan, fmt=fmt)
    if out is None:
        if fmt == "xlsx":
            raise typer.BadParameter("an .xlsx export needs --out FILE", param_hint="--out")
        sys.stdout.write(data.decode())
        return
    from duban.workflows.matrix_service import write_export

    write_export(out, data)
    console(stderr=True).print(f"wrote {out} ({len(data):,} bytes)")



@commands("plans")
def plans(as_json: bool = Json) -> None:
    """List the plans in the database."""
    from duban.workflows.matrix_service import list_plans

    rows = list_plans(engine())
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table(header_style="bold")
    for col in ("code", "title", "base_year", "start", "end", "tasks", "supervised from"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["code"], r["title"], str(r["base_year"]), r["start"] or "", r["end"] or "", str(r["tasks"]),
                      r["supervised_from"] or "the start")
    console().print(table)


units_app = typer.Typer(help="The unit directory: list it, or write the skeleton a plan needs (template).",
                        invoke_without_command=True)


@units_app.callback()
def units(ctx: typer.Context, as_json: bool = Json) -> None:
    """The unit directory; with no command, list it (as `duban units list`)."""
    if ctx.invoked_subcommand is None:
        units_list(as_json)


@units_app.command("list")
def units_list(as_json: bool = Json) -> None:
    """List the unit directory as stored: names, aliases, kind, head, emails, groups."""
    from duban.workflows.matrix_service import list_units

    rows = list_units(engine())
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table(header_style="bold")
    for col in ("unit", "aliases", "kind", "head", "emails", "member of"):
        table.add_column(col, overflow="fold")
    for r in rows:
        head = " ".join(filter(None, (r["head"]["title"], r["head"]["name"], r["head"]["email"])))
        kind = r["kind"] + (" (office)" if r["is_office"] else "") + (f" of plan {r['plan']}" if r["plan"] else "")
        table.add_row(r["name"], "、".join(r["aliases"]), kind, head,
                      ", ".join(r["emails"]), "、".join(r["member_of"]))
    console().print(table)


@units_app.command("template")
def units_template(
    file: Path = typer.Argument(..., help="Plan file: .yaml, .csv or .xlsx, or a plan document (.docx, .txt) read as `matrix extract` reads it (its units need not be known)."),
    directory: Path | None = DirectoryOpt,
    sheet: str | None = SheetOpt,
    plan: str | None = PlanOpt,
    fmt: str | None = typer.Option(None, "--format", "-f", help="yaml, csv or xlsx (default: --out's suffix, else yaml)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write to this file (default: stdout; required for xlsx)."),
    offline: bool = typer.Option(False, "--offline", help="Do not consult the database for known units."),
) -> None:
    """Write the unit directory skeleton for a plan: every unit it names, with what the plan's directory
    and the database already know (heads, emails, aliases, kinds), for the office to fill in."""
    from duban.workflows.units_service import TEMPLATE_FORMATS, render_template, template_format, unit_template

    chosen = template_format(fmt, out)
    if chosen not in TEMPLATE_FORMATS:
        raise typer.BadParameter(f"{chosen!r}: use yaml, csv or xlsx", param_hint="--format")
    if chosen == "xlsx" and out is None:
        raise typer.BadParameter("an .xlsx template needs --out FILE", param_hint="--out")
    template = unit_template(file, directory=directory, sheet=sheet, plan_code=plan, engine=None if offline else engine(),
                             limits=settings().input_limits())
    data = render_template(template, chosen, plan_file=file.name)
    note = f"{len(template.units)} units, {len(template.new)} not yet known"
    if out is None:
        sys.stdout.write(data.decode("utf-8-sig"))
        console(stderr=True).print(note)
        return
    from duban.workflows.matrix_service import write_export

    write_export(out, data)
    console(stderr=True).print(f"wrote {out} ({note})")


