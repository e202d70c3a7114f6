"""Supervised items in the database: milestones and recurrence instances, read together for the engine.

A recurring obligation (每月…不少於1次) becomes one ``recurrence_instance`` row per period, created here
as periods come within reach (``ensure_instances``); from then on it is supervised like a milestone.
``load_open_items`` reads both as ``matrix.planner.SupervisedItem``s — what the sweep plans for,
``status`` lights and ``notices preview`` renders — with a few set-based queries.
"""

from __future__ import annotations

import datetime as dt
import json
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from duban.matrix.calendar import WorkCalendar
from duban.matrix.deadlines import instances
from duban.matrix.model import Recurrence, named_for
from duban.matrix.planner import Item, SupervisedItem, TaskInfo, before_supervision
from duban.matrix.policy import EscalationLevel
from duban.matrix.reporting import ongoing_label
from duban.matrix.vocabulary import ItemKind
from duban.store import calendar_days
from duban.store import repository as repo
from duban.store.tables import (
    MilestoneRow,
    OfficialRow,
    PlanRow,
    RecurrenceInstanceRow,
    RecurrenceRow,
    TaskOfficialRow,
    TaskRow,
    TaskUnitRow,
    UnitRow,
)

# Members as module constants: an enum member's lookup costs ~0.2 µs, and these run per item.
_INSTANCE = ItemKind.INSTANCE
_MILESTONE = ItemKind.MILESTONE


def _recurrence(row: RecurrenceRow) -> Recurrence:
    return Recurrence(freq=row.freq, rule=row.rule, anchor=row.anchor, min_count=row.min_count,
                      min_amount=None if row.min_amount is None else Decimal(str(row.min_amount)),
                      amount_unit=row.amount_unit, start=row.start, until=row.until, label=row.label,
                      ongoing=row.ongoing, beneficiary=row.beneficiary)


def ensure_instances(session: Session, *, through: dt.date, task_ids: Iterable[int] | None = None,
                     as_of: dt.date | None = None, calendar: WorkCalendar | None = None) -> int:
    """Create the recurrence instances due on or before ``through`` that do not exist yet; returns how many.

    Idempotent and safe to run concurrently: rows are keyed by (recurrence, due) and inserted with
    ON CONFLICT DO NOTHING. A period starts the day after the previous instance's due date (the first
    at the recurrence's start, else the plan's start, else 30 days before its due date). No period starts
    before the plan's start, nor, for a plan without one, before the day the recurrence (or its task) is
    supervised from — unless ``as_of`` (default ``through``) is earlier than that day: a replay of
    history opens the periods it had. Nor is a period opened that fell due before that day
    (``matrix.planner.before_supervision``): the first is the one running on it, its start where the
    rule puts it.

    Working-day dues (次月第5個工作日) are counted on ``calendar``, by default the office's: the package's
    years and those imported (``office_calendar``), as the sweep, status, progress and previews count them.
    A period that already holds a stored instance gets no second one, and stored rows keep their due date:
    when the rule moves a period's due (a re-imported plan, a newly imported calendar year, a calendar-day
    cadence becoming a working-day one), the instance units were told about stands and later periods
    follow the new rule.
    """
    q = (sa.select(RecurrenceRow, TaskRow.id, PlanRow.start, TaskRow.supervised_from)
         .join(TaskRow, TaskRow.id == RecurrenceRow.task_id)
         .join(PlanRow, PlanRow.id == TaskRow.plan_id)
         .where(RecurrenceRow.archived_at.is_(None), TaskRow.archived_at.is_(None)))
    if task_ids is not None:
        q = q.where(TaskRow.id.in_(list(task_ids)))
    day = as_of or through
    cal = calendar or office_calendar(session)
    rows: list[dict] = []
    windows: list[dt.date] = []  # per row: the first day of the period a stored instance stands for
    for rec_row, task_id, plan_start, task_from in session.execute(q).all():
        rec = _recurrence(rec_row)
        since = rec_row.supervised_from or task_from
        start = _first_period_start(rec.start, plan_start, since, day)
        first = start or through - dt.timedelta(days=366)
        dues = instances(rec, first, through, cal)
        previous = None
        for due in dues:
            period_start = (previous + dt.timedelta(days=1)) if previous else (start or due - dt.timedelta(days=30))
            # The period a stored instance may stand for: known when it starts after a due date or at the start.
            windows.append(period_start if previous or start else due)
            previous = due
            if before_supervision(_INSTANCE, due, since, day):
                windows.pop()
                continue
            rows.append({"recurrence_id": rec_row.id, "task_id": task_id, "period_start": period_start, "due": due,
                         "done_count": 0, "closed_by": "", "evidence": ""})
    if not rows:
        return 0
    new = _not_stored(session, rows, windows)
    if not new:
        return 0
    session.connection().execute(_insert_ignore(session, RecurrenceInstanceRow.__table__, ("recurrence_id", "due")), new)
    return len(new)


