"""The ``duban`` command line: typer + rich, heavy imports deferred so ``duban --help`` stays fast.

Every command reads ``DUBAN_DATABASE_URL``; every command that lists things takes ``--json`` and then
prints stable keys only (documented in README.md). Errors a user can cause print one clear message
(file, line/row, field, offending text) and exit with status 1 (validation) or 2 (anything else),
never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

if TYPE_CHECKING:  # pragma: no cover
    from duban.config.settings import Settings

app = typer.Typer(
    name="duban",
    help="督辦 duban — turns a plan's responsibility matrix into supervision: reminders, chases, escalation, circulation reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
matrix_app = typer.Typer(help="Validate, import, show and export responsibility matrices.", no_args_is_help=True)
app.add_typer(matrix_app, name="matrix")

AsOf = typer.Option(None, "--as-of", help="Act as if today were this date (YYYY-MM-DD), to replay a plan.")
Json = typer.Option(False, "--json", help="Print JSON with stable keys instead of a table.")


class _State:
    settings: "Settings | None" = None


def _started() -> None:
    """The command has its modules: collect garbage again.

    ``main`` pauses the collector while a command's lazy imports of SQLAlchemy, SQLModel and pydantic
    build their classes (otherwise full collections run again and again over objects that live as
    long as the process); the objects made so far are then frozen out of future collections, so
    switching the collector back on does not pay the deferred cost in one go. Called when a command
    first asks for its settings or console, which every command does before its real work."""
    import gc

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def settings() -> "Settings":
    _started()
    if _State.settings is None:
        from pydantic import ValidationError

        from duban.config.settings import Settings
        from duban.matrix.errors import ConfigError

        try:
            _State.settings = Settings()
        except ValidationError as e:
            first = e.errors()[0]
            name = "DUBAN_" + "_".join(str(p) for p in first["loc"]).upper()
            text = str(first.get("input", ""))
            text = text if len(text) <= 80 else f"{text[:80]}… ({len(text)} characters)"
            raise ConfigError(f"setting {name}={text!r}: {first['msg'].removeprefix('Value error, ')}") from None
        _State.settings.apply_file_mode()  # what this process creates: files 0600, folders 0700 unless configured
    return _State.settings


def engine():
    from duban.store.db import open_database

    return open_database(settings().database_url)


def policies():
    """The packaged default policy overridden by the office's own (config folder) policy.yaml."""
    from duban.config.settings import PACKAGE_DIR
    from duban.matrix.policy import load_policy

    return load_policy(PACKAGE_DIR / "policy.yaml", settings().config_dir / "policy.yaml")


