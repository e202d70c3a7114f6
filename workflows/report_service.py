"""The weekly circulation report (周通報): a period's facts from the store → scores → documents → mail.

``weekly_report(engine, now=…, policies=…, settings=…, formats=…, out_dir=…)`` reads everything it
needs with one set-based query per table (tasks, supporting units, milestones, recurrence periods,
progress reports, approved extensions, escalation notices, notices awaiting acknowledgement,
undeliverable deliveries) — never a query per task — and rebuilds each item's state as it stood on
any day from that history: its due date (an approved extension counts from the day it was decided),
whether it was closed (the local day of ``closed_at``), its quantity done (the latest report dated
on or before the day; a closed milestone counts as its target reached) and its escalation level.
So the report for a past Friday is the report that Friday would have had, and last week's scores
(for the change in rank) are computed the same way for the day seven days earlier.

The facts are handed to the pure scorer (``matrix.scoring``, where every definition is written
down); the report model to ``notifications.report``, which renders HTML, Markdown, DOCX, the SVG
chart and a circulation-criticism notice per criticised unit. Files are written as
``weekly-YYYY-MM-DD.html|md|svg|docx`` and ``criticism-<unit>-YYYY-MM-DD.html|docx``; the same
database and the same as-of day give the same bytes. "As of D" means the end of day D: reports dated
D and items closed on D count. A large plan's report stays readable: its task and overdue tables list
the worst ``report.max_rows`` rows (300) and count the rest, and each unit shows its first
``report.max_lines_per_unit`` (5) deduction lines and criticism facts; a criticised unit's own notice
lists every fact. The headline numbers, ranking and scores always cover everything.

``email_report`` queues the report as one message (HTML body, Markdown as its text part, the DOCX
attached) to the office's addresses and the supervisors of ``config/scoring.yaml`` ``report.recipients``,
in duban's message table, and hands it over at once (SMTP, or an .eml in the outbox folder); a
message the server defers stays queued for ``duban deliver`` to retry. The message's key holds a
digest of its content and recipients: running the weekly flow again for the same week mails nothing
new unless the report changed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from duban.matrix.calendar import WorkCalendar
from duban.matrix.errors import ConfigError, NotFound
from duban.matrix.gcpause import no_cyclic_gc
from duban.matrix.script import for_language
from duban.matrix.planner import Item, light, worst
from duban.matrix.scoring import (
    AckFact,
    ItemFact,
    Period,
    ReportFact,
    RoleFacts,
    Scoreboard,
    ScoringConfig,
    UnitFacts,
    load_scoring,
    score_week,
    task_order,
)
from duban.store import repository as repo
from duban.store.db import transaction
from duban.store.tables import (
    DeliveryRow,
    ExtensionRow,
    MilestoneRow,
    NoticeRow,
    PlanRow,
    ProgressReportRow,
    RecurrenceInstanceRow,
    RecurrenceRow,
    TaskRow,
    TaskUnitRow,
    UnitRow,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from duban.config.settings import Settings
    from duban.matrix.policy import PolicySet
    from duban.notifications.report import ChartView, WeeklyReport

FORMATS = ("html", "md", "docx")
MAX_STREAK = 52  # missed-report windows looked back at most (a year of weeks)
INSTANCE_HORIZON = dt.timedelta(days=40)  # periods of recurring obligations shown ahead, as `status` does
_CHUNK = 5000


def load_scoring_config(settings: "Settings") -> ScoringConfig:
    """The packaged config/scoring.yaml, overridden by the office's own (config folder) scoring.yaml."""
    from duban.config.settings import PACKAGE_DIR

    return load_scoring(PACKAGE_DIR / "scoring.yaml", Path(settings.config_dir) / "scoring.yaml")


# --------------------------------------------------------------------------------------------
# What the store holds, rebuilt for any day


class _Item:
    """A milestone or recurrence period with its history, rebuilt for any day."""

    __slots__ = ("kind", "id", "task_id", "seq", "due", "start", "quantity", "measure", "label", "closed_on",
                 "min_count", "changes", "reports", "levels")

    def __init__(self, kind: str, id: int, task_id: int, seq: int, due: dt.date, start: dt.date | None,  # noqa: A002
                 quantity: Decimal | None = None, measure: str | None = None, label: str = "",
                 closed_on: dt.date | None = None, min_count: int | None = None,
                 changes: list | None = None, reports: list | None = None, levels: list | None = None) -> None:
        self.kind, self.id, self.task_id, self.seq, self.due, self.start = kind, id, task_id, seq, due, start
        self.quantity, self.measure, self.label, self.closed_on, self.min_count = quantity, measure, label, closed_on, min_count
        # (decided on, new due) of approved extensions; (day, report id, done, percent, count) of reports;
        # (planned for, due, level) of escalations. Empty tuples until there is something (most items have none).
        self.changes = changes or ()
        self.reports = reports or ()
        self.levels = levels or ()

    def add(self, name: str, entry: tuple) -> None:
        values = getattr(self, name)
        if not values:
            setattr(self, name, [entry])
        else:
            values.append(entry)

    @property
    def ref(self) -> str:
        return ("m" if self.kind == "milestone" else "i") + str(self.id)

    def due_at(self, day: dt.date) -> dt.date:
        due = self.due
        for decided, new_due in self.changes:
            if decided <= day:
                due = new_due
        return due

    def closed_by(self, day: dt.date) -> dt.date | None:
        return self.closed_on if self.closed_on is not None and self.closed_on <= day else None

    def done_at(self, day: dt.date) -> Decimal | None:
        """Cumulative quantity done by the end of ``day`` (a closed milestone counts as its target reached)."""
        i = bisect_right(self.reports, (day, float("inf")))
        done = next((r[2] for r in reversed(self.reports[:i]) if r[2] is not None), None)
        if self.quantity is not None and self.closed_by(day) is not None:
            return max(self.quantity, done or Decimal(0))
        return done

    def percent_at(self, day: dt.date) -> Decimal | None:
        i = bisect_right(self.reports, (day, float("inf")))
        return next((r[3] for r in reversed(self.reports[:i]) if r[3] is not None), None)

    def count_at(self, day: dt.date) -> int:
        i = bisect_right(self.reports, (day, float("inf")))
        return sum(r[4] or 0 for r in self.reports[:i])

    def level_at(self, day: dt.date, due: dt.date) -> int:
        return max((lv for planned, d, lv in self.levels if planned <= day and d == due), default=0)


