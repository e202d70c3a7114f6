"""From stored notices to ``NoticeView``s: everything a template shows, read with a few set-based queries.

``build_views(session, ids)`` reads the notices, their tasks and plans, their milestones or recurrence
periods, the tasks' supporting units and lead officials, and the units and officials the notices are
addressed to — one query per table for any number of notices (in chunks for very long id lists), never
one per notice. ``letterhead_for`` gives the sending office's header for a day.

A view's ``planned_for`` is the notice's date: the day it was planned for, or — when a sweep caught up
after downtime and wrote it later — the sweep's day, the day its ``days`` were counted to. A chase or
escalation asks for an answer ``RESPOND_WORKING_DAYS`` working days after that date (``required_by``);
a reminder asks for the work by its due date.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from duban.matrix.calendar import WorkCalendar
from duban.matrix.errors import NotFound
from duban.matrix.reporting import ongoing_label
from duban.matrix.vocabulary import (
    CLOSING_KINDS,
    LEVEL_COLOURS,
    NOTICE_KINDS,
    PART_KINDS,
    ItemKind,
    NoticeKind,
    RecipientRole,
)
from duban.notifications.recipients import PlanRoles, UnitIndex, plan_rows
from duban.notifications.render import ClosingFacts, Letterhead, NoticeView, PartFacts, RecipientView
from duban.store.tables import (
    TASK_UNIT_CO_LEAD,
    MilestoneRow,
    NoticeRow,
    OfficialRow,
    PlanRow,
    RecurrenceInstanceRow,
    RecurrenceRow,
    SweepRow,
    TaskOfficialRow,
    TaskRow,
    TaskUnitRow,
    UnitRow,
)

RESPOND_WORKING_DAYS = 3  # a chase or escalation asks for a written answer within this many working days
_CHUNK = 5000  # ids per IN (…) list: well under SQLite's and PostgreSQL's bound-parameter limits


def _chunks(values: Iterable[Any]) -> list[list[Any]]:
    items = sorted(set(v for v in values if v is not None))
    return [items[i:i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def _rows(session: Session, query: sa.Select, column: Any, values: Iterable[Any]) -> list[Any]:
    """``query`` restricted to ``column IN values``, run once per chunk of values."""
    out: list[Any] = []
    conn = session.connection()
    for chunk in _chunks(values):
        out.extend(conn.execute(query.where(column.in_(chunk))).all())
    return out


def _dec(v: Any) -> Decimal | None:
    return v if v is None or isinstance(v, Decimal) else Decimal(str(v))


def _colour(ladder: list | None, level: int) -> str:
    """The colour of an escalation level as the item's frozen ladder names it, else the default 藍/橙/紅."""
    for step in ladder or ():
        if isinstance(step, dict) and int(step.get("level", -1)) == level and step.get("colour"):
            return str(step["colour"])
    return LEVEL_COLOURS.get(level, "")


def _official_label(name: str, title: str) -> str:
    return f"{name}({title})" if title else name