def now_for(as_of: Optional[dt.datetime]) -> dt.datetime:
    """``--as-of D`` means the start of that local day; otherwise the real clock, in the office's zone."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(settings().timezone)
    if as_of is None:
        return dt.datetime.now(tz)
    return as_of.replace(tzinfo=tz) if as_of.tzinfo is None else as_of


def console(stderr: bool = False):
    """A console that prints text literally: names, titles and notes are data, never Rich markup (a title
    such as ``任務[/bold]`` is printed as written). Styles are given as ``styled(…)`` parts."""
    _started()
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False, markup=False, emoji=False)


def styled(*parts: "str | tuple[str, str]"):
    """One line of literal text with styled parts: ``styled(("warning", "yellow"), " ", text)``."""
    from rich.text import Text

    return Text.assemble(*parts)


def emit_json(data: Any) -> None:
    """Indented for a person at a terminal; compact (and C-encoded, much faster) for a pipe."""
    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=indent, default=str) + "\n")


# --------------------------------------------------------------------------------------------


@app.command()
def init(
    directory: Path = typer.Argument(Path("."), help="Where to set up duban (the current folder by default)."),
    examples: bool = typer.Option(True, help="Copy the example plans into the config folder."),
) -> None:
    """Create the database (schema at the newest revision) and a config folder with example plans."""
    from duban.config.settings import EXAMPLE_PLANS
    from duban.store.db import current_revision, upgrade, make_engine
    from duban.store.files import make_dirs, write_file

    s = settings()
    config_dir = s.config_dir if s.config_dir.is_absolute() else directory / s.config_dir
    make_dirs(config_dir / "plans")  # private, as the database: unit directories hold addresses
    if examples:
        for f in sorted(EXAMPLE_PLANS.glob("*.yaml")):
            target = config_dir / "plans" / f.name
            if not target.exists():
                write_file(target, f.read_bytes())
    from duban.config.settings import PACKAGE_DIR

    for name in ("policy.yaml", "schedule.yaml", "scoring.yaml"):  # the office edits its own copies
        if not (config_dir / name).exists():
            write_file(config_dir / name, (PACKAGE_DIR / name).read_bytes())
    url = s.database_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and directory != Path("."):
        url = f"sqlite:///{directory / url.removeprefix('sqlite:///')}"
    eng = make_engine(url)
    before = current_revision(eng)
    upgrade(eng)
    out = console()
    state = "created" if before is None else ("already current" if before == current_revision(eng) else f"upgraded from {before}")
    out.print(f"database  {_safe_url(url)}  ({state})")
    n_plans = len([p for p in (config_dir / "plans").glob("*.yaml") if not p.name.endswith(".units.yaml")])
    out.print(f"config    {config_dir}/  (policy, schedule and scoring, {n_plans} example plans with their unit directories)")
    out.print("next      duban matrix import " + str(config_dir / "plans" / "district-2015.yaml"))


def _safe_url(url: str) -> str:
    from duban.store.db import _safe

    return _safe(url)


# --------------------------------------------------------------------------------------------
# matrix


def _options(directory, allow_new_units, plan, base_year, sheet, title=None, start=None):
    from duban.workflows.matrix_service import PlanOptions

    return PlanOptions(directory=directory, allow_new_units=allow_new_units, plan_code=plan, base_year=base_year,
                       sheet=sheet, title=title, start=start.date() if start else None,
                       limits=settings().input_limits())


DirectoryOpt = typer.Option(None, "--directory", "-d", help="Unit directory (YAML or CSV); default: the one the plan names.")
AllowNew = typer.Option(False, "--allow-new-units", help="Add units missing from the directory instead of refusing them.")
PlanOpt = typer.Option(None, "--plan", "-p", help="Plan code (default: the plan file's own, or its file name).")
BaseYear = typer.Option(None, "--base-year", help="Year for deadlines written without one (sheets only need it if no deadline names a year).")
SheetOpt = typer.Option(None, "--sheet", help="Worksheet of an .xlsx file (default: the first).")
TitleOpt = typer.Option(None, "--title", help="Plan title (sheets: default the title row above the header).")
StartOpt = typer.Option(None, "--start", help="Plan start (YYYY-MM-DD): 三年內 and recurrences count from it.")


def _print_problems(err, as_json: bool) -> None:
    if as_json:
        emit_json({"ok": False, "problems": [p.as_dict() for p in err.problems]})
        return
    from rich.table import Table

    out = console(stderr=True)
    out.print(styled((f"{len(err.problems)} problem{'s' if len(err.problems) != 1 else ''}", "bold red"), " — nothing was changed"))
    table = Table(show_lines=False, header_style="bold")
    for col in ("where", "field", "text", "problem", "hint"):
        table.add_column(col, overflow="fold")
    for p in err.problems:
        where = p.file + (f":{p.line}" if p.row_kind == "line" and p.line else (f" row {p.line}" if p.line else ""))
        table.add_row(where, p.field, p.text, p.message, p.hint)
    out.print(table)


@matrix_app.command("validate")
def matrix_validate(
    file: Path = typer.Argument(..., help="Plan file: .yaml, .csv or .xlsx"),
    directory: Optional[Path] = DirectoryOpt,
    allow_new_units: bool = AllowNew,
    plan: Optional[str] = PlanOpt,
    base_year: Optional[int] = BaseYear,
    sheet: Optional[str] = SheetOpt,
    title: Optional[str] = TitleOpt,
    start: Optional[dt.datetime] = StartOpt,
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
        _print_problems(err, as_json)
        raise typer.Exit(1)
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
    directory: Optional[Path] = DirectoryOpt,
    allow_new_units: bool = AllowNew,
    plan: Optional[str] = PlanOpt,
    base_year: Optional[int] = BaseYear,
    sheet: Optional[str] = SheetOpt,
    title: Optional[str] = TitleOpt,
    start: Optional[dt.datetime] = StartOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change, change nothing."),
    as_of: Optional[dt.datetime] = AsOf,
    as_json: bool = Json,
) -> None:
    """Validate and import a plan in one transaction; re-importing updates it in place and prints the diff."""
    from duban.matrix.errors import ValidationFailed
    from duban.workflows.matrix_service import import_file

    try:
        loaded, result = import_file(engine(), file, _options(directory, allow_new_units, plan, base_year, sheet, title, start),
                                     now=now_for(as_of), actor="cli", dry_run=dry_run)
    except ValidationFailed as err:
        _print_problems(err, as_json)
        raise typer.Exit(1)
    if as_json:
        emit_json({"ok": True, "dry_run": dry_run, **result.as_dict()})
        return
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


@matrix_app.command("show")
def matrix_show(
    plan: Optional[str] = typer.Option(None, "--plan", "-p", help="Only this plan."),
    unit: Optional[str] = typer.Option(None, "--unit", "-u", help="Tasks this unit leads or supports (either script, aliases too)."),
    official: Optional[str] = typer.Option(None, "--official", "-o", help="Tasks this official leads."),
    due_before: Optional[dt.datetime] = typer.Option(None, "--due-before", help="Tasks with a milestone due on or before this date."),
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
            ms = "\n".join(filter(None, [ms, *(f"{x['freq']}" + (f" ≥{x['min_count']}次" if x["min_count"] else "")
                                                + (f" ≥{x['min_amount']}{x['amount_unit'] or ''}" if x["min_amount"] else "")
                                                for x in r["recurrence"])]))
        supporting = r["supporting_units"]
        support_text = "、".join(supporting[:6]) + (f" …(+{len(supporting) - 6})" if len(supporting) > 6 else "")
        cells = [r["code"], r["title"], "、".join(o["name"] for o in r["lead_officials"]), r["lead_unit"], support_text, ms]
        table.add_row(*([r["plan"]] if not one_plan else []), *cells)
    console().print(table)


@matrix_app.command("export")
def matrix_export(
    plan: Optional[str] = typer.Option(None, "--plan", "-p", help="Plan code (default: the only plan)."),
    fmt: str = typer.Option("yaml", "--format", "-f", help="yaml | xlsx | json"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write to this file (default: stdout; required for xlsx)."),
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
    from duban.store.files import write_file

    write_file(out, data)  # 0600 in a 0700 folder unless DUBAN_FILE_MODE says otherwise
    console(stderr=True).print(f"wrote {out} ({len(data):,} bytes)")


@app.command("plans")
def plans(as_json: bool = Json) -> None:
    """List the plans in the database."""
    from duban.store import repository as repo
    from duban.store.db import transaction

    with transaction(engine()) as session:
        rows = repo.list_plans(session)
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table(header_style="bold")
    for col in ("code", "title", "base_year", "start", "end", "tasks"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["code"], r["title"], str(r["base_year"]), r["start"] or "", r["end"] or "", str(r["tasks"]))
    console().print(table)


@app.command("units")
def units(as_json: bool = Json) -> None:
    """List the unit directory as stored: names, aliases, kind, head, emails, groups."""
    from duban.store import repository as repo
    from duban.store.db import transaction

    with transaction(engine()) as session:
        rows = [{"name": u.name, "aliases": list(u.aliases), "kind": u.kind, "is_office": u.is_office,
                 "head": {"name": u.head_name, "title": u.head_title, "email": u.head_email},
                 "emails": list(u.emails), "member_of": list(u.member_of)} for u in repo.list_units(session)]
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table(header_style="bold")
    for col in ("unit", "aliases", "kind", "head", "emails", "member of"):
        table.add_column(col, overflow="fold")
    for r in rows:
        head = " ".join(filter(None, (r["head"]["title"], r["head"]["name"], r["head"]["email"])))
        table.add_row(r["name"], "、".join(r["aliases"]), r["kind"] + (" (office)" if r["is_office"] else ""), head,
                      ", ".join(r["emails"]), "、".join(r["member_of"]))
    console().print(table)


@app.command("history")
def history(
    task: str = typer.Argument(..., help="Task code, e.g. 3.2.1"),
    plan: Optional[str] = typer.Option(None, "--plan", "-p"),
    as_json: bool = Json,
) -> None:
    """The append-only history of one task: imports, changes, progress, notices, escalations, extensions."""
    from duban.workflows.sweep_service import task_history

    events = task_history(engine(), task=task, plan=plan)
    if as_json:
        emit_json(events)
        return
    out = console()
    for e in events:
        out.print(styled(f"{e['at']}  ", (e["kind"], "bold"), f"  {e['actor']}  {json.dumps(e['data'], ensure_ascii=False) if e['data'] else ''}"))


# --------------------------------------------------------------------------------------------
# supervision


LIGHT_STYLE = {"red": "bold red", "yellow": "yellow", "green": "green", "closed": "dim"}
LIGHT_MARK = {"red": "●紅", "yellow": "●黃", "green": "●綠", "closed": "✓結"}


@app.command("sweep")
def sweep_cmd(
    as_of: Optional[dt.datetime] = AsOf,
    plan: Optional[str] = typer.Option(None, "--plan", "-p", help="Only this plan."),
    as_json: bool = Json,
) -> None:
    """Evaluate every open milestone and obligation and write today's notices to the outbox (idempotent)."""
    from duban.workflows.sweep_service import sweep

    result = sweep(engine(), now=now_for(as_of), policies=policies(), plan=plan)
    if as_json:
        emit_json(result.as_dict())
        return
    out = console()
    c = result.created
    out.print(f"sweep {result.sweep_id} for {result.as_of}: {result.items} open items due or overdue; new notices: "
              f"{c['reminder']} reminders, {c['chase']} chases, {c['escalation']} escalations"
              + (f"; {result.newly_overdue} newly overdue" if result.newly_overdue else "")
              + (f"; {result.instances_created} recurring periods opened" if result.instances_created else ""))
    _calendar_note(result.calendar_fallback_years, out)