class _Task:
    __slots__ = ("id", "plan_id", "plan_code", "code", "title", "position", "lead_unit_id", "veto", "supporting",
                 "items", "lead_reports", "acks")

    def __init__(self, id: int, plan_id: int, plan_code: str, code: str, title: str, position: int,  # noqa: A002
                 lead_unit_id: int, veto: bool, supporting: list[int] | None = None, items: list | None = None,
                 lead_reports: list | None = None) -> None:
        self.id, self.plan_id, self.plan_code, self.code, self.title = id, plan_id, plan_code, code, title
        self.position, self.lead_unit_id, self.veto = position, lead_unit_id, veto
        self.supporting: list[int] = supporting if supporting is not None else []
        self.items: list[_Item] = items if items is not None else []
        self.lead_reports: list[tuple[dt.date, int, str]] = lead_reports if lead_reports is not None else []  # (day, id, item ref) by the lead unit
        self.acks: list[tuple[str, int, dt.date, dt.date | None]] = []  # (kind, level, planned for, acknowledged on)

    @property
    def lead_days(self) -> list[dt.date]:
        return [d for d, _, _ in self.lead_reports]


@dataclass(slots=True)
class _Store:
    as_of: dt.date
    tz: ZoneInfo | dt.tzinfo
    plans: dict[int, Any]
    units: dict[int, Any]
    tasks: list[_Task]
    undeliverable: list[Any]
    office: Any = None  # the office running these plans (store.repository.office_of)


def _rows(conn, query, column, values) -> list[Any]:
    values = sorted(set(values))
    out: list[Any] = []
    for i in range(0, len(values), _CHUNK):
        out.extend(conn.execute(query.where(column.in_(values[i:i + _CHUNK]))).all())
    return out


def _local_day(value: dt.datetime | None, tz) -> dt.date | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(tz).date()


def _dec(v: Any) -> Decimal | None:
    if v is None:
        return None
    d = v if isinstance(v, Decimal) else Decimal(str(v))
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()