class _People:
    """Units and officials as RecipientViews, for the 主送 / 抄送 lines."""

    def __init__(self, units: Sequence[Any], officials: Sequence[Any], plans: Sequence[Any] = ()) -> None:
        self.index = UnitIndex(units)
        self.by_id = self.index.by_id
        self.office = next((u for u in sorted(units, key=lambda u: u.id) if u.is_office), None)
        self.officials = {o.name: o for o in officials}
        self.top_leader = next((o for o in sorted(officials, key=lambda o: o.id) if o.is_top_leader), None)
        self.roles = PlanRoles(plans, self.by_id, {o.id: o for o in officials}, self.office, self.top_leader)

    def issuer(self, plan: Any) -> str:
        """The plan's issuer, else the name of the office running it."""
        office = self.roles.of(plan.id)[0]
        return plan.issuer or (office.name if office else "")

    def _unit(self, name: str, plan_id: int | None = None):
        return self.index.find(name, plan_id)

    def view(self, role: str, name: str, plan_id: int | None = None) -> RecipientView:
        if role == RecipientRole.UNIT:
            u = self._unit(name, plan_id)
            return RecipientView(name=u.name if u else name, email=(u.emails[0] if u and u.emails else ""), role=role)
        if role == RecipientRole.UNIT_HEAD:
            u = self._unit(name, plan_id)
            if u is None:
                return RecipientView(name=name, title="主要負責同志", role=role)
            return RecipientView(name=u.name, title=u.head_title or "主要負責同志", email=u.head_email, role=role)
        if role == RecipientRole.OFFICIAL:
            o = self.officials.get(name)
            return RecipientView(name=name, title=o.title if o else "", email=o.email if o else "", role=role)
        if role in (RecipientRole.OFFICE, RecipientRole.OFFICE_HEAD):
            o = self.roles.of(plan_id)[0]
            office_name = o.name if o else "領導小組辦公室"
            if role == RecipientRole.OFFICE:
                return RecipientView(name=office_name, email=(o.emails[0] if o and o.emails else ""), role=role)
            return RecipientView(name=office_name, title=(o.head_title if o and o.head_title else "主任"),
                                 email=o.head_email if o else "", role=role)
        if role == RecipientRole.TOP_LEADER:
            t = self.roles.of(plan_id)[1]
            if t is None:
                return RecipientView(name=name or "主要領導", role=role)
            return RecipientView(name=t.name, title=t.title, email=t.email, role=role)
        return RecipientView(name=name or role, role=role)

    def views(self, people: list[dict[str, str]], plan_id: int | None = None) -> tuple[RecipientView, ...]:
        return tuple(self.view(p.get("role", RecipientRole.UNIT), p.get("name", ""), plan_id) for p in people or ())


def _task_people(session: Session, task_ids: Iterable[int]) -> tuple[dict[int, list[str]], dict[int, list[str]],
                                                                    dict[int, list[str]]]:
    """Supporting units (names), lead officials ("林光(區人民政府副區長)") and co-lead units of each task,
    in plan order."""
    supporting: dict[int, list[str]] = defaultdict(list)
    co_leads: dict[int, list[str]] = defaultdict(list)
    for task_id, role, _, name in sorted(_rows(
            session, sa.select(TaskUnitRow.task_id, TaskUnitRow.role, TaskUnitRow.position, UnitRow.name)
            .join(UnitRow, UnitRow.id == TaskUnitRow.unit_id), TaskUnitRow.task_id, task_ids)):
        (co_leads if role == TASK_UNIT_CO_LEAD else supporting)[task_id].append(name)
    officials: dict[int, list[str]] = defaultdict(list)
    for task_id, _, name, task_title, title in sorted(_rows(
            session, sa.select(TaskOfficialRow.task_id, TaskOfficialRow.position, OfficialRow.name, TaskOfficialRow.title,
                               OfficialRow.title).join(OfficialRow, OfficialRow.id == TaskOfficialRow.official_id),
            TaskOfficialRow.task_id, task_ids)):
        officials[task_id].append(_official_label(name, task_title or title))
    return supporting, officials, co_leads


def _directory(session: Session) -> _People:
    """The whole directory, units and officials: small beside the notices, and one query each."""
    u, o = UnitRow, OfficialRow
    conn = session.connection()
    units = conn.execute(sa.select(u.id, u.name, u.key, u.aliases, u.member_of, u.plan_id, u.emails, u.head_title,
                                   u.head_email, u.is_office).order_by(u.id)).all()
    officials = conn.execute(sa.select(o.id, o.name, o.title, o.email, o.is_top_leader)).all()
    return _People(units, officials, plan_rows(session))