def _calendar_note(years, out) -> None:
    """Once per command: working days of years the official calendar does not cover were counted Mon–Fri."""
    if years:
        out.print(styled(("note", "yellow"), f" no official holiday calendar for {', '.join(map(str, sorted(years)))}: "
                         "working days there are Monday–Friday"))


@app.command("status")
def status_cmd(
    unit: Optional[str] = typer.Option(None, "--unit", "-u", help="Tasks this unit leads or supports."),
    plan: Optional[str] = typer.Option(None, "--plan", "-p"),
    as_of: Optional[dt.datetime] = AsOf,
    as_json: bool = Json,
) -> None:
    """Status lights: red overdue, yellow due soon or behind pace, green on track, closed."""
    from duban.matrix.calendar import WorkCalendar
    from duban.workflows.sweep_service import status

    cal = WorkCalendar()
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
            parts.append((f"{i['due']} {what}{qty}{cnt}", LIGHT_STYLE[i["light"]]))
        lines = [p for part in parts for p in (part, "\n")][:-1]
        table.add_row(styled((LIGHT_MARK[r["light"]], LIGHT_STYLE[r["light"]])), r["code"], r["title"], r["lead_unit"],
                      styled(*lines))
    console().print(table)
    _calendar_note(cal.fallback_years, console())