def _load(session: Session, *, plan: str | None, as_of: dt.date, tz, ack_kinds: Iterable[str],
          ack_since: dt.date, period_start: dt.date) -> _Store:
    conn = session.connection()
    plan_ids: list[int] | None = None
    if plan is not None:
        plan_ids = [repo.plan_row(session, plan).id]
    plans = {r.id: r for r in conn.execute(sa.select(PlanRow.id, PlanRow.code, PlanRow.title, PlanRow.issuer,
                                                     PlanRow.start, PlanRow.end, PlanRow.timezone)).all()
             if plan_ids is None or r.id in plan_ids}
    if not plans:
        raise NotFound("no plan has been imported yet; run `duban matrix import PLAN.yaml`")
    units = {r.id: r for r in conn.execute(sa.select(UnitRow.id, UnitRow.name, UnitRow.kind, UnitRow.is_office,
                                                     UnitRow.emails, UnitRow.head_email, UnitRow.head_title)).all()}
    live = sa.select(TaskRow.id).where(TaskRow.archived_at.is_(None), TaskRow.plan_id.in_(list(plans)))
    tasks: dict[int, _Task] = {}
    for task_id, plan_id, code, title, position, lead_unit_id, veto in conn.execute(
            sa.select(TaskRow.id, TaskRow.plan_id, TaskRow.code, TaskRow.title, TaskRow.position, TaskRow.lead_unit_id,
                      TaskRow.veto)
            .where(TaskRow.id.in_(live)).order_by(TaskRow.plan_id, TaskRow.position, TaskRow.id)).all():
        tasks[task_id] = _Task(task_id, plan_id, plans[plan_id].code, code, title, position, lead_unit_id, bool(veto))
    for task_id, unit_id in conn.execute(sa.select(TaskUnitRow.task_id, TaskUnitRow.unit_id)
                                         .where(TaskUnitRow.task_id.in_(live))
                                         .order_by(TaskUnitRow.task_id, TaskUnitRow.position)).all():
        tasks[task_id].supporting.append(unit_id)

    milestones: dict[int, _Item] = {}
    instances: dict[int, _Item] = {}
    m = MilestoneRow
    previous_due: dict[int, dt.date] = {}
    plan_start = {pid: p.start for pid, p in plans.items()}
    one_day = dt.timedelta(days=1)
    quantities: dict[Any, Decimal | None] = {}
    # Plain tuples, unpacked: tens of thousands of rows.
    for mid, task_id, seq, due, extended_due, own_start, quantity, measure, label, closed_at in conn.execute(
            sa.select(m.id, m.task_id, m.seq, m.due, m.extended_due, m.start, m.quantity, m.measure, m.label, m.closed_at)
            .where(m.archived_at.is_(None), m.task_id.in_(live)).order_by(m.task_id, m.seq)).all():
        task = tasks[task_id]
        before = previous_due.get(task_id)
        start = own_start or (before + one_day if before is not None else plan_start[task.plan_id])
        previous_due[task_id] = extended_due or due
        if quantity is not None:
            if quantity not in quantities:
                quantities[quantity] = _dec(quantity)
            quantity = quantities[quantity]
        item = _Item("milestone", mid, task_id, seq, due, start, quantity, measure, label or "",
                     _local_day(closed_at, tz) if closed_at is not None else None)
        task.items.append(item)
        milestones[mid] = item
    i, rec = RecurrenceInstanceRow, RecurrenceRow
    for r in conn.execute(sa.select(i.id, i.task_id, i.due, i.period_start, i.closed_at, rec.min_count, rec.label)
                          .join(rec, rec.id == i.recurrence_id)
                          .where(rec.archived_at.is_(None), i.task_id.in_(live), i.due <= as_of + INSTANCE_HORIZON)
                          .order_by(i.task_id, i.due, i.id)).all():
        item = _Item("instance", r.id, r.task_id, 0, r.due, r.period_start, label=r.label or "",
                     closed_on=_local_day(r.closed_at, tz), min_count=r.min_count)
        tasks[r.task_id].items.append(item)
        instances[r.id] = item

    def find(milestone_id: int | None, instance_id: int | None) -> _Item | None:
        return milestones.get(milestone_id) if milestone_id is not None else instances.get(instance_id)

    e = ExtensionRow
    for r in conn.execute(sa.select(e.milestone_id, e.instance_id, e.new_due, e.decided_on, e.id)
                          .where(e.status == "approved", e.task_id.in_(live), e.decided_on <= as_of)
                          .order_by(e.decided_on, e.id)).all():
        item = find(r.milestone_id, r.instance_id)
        if item is not None:
            item.add("changes", (r.decided_on, r.new_due))
    p = ProgressReportRow
    for r in conn.execute(sa.select(p.id, p.task_id, p.milestone_id, p.instance_id, p.unit_id, p.done_quantity,
                                    p.done_percent, p.done_count, p.reported_on)
                          .where(p.task_id.in_(live), p.reported_on <= as_of).order_by(p.reported_on, p.id)).all():
        item = find(r.milestone_id, r.instance_id)
        if item is not None:
            item.add("reports", (r.reported_on, r.id, _dec(r.done_quantity), _dec(r.done_percent), r.done_count))
        task = tasks[r.task_id]
        if r.unit_id == task.lead_unit_id:
            task.lead_reports.append((r.reported_on, r.id, item.ref if item is not None else ""))
    n = NoticeRow
    for milestone_id, instance_id, due, level, planned_for in conn.execute(
            sa.select(n.milestone_id, n.instance_id, n.due, n.level, n.planned_for)
            .where(n.kind == "escalation", n.task_id.in_(live), n.planned_for <= as_of)).all():
        item = find(milestone_id, instance_id)
        if item is not None:
            item.add("levels", (planned_for, due, level))
    kinds = list(ack_kinds)
    if kinds:
        for r in conn.execute(sa.select(n.task_id, n.kind, n.level, n.planned_for, n.acknowledged_at)
                              .where(n.kind.in_(kinds), n.task_id.in_(live), n.status != "superseded",
                                     n.planned_for >= ack_since, n.planned_for <= as_of)
                              .order_by(n.task_id, n.planned_for, n.id)).all():
            tasks[r.task_id].acks.append((r.kind, r.level, r.planned_for, _local_day(r.acknowledged_at, tz)))
    # Deliveries that found nobody to deliver to, recorded during the period (local days).
    begin = dt.datetime.combine(period_start, dt.time(0), tz).astimezone(dt.timezone.utc)
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(0), tz).astimezone(dt.timezone.utc)
    d = DeliveryRow
    undeliverable = conn.execute(
        sa.select(d.recipient_role, d.recipient_name, d.display_name, d.last_error, n.task_id)
        .join(n, n.id == d.notice_id)
        .where(d.status == "undeliverable", d.created_at >= begin, d.created_at < end, n.task_id.in_(live))
        .order_by(d.id)).all()
    return _Store(as_of=as_of, tz=tz, plans=plans, units=units, tasks=list(tasks.values()),
                  undeliverable=undeliverable, office=_office_snapshot(repo.office_of(session, plan)))


@dataclass(frozen=True, slots=True)
class _Office:
    """The office's values read inside the session (the report is built after it closed and rolled back)."""

    id: int
    name: str


def _office_snapshot(row: Any) -> _Office | None:
    return None if row is None else _Office(row.id, row.name)


# --------------------------------------------------------------------------------------------
# Facts of a period


def _item_fact(item: _Item, task: _Task, period: Period, cal: WorkCalendar) -> ItemFact | None:
    """The item's facts for the period, or None when it has none (not due, closed or overdue in it)."""
    start, end = period.start, period.end
    due = item.due_at(end) if item.changes else item.due
    closed = item.closed_on
    if closed is not None and closed > end:
        closed = None  # closed after the period: open as far as the period knows
    if due > end and (closed is None or closed < start):
        return None  # not due yet, and nothing happened in the period
    due_in = start <= due
    closed_in = closed is not None and closed >= start
    overdue = due < end and (closed is None or (closed_in and closed > due))
    if not (due_in or closed_in or overdue):
        return None
    days = cal.working_days_between(due, closed if closed is not None else end) if overdue else 0
    return ItemFact(
        task_code=task.code, task_title=task.title, item=item.ref, due=due, label=item.label, veto=task.veto,
        due_in_period=due_in and due <= end, met_on_time=due_in and due <= end and closed is not None and closed <= due,
        closed_on=closed, closed_in_period=closed_in, overdue=overdue, overdue_days=days,
        level=item.level_at(end, due) if overdue and item.levels else 0,
        quantity=item.quantity, done=item.done_at(end), measure=item.measure,
    )


