"""The outbox as the office sees it: notices listed and filtered (``duban outbox``), acknowledgements
(簽收), which stop the rest of a notice's series (never its escalation), and previews of how a notice or
circulation will read (``duban notices preview``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from duban.matrix.calendar import WorkCalendar
from duban.matrix.errors import ConfigError, NotFound, Refused
from duban.matrix.policy import PolicySet
from duban.matrix.scoring import ItemFact, ItemLine, Line, Period, ReportFact, ReportLine
from duban.matrix.script import unit_key
from duban.matrix.vocabulary import CIRCULATION_KINDS, NOTICE_KINDS, NoticeKind, Role
from duban.notifications.render import NoticeView, Rendered, Renderer
from duban.notifications.views import letterhead_for, preview_view
from duban.store import repository as repo
from duban.store.db import transaction
from duban.store.files import write_file
from duban.store.tables import EventRow, NoticeRow, PlanRow, TaskHoldRow, TaskRow
from duban.workflows.calendar_service import work_calendar

if TYPE_CHECKING:
    from duban.config.settings import Settings


def _notice_query(q: Any, *, status_: str | None, kind: str | None, plan: str | None, plans: list[str] | None,
                  task: str | None, level: int | None, since: dt.date | None, until: dt.date | None) -> Any:
    if status_:
        q = q.where(NoticeRow.status.in_(status_.split(",")))
    if kind:
        q = q.where(NoticeRow.kind.in_(kind.split(",")))
    if plan:
        q = q.where(PlanRow.code == plan)
    if plans is not None:
        q = q.where(PlanRow.code.in_(plans))
    if task:
        q = q.where(TaskRow.code == task)
    if level is not None:
        q = q.where(NoticeRow.level == level)
    if since:
        q = q.where(NoticeRow.planned_for >= since)
    if until:
        q = q.where(NoticeRow.planned_for <= until)
    return q


def list_notices(engine: Engine, *, status_: str | None = None, kind: str | None = None, plan: str | None = None,
                 task: str | None = None, since: dt.date | None = None, limit: int | None = None,
                 level: int | None = None, until: dt.date | None = None, offset: int = 0,
                 plans: list[str] | None = None) -> list[dict[str, Any]]:
    """Notices oldest first; ``status_``/``kind`` comma-separated, ``since``/``until`` on the day planned,
    ``plans`` the codes a console user may see (None: every plan); ``limit``/``offset`` page them."""
    with transaction(engine) as session:
        q = (sa.select(NoticeRow, PlanRow.code, TaskRow.code, TaskRow.title)
             .join(PlanRow, PlanRow.id == NoticeRow.plan_id).join(TaskRow, TaskRow.id == NoticeRow.task_id))
        q = _notice_query(q, status_=status_, kind=kind, plan=plan, plans=plans, task=task, level=level,
                          since=since, until=until).order_by(NoticeRow.id)
        if offset:
            q = q.offset(offset)
        if limit:
            q = q.limit(limit)
        return [notice_json(n, plan_code, task_code, title) for n, plan_code, task_code, title in session.execute(q).all()]


def count_notices(engine: Engine, *, status_: str | None = None, kind: str | None = None, plan: str | None = None,
                  task: str | None = None, since: dt.date | None = None, level: int | None = None,
                  until: dt.date | None = None, plans: list[str] | None = None) -> int:
    """How many notices ``list_notices`` would list with the same filters and no limit."""
    with transaction(engine) as session:
        q = (sa.select(sa.func.count()).select_from(NoticeRow)
             .join(PlanRow, PlanRow.id == NoticeRow.plan_id).join(TaskRow, TaskRow.id == NoticeRow.task_id))
        q = _notice_query(q, status_=status_, kind=kind, plan=plan, plans=plans, task=task, level=level,
                          since=since, until=until)
        return int(session.execute(q).scalar_one())


def get_notice(engine: Engine, notice_id: int) -> dict[str, Any]:
    """One notice (keys of ``list_notices``); ``NotFound`` naming the id when there is none."""
    with transaction(engine) as session:
        found = session.execute(
            sa.select(NoticeRow, PlanRow.code, TaskRow.code, TaskRow.title).where(NoticeRow.id == notice_id)
            .join(PlanRow, PlanRow.id == NoticeRow.plan_id).join(TaskRow, TaskRow.id == NoticeRow.task_id)).first()
        if found is None:
            raise NotFound(f"no notice {notice_id}")
        return notice_json(*found)


def notice_json(n: NoticeRow, plan_code: str, task_code: str, title: str) -> dict[str, Any]:
    return {
        "id": n.id, "key": n.key, "kind": n.kind, "level": n.level, "plan": plan_code, "task": task_code, "title": title,
        "item": ("m" if n.milestone_id else "i") + str(n.milestone_id or n.instance_id), "due": n.due.isoformat(),
        "days": n.days, "planned_for": n.planned_for.isoformat(), "to": n.recipients, "cc": n.cc, "status": n.status,
        "attempts": n.attempts, "created_at": n.created_at.isoformat(),
        "acknowledged_at": n.acknowledged_at.isoformat() if n.acknowledged_at else None,
        "acknowledged_by": n.acknowledged_by, "sweep": n.sweep_id,
        "reason": held_text(n.last_error) if n.status == "held" else "",
    }


def held_text(reason: str) -> str:
    """Why a notice or message is held, as `duban outbox` and `duban messages` show it: "held: …"."""
    return reason if reason.startswith("held:") else f"held: {reason or 'waiting'}"


def acknowledge(engine: Engine, *, notice_id: int, now: dt.datetime, by: str = "", actor: str | None = None) -> dict[str, Any]:
    """簽收: a recipient confirms a notice; the rest of its series is not sent. Escalation goes on.
    ``by`` is who acknowledged (a unit); ``actor`` who recorded it (the console's user), ``by`` when not given."""
    with transaction(engine) as session:
        n = session.get(NoticeRow, notice_id)
        if n is None:
            raise NotFound(f"no notice {notice_id}")
        if n.acknowledged_at is not None:
            raise Refused(f"notice {notice_id} was already acknowledged on {n.acknowledged_at.date()} by {n.acknowledged_by or 'someone'}")
        n.acknowledged_at = now
        n.acknowledged_by = by
        session.add(EventRow(at=now, kind="notice.acknowledged", plan_id=n.plan_id, task_id=n.task_id,
                             actor=by if actor is None else actor,
                             data={"notice": n.id, "key": n.key, "series": n.series, "by": by}))
        session.flush()
        plan_code = session.get(PlanRow, n.plan_id).code
        task = session.get(TaskRow, n.task_id)
        return notice_json(n, plan_code, task.code, task.title)


# --------------------------------------------------------------------------------------------
# Holding a task's notices (暫停催辦): while held the sweep writes none and delivery plans none


def _hold_json(plan_code: str, task: TaskRow, hold: TaskHoldRow | None) -> dict[str, Any]:
    return {"plan": plan_code, "task": task.code, "title": task.title, "held": hold is not None,
            "held_at": hold.held_at.isoformat() if hold else None, "held_by": hold.held_by if hold else "",
            "reason": hold.reason if hold else ""}


def task_hold(engine: Engine, *, plan: str | None, task: str) -> dict[str, Any]:
    """Whether ``task``'s notices are held: {plan, task, title, held, held_at, held_by, reason}."""
    from duban.workflows.progress_items import _plan, _task

    with transaction(engine) as session:
        plan_row = _plan(session, plan)
        task_row = _task(session, plan_row, task)
        return _hold_json(plan_row.code, task_row, session.get(TaskHoldRow, task_row.id))


def hold_notices(engine: Engine, *, plan: str | None, task: str, now: dt.datetime, actor: str,
                 reason: str = "") -> dict[str, Any]:
    """Hold a task's notices: the sweep writes no notice for it and delivery leaves its pending notices
    unplanned until ``resume_notices`` (messages already built still go). Event ``task.notices_held``."""
    from duban.workflows.progress_items import _plan, _task

    with transaction(engine) as session:
        plan_row = _plan(session, plan)
        task_row = _task(session, plan_row, task)
        hold = session.get(TaskHoldRow, task_row.id)
        if hold is not None:
            raise Refused(f"the notices of task {task_row.code} are already held (since {hold.held_at.date()} "
                          f"by {hold.held_by or 'someone'})")
        hold = TaskHoldRow(task_id=task_row.id, held_at=now, held_by=actor, reason=(reason or "").strip())
        session.add(hold)
        session.add(EventRow(at=now, kind="task.notices_held", plan_id=plan_row.id, task_id=task_row.id, actor=actor,
                             data={"reason": hold.reason}))
        session.flush()
        return _hold_json(plan_row.code, task_row, hold)


def resume_notices(engine: Engine, *, plan: str | None, task: str, now: dt.datetime, actor: str) -> dict[str, Any]:
    """Resume a held task's notices: the next sweep writes what is owed from then on, and delivery sends
    the pending ones. Event ``task.notices_resumed``."""
    from duban.workflows.progress_items import _plan, _task

    with transaction(engine) as session:
        plan_row = _plan(session, plan)
        task_row = _task(session, plan_row, task)
        hold = session.get(TaskHoldRow, task_row.id)
        if hold is None:
            raise Refused(f"the notices of task {task_row.code} are not held")
        session.add(EventRow(at=now, kind="task.notices_resumed", plan_id=plan_row.id, task_id=task_row.id, actor=actor,
                             data={"held_at": hold.held_at.isoformat(), "held_by": hold.held_by, "reason": hold.reason}))
        session.delete(hold)
        session.flush()
        return _hold_json(plan_row.code, task_row, None)


def held_tasks(engine: Engine, *, plans: list[str] | None = None) -> list[dict[str, Any]]:
    """Tasks whose notices are held, oldest hold first (``plans``: only these plan codes)."""
    with transaction(engine) as session:
        q = (sa.select(TaskHoldRow, TaskRow, PlanRow.code).join(TaskRow, TaskRow.id == TaskHoldRow.task_id)
             .join(PlanRow, PlanRow.id == TaskRow.plan_id).order_by(TaskHoldRow.held_at))
        if plans is not None:
            q = q.where(PlanRow.code.in_(plans))
        return [_hold_json(code, task, hold) for hold, task, code in session.execute(q).all()]


# --------------------------------------------------------------------------------------------
# Preview (``duban notices preview``): how a notice or circulation will read, written nowhere


def preview(engine: Engine, policies: PolicySet, renderer: Renderer, *, kind: str, task: str, today: dt.date,
            plan: str | None = None, level: int | None = None, unit: str | None = None,
            calendar: WorkCalendar | None = None, notes: list[str] | None = None) -> Rendered:
    """One notice (reminder, chase, escalation) for ``task`` as the sweep on ``today`` would write it, or a
    sample circulation (criticism, praise) about its lead unit (or ``unit``), rendered; reads only.

    The notice comes from the planner (``notifications.views.preview_view``); ``unit`` picks the copy
    that unit gets (主送, or the 抄送 copy of a supporting unit). A circulation states the task's facts
    as the weekly report words them (``_lines.j2``): for a criticism its item overdue as of ``today``
    and its progress report missing, for praise its progress reported on ``today``. An escalation without
    ``level`` is the level the item's overdue working days reach on ``today`` (``notes`` says when none is).
    """
    if kind not in NOTICE_KINDS + CIRCULATION_KINDS:
        raise ConfigError(f"unknown kind {kind!r}: use {', '.join(NOTICE_KINDS + CIRCULATION_KINDS)}")
    cal = calendar or work_calendar(engine)  # the office's, as the sweep counts
    with transaction(engine) as session:
        view_kind = kind if kind in NOTICE_KINDS else (NoticeKind.CHASE if kind == NoticeKind.CRITICISM else NoticeKind.REMINDER)
        view = preview_view(session, kind=view_kind, task=task, plan=plan, today=today, level=level,
                            policies=policies, calendar=cal, notes=notes)
        letterhead = letterhead_for(session, today, plan=view.plan_code)
        unit_name = repo.find_unit(session, unit, view.plan_code).name if unit else None
        session.rollback()  # a preview reads only
    if kind in CIRCULATION_KINDS:
        who = unit_name or view.lead_unit
        monday = today - dt.timedelta(days=today.weekday())
        period = Period(monday, monday + dt.timedelta(days=4))  # the working week around today
        facts = [renderer.fact(line, points=False) for line in _sample_facts(kind, view, today)]
        return renderer.circulation(kind, who, facts, letterhead=letterhead, rectify_by=cal.add_working_days(today, 5),
                                    period=str(renderer.macros("_lines.j2").week(period.start, period.end)))
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


def _sample_facts(kind: str, view: NoticeView, today: dt.date) -> list[Line]:
    """A sample circulation's facts about the previewed item, as scoring lines (worded by ``_lines.j2``)."""
    ref = "i0" if view.done_count is not None else "m0"  # a period of a recurring obligation, or a milestone
    item = ItemFact(view.task_code, view.task_title, ref, view.due, label=view.label, quantity=view.quantity,
                    done=view.done_quantity, measure=view.measure, overdue=kind == NoticeKind.CRITICISM,
                    overdue_days=view.days if kind == NoticeKind.CRITICISM else 0)
    report = ReportFact(view.task_code, view.task_title, "missing" if kind == NoticeKind.CRITICISM else "sent",
                        on=today, done=view.done_quantity, quantity=view.quantity, measure=view.measure)
    if kind == NoticeKind.CRITICISM:
        return [ItemLine("overdue", Role.LEAD, view.task_code, view.task_title, item=item),
                ReportLine("missing_report", Role.LEAD, view.task_code, view.task_title, report=report)]
    return [ReportLine("reported", Role.LEAD, view.task_code, view.task_title, report=report)]


def renderer_in(language: str, settings: Settings) -> Renderer:
    """A renderer in another language than the settings' (``--lang``), the office's templates first."""
    return Renderer(language=language, override_dir=Path(settings.config_dir) / "templates")


def save_preview(path: Path, text: str) -> None:
    """Write a preview to a file (with duban's file mode)."""
    write_file(path, text)