@app.command("outbox")
def outbox_cmd(
    status_: Optional[str] = typer.Option(None, "--status", help="pending, sending, sent, failed, undeliverable (comma-separated)."),
    kind: Optional[str] = typer.Option(None, "--kind", help="reminder, chase, escalation (comma-separated)."),
    plan: Optional[str] = typer.Option(None, "--plan", "-p"),
    task: Optional[str] = typer.Option(None, "--task"),
    since: Optional[dt.datetime] = typer.Option(None, "--since", help="Planned on or after this date."),
    limit: Optional[int] = typer.Option(None, "--limit"),
    as_json: bool = Json,
) -> None:
    """The notices planned by the sweep, oldest first."""
    from duban.workflows.sweep_service import list_notices

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
        st = r["status"] + (" ✓簽收" if r["acknowledged_at"] else "")
        table.add_row(str(r["id"]), r["planned_for"], k, f"{r['task']} {r['title']}", r["due"], str(r["days"]),
                      who(r["to"]), who(r["cc"]), st)
    console().print(table)


@app.command("ack")
def ack_cmd(
    notice: int = typer.Argument(..., help="Notice id (see `duban outbox`)."),
    by: str = typer.Option("", "--by", help="Who acknowledges."),
    as_of: Optional[dt.datetime] = AsOf,
    as_json: bool = Json,
) -> None:
    """簽收: acknowledge a notice; repeats of it stop, escalation of an overdue item does not."""
    from duban.workflows.sweep_service import acknowledge

    row = acknowledge(engine(), notice_id=notice, now=now_for(as_of), by=by)
    if as_json:
        emit_json(row)
        return
    console().print(f"notice {row['id']} ({row['kind']}, task {row['task']}) acknowledged"
                    + (f" by {by}" if by else "") + "; its repeats will not be sent")