def _progress_spans(quantity: list[_Item]) -> list[tuple[dt.date, dt.date]]:
    """Days on which a window may start and expect a report: from a quantity milestone's start to the
    day it was closed (or for ever), merged."""
    spans = sorted((m.start, m.closed_on or dt.date.max) for m in quantity)
    merged: list[list[dt.date]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def _report_facts(task: _Task, period: Period, config: ScoringConfig) -> list[ReportFact]:
    """Missing / late / sent progress reports of a task's lead unit (see matrix.scoring for the rules)."""
    out: list[ReportFact] = []
    end = period.end
    every = config.reports_every_days
    days = task.lead_days
    quantity = [m for m in task.items if m.kind == "milestone" and m.quantity is not None and m.start is not None]

    if every and quantity:
        spans = _progress_spans(quantity)
        # Window k runs from end − (k+1)·every + 1 to end − k·every. Windows after the last report have none.
        last = bisect_right(days, end)
        quiet = MAX_STREAK if not last else min(MAX_STREAK, (end - days[last - 1]).days // every)
        streak = 0
        while streak < quiet:
            first = end - dt.timedelta(days=(streak + 1) * every - 1)
            span = next((sp for sp in spans if sp[0] <= first <= sp[1]), None)
            if span is None:
                break
            # Every earlier window whose first day is still inside this span expects a report too.
            reach = (end - span[0]).days + 1  # days from the span's start to the end, both included
            streak = min(quiet, max(streak + 1, reach // every))
        if streak:
            out.append(ReportFact(task.code, task.title, "missing", streak=streak))
        else:
            first = end - dt.timedelta(days=every - 1)
            lo = bisect_left(days, first)
            in_progress = [m.start for m in quantity if m.start <= first and (m.closed_on is None or m.closed_on >= first)]
            if lo < last and in_progress:
                before = days[lo - 1] if lo else min(in_progress)
                gap = (days[lo] - before).days
                if gap > every:
                    out.append(ReportFact(task.code, task.title, "late", gap_days=gap, on=days[lo]))
    latest = None
    for day, _rid, ref in task.lead_reports:
        if period.start <= day <= end:
            latest = (day, ref)
    if latest is not None:
        item = next((m for m in task.items if m.ref == latest[1]), None)
        done = item.done_at(end) if item is not None else None
        out.append(ReportFact(task.code, task.title, "sent", on=latest[0], done=done,
                              quantity=item.quantity if item is not None else None,
                              measure=item.measure if item is not None else None))
    return out


def _ack_facts(task: _Task, period: Period, config: ScoringConfig, cal: WorkCalendar) -> list[AckFact]:
    out = []
    for kind, level, planned, acked in task.acks:
        deadline = cal.add_working_days(planned, config.ack_within)
        if not (period.start <= deadline <= period.end):
            continue
        acked = acked if acked is not None and acked <= period.end else None
        if acked is None or acked > deadline:
            out.append(AckFact(task.code, task.title, kind, level, planned, deadline, acked))
    return out


@dataclass(slots=True)
class _PeriodFacts:
    period: Period
    units: list[UnitFacts]
    items: dict[str, tuple[_Task, ItemFact]]  # by item ref
    missing: int


def _period_facts(store: _Store, period: Period, config: ScoringConfig, cal: WorkCalendar) -> _PeriodFacts:
    lead: dict[int, dict[str, list]] = defaultdict(lambda: {"items": [], "reports": [], "acks": []})
    supporting: dict[int, list[ItemFact]] = defaultdict(list)
    in_scope: set[int] = set()
    items: dict[str, tuple[_Task, ItemFact]] = {}
    missing = 0
    for task in store.tasks:
        facts = []
        for item in task.items:
            fact = _item_fact(item, task, period, cal)
            if fact is not None:
                facts.append(fact)
                items[item.ref] = (task, fact)
        reports = _report_facts(task, period, config)
        missing += any(r.kind == "missing" for r in reports)
        acks = _ack_facts(task, period, config, cal) if task.acks else []
        mine = lead[task.lead_unit_id]
        mine["items"].extend(facts)
        mine["reports"].extend(reports)
        mine["acks"].extend(acks)
        in_scope.add(task.lead_unit_id)
        for unit_id in task.supporting:
            if unit_id != task.lead_unit_id:
                supporting[unit_id].extend(facts)
                in_scope.add(unit_id)
    units = []
    for unit_id in in_scope:
        u = store.units[unit_id]
        mine = lead.get(unit_id)
        units.append(UnitFacts(
            unit=u.name, kind=u.kind,
            lead=RoleFacts(tuple(mine["items"]), tuple(mine["reports"]), tuple(mine["acks"])) if mine else RoleFacts(),
            supporting=RoleFacts(items=tuple(supporting.get(unit_id, ()))),
        ))
    return _PeriodFacts(period=period, units=units, items=items, missing=missing)


def period_for(as_of: dt.date, config: ScoringConfig) -> Period:
    return Period(as_of - dt.timedelta(days=config.period_days - 1), as_of)


def score_period(engine: "Engine", *, now: dt.datetime, plan: str | None = None, scoring: ScoringConfig,
                 calendar: WorkCalendar | None = None) -> Scoreboard:
    """This period's scoreboard, with last week's ranks for the change (no documents)."""
    with no_cyclic_gc():
        board, _, _ = _scores(engine, now=now, plan=plan, scoring=scoring, calendar=calendar)
    return board


def _scores(engine: "Engine", *, now: dt.datetime, plan: str | None, scoring: ScoringConfig,
            calendar: WorkCalendar | None) -> tuple[Scoreboard, tuple[_PeriodFacts, _PeriodFacts], _Store]:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    cal = calendar or WorkCalendar()
    as_of = now.date()
    period = period_for(as_of, scoring)
    previous = period_for(as_of - dt.timedelta(days=7), scoring)
    with transaction(engine) as session:
        store = _load(session, plan=plan, as_of=as_of, tz=now.tzinfo, ack_kinds=scoring.ack_kinds,
                      ack_since=previous.start - dt.timedelta(days=31), period_start=period.start)
        session.rollback()  # reads only
    last = _period_facts(store, previous, scoring, cal)
    this = _period_facts(store, period, scoring, cal)
    last_board = score_week(last.units, previous, scoring, detail=False)
    board = score_week(this.units, period, scoring, previous=last_board.ranks())
    return board, (this, last), store


# --------------------------------------------------------------------------------------------
# The report model


def _task_lights(store: _Store, facts: _PeriodFacts, policies: "PolicySet", cal: WorkCalendar):
    """Every task in plan order with its light and its items' (item, state, light) as of the day."""
    day = store.as_of
    out = []
    for task in sorted(store.tasks, key=lambda t: (store.plans[t.plan_id].code, t.position, task_order(t.code))):
        policy = policies.for_task(task.plan_code, task.code)
        shown = []
        for item in task.items:
            due = item.due_at(day)
            closed = item.closed_by(day)
            if item.kind == "instance":
                current = item.start is not None and item.start <= day <= due
                if not (current or (due < day and closed is None) or item.ref in facts.items):
                    continue
            state = Item(kind=item.kind, id=item.id, due=due, start=item.start, quantity=item.quantity,
                         measure=item.measure, done_quantity=item.done_at(day),
                         done_percent=item.percent_at(day) if item.quantity is None else None,
                         min_count=item.min_count, done_count=item.count_at(day) if item.kind == "instance" else 0,
                         closed=closed is not None)
            shown.append((item, state, closed, light(state, day, cal, policy)))
        colour = worst([lt.colour for *_, lt in shown if lt.colour != "closed"])
        out.append((task, colour, shown))
    return out


def _task_view(store: _Store, facts: _PeriodFacts, task: _Task, colour: str, shown: list):
    from duban.notifications.report import ItemView, TaskView

    items = []
    for item, state, closed, lt in shown:
        fact = facts.items.get(item.ref)
        items.append(ItemView(
            kind=item.kind, due=state.due, label=item.label, colour=lt.colour, reason=lt.reason,
            quantity=item.quantity, done=state.done_quantity, measure=item.measure, min_count=item.min_count,
            done_count=state.done_count if item.kind == "instance" else None,
            overdue_days=lt.working_days_overdue, days_left=lt.working_days_left,
            level=fact[1].level if fact is not None else 0, closed_on=closed, expected=lt.expected))
    return TaskView(plan_code=task.plan_code, code=task.code, title=task.title,
                    lead_unit=store.units[task.lead_unit_id].name,
                    supporting_units=tuple(store.units[u].name for u in task.supporting),
                    colour=colour, veto=task.veto, items=tuple(items))


def _overdue_views(store: _Store, facts: _PeriodFacts):
    from duban.notifications.report import OverdueView

    rows = []
    for task, f in facts.items.values():
        if not f.overdue:
            continue
        rows.append(OverdueView(code=task.code, title=task.title, lead_unit=store.units[task.lead_unit_id].name,
                                due=f.due, label=f.label, days=f.overdue_days, level=f.level,
                                closed_on=f.closed_on if f.closed_in_period else None,
                                quantity=f.quantity, done=f.done, measure=f.measure))
    rows.sort(key=lambda o: (o.closed_on is not None, -o.level, -o.days, task_order(o.code), o.due))
    return rows


def _overdue_series(store: _Store, days: list[dt.date]) -> list[int]:
    """Items overdue at the end of each day in ``days``: past their due date then, not closed by then."""
    starts: list[dt.date] = []
    ends: list[dt.date] = []
    for task in store.tasks:
        for item in task.items:
            # The due date changes on the day an extension is decided: one overdue interval per stretch.
            stretches = [(dt.date.min, item.due)] + [(decided, new_due) for decided, new_due in item.changes]
            for k, (since, due) in enumerate(stretches):
                until = stretches[k + 1][0] if k + 1 < len(stretches) else dt.date.max
                begin = max(since, due + dt.timedelta(days=1))
                stop = min(until, item.closed_on) if item.closed_on is not None else until
                if begin < stop:
                    starts.append(begin)
                    ends.append(stop)
    starts.sort()
    ends.sort()
    return [bisect_right(starts, d) - bisect_right(ends, d) for d in days]


def _chart(store: _Store, config: ScoringConfig) -> "ChartView | None":
    from duban.notifications.report import ChartView, WeekPoint

    as_of = store.as_of
    starts = [p.start for p in store.plans.values() if p.start is not None]
    plan_start = min(starts) if starts else as_of - dt.timedelta(days=7 * 12)
    # The tasks that share the commonest sequence of quantity milestones (the plan's 25 + 40 村).
    groups: dict[tuple, list[_Task]] = defaultdict(list)
    for task in store.tasks:
        ms = [m for m in task.items if m.kind == "milestone"]
        if ms and all(m.quantity is not None for m in ms) and len({m.measure for m in ms}) == 1:
            groups[tuple((m.due, m.quantity, m.measure) for m in ms)].append(task)
    group: list[_Task] = []
    signature: tuple = ()
    if groups:
        signature, group = max(groups.items(), key=lambda kv: (len(kv[1]), sum(q for _, q, _ in kv[0]),
                                                                 [str(x) for x in kv[0]]))
    first = plan_start if config.report.chart_weeks is None else max(plan_start, as_of - dt.timedelta(weeks=config.report.chart_weeks))
    ends = []
    d = as_of
    while d >= first:
        ends.append(d)
        d -= dt.timedelta(days=7)
    ends.reverse()
    if not ends:
        ends = [as_of]
    overdue = _overdue_series(store, ends)
    targets: list[tuple[dt.date, Decimal]] = []
    running = Decimal(0)
    for due, quantity, _ in signature:
        running += quantity
        targets.append((due, running))
    end = max([as_of] + [due for due, _ in targets])
    start = plan_start if config.report.chart_weeks is None else ends[0] - dt.timedelta(days=6)

    def planned(day: dt.date) -> Decimal | None:
        """The plan's linear pace: 0 at the plan's start, each cumulative target at its due date."""
        if not targets:
            return None
        points = [(plan_start, Decimal(0))] + targets
        for (d0, v0), (d1, v1) in zip(points, points[1:]):
            if day <= d1:
                span = (d1 - d0).days
                return v1 if span <= 0 else v0 + (v1 - v0) * Decimal(max((day - d0).days, 0)) / Decimal(span)
        return targets[-1][1]

    points = []
    for day, count in zip(ends, overdue):
        mean = slowest = None
        if group:
            totals = [sum((m.done_at(day) or Decimal(0)) for m in t.items if m.kind == "milestone") for t in group]
            mean = sum(totals, Decimal(0)) / len(totals)
            slowest = min(totals)
        points.append(WeekPoint(end=day, mean=mean, slowest=slowest, planned=planned(day), overdue=count))
    pace = ((start, planned(start)), *((d, q) for d, q in targets if d > start)) if targets else ()
    return ChartView(start=start, end=end, as_of=as_of, measure=signature[0][2] if signature else None,
                     task_codes=tuple(t.code for t in sorted(group, key=lambda t: task_order(t.code))),
                     targets=tuple(targets), points=tuple(points), pace=pace)


def _undeliverable_views(store: _Store):
    from duban.notifications.report import UndeliverableView

    tasks = {t.id: t.code for t in store.tasks}
    grouped: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for role, name, display, reason, task_id in store.undeliverable:
        grouped[(role, display or name or role, reason or "")].append(tasks.get(task_id, ""))
    return [UndeliverableView(role=role, name=name, reason=reason, notices=len(codes),
                              tasks=tuple(sorted(set(codes), key=task_order)))
            for (role, name, reason), codes in sorted(grouped.items())]


def build_report(engine: "Engine", *, now: dt.datetime, policies: "PolicySet", scoring: ScoringConfig,
                 plan: str | None = None, calendar: WorkCalendar | None = None) -> "WeeklyReport":
    """The weekly report's model for the period ending on ``now``'s day."""
    from duban.notifications.report import Headline, WeeklyReport

    cal = calendar or WorkCalendar()
    board, (this, last), store = _scores(engine, now=now, plan=plan, scoring=scoring, calendar=cal)
    as_of = store.as_of
    tasks = _task_lights(store, this, policies, cal)
    overdue = _overdue_views(store, this)
    tasks_omitted: dict[str, int] = {}
    keep = range(len(tasks))
    limit = scoring.report.max_rows
    if limit is not None and len(tasks) > limit:
        # The worst tasks, shown in plan order; the rest counted by light.
        severity = {"red": 0, "yellow": 1, "green": 2, "closed": 3}
        keep = sorted(sorted(range(len(tasks)), key=lambda k: (severity[tasks[k][1]], k))[:limit])
        for k in set(range(len(tasks))) - set(keep):
            tasks_omitted[tasks[k][1]] = tasks_omitted.get(tasks[k][1], 0) + 1
    shown_tasks = [_task_view(store, this, *tasks[k]) for k in keep]
    shown_overdue = overdue if limit is None else overdue[:limit]
    undeliverable = _undeliverable_views(store)
    facts = [f for _, f in this.items.values()]
    open_now = [f for f in facts if f.overdue and not f.closed_in_period]
    open_last = [f for _, f in last.items.values() if f.overdue and not f.closed_in_period]
    lights = {k: sum(colour == k for _, colour, _ in tasks) for k in ("red", "yellow", "green", "closed")}  # every task
    headline = Headline(
        tasks=len(tasks), lights=lights,
        due=sum(f.due_in_period for f in facts), met_on_time=sum(f.met_on_time for f in facts),
        closed=sum(f.closed_in_period for f in facts),
        overdue_open=len(open_now), overdue_open_last_week=len(open_last),
        overdue_new=sum(f.due >= this.period.start - dt.timedelta(days=1) for f in open_now),
        closed_late=sum(f.overdue and f.closed_in_period for f in facts),
        level2=sum(f.level >= 2 for f in open_now), missing_reports=this.missing,
        criticised=len(board.criticised), praised=len(board.praised), undeliverable=len(undeliverable),
    )
    plans = sorted(store.plans.values(), key=lambda p: p.code)
    starts = [p.start for p in plans if p.start is not None]
    number = max(1, (as_of - min(starts)).days // 7 + 1) if starts else 1
    office = store.office
    issuer = (plans[0].issuer if len(plans) == 1 and plans[0].issuer else (office.name if office else "")) or \
        next((p.issuer for p in plans if p.issuer), "")
    return WeeklyReport(
        as_of=as_of, period=this.period, number=number, issuer=issuer, title=scoring.report.title or "",
        plan_titles=tuple(p.title for p in plans), headline=headline, chart=_chart(store, scoring),
        tasks=tuple(shown_tasks), overdue=tuple(shown_overdue), board=board, undeliverable=tuple(undeliverable),
        rectify_by=cal.add_working_days(as_of, scoring.rectify_within),
        copies_to=tuple(r.name or r.email for r in scoring.report.recipients),
        tasks_omitted=tasks_omitted, overdue_omitted=len(overdue) - len(shown_overdue),
    )


# --------------------------------------------------------------------------------------------
# The weekly flow: documents, files, mail


def _renderer(settings: "Settings", language: str | None):
    from duban.notifications.render import Renderer

    return Renderer(language=language or settings.language, override_dir=Path(settings.config_dir) / "templates")


def write_files(out_dir: Path, files: list[tuple[str, bytes | str]]) -> list[str]:
    """Write a report's files all or nothing; returns their paths as text.

    Every file is first written into a private folder inside ``out_dir`` (a few at a time: there may be
    hundreds of criticism notices), then each is renamed into place, the file it replaces kept aside until
    all are in. A failure at any point (a full disk, a name the file system refuses) puts back what was
    there before, removes the folder and raises ``StoreError`` naming the file: a reader never sees half a
    report, nor a mix of two."""
    import os
    import shutil
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    from duban.matrix.errors import StoreError
    from duban.store.files import file_mode, make_dirs

    out_dir = Path(out_dir)
    current = out_dir
    mode = file_mode()  # private (0600) unless DUBAN_FILE_MODE says otherwise; the folder 0700
    try:
        make_dirs(out_dir)
        stage = Path(tempfile.mkdtemp(prefix=".report-", dir=out_dir))
    except OSError as e:
        raise StoreError(f"cannot write the report into {current}: {e.strerror or e}") from None
    moved: list[Path] = []
    kept: list[tuple[Path, Path]] = []
    try:
        def put(job: tuple[int, tuple[str, bytes | str]]) -> None:
            i, (name, data) = job
            fd = os.open(stage / f"{i}.new", os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), mode)
                f.write(data.encode("utf-8") if isinstance(data, str) else data)

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(put, enumerate(files)))
        for i, (name, _) in enumerate(files):
            current = target = out_dir / name
            if os.path.lexists(target):
                aside = stage / f"{i}.old"
                os.replace(target, aside)
                kept.append((aside, target))
            os.replace(stage / f"{i}.new", target)
            moved.append(target)
    except OSError as e:
        for target in moved:
            with contextlib.suppress(OSError):
                os.unlink(target)
        for aside, target in kept:
            with contextlib.suppress(OSError):
                os.replace(aside, target)
        raise StoreError(f"cannot write the report file {current}: {e.strerror or e}; nothing was written") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return [str(out_dir / name) for name, _ in files]


def summary(report: "WeeklyReport", language: str = "zh-Hans", *,
            facts: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """What the report says, as stable JSON keys (for ``--json`` and the flows).

    ``ranking`` gives each ranked unit's score, rank, change, points deducted and counts as lead and as
    supporting unit (the deduction lines themselves are in the documents); ``criticised`` every fact of
    each criticism (``facts``: the texts already worded for the notices, by unit).
    """
    from duban.notifications.report import family

    fam = family(language)
    facts = facts or {}
    h = report.headline
    return {
        "as_of": report.as_of.isoformat(),
        "period": {"start": report.period.start.isoformat(), "end": report.period.end.isoformat()},
        "number": report.number,
        "headline": {"tasks": h.tasks, "lights": h.lights, "due": h.due, "met_on_time": h.met_on_time, "closed": h.closed,
                     "overdue_open": h.overdue_open, "overdue_open_last_week": h.overdue_open_last_week,
                     "overdue_new": h.overdue_new, "closed_late": h.closed_late, "level2": h.level2,
                     "missing_reports": h.missing_reports, "undeliverable": h.undeliverable},
        "criticised": [{"unit": c.unit, "reasons": list(c.reasons), "facts": facts.get(c.unit) or c.texts(fam)}
                       for c in report.board.criticised],
        "praised": [{"unit": c.unit, "facts": c.texts(fam)} for c in report.board.praised],
        "ranking": [{"rank": u.rank, "unit": u.unit, "score": float(u.score), "change": u.change, "vetoed": u.vetoed,
                     "deducted": float(u.deducted), "lead": _counts(u.lead), "supporting": _counts(u.supporting)}
                    for u in report.board.units if u.rank is not None],
    }


def _counts(c: Any) -> dict[str, int]:
    return {"due": c.due, "met_on_time": c.met_on_time, "closed": c.closed, "overdue": c.overdue,
            "overdue_days": c.overdue_days, "max_level": c.max_level, "missing_reports": c.missing_reports,
            "late_reports": c.late_reports, "late_acks": c.late_acks}


def weekly_report(engine: "Engine", *, now: dt.datetime, policies: "PolicySet", settings: "Settings",
                  formats: Iterable[str] = FORMATS, out_dir: Path, plan: str | None = None,
                  scoring: ScoringConfig | None = None, calendar: WorkCalendar | None = None,
                  language: str | None = None) -> dict[str, Any]:
    """Build the weekly report for the period ending on ``now``'s day and write it into ``out_dir``.

    Returns ``{as_of, period, number, headline, criticised, praised, ranking, subject, files: {html, md,
    svg, docx}, criticism: {unit: {html, docx}}, language, documents, model}`` (``documents`` and
    ``model`` are objects, for ``email_report``; the rest is JSON, see ``summary``).
    """
    from duban.notifications.report import render_report

    formats = [f.strip() for f in formats if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown report format {unknown[0]!r}: use {', '.join(FORMATS)}")
    scoring = scoring or load_scoring_config(settings)
    with no_cyclic_gc():
        model = build_report(engine, now=now, policies=policies, scoring=scoring, plan=plan, calendar=calendar)
        renderer = _renderer(settings, language)
        docs = render_report(model, renderer, formats=formats, criticism=bool({"html", "docx"} & set(formats)))
    out_dir = Path(out_dir)
    files: dict[str, str] = {}
    stem = model.stem
    pending: list[tuple[str, str | bytes]] = []
    for kind, data, suffix in (("html", docs.html, "html"), ("md", docs.markdown, "md"),
                               ("svg", docs.svg if docs.markdown is not None else None, "svg"),
                               ("docx", docs.docx, "docx")):
        if data is not None:
            files[kind] = str(out_dir / f"{stem}.{suffix}")
            pending.append((f"{stem}.{suffix}", data))
    criticism: dict[str, dict[str, str]] = {}
    for unit, doc in docs.criticism.items():
        written = {}
        for kind in ("html", "docx"):
            if kind in formats:
                name = f"{doc['stem']}.{kind}"
                pending.append((name, doc[kind]))
                written[kind] = str(out_dir / name)
        criticism[unit] = written
    write_files(out_dir, pending)  # all or nothing
    facts = {unit: doc["facts"] for unit, doc in docs.criticism.items()}
    return {**summary(model, renderer.language, facts=facts), "subject": docs.subject, "files": files, "criticism": criticism,
            "documents": docs, "model": model, "language": renderer.language, "plan": plan}


def report_recipients(engine: "Engine", *, scoring: ScoringConfig, extra: Iterable[tuple[str, str]] = (),
                      plan: str | None = None) -> list[tuple[str, str]]:
    """(display name, address) of the office running the report's plans (its addresses and its
    head's) and the supervisors."""
    from duban.notifications.recipients import clean_address

    out: list[tuple[str, str]] = []
    if scoring.report.to_office:
        with transaction(engine) as session:
            office = repo.office_of(session, plan)
            if office is not None:
                out += [(office.name, e) for e in office.emails]
                if office.head_email:
                    out.append((" ".join(filter(None, (office.name, office.head_title or "主任", office.head_name))),
                                office.head_email))
    out += [(r.name, r.email) for r in scoring.report.recipients]
    out += list(extra)
    seen: set[str] = set()
    good = []
    for name, address in out:
        address = clean_address((address or "").strip())
        if address and address.lower() not in seen:
            seen.add(address.lower())
            good.append((name, address))
    return good


def email_report(engine: "Engine", *, now: dt.datetime, settings: "Settings", report: dict[str, Any],
                 scoring: ScoringConfig | None = None, recipients: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """Queue and hand over the weekly report as one message to the office and the supervisors.

    ``report`` is what ``weekly_report`` returned. The message goes into duban's message table (so a
    deferred one is retried by ``duban deliver``) and is sent at once: by SMTP when DUBAN_SMTP_URL is
    set, else written as an .eml into the outbox folder. Returns ``{status, key, message_id, to,
    subject, attachments, eml | error}``; ``status`` is ``already`` when this very report was mailed
    to the same people before.
    """
    import asyncio

    from duban.notifications.mail import (Outcome, SmtpConfig, SmtpSender, eml_name, message_id_for, sender_address,
                                    write_eml)
    from duban.notifications.render import Renderer
    from duban.notifications.report import build_report_message, render_report
    from duban.store.db import real_clock
    from duban.workflows.delivery_service import LEASE
    from duban.store.supervision import _insert_ignore
    from duban.store.tables import MessageRow

    scoring = scoring or load_scoring_config(settings)
    clock = real_clock(engine)  # the lease and the retry time: real time, never a replay's day (as deliver)
    docs = report["documents"]
    model = report["model"]
    if docs.html is None or docs.markdown is None or docs.docx is None:
        full = render_report(model, Renderer(language=report.get("language") or settings.language,
                                              override_dir=Path(settings.config_dir) / "templates"),
                             formats=FORMATS, criticism=False)
        docs.html, docs.markdown, docs.docx = docs.html or full.html, docs.markdown or full.markdown, docs.docx or full.docx
    to = report_recipients(engine, scoring=scoring, extra=recipients, plan=report.get("plan"))
    language = report.get("language") or settings.language
    in_script = for_language(language)  # header names in the letter's script too
    to = [(in_script(name), address) for name, address in to]
    if not to:
        raise ConfigError("the weekly report has nobody to go to: the office has no email address in the unit "
                          "directory and config scoring.yaml lists no report.recipients")
    sender = sender_address(in_script(settings.mail_from))
    domain = sender.rsplit("@", 1)[1].rstrip(">")
    digest = hashlib.sha256(docs.html.encode() + docs.docx + "|".join(a for _, a in to).encode()).hexdigest()[:16]
    key = f"report:weekly:{model.as_of.isoformat()}:{digest}"
    message_id = message_id_for(key, domain)
    filename = f"{model.stem}.docx"
    text = docs.markdown.replace(f"]({model.stem}.svg)", "]")  # no file beside a mail: keep the caption only
    body = build_report_message(sender=sender, to=to, subject=docs.subject, text=text, html=docs.html,
                                attachments=[(filename, docs.docx,
                                              "application/vnd.openxmlformats-officedocument.wordprocessingml.document")],
                                message_id=message_id, date=now)
    result = {"key": key, "message_id": message_id, "to": [a for _, a in to], "subject": docs.subject,
              "attachments": [filename]}
    with transaction(engine) as session:
        row = {"key": key, "address": ", ".join(a for _, a in to), "message_id": message_id, "subject": docs.subject,
               "status": "sending", "attempts": 1, "next_attempt_at": clock() + LEASE, "last_error": "",
               "created_at": now, "notices": 0, "body": body}
        inserted = session.connection().execute(
            _insert_ignore(session, MessageRow.__table__, ("key",)).returning(MessageRow.__table__.c.id), [row]).all()
        if not inserted:
            existing = session.execute(sa.select(MessageRow.id, MessageRow.status).where(MessageRow.key == key)).one()
            return {**result, "status": "already", "message": existing.id, "previous_status": existing.status}
        message_pk = inserted[0][0]
    if settings.smtp_url:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        config = SmtpConfig.from_url(settings.smtp_url, password=password, timeout=settings.smtp_timeout)

        async def send() -> Outcome:
            smtp = SmtpSender(config)
            try:
                return await smtp.send(body, sender.rsplit("<", 1)[-1].rstrip(">"), [a for _, a in to])
            finally:
                await smtp.close()

        outcome = asyncio.run(send())
        result["target"] = config.describe()
    else:
        path = write_eml(Path(settings.outbox_dir), eml_name(message_pk, body), body)
        outcome = Outcome("sent")
        result["eml"] = str(path)
        result["target"] = str(settings.outbox_dir)
    with transaction(engine) as session:
        msg = session.get(MessageRow, message_pk)
        if outcome.status == "sent":
            msg.status, msg.sent_at, msg.next_attempt_at, msg.last_error = "sent", now, None, outcome.error
        elif outcome.status == "retry":
            msg.status, msg.next_attempt_at, msg.last_error = ("pending", clock() + dt.timedelta(seconds=settings.retry_base_seconds),
                                                              outcome.error)
        else:
            msg.status, msg.next_attempt_at, msg.last_error = "failed", None, outcome.error
    result.update(status="queued" if outcome.status == "retry" else outcome.status, message=message_pk)
    if outcome.error:
        result["error"] = outcome.error
    return result