def build_views(session: Session, notice_ids: list[int], *, calendar: WorkCalendar | None = None) -> dict[int, NoticeView]:
    """The NoticeView of every notice in ``notice_ids`` (by id). Raises NotFound for an unknown id."""
    cal = calendar or WorkCalendar()
    n = NoticeRow
    notices = _rows(session, sa.select(n.id, n.key, n.kind, n.level, n.plan_id, n.task_id, n.milestone_id, n.instance_id,
                                       n.due, n.days, n.planned_for, n.sweep_id, n.recipients, n.cc, n.data), n.id, notice_ids)
    missing = set(notice_ids) - {r.id for r in notices}
    if missing:
        raise NotFound(f"no notice {', '.join(map(str, sorted(missing)))}")
    if not notices:
        return {}

    task_ids = {r.task_id for r in notices}
    sweep_days = dict(_rows(session, sa.select(SweepRow.id, SweepRow.as_of), SweepRow.id, {r.sweep_id for r in notices}))
    tasks = {r.id: r for r in _rows(session, sa.select(TaskRow.id, TaskRow.code, TaskRow.title, TaskRow.target,
                                                       TaskRow.lead_unit_id), TaskRow.id, task_ids)}
    plans = {r.id: r for r in _rows(session, sa.select(PlanRow.id, PlanRow.code, PlanRow.title, PlanRow.issuer),
                                     PlanRow.id, {r.plan_id for r in notices})}
    m = MilestoneRow
    milestones = {r.id: r for r in _rows(session, sa.select(m.id, m.quantity, m.measure, m.label, m.done_quantity, m.ladder),
                                         m.id, {r.milestone_id for r in notices})}
    i, rec = RecurrenceInstanceRow, RecurrenceRow
    instances = {r.id: r for r in _rows(session, sa.select(i.id, i.done_count, i.done_amount, rec.min_count, rec.min_amount,
                                                           rec.amount_unit, rec.label, i.ladder, rec.ongoing, rec.freq,
                                                           rec.rule)
                                        .join(rec, rec.id == i.recurrence_id), i.id, {r.instance_id for r in notices})}
    supporting, officials, co_leads = _task_people(session, task_ids)

    people = _directory(session)
    units = people.by_id

    out: dict[int, NoticeView] = {}
    for r in notices:
        task, plan = tasks[r.task_id], plans[r.plan_id]
        ladder, label, measures = _item_measures(r, milestones, instances)
        # A sweep that catches up after downtime writes a notice later than planned (an escalation
        # planned for 07-15 written on 12-04); its ``days`` are counted to the sweep's day, so that day
        # is the notice's date, and the answer is due 3 working days after it, not in the past.
        issued = max(r.planned_for, sweep_days.get(r.sweep_id) or r.planned_for)
        closing = r.kind in CLOSING_KINDS  # the office's answer to a closing request: asks for the work by its due date
        part = r.kind in PART_KINDS  # a refused part's notice: the work is still due by the item's date
        required_by = r.due if r.kind == NoticeKind.REMINDER or closing or part else cal.add_working_days(issued, RESPOND_WORKING_DAYS)
        out[r.id] = NoticeView(
            notice_id=r.id, key=r.key, kind=r.kind, level=r.level,
            colour=_colour(ladder, r.level) if r.kind == NoticeKind.ESCALATION else "",
            plan_code=plan.code, plan_title=plan.title, issuer=people.issuer(plan),
            task_code=task.code, task_title=task.title, target=task.target or "",
            lead_unit=units[task.lead_unit_id].name if task.lead_unit_id in units else "",
            supporting_units=tuple(supporting[task.id]), lead_officials=tuple(officials[task.id]),
            co_lead_units=tuple(co_leads[task.id]), label=label or "", due=r.due, days=r.days, **measures, required_by=required_by, planned_for=issued,
            to=people.views(r.recipients, r.plan_id), cc=people.views(r.cc, r.plan_id), due_working=cal.is_working_day(r.due),
            closing=closing_facts(r.data) if closing else None, part=part_facts(r.data) if part else None,
        )
    return out