@app.command("sweeps")
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


# --------------------------------------------------------------------------------------------
# delivery


@app.command("deliver")
def deliver_cmd(
    as_of: Optional[dt.datetime] = AsOf,
    retry_failed: bool = typer.Option(False, "--retry-failed", help="First put failed messages back in the queue "
                                      "(after fixing an address or the server): same bytes, same Message-ID."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="List every failed message and undeliverable "
                                 "recipient (by default: counts per reason, a few examples each)."),
    as_json: bool = Json,
) -> None:
    """Send the outbox: one digest per recipient by SMTP (DUBAN_SMTP_URL), or .eml files in var/outbox/."""
    from duban.workflows.delivery_service import deliver, requeue_failed

    now = now_for(as_of)
    requeued = requeue_failed(engine(), now=now) if retry_failed else 0
    result = deliver(engine(), now=now, settings=settings())
    if as_json:
        emit_json({**result.as_dict(), "requeued": requeued})
        _halted(result)
        return
    out = console()
    if retry_failed:
        out.print(f"{requeued} failed messages put back in the queue")
    how = "sent to" if settings().smtp_url else "written as .eml files to"
    out.print(styled(f"{result.sent} messages {how} {result.target}"
                     + (f"; {result.retrying} will be retried" if result.retrying else ""),
                     "; " if result.failed else "", (f"{result.failed} failed" if result.failed else "", "red"),
                     (f"; {result.recipients_refused} recipients refused" if result.recipients_refused else "")
                     + (f"; {result.superseded} older repeats superseded" if result.superseded else "")))
    failed_lines = {f"{f['address']}: {f['error']}" for f in result.failures}
    for e in result.errors:
        if e not in failed_lines and not (result.halted and e.endswith(result.halted)):  # the halt: on stderr, below
            out.print(styled("  ", ("error", "red"), f" {e}"))
    if verbose:
        for f in result.failures:
            out.print(styled("  ", ("failed", "red"), f" {f['address']}: {f['error']}"))
        if result.undeliverable:
            out.print(styled((f"{len(result.undeliverable)} undeliverable", "yellow"), " (no address in the directory):"))
            for u in result.undeliverable:
                out.print(f"  task {u['task']} → {u['name']} ({u['role']}): {u['reason']}")
    else:  # a few lines whatever the size of the run: per reason, how many, and who for example
        groups = result.by_reason()
        for kind, what, colour in (("failed", "messages failed", "red"), ("undeliverable", "recipients undeliverable", "yellow")):
            if groups[kind]:
                total = sum(g["count"] for g in groups[kind])
                out.print(styled((f"{total} {what}", colour), f" ({len(groups[kind])} reason{'s' if len(groups[kind]) != 1 else ''}):"))
                for g in groups[kind][:10]:
                    more = f", … {g['count'] - len(g['examples'])} more" if g["count"] > len(g["examples"]) else ""
                    out.print(f"  {g['count']} × {g['reason']}: {'; '.join(g['examples'])}{more}")
                if len(groups[kind]) > 10:
                    out.print(f"  … {len(groups[kind]) - 10} more reasons")
        if result.failures or result.undeliverable:
            out.print("  (--verbose lists every one; --json gives them as data)")
    _halted(result)


