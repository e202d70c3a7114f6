"""The ``duban matrix extract`` command: a plan written as a document (.txt or .docx) → the matrix YAML for review.

Registered on ``matrix_app`` by ``workflows.cli``. Only typer and the standard library are imported at
module level (``duban --help`` stays fast); ``workflows.matrix_service`` (and with it the extractor) is
imported when the command runs.

Exit status: 0 when every line of the document was placed, 1 when something was left over (the YAML
is still written, and each leftover is printed to stderr as ``file:line: reason — text``), 2 when the
document cannot be read at all (one line on stderr, no traceback).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from duban.workflows.cli_common import settings

OutOpt = typer.Option(None, "--out", "-o", help="Write the YAML (or JSON) to this file instead of stdout.")
BaseYearOpt = typer.Option(None, "--base-year", help="Year for dates written without one (default: from the title, "
                           "the issue date or the earliest year a deadline names).")
PartOpt = typer.Option(None, "--part", help="In a file holding several documents (第一篇 … 第五篇), extract part N "
                       "(default: the part with the most tasks; the others are reported as left over).")
PlanOpt = typer.Option(None, "--plan", "-p", help="Plan code (default: the file name, with -partN for a part).")
DirectoryOpt = typer.Option(None, "--directory", "-d", help="Unit directory to name in the YAML (`directory:`), "
                            "relative to where the YAML is written.")
DefaultUnitOpt = typer.Option(None, "--default-unit", help="The unit that leads a measure naming no 責任單位 and no "
                              "subject (default: the unit the plan's opening names, 由…牽頭); such tasks are "
                              "marked review:.")
JsonOpt = typer.Option(False, "--json", help="Write JSON (the plan, leftovers and notes) instead of YAML.")


def extract_command(
    file: Path = typer.Argument(..., help="The plan document: .txt (UTF-8 or GBK) or .docx"),
    out: Path | None = OutOpt,
    base_year: int | None = BaseYearOpt,
    part: int | None = PartOpt,
    plan: str | None = PlanOpt,
    as_json: bool = JsonOpt,
    directory: str | None = DirectoryOpt,
    default_unit: str | None = DefaultUnitOpt,
) -> None:
    """Extract the responsibility matrix from a plan document into the plan YAML, for review.

    Every line that could not be placed is listed (stderr, and at the end of the YAML); the exit
    status is 1 when anything was left over, 0 when everything was placed.
    """
    from duban.matrix.errors import DubanError

    try:
        from duban.workflows.matrix_service import extract_document

        result = extract_document(file, base_year=base_year, plan_code=plan, part=part,
                                  limits=settings().input_limits(), default_unit=default_unit)
    except DubanError as err:
        sys.stderr.write(f"duban: error: {err}\n")
        raise typer.Exit(2) from None
    payload = result.to_json() if as_json else result.to_yaml(directory=directory)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(payload, encoding="utf-8")
    else:
        sys.stdout.write(payload)
        sys.stdout.flush()
    err = sys.stderr
    for note in result.notes:  # dates that make no sense for the plan: warnings, never a refusal
        if note.kind == "date":
            sys.stderr.write(f"{file}:{note.line}: warning: {note.text}\n")
    for lo in result.leftovers:
        where = f"{file}:{lo.line}" if lo.line else str(file)
        text = lo.text if len(lo.text) <= 60 else lo.text[:59] + "…"
        err.write(f"{where}: left over: {lo.reason}" + (f" — {text}" if text else "") + "\n")
    tasks = len(result.plan["tasks"])
    stages = len(result.plan["stages"])
    part_text = f" (part {result.part})" if result.part is not None else ""
    target = f" → {out}" if out is not None else ""
    summary = f"extracted {tasks} tasks and {stages} stages from {file}{part_text}{target}"
    if result.leftovers:
        lines = len({lo.line for lo in result.leftovers})
        err.write(f"{summary}; {len(result.leftovers)} left over on {lines} lines: review them, then "
                  "`duban matrix validate`\n")
        raise typer.Exit(1)
    err.write(f"{summary}; every line was placed\n")