def office_calendar(session: Session) -> WorkCalendar:
    """The office's working-day calendar read in ``session``: the package's years and the imported ones
    (they win), as ``workflows.calendar_service.work_calendar`` builds it for every other computation."""
    stored = calendar_days.stored_days(session)
    return WorkCalendar({d.day: d.working for d in stored}, imported_years={d.year for d in stored})


def _not_stored(session: Session, rows: list[dict], windows: list[dt.date]) -> list[dict]:
    """The rows whose period (its window's first day through ``due``) holds no stored instance of their
    recurrence: the same due date, or another one the rule gave when it was stored."""
    stored: dict[int, list[dt.date]] = defaultdict(list)
    for rec_id, due in session.execute(
            sa.select(RecurrenceInstanceRow.recurrence_id, RecurrenceInstanceRow.due)
            .where(RecurrenceInstanceRow.recurrence_id.in_({r["recurrence_id"] for r in rows}))
            .order_by(RecurrenceInstanceRow.due)).all():
        stored[rec_id].append(due)
    new = []
    for r, since in zip(rows, windows, strict=True):
        dues = stored.get(r["recurrence_id"], [])
        at = bisect_left(dues, since)
        if at < len(dues) and dues[at] <= r["due"]:
            continue
        new.append(r)
    return new


def _first_period_start(rec_start: dt.date | None, plan_start: dt.date | None, supervised_from: dt.date | None,
                        as_of: dt.date) -> dt.date | None:
    """Where a recurrence's first period starts: its own start, else the plan's, never before the plan's
    start; for a plan without a start, never before its supervised-from day (unless ``as_of`` replays an
    earlier day). None: no floor (30 days before the first due date, as before supervised-from days)."""
    start = rec_start or plan_start
    floor = plan_start or (supervised_from if supervised_from is not None and supervised_from <= as_of else None)
    if floor is not None and (start is None or start < floor):
        return floor
    return start