def closing_facts(data: dict[str, Any] | None) -> ClosingFacts:
    """A closing notice's request and decision from its stored ``data["closing"]``
    (``workflows.closing_service`` writes it when the office decides)."""
    c = (data or {}).get("closing") or {}
    return ClosingFacts(
        request_id=int(c.get("request", 0)), unit=str(c.get("unit", "")),
        requested_on=dt.date.fromisoformat(c["requested_on"]), requested_by=str(c.get("requested_by", "")),
        note=str(c.get("note", "")), files=tuple(str(f) for f in c.get("files", ())),
        decided_on=dt.date.fromisoformat(c["decided_on"]), decided_by=str(c.get("decided_by", "")),
        decision=str(c.get("decision", "")))


def part_facts(data: dict[str, Any] | None) -> PartFacts:
    """A part notice's report and refusal from its stored ``data["part"]`` (``workflows.progress_acceptance``
    writes it when the part is refused)."""
    p = (data or {}).get("part") or {}
    return PartFacts(
        report_id=int(p.get("report", 0)), unit=str(p.get("unit", "")),
        reported_on=dt.date.fromisoformat(p["reported_on"]), reported_by=str(p.get("reported_by", "")),
        done=str(p.get("done", "")), note=str(p.get("note", "")), files=tuple(str(f) for f in p.get("files", ())),
        decided_on=dt.date.fromisoformat(p["decided_on"]), decided_by=str(p.get("decided_by", "")),
        reason=str(p.get("reason", "")))


def _item_measures(r: Any, milestones: dict[int, Any], instances: dict[int, Any]) -> tuple[Any, str, dict[str, Any]]:
    """A notice's item: its escalation ladder, its label, and what it asks for and has done (a milestone's
    quantity and measure, or a period's minimum count or amount)."""
    measures: dict[str, Any] = dict(quantity=None, measure=None, done_quantity=None, min_count=None, done_count=None,
                                    min_amount=None, done_amount=None, amount_unit=None, ongoing=False)
    label = (r.data or {}).get("label", "")
    if r.milestone_id is not None and r.milestone_id in milestones:
        ms = milestones[r.milestone_id]
        measures.update(quantity=_dec(ms.quantity), measure=ms.measure, done_quantity=_dec(ms.done_quantity))
        return ms.ladder, ms.label or label, measures
    if r.instance_id is not None and r.instance_id in instances:
        inst = instances[r.instance_id]
        measures.update(min_count=inst.min_count, done_count=inst.done_count or 0, min_amount=_dec(inst.min_amount),
                        done_amount=_dec(inst.done_amount), amount_unit=inst.amount_unit, ongoing=bool(inst.ongoing))
        shown = ongoing_label(inst.label or label, inst.freq, inst.rule) if inst.ongoing else inst.label or label
        return inst.ladder, shown, measures
    return None, label, measures


def letterhead_for(session: Session, today: dt.date, *, plan: str | None = None) -> Letterhead:
    """The sending office's header for ``today``: ``plan``'s issuer when given, else the office unit's
    name, else the first plan's issuer."""
    conn = session.connection()
    issuer = None
    if plan is not None:
        issuer = conn.execute(sa.select(PlanRow.issuer).where(PlanRow.code == plan)).scalar()
    if not issuer:
        issuer = conn.execute(sa.select(UnitRow.name).where(UnitRow.is_office.is_(True)).order_by(UnitRow.id).limit(1)).scalar()
    if not issuer:
        issuer = conn.execute(sa.select(PlanRow.issuer).where(PlanRow.issuer != "").order_by(PlanRow.id).limit(1)).scalar()
    return Letterhead(issuer=issuer or "", date=today)


# --------------------------------------------------------------------------------------------
# Preview: a view of a notice that was never written (``duban notices preview``)