def _halted(result) -> None:
    """The server refused duban itself: the run stopped; say so as an error (exit status 2)."""
    if result.halted:
        from duban.matrix.errors import DeliveryError

        raise DeliveryError(f"the mail server refused duban itself, so delivery stopped and the messages wait, "
                            f"their attempts not counted: {result.halted}")


@app.command("messages")
def messages_cmd(
    status_: Optional[str] = typer.Option(None, "--status", help="pending, sending, sent, failed (comma-separated)."),
    limit: Optional[int] = typer.Option(None, "--limit"),
    as_json: bool = Json,
) -> None:
    """Messages built from the outbox: to whom, state, attempts, last error."""
    from duban.workflows.delivery_service import list_messages

    rows = list_messages(engine(), status=status_, limit=limit)
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table(title=f"{len(rows)} messages", header_style="bold")
    for col in ("id", "to", "subject", "notices", "status", "attempts", "last error"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(str(r["id"]), r["to"], r["subject"], str(r["notices"]), r["status"], str(r["attempts"]), r["last_error"])
    console().print(table)


@app.command("mail-sink")
def mail_sink_cmd(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8025, "--port"),
    folder: Path = typer.Option(Path("var/mail-sink"), "--dir", help="Where received messages are saved."),
) -> None:
    """Run a local SMTP server that saves what it receives (for demos): DUBAN_SMTP_URL=smtp://127.0.0.1:8025."""
    import signal
    import threading

    from duban.notifications.sink import start_sink

    controller = start_sink(host, port, folder)
    out = console()
    out.print(f"mail sink listening on smtp://{host}:{port}, saving to {folder}/ — Ctrl-C to stop")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
        out.print(f"stopped; {controller.handler_ref.received} messages received")


# --------------------------------------------------------------------------------------------
# scheduling