def _insert_ignore(session: Session, table, keys: tuple[str, ...]):
    """INSERT … ON CONFLICT (keys) DO NOTHING for SQLite and PostgreSQL."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing(index_elements=list(keys))


@lru_cache(maxsize=256)
def _ladder(text: str | None) -> tuple[EscalationLevel, ...] | None:
    """A frozen ladder from its stored JSON text; nearly every item shares one, so parse each once."""
    return None if text is None else tuple(EscalationLevel.from_dict(d) for d in json.loads(text))


def _dec(v: Any) -> Decimal | None:
    return v if v is None or isinstance(v, Decimal) else Decimal(str(v))


def _task_infos(conn: Any, tasks: dict[int, Any], live: Any, unit_names: dict[int, str]) -> dict[int, TaskInfo]:
    """Whom each live task's notices go to: its lead and co-lead units, supporting units and lead officials,
    in plan order."""
    co_leads, supporting = repo.task_units(conn, live, unit_names)
    officials: dict[int, list[str]] = defaultdict(list)
    for task_id, name in conn.execute(
            sa.select(TaskOfficialRow.task_id, OfficialRow.name).join(OfficialRow, OfficialRow.id == TaskOfficialRow.official_id)
            .where(TaskOfficialRow.task_id.in_(live)).order_by(TaskOfficialRow.task_id, TaskOfficialRow.position)):
        officials[task_id].append(name)
    return {tid: TaskInfo(code=t.code, lead_unit=unit_names[t.lead_unit_id], supporting_units=tuple(supporting[tid]),
                          lead_officials=tuple(officials[tid]), co_lead_units=tuple(co_leads[tid])) for tid, t in tasks.items()}


def load_open_items(session: Session, *, plan_code: str | None = None, include_closed: bool = False,
                    task_ids: Iterable[int] | None = None, due_by: dt.date | None = None,
                    as_of: dt.date | None = None) -> list[SupervisedItem]:
    """Every live milestone and recurrence instance (open ones unless ``include_closed``), with its task.

    Core queries on the session's connection: no ORM identity map for tens of thousands of rows.
    ``due_by`` leaves out items due later than that day (the sweep needs only those it may remind
    or chase; their pace start, which needs the earlier milestones, is then not computed). With ``as_of``,
    the periods not owed on that day are left out: those that fell due before their supervision began
    (``matrix.planner.before_supervision``; their rows, from before that rule or a replay, are kept).
    """
    plan_filter = []
    if plan_code is not None:
        plan_filter.append(TaskRow.plan_id == repo.plan_row(session, plan_code).id)
    if task_ids is not None:
        plan_filter.append(TaskRow.id.in_(list(task_ids)))
    conn = session.connection()
    names = sa.select(UnitRow.id, UnitRow.name)
    if task_ids is not None:  # a few tasks (a task page): the names of their units, not the whole directory's
        ids = plan_filter[-1]
        names = names.where(UnitRow.id.in_(sa.union(sa.select(TaskRow.lead_unit_id).where(ids),
                                                     sa.select(TaskUnitRow.unit_id).where(TaskUnitRow.task_id.in_(
                                                         sa.select(TaskRow.id).where(ids))))))
    unit_names = dict(conn.execute(names).all())
    plans = dict(conn.execute(sa.select(PlanRow.id, PlanRow.code)).all())
    plan_starts = dict(conn.execute(sa.select(PlanRow.id, PlanRow.start)).all())
    tasks = {r.id: r for r in conn.execute(
        sa.select(TaskRow.id, TaskRow.plan_id, TaskRow.code, TaskRow.title, TaskRow.lead_unit_id, TaskRow.supervised_from)
        .where(TaskRow.archived_at.is_(None), *plan_filter)).all()}
    live = sa.select(TaskRow.id).where(TaskRow.archived_at.is_(None), *plan_filter)
    infos = _task_infos(conn, tasks, live, unit_names)

    out: list[SupervisedItem] = []
    m = MilestoneRow
    previous_due: dict[int, dt.date] = {}
    for row in conn.execute(
            sa.select(m.id, m.task_id, m.due, m.extended_due, m.start, m.quantity, m.measure, m.label, m.done_quantity,
                      m.done_percent, m.closed_at, sa.cast(m.ladder, sa.Text).label("ladder"), m.supervised_from)
            .where(m.archived_at.is_(None), m.task_id.in_(live),
                   *([sa.func.coalesce(m.extended_due, m.due) <= due_by] if due_by else []))
            .order_by(m.task_id, m.seq)).all():
        t = tasks[row.task_id]
        # A milestone's pace runs from its own start, else the day after the previous one, else the plan start.
        start = row.start or (previous_due[row.task_id] + dt.timedelta(days=1) if row.task_id in previous_due else plan_starts.get(t.plan_id))
        previous_due[row.task_id] = row.extended_due or row.due
        if row.closed_at is not None and not include_closed:
            continue
        item = Item(kind=_MILESTONE, id=row.id, due=row.extended_due or row.due, start=start, quantity=_dec(row.quantity),
                    measure=row.measure, done_quantity=_dec(row.done_quantity), done_percent=_dec(row.done_percent),
                    closed=row.closed_at is not None, ladder=_ladder(row.ladder),
                    supervised_from=row.supervised_from or t.supervised_from)
        out.append(SupervisedItem(item, t.plan_id, plans[t.plan_id], row.task_id, infos[row.task_id], t.title, row.label))
    i, r = RecurrenceInstanceRow, RecurrenceRow
    q = (sa.select(i.id, i.task_id, i.due, i.extended_due, i.period_start, i.done_count, i.done_amount, i.closed_at,
                   sa.cast(i.ladder, sa.Text).label("ladder"),
                   r.min_count, r.min_amount, r.amount_unit, r.label, col(r.beneficiary), r.supervised_from, r.ongoing, r.freq, r.rule)
         .join(r, r.id == i.recurrence_id).where(r.archived_at.is_(None), i.task_id.in_(live)))
    if not include_closed:
        q = q.where(i.closed_at.is_(None))
    if due_by:
        q = q.where(sa.func.coalesce(i.extended_due, i.due) <= due_by)
    for row in conn.execute(q.order_by(i.task_id, i.due, r.seq)).all():
        t = tasks[row.task_id]
        since = row.supervised_from or t.supervised_from
        if as_of is not None and before_supervision(_INSTANCE, row.extended_due or row.due, since, as_of):
            continue
        item = Item(kind=_INSTANCE, id=row.id, due=row.extended_due or row.due, start=row.period_start,
                    min_count=row.min_count, done_count=row.done_count or 0, min_amount=_dec(row.min_amount),
                    done_amount=_dec(row.done_amount), measure=row.amount_unit, closed=row.closed_at is not None,
                    ladder=_ladder(row.ladder), supervised_from=since)
        label = ongoing_label(row.label, row.freq, row.rule) if row.ongoing else row.label  # 持續推進（每月5日前…）
        out.append(SupervisedItem(item, t.plan_id, plans[t.plan_id], row.task_id, infos[row.task_id], t.title,
                                  named_for(label, row.beneficiary), bool(row.ongoing), beneficiary=row.beneficiary))
    return out