def preview_view(session: Session, *, kind: str, task: str, today: dt.date, policies: Any, plan: str | None = None,
                 level: int | None = None, calendar: WorkCalendar | None = None,
                 notes: list[str] | None = None) -> NoticeView:
    """The NoticeView of the notice a sweep would write for ``task``'s first open milestone, read-only.

    A task with no open milestone uses its first recurring obligation: the next open period due
    (reminder) or the last one past (chase, escalation), with its approved extension. The item is
    read as the sweep reads it (``store.supervision.load_open_items``) and the notice — recipients,
    copies, series, level and colour — comes from the planner (``matrix.planner.preview_notice``),
    so a preview and the notice a sweep writes never disagree; only the day is the one asked for.
    An escalation without ``level`` is the level the item's overdue working days reach on ``today``
    (level 1 when none is reached yet, said in ``notes``).
    """
    from duban.matrix.errors import ConfigError
    from duban.matrix.planner import ladder_of, level_colour, preview_notice
    from duban.store import repository as repo
    from duban.store.supervision import office_calendar

    if kind not in NOTICE_KINDS:
        raise ConfigError(f"unknown notice kind {kind!r}: use {', '.join(NOTICE_KINDS)}")
    cal = calendar or office_calendar(session)
    plan_row = repo.plan_row(session, plan)
    row = session.execute(sa.select(TaskRow).where(TaskRow.plan_id == plan_row.id, TaskRow.code == task,
                                                   TaskRow.archived_at.is_(None))).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no task {task!r} in plan {plan_row.code}")
    supervised = _preview_item(session, row, plan_row.code, kind=kind, today=today, calendar=cal)
    policy = policies.for_task(plan_row.code, row.code)
    if level is None:
        level = reached_level(supervised.item, policy, today, cal, notes) if kind == NoticeKind.ESCALATION else 1
    try:
        planned = preview_notice(kind, supervised.item, supervised.task, today, cal, policy, level=level)
    except LookupError as e:
        raise ConfigError(f"{e} in the policy for task {task}") from None
    _, officials, _ = _task_people(session, [row.id])
    item = supervised.item
    people = _directory(session)
    return NoticeView(
        notice_id=0, key=f"preview:{kind}:{plan_row.code}:{row.code}", kind=planned.kind, level=planned.level,
        colour=level_colour(planned.level, ladder_of(item, policy)) if planned.kind == NoticeKind.ESCALATION else "",
        plan_code=plan_row.code, plan_title=plan_row.title, issuer=people.issuer(plan_row),
        task_code=row.code, task_title=row.title, target=row.target or "", lead_unit=supervised.task.lead_unit,
        supporting_units=supervised.task.supporting_units, lead_officials=tuple(officials[row.id]),
        co_lead_units=supervised.task.co_lead_units,
        label=supervised.label, due=planned.due, days=planned.days, ongoing=supervised.ongoing,
        quantity=item.quantity, measure=item.measure if item.kind == ItemKind.MILESTONE else None,
        done_quantity=item.done_quantity if item.kind == ItemKind.MILESTONE else None,
        min_count=item.min_count, done_count=item.done_count if item.kind == ItemKind.INSTANCE else None,
        min_amount=item.min_amount, done_amount=item.done_amount,
        amount_unit=item.measure if item.kind == ItemKind.INSTANCE else None,
        required_by=planned.due if kind == NoticeKind.REMINDER else cal.add_working_days(today, RESPOND_WORKING_DAYS),
        planned_for=today, to=people.views([{"role": r, "name": n} for r, n in planned.recipients], plan_row.id),
        cc=people.views([{"role": r, "name": n} for r, n in planned.cc], plan_row.id),
        due_working=cal.is_working_day(planned.due),
    )


