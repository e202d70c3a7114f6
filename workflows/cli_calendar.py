"""The ``duban calendar`` commands: import a year's holidays (放假, 調休上班), read a notice, show a year.

Registered on the main app by ``workflows.cli``. Only typer and the standard library are imported at
module level (``duban --help`` stays fast); each command calls ``workflows.calendar_service`` and prints.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from duban.workflows.cli_common import app, console, emit_json, engine, print_problems, styled

calendar_app = typer.Typer(help="The working-day calendar: the official package (2004–2026) and the years the office imports.",
                           no_args_is_help=True)

Json = typer.Option(False, "--json", help="Print JSON with stable keys instead of a table.")


def _print_table(result: dict[str, Any], out) -> None:
    """The holidays and make-up working days read, one line each, as a reviewer checks them against the notice."""
    out.print(styled((str(result["year"]), "bold"), f"  {result['source']}"))
    for h in result["holidays"]:
        span = h["from"] if h["from"] == h["to"] else f"{h['from']} – {h['to']}"
        length = f"{h['days']} day" + ("s" if h["days"] != 1 else "")
        out.print(styled("  ", ("放假", "green"), f"  {h['name']:<8} {span}  ({length})"))
    for w in result["workdays"]:
        out.print(styled("  ", ("上班", "yellow"), f"  {w['name']:<8} {w['date']} ({w['weekday']})"))
    for note in result.get("notes", []):
        out.print(styled(("note", "yellow"), f" {note}"))


def _print_diff(diff: dict[str, list[dict[str, Any]]], out) -> None:
    marks = {"added": ("+", "green"), "removed": ("-", "red"), "changed": ("~", "yellow")}
    for key, (mark, colour) in marks.items():
        for d in diff.get(key, []):
            was = f" (was {d['was']['kind']} {d['was']['name']})" if "was" in d else ""
            out.print(styled("  ", (f"{mark} {d['date']}", colour), f"  {d['kind']} {d['name']}{was}"))


@calendar_app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., help="The year's holidays: .yaml or .csv, or the notice's text (.txt)."),
    replace: bool = typer.Option(False, "--replace", help="Replace a year already stored (the diff is shown)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Store a notice's text without asking (review it first)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Read, check and compare; store nothing."),
    as_json: bool = Json,
) -> None:
    """Store a year's holidays and make-up working days; every working-day count uses them from then on."""
    from duban.matrix.errors import ValidationFailed
    from duban.workflows.calendar_service import YearStored, import_holidays, is_notice

    notice_unconfirmed = is_notice(file) and not yes and not dry_run
    try:
        if notice_unconfirmed and not _confirmed(file, as_json):
            raise typer.Exit(1)
        result = import_holidays(engine(), file, now=app().clock(), replace=replace, dry_run=dry_run)
    except ValidationFailed as err:
        print_problems(err, as_json)
        raise typer.Exit(1) from None
    except YearStored as err:
        if as_json:
            emit_json({"ok": False, "error": str(err), **err.result.as_dict()})
        else:
            _print_diff(err.result.diff, console(stderr=True))
        raise
    if as_json:
        emit_json({"ok": True, "dry_run": dry_run, **result.as_dict()})
        return
    out = console()
    if not notice_unconfirmed:
        _print_table(result.as_dict(), out)
    _print_outcome(result, out, dry_run=dry_run)


def _confirmed(file: Path, as_json: bool) -> bool:
    """A notice's text is shown and stored only when the office confirms (``--yes`` or the prompt)."""
    from duban.workflows.calendar_service import review_holidays

    _, shown = review_holidays(file)
    out = console(stderr=as_json)
    _print_table(shown.as_dict(), out)
    for w in shown.warnings:
        out.print(styled(("warning", "yellow"), f" {w}"))
    if sys.stdin.isatty() and typer.confirm("Store this table?", default=False):
        return True
    if as_json:
        emit_json({"ok": False, "dry_run": False, **shown.as_dict(), "error": "a notice's text is stored only with --yes"})
    out.print(styled(("not stored", "yellow"), ": check the table against the notice, then run again with --yes, "
                     f"or write it for review: duban calendar extract {file} -o {shown.year}.yaml"))
    return False


def _print_outcome(result, out, *, dry_run: bool) -> None:
    for w in result.warnings:
        out.print(styled(("warning", "yellow"), f" {w}"))
    if result.package_year:
        out.print(styled(("note", "yellow"), f" the official package covers {result.year} too: the imported table wins"))
    if result.unchanged:
        out.print(f"{result.year}: already stored with exactly these days; nothing changed")
        return
    if result.replaced:
        _print_diff(result.diff, out)
    off = sum(h["days"] for h in result.holidays)
    verb = "would store" if dry_run else ("replaced" if result.replaced else "stored")
    out.print(styled(("ok", "green"), f" {verb} {result.year}: {len(result.holidays)} holidays ({off} days off), "
                     f"{len(result.workdays)} make-up working days"))


@calendar_app.command("extract")
def extract_cmd(
    file: Path = typer.Argument(..., help="The notice's text: 國務院辦公廳關於YYYY年部分節假日安排的通知."),
    out_file: Path | None = typer.Option(None, "--out", "-o", help="Write the YAML here (default: stdout)."),
    as_json: bool = Json,
) -> None:
    """Read a notice into the YAML table `calendar import` takes, for review; stores nothing."""
    from duban.matrix.errors import ValidationFailed
    from duban.workflows.calendar_service import extract_holidays

    try:
        table, warnings, text = extract_holidays(file)
    except ValidationFailed as err:
        print_problems(err, as_json)
        raise typer.Exit(1) from None
    err_out = console(stderr=True)
    for w in warnings:
        err_out.print(styled(("warning", "yellow"), f" {w}"))
    if as_json:
        emit_json({"ok": True, "year": table.year, "yaml": text, "warnings": [str(w) for w in warnings]})
    elif out_file is None:
        sys.stdout.write(text)
    else:
        out_file.write_text(text, encoding="utf-8")
        err_out.print(f"wrote {out_file}: {table.year}, {len(table.holidays)} holidays, {len(table.workdays)} make-up "
                      f"working days; review it, then: duban calendar import {out_file}")


@calendar_app.command("show")
def show_cmd(
    year: int = typer.Argument(..., help="The year, e.g. 2027."),
    as_json: bool = Json,
) -> None:
    """A year's holidays and make-up working days with their source, and working days per month."""
    from duban.workflows.calendar_service import show_year

    shown = show_year(engine(), year, app().calendar)
    if as_json:
        emit_json(shown)
        return
    out = console()
    where = {"imported": f"imported from {shown.get('imported_from')} at {shown.get('imported_at')}",
             "package": "the official package (chinese_calendar)",
             "weekdays": "neither the package nor an imported table: Monday–Friday (duban calendar import FILE)"}
    _print_table({**shown, "source": where[shown["source"]]}, out)
    out.print("working days  " + "  ".join(f"{m['month']}月 {m['working_days']}" for m in shown["months"])
              + f"  — {shown['working_days']} in {year}")
