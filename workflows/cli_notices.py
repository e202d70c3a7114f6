"""The ``duban notices`` commands: see how a notice or circulation reads before anything is sent.

Registered on the main app by ``workflows.cli``. Only typer, the standard library and the vocabulary are imported
here (``duban --help`` stays fast); the store, the planner and the renderer are imported inside the
command, as are the helpers of ``workflows.cli_common`` (settings, engine, policies, now_for) but its
``day_option``, which the options need.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import typer

from duban.matrix.vocabulary import CIRCULATION_KINDS, NOTICE_KINDS  # enums only: `duban --help` stays fast
from duban.workflows.cli_common import day_option  # standard library only at its module level

notices_app = typer.Typer(help="Preview notices (提醒, 催辦, 督辦) and circulations (通報批評, 通報表揚) as they will be sent.",
                          no_args_is_help=True)


@notices_app.command("preview")
def preview(
    kind: str = typer.Argument(..., help="reminder | chase | escalation | criticism | praise"),
    task: str = typer.Option(..., "--task", "-t", help="Task code, e.g. 3.2.1"),
    plan: str | None = typer.Option(None, "--plan", "-p", help="Plan code (default: the only plan)."),
    as_of: dt.datetime | None = day_option("--as-of", "Render as if today were this date (YYYY-MM-DD)."),
    level: int | None = typer.Option(None, "--level", "-l",
                                     help="Escalation level (1 藍, 2 橙, 3 紅); default: the level the item's "
                                          "overdue working days reach on the --as-of day."),
    unit: str | None = typer.Option(None, "--unit", "-u",
                                       help="Render the copy this unit gets (a supporting unit gets the 抄送 copy); "
                                            "for criticism/praise the unit circulated (default: the lead unit)."),
    lang: str | None = typer.Option(None, "--lang", help="zh-Hans | zh-Hant | en (default: DUBAN_LANGUAGE)."),
    fmt: str = typer.Option("text", "--format", "-f", help="text | html"),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the text or HTML to this file."),
) -> None:
    """Render one notice for a task as of a date, from the stored plan; writes nothing to the database."""
    from duban.matrix.errors import ConfigError

    if kind not in NOTICE_KINDS + CIRCULATION_KINDS:
        raise ConfigError(f"unknown kind {kind!r}: use {', '.join(NOTICE_KINDS + CIRCULATION_KINDS)}")
    if fmt not in ("text", "html"):
        raise typer.BadParameter(f"unknown format {fmt!r}; use text or html", param_hint="--format")

    from duban.workflows.cli_common import app, now_for
    from duban.workflows.notice_service import preview as preview_notice
    from duban.workflows.notice_service import renderer_in, save_preview

    a = app()
    renderer = a.renderer if lang in (None, a.settings.language) else renderer_in(lang, a.settings)
    today = now_for(as_of).date()
    notes: list[str] = []
    rendered = preview_notice(a.engine, a.policies, renderer, kind=kind, task=task, plan=plan, today=today,
                              level=level, unit=unit, calendar=a.calendar, notes=notes)
    for note in notes:
        sys.stderr.write(f"note: {note}\n")
    body = rendered.html if fmt == "html" else rendered.text
    if out is not None:
        save_preview(out, body)
        sys.stderr.write(f"wrote {out} ({rendered.subject})\n")
        return
    sys.stdout.write(body if fmt == "html" else f"Subject: {rendered.subject}\n\n{body}")