def reached_level(item: Any, policy: Any, today: dt.date, cal: WorkCalendar, notes: list[str] | None = None) -> int:
    """The highest escalation level of the item's ladder that its overdue working days reach on ``today``;
    the first level when none is reached yet (and a note that says so)."""
    from duban.matrix.planner import ladder_of

    ladder = sorted(ladder_of(item, policy), key=lambda s: s.level)
    if not ladder:
        return 1
    overdue = max(cal.working_days_between(item.due, today), 0) if today > item.due else 0
    reached = [s for s in ladder if s.after <= overdue]
    if reached:
        return reached[-1].level
    if notes is not None:
        first = ladder[0]
        days = f"{overdue} working day{'' if overdue == 1 else 's'}"
        notes.append(f"escalation level {first.level} is not reached yet on {today.isoformat()}: the item is {days} "
                     f"overdue (due {item.due.isoformat()}), level {first.level} comes after {first.after}; "
                     f"previewing level {first.level}")
    return ladder[0].level


def _preview_item(session: Session, task: TaskRow, plan_code: str, *, kind: str, today: dt.date,
                  calendar: WorkCalendar) -> Any:
    """The item a preview is about, as the sweep loads it: the task's first open milestone, else the
    open period of its first recurring obligation due next (reminder) or last past (chase, escalation).
    A period the sweep has not created yet is made from the obligation's rule, as the sweep will."""
    from dataclasses import replace

    from duban.matrix.deadlines import instances as recurrence_dues
    from duban.matrix.planner import Item, SupervisedItem
    from duban.store.supervision import _recurrence, load_open_items

    items = load_open_items(session, plan_code=plan_code, task_ids=[task.id], as_of=today)
    milestones = [o for o in items if o.item.kind == ItemKind.MILESTONE]
    if milestones:
        return milestones[0]
    rec = session.execute(sa.select(RecurrenceRow).where(RecurrenceRow.task_id == task.id, RecurrenceRow.archived_at.is_(None))
                          .order_by(RecurrenceRow.seq).limit(1)).scalar_one_or_none()
    if rec is None:
        raise NotFound(f"task {task.code} of plan {plan_code} has no open milestone and no recurring obligation")
    stored = {r.id: r.due for r in session.execute(sa.select(RecurrenceInstanceRow.id, RecurrenceInstanceRow.due)
                                                   .where(RecurrenceInstanceRow.recurrence_id == rec.id)).all()}
    periods = [o for o in items if o.item.kind == ItemKind.INSTANCE and o.item.id in stored]
    # Periods not created yet (beyond the horizon, or before any sweep) come from the rule, as the sweep makes them.
    window = recurrence_dues(_recurrence(rec), today - dt.timedelta(days=400), today + dt.timedelta(days=400), calendar)
    info = SupervisedItem(Item(kind=ItemKind.INSTANCE, id=0, due=today, min_count=rec.min_count,
                               min_amount=_dec(rec.min_amount), measure=rec.amount_unit),
                          task.plan_id, plan_code, task.id, _task_info(session, task), task.title,
                          ongoing_label(rec.label or "", rec.freq, rec.rule) if rec.ongoing else rec.label or "", rec.ongoing)
    periods += [replace(info, item=replace(info.item, due=d)) for d in window if d not in set(stored.values())]
    periods.sort(key=lambda o: o.item.due)
    candidates = ([o for o in periods if o.item.due >= today] if kind == NoticeKind.REMINDER
                  else [o for o in periods if o.item.due < today][::-1])
    if not candidates:
        raise NotFound(f"task {task.code}: no period of {rec.label or rec.freq!r} is due around {today}")
    return candidates[0]


def _task_info(session: Session, task: TaskRow) -> Any:
    from duban.matrix.planner import TaskInfo

    assert task.id is not None  # a stored row
    supporting, _, co_leads = _task_people(session, [task.id])
    officials = [name for (name,) in session.execute(
        sa.select(OfficialRow.name).join(TaskOfficialRow, TaskOfficialRow.official_id == OfficialRow.id)
        .where(TaskOfficialRow.task_id == task.id).order_by(TaskOfficialRow.position))]
    lead = session.get(UnitRow, task.lead_unit_id)
    return TaskInfo(code=task.code, lead_unit=lead.name if lead else "", supporting_units=tuple(supporting[task.id]),
                    lead_officials=tuple(officials), co_lead_units=tuple(co_leads[task.id]))