@app.command("run")
def run_cmd(
    once: bool = typer.Option(False, "--once", help="Run every job once (sweep, deliver, weekly report) and exit."),
    quiet: bool = typer.Option(False, "--quiet", help="No live status line (for service managers)."),
    as_of: Optional[dt.datetime] = typer.Option(None, "--as-of", help="With --once: run the jobs as of this date."),
) -> None:
    """Supervise by itself on schedule (config/schedule.yaml): sweep 08:30 on working days, deliver every
    5 minutes, weekly report Friday 16:00. One per database; Ctrl-C finishes the current job and stops."""
    from duban.workflows.runner import run_forever, run_once
    from duban.workflows.schedule import default_schedule

    s = settings()
    schedule = default_schedule(s.config_dir)
    out = console()
    engine()  # the schema is current before any job runs
    if once:
        run_once(s, schedule, report=lambda name, text: out.print(f"{name:<14} {text}"),
                 now=now_for(as_of) if as_of else None)
        return
    out.print(f"duban run on {_safe_url(s.database_url)} — "
              + ", ".join(f"{j.name} ({j.describe()}{', working days' if j.working_days_only else ''})" for j in schedule.jobs))
    state = run_forever(s, schedule, live=not quiet and sys.stdout.isatty(),
                        on_started=lambda: out.print("scheduler started") if quiet or not sys.stdout.isatty() else None)
    out.print(f"stopped cleanly ({state.errors} job errors)")


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Where the demo writes everything (replaced)."),
    lang: str = typer.Option("zh-Hans", "--lang", help="zh-Hans, zh-Hant or en."),
) -> None:
    """Replay the district plan 2015-07 … 2016-12 in a minute: sweeps, mail to a local sink, weekly reports."""
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from duban.workflows.demo import run_demo

    started = time.monotonic()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} days"),
                  TimeElapsedColumn(), console=console()) as bar:
        job = bar.add_task("replaying", total=None)

        def progress(done: int, total: int, day: str) -> None:
            bar.update(job, total=total, completed=done, description=f"replaying {day}")

        result = run_demo(out, progress=progress, language=lang)
    c = console()
    table = Table(title=f"duban demo: {result.days} days, {result.sweeps} sweeps in {time.monotonic() - started:.0f} s",
                  header_style="bold")
    table.add_column("what")
    table.add_column("count", justify="right")
    for kind, label in (("reminder", "提醒 reminders"), ("chase", "催辦 chases"), ("escalation", "督辦 escalations")):
        table.add_row(label, str(result.notices.get(kind, 0)))
    for level, n in _escalations_by_level(out):
        table.add_row(f"  level {level}", str(n))
    table.add_row("messages delivered (digests)", str(result.messages))
    table.add_row("weekly circulation reports", str(sum(1 for p in result.reports if p.name.startswith("weekly-"))))
    for unit, n in result.criticised.most_common(8):
        table.add_row(f"通報批評 {unit}", f"{n} weeks")
    c.print(table)
    c.print(f"open {out / 'index.html'} — mail in {out / 'mail'}/, database {out / 'demo.db'}")


def _escalations_by_level(out: Path) -> list[tuple[int, int]]:
    """Escalations by level, read back from the demo's own database."""
    import sqlalchemy as sa

    from duban.store.db import make_engine

    engine = make_engine(f"sqlite:///{(out / 'demo.db').resolve()}")
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(
                "SELECT level, count(*) FROM notice WHERE kind = 'escalation' GROUP BY level ORDER BY level"))]
    finally:
        engine.dispose()


from duban.workflows.cli_deploy import deploy_command  # noqa: E402 - typer-only modules, cheap
from duban.workflows.cli_extract import extract_command  # noqa: E402
from duban.workflows.cli_notices import notices_app  # noqa: E402
from duban.workflows.cli_progress import extension_app, progress_app  # noqa: E402
from duban.workflows.cli_report import report_app  # noqa: E402
from duban.workflows.cli_backup import backup_command, restore_command  # noqa: E402

app.add_typer(report_app, name="report", help="The weekly circulation report (周通報) and criticism notices.")

app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.command("deploy", help="Register the flows as Prefect deployments (PREFECT_API_URL) with their schedules.")(deploy_command)
matrix_app.command("extract", help="Read a plan document (.txt, .docx) into the matrix YAML for review.")(extract_command)

app.add_typer(notices_app, name="notices", help="Preview notices as they would be sent.")

app.add_typer(progress_app, name="progress", help="Progress reports (進展報送) and closing (辦結).")
app.add_typer(extension_app, name="extension", help="Extension requests (延期申請) and the office's decisions.")


def main() -> None:
    """Entry point: run the app, turning duban's own errors into one clear line and exit status 2."""
    import gc

    gc.disable()  # until the command has imported what it needs: see _started
    from duban.store.files import configure_from_environment

    configure_from_environment()  # private files from the first one on (the settings confirm it, .env included)
    try:
        app()
    except Exception as err:  # noqa: BLE001 - only DubanError is handled; the rest re-raises
        from duban.matrix.errors import DubanError

        if not isinstance(err, DubanError):
            raise
        sys.stderr.write(f"duban: error: {err}\n")
        sys.exit(2)
    finally:
        gc.enable()  # for a caller that runs main() in its own process and goes on


if __name__ == "__main__":  # pragma: no cover
    main()
