"""The ``duban notices`` commands: see how a notice or circulation reads before anything is sent.

Registered on the main app by ``workflows.cli``. Only typer, the standard library and the vocabulary are imported
here (``duban --help`` stays fast); the store, the planner and the renderer are imported inside the
command, as are the helpers of ``workflows.cli_common`` (settings, engine, policies, now_for).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from duban.matrix.vocabulary import CIRCULATION_KINDS, NOTICE_KINDS  # enums only: `duban --help` stays fast

notices_app = typer.Typer(help="Preview notices (提醒, 催辦, 督辦) and circulations (通報批評, 通報表揚) as they will be sent.",
                          no_args_is_help=True)


@notices_app.command("preview")
def preview(
    kind: str = typer.Argument(..., help="reminder | chase | escalation | criticism | praise"),
    task: str = typer.Option(..., "--task", "-t", help="Task code, e.g. 3.2.1"),
    plan: Optional[str] = typer.Option(None, "--plan", "-p", help="Plan code (default: the only plan)."),
    as_of: Optional[dt.datetime] = typer.Option(None, "--as-of", help="Render as if today were this date (YYYY-MM-DD)."),
    level: int = typer.Option(1, "--level", "-l", help="Escalation level (1 藍, 2 橙, 3 紅)."),
    unit: Optional[str] = typer.Option(None, "--unit", "-u",
                                       help="Render the copy this unit gets (a supporting unit gets the 抄送 copy); "
                                            "for criticism/praise the unit circulated (default: the lead unit)."),
    lang: Optional[str] = typer.Option(None, "--lang", help="zh-Hans | zh-Hant | en (default: DUBAN_LANGUAGE)."),
    fmt: str = typer.Option("text", "--format", "-f", help="text | html"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the text or HTML to this file."),
) -> None:
    """Render one notice for a task as of a date, from the stored plan; writes nothing to the database."""
    from duban.matrix.errors import ConfigError

    if kind not in NOTICE_KINDS + CIRCULATION_KINDS:
        raise ConfigError(f"unknown kind {kind!r}: use {', '.join(NOTICE_KINDS + CIRCULATION_KINDS)}")
    if fmt not in ("text", "html"):
        raise typer.BadParameter(f"unknown format {fmt!r}; use text or html", param_hint="--format")

    from duban.notifications.render import Renderer
    from duban.workflows.cli_common import engine, now_for, policies, settings

    s = settings()
    renderer = Renderer(language=lang or s.language, override_dir=s.config_dir / "templates")
    today = now_for(as_of).date()
    rendered = _render(renderer, engine(), policies(), kind=kind, task=task, plan=plan, today=today, level=level, unit=unit)
    body = rendered.html if fmt == "html" else rendered.text
    if out is not None:
        from duban.store.files import write_file

        write_file(out, body)
        sys.stderr.write(f"wrote {out} ({rendered.subject})\n")
        return
    sys.stdout.write(body if fmt == "html" else f"Subject: {rendered.subject}\n\n{body}")


def _render(renderer: Any, eng: Any, policy_set: Any, *, kind: str, task: str, plan: Optional[str], today: dt.date,
            level: int, unit: Optional[str]) -> Any:
    from dataclasses import replace

    from duban.matrix.calendar import WorkCalendar
    from duban.matrix.errors import Refused
    from duban.matrix.script import unit_key
    from duban.notifications.views import letterhead_for, preview_view
    from duban.store import repository as repo
    from duban.store.db import transaction

    cal = WorkCalendar()
    with transaction(eng) as session:
        view_kind = kind if kind in NOTICE_KINDS else ("chase" if kind == "criticism" else "reminder")
        view = preview_view(session, kind=view_kind, task=task, plan=plan, today=today, level=level,
                            policies=policy_set, calendar=cal)
        letterhead = letterhead_for(session, today, plan=view.plan_code)
        unit_name = repo.find_unit(session, unit).name if unit else None
        session.rollback()  # a preview reads only
    if kind in CIRCULATION_KINDS:
        who = unit_name or view.lead_unit
        return renderer.circulation(kind, who, _facts(kind, view, who, renderer.language, today), letterhead=letterhead,
                                    rectify_by=cal.add_working_days(today, 5), period=_week(today, renderer.language))
    recipient = view.to[0]
    if unit_name is not None:
        key = unit_key(unit_name)
        to = [r for r in view.to if unit_key(r.name) == key]
        cc = [r for r in view.cc if unit_key(r.name) == key]
        if to:
            recipient = to[0]
        elif cc:
            recipient, view = cc[0], replace(view, is_cc=True)
        else:
            names = "、".join(r.name for r in (*view.to, *view.cc))
            raise Refused(f"{unit_name} receives no {kind} for task {task} (it goes to {names})")
    return renderer.notice(view, recipient, letterhead=letterhead)


def _facts(kind: str, view: Any, unit: str, language: str, today: dt.date) -> list[str]:
    """A couple of facts about the task for a sample circulation, in the renderer's language."""
    from duban.notifications.render import chinese_date, english_date, quantity

    task = f"{view.task_code} {view.task_title}"
    deadline = view.label or ""
    if language == "en":
        done = (f"{quantity(view.done_quantity or 0)} of {quantity(view.quantity)} {view.measure or ''} done".strip()
                if view.quantity is not None else "no progress report filed")
        if kind == "criticism":
            return [f"item “{task}” (deadline “{deadline}”, {english_date(view.due)}) is "
                    f"{view.days} working days overdue as of {english_date(today)} and still open", done]
        return [f"item “{task}” (deadline “{deadline}”, {english_date(view.due)}) is on schedule", done]
    done = (f"目标{quantity(view.quantity)}{view.measure or ''}，已完成{quantity(view.done_quantity or 0)}{view.measure or ''}"
            if view.quantity is not None else "未按要求报送办理进展情况")
    if kind == "criticism":
        return [f"牵头负责的第{view.task_code}项“{view.task_title}”工作，时间要求为“{deadline}”（{chinese_date(view.due)}），"
                f"截至{chinese_date(today)}已逾期{view.days}个工作日，仍未办结", done]
    return [f"牵头负责的第{view.task_code}项“{view.task_title}”工作按照时间要求“{deadline}”有序推进", done]


def _week(today: dt.date, language: str) -> str:
    """The working week around ``today`` (Monday to Friday), as a circulation's period."""
    from duban.notifications.render import chinese_date, english_date

    monday = today - dt.timedelta(days=today.weekday())
    friday = monday + dt.timedelta(days=4)
    if language == "en":
        return f"{english_date(monday)} – {english_date(friday)}"
    return f"{chinese_date(monday)}至{friday.month}月{friday.day}日"
