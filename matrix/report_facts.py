"""The weekly report's facts, derived purely from what the store holds: no clock, no I/O.

``store.report_queries`` reads the history of every live task into a ``ReportSnapshot`` —
``ItemHistory`` per milestone or recurrence period (approved extensions with the day they were decided,
progress reports, escalation levels), ``TaskHistory`` per task (its lead unit's reports, notices
awaiting acknowledgement). Each item's state can then be rebuilt for any day: its due date (an
approved extension counts from the day it was decided), whether it was closed (the local day of
``closed_at``), its quantity done (the latest report dated on or before the day; a closed milestone
counts as its target reached) and its escalation level. So the report for a past Friday is the
report that Friday would have had, and last week's scores (for the change in rank) are computed the
same way for the day seven days earlier.

``period_facts`` turns a snapshot into the scorer's input (``matrix.scoring``, where every rule is
written down): item facts, missing / late / sent progress reports, late acknowledgements per unit,
as lead and as supporting unit. ``task_lights`` gives every task its light as of the day (the
planner's ``light``), ``overdue_series`` the overdue count at the end of given days (for the chart).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from duban.matrix.calendar import WorkCalendar
from duban.matrix.planner import Item, StatusLight, before_supervision, light, worst
from duban.matrix.policy import PolicySet
from duban.matrix.scoring import (
    AckFact,
    ItemFact,
    Period,
    ReportFact,
    RoleFacts,
    ScoringConfig,
    UnitFacts,
    criticism_reasons,
    task_order,
)
from duban.matrix.vocabulary import ItemKind, Light

__all__ = [
    "ItemHistory", "TaskHistory", "ReportOffice", "ReportSnapshot", "PeriodFacts", "MAX_STREAK",
    "item_fact", "progress_spans", "missed_windows", "reporting_from", "progress_report_facts", "ack_facts", "period_facts", "period_for",
    "criticism_streaks", "told_leader", "MAX_CRITICISM_WEEKS",
    "task_lights", "overdue_series", "ShownItem", "TaskLight",
]

MAX_STREAK = 52  # missed-report windows looked back at most (a year of weeks)
MAX_CRITICISM_WEEKS = 520  # criticism streaks looked back at most (ten years of weeks)

Change = tuple[dt.date, dt.date]  # (decided on, new due) of an approved extension
Report = tuple[dt.date, int, Decimal | None, Decimal | None, int | None]  # (day, report id, done, percent, count)
Level = tuple[dt.date, dt.date, int]  # (planned for, due, level) of an escalation
LeadReport = tuple[dt.date, int, str]  # (day, report id, item ref) of a report by the task's lead unit
Ack = tuple[str, int, dt.date, dt.date | None]  # (kind, level, planned for, acknowledged on) of a notice


# --------------------------------------------------------------------------------------------
# What the store holds, rebuilt for any day


class ItemHistory:
    """A milestone or recurrence period with its history, rebuilt for any day (``state_at``: the planner's
    ``Item`` on that day)."""

    __slots__ = ("kind", "id", "task_id", "seq", "due", "start", "quantity", "measure", "label", "closed_on",
                 "min_count", "changes", "reports", "levels", "supervised_from")
    kind: ItemKind
    id: int
    task_id: int
    seq: int
    due: dt.date
    start: dt.date | None
    quantity: Decimal | None
    measure: str | None
    label: str
    closed_on: dt.date | None
    min_count: int | None
    changes: Sequence[Change]
    reports: Sequence[Report]
    levels: Sequence[Level]
    supervised_from: dt.date | None

    def __init__(self, kind: ItemKind, id: int, task_id: int, seq: int, due: dt.date, start: dt.date | None,  # noqa: A002
                 quantity: Decimal | None = None, measure: str | None = None, label: str = "",
                 closed_on: dt.date | None = None, min_count: int | None = None,
                 changes: list[Change] | None = None, reports: list[Report] | None = None,
                 levels: list[Level] | None = None, supervised_from: dt.date | None = None) -> None:
        self.kind, self.id, self.task_id, self.seq, self.due, self.start = kind, id, task_id, seq, due, start
        self.supervised_from = supervised_from  # the import that created it; None: supervised from the start
        self.quantity, self.measure, self.label, self.closed_on, self.min_count = quantity, measure, label, closed_on, min_count
        # (decided on, new due) of approved extensions; (day, report id, done, percent, count) of reports;
        # (planned for, due, level) of escalations. Empty tuples until there is something (most items have none).
        self.changes = changes or ()
        self.reports = reports or ()
        self.levels = levels or ()

    def add(self, name: str, entry: tuple[Any, ...]) -> None:
        values = getattr(self, name)
        if not values:
            setattr(self, name, [entry])
        else:
            values.append(entry)

    @property
    def ref(self) -> str:
        return ("m" if self.kind == ItemKind.MILESTONE else "i") + str(self.id)

    def due_at(self, day: dt.date) -> dt.date:
        due = self.due
        for decided, new_due in self.changes:
            if decided <= day:
                due = new_due
        return due

    def supervised_on(self, day: dt.date) -> dt.date | None:
        """The day supervision began, as a report for ``day`` sees it: None when it began after ``day`` (a
        report of an earlier day replays history, as if supervised from the start) or was never recorded."""
        since = self.supervised_from
        return since if since is not None and since <= day else None

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

    def state_at(self, day: dt.date, due: dt.date, closed: dt.date | None) -> Item:
        """The supervised item as it stood on ``day`` (due ``due``, closed on ``closed``): the planner's
        ``Item``, the one shape the sweep, status and the report light alike."""
        instance = self.kind == ItemKind.INSTANCE
        return Item(kind=ItemKind.INSTANCE if instance else ItemKind.MILESTONE, id=self.id, due=due, start=self.start,
                    quantity=self.quantity, measure=self.measure, done_quantity=self.done_at(day),
                    done_percent=self.percent_at(day) if self.quantity is None else None, min_count=self.min_count,
                    done_count=self.count_at(day) if instance else 0, closed=closed is not None)


class TaskHistory:
    """A live task with its items and its lead unit's reports and notices awaiting acknowledgement."""

    __slots__ = ("id", "plan_id", "plan_code", "code", "title", "position", "lead_unit_id", "veto", "supporting",
                 "items", "lead_reports", "acks")

    def __init__(self, id: int, plan_id: int, plan_code: str, code: str, title: str, position: int,  # noqa: A002
                 lead_unit_id: int, veto: bool, supporting: list[int] | None = None,
                 items: list[ItemHistory] | None = None, lead_reports: list[LeadReport] | None = None) -> None:
        self.id, self.plan_id, self.plan_code, self.code, self.title = id, plan_id, plan_code, code, title
        self.position, self.lead_unit_id, self.veto = position, lead_unit_id, veto
        self.supporting: list[int] = supporting if supporting is not None else []
        self.items: list[ItemHistory] = items if items is not None else []
        self.lead_reports: list[LeadReport] = lead_reports if lead_reports is not None else []
        self.acks: list[Ack] = []

    @property
    def lead_days(self) -> list[dt.date]:
        return [d for d, _, _ in self.lead_reports]


@dataclass(frozen=True, slots=True)
class ReportOffice:
    """The office's values read inside the session (the report is built after it closed and rolled back)."""

    id: int
    name: str


@dataclass(slots=True)
class ReportSnapshot:
    """What the report reads from the store as of a day: plans and units (rows by id), live tasks with their
    history, undeliverable deliveries of the period (role, name, display name, reason, task id)."""

    as_of: dt.date
    tz: dt.tzinfo
    plans: dict[int, Any]
    units: dict[int, Any]
    tasks: list[TaskHistory]
    undeliverable: list[Any]
    office: ReportOffice | None = None  # the office running these plans (store.repository.office_of)



# --------------------------------------------------------------------------------------------
# Facts of a period


def item_fact(item: ItemHistory, task: TaskHistory, period: Period, cal: WorkCalendar, *,
              count_days: bool = True) -> ItemFact | None:
    """The item's facts for the period, or None when it has none (not due, closed or overdue in it). Without
    ``count_days`` its working days overdue are left 0 (for the criticism condition alone, which needs none)."""
    start, end = period.start, period.end
    due = item.due_at(end) if item.changes else item.due
    if before_supervision(item.kind, due, item.supervised_from, end):
        return None  # a period that ended before its supervision began: not owed, not scored
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
    # Overdue days count from the due date, or from the day supervision began if the item was overdue then.
    since = item.supervised_on(end)
    origin = since if since is not None and since > due else due
    days = cal.working_days_between(origin, closed if closed is not None else end) if overdue and count_days else 0
    return ItemFact(
        task_code=task.code, task_title=task.title, item=item.ref, due=due, label=item.label, veto=task.veto,
        due_in_period=due_in and due <= end, met_on_time=due_in and due <= end and closed is not None and closed <= due,
        closed_on=closed, closed_in_period=closed_in, overdue=overdue, overdue_days=days,
        level=item.level_at(end, due) if overdue and item.levels else 0,
        quantity=item.quantity, done=item.done_at(end), measure=item.measure,
    )


def reporting_from(item: ItemHistory, end: dt.date, every: int) -> dt.date | None:
    """The first day a window may start and expect a report on a quantity milestone: one full interval
    (``every`` days) after it began — after its start, or after its supervision began if that was later
    (as a report for ``end`` sees it). A milestone begun less than an interval before a window has had
    nothing to report yet; its first report falls due in the window after."""
    if item.start is None:
        return None
    since = item.supervised_on(end)
    begun = max(item.start, since) if since is not None else item.start
    return begun + dt.timedelta(days=every)


def progress_spans(quantity: list[ItemHistory], end: dt.date | None = None,
                   every: int = 0) -> list[tuple[dt.date, dt.date]]:
    """Days on which a window may start and expect a report: from ``reporting_from`` a quantity milestone
    (its start, with ``end`` and ``every`` not given) to the day it was closed (or for ever), merged."""
    firsts = [(reporting_from(m, end, every) if end is not None else m.start, m) for m in quantity]
    spans = sorted((lo, m.closed_on or dt.date.max) for lo, m in firsts if lo is not None
                   and lo <= (m.closed_on or dt.date.max))
    merged: list[list[dt.date]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def missed_windows(task: TaskHistory, end: dt.date, every: int, quantity: list[ItemHistory],
                   limit: int = MAX_STREAK, days: list[dt.date] | None = None) -> int:
    """How many windows of ``every`` days in a row, ending on ``end``, asked for a progress report on the task
    (``quantity``: its quantity milestones with a start) and got none from its lead unit — counted up to
    ``limit`` (``days``: the lead unit's report days, when the caller has them)."""
    days = task.lead_days if days is None else days
    spans = progress_spans(quantity, end, every)
    # Window k runs from end − (k+1)·every + 1 to end − k·every. Windows after the last report have none.
    last = bisect_right(days, end)
    quiet = limit if not last else min(limit, (end - days[last - 1]).days // every)
    streak = 0
    while streak < quiet:
        first = end - dt.timedelta(days=(streak + 1) * every - 1)
        span = next((sp for sp in spans if sp[0] <= first <= sp[1]), None)
        if span is None:
            break
        # Every earlier window whose first day is still inside this span expects a report too.
        reach = (end - span[0]).days + 1  # days from the span's start to the end, both included
        streak = min(quiet, max(streak + 1, reach // every))
    return streak


def progress_report_facts(task: TaskHistory, period: Period, config: ScoringConfig) -> list[ReportFact]:
    """Missing / late / sent progress reports of a task's lead unit (see matrix.scoring for the rules)."""
    out: list[ReportFact] = []
    end = period.end
    every = config.reports_every_days
    days = task.lead_days
    quantity = [m for m in task.items if m.kind == ItemKind.MILESTONE and m.quantity is not None and m.start is not None]

    if every and quantity:
        last = bisect_right(days, end)
        streak = missed_windows(task, end, every, quantity, days=days)
        if streak:
            out.append(ReportFact(task.code, task.title, "missing", streak=streak))
        else:
            first = end - dt.timedelta(days=every - 1)
            lo = bisect_left(days, first)
            in_progress = [m.start for m in quantity if m.start is not None and m.start <= first
                           and (m.closed_on is None or m.closed_on >= first)]
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


def ack_facts(task: TaskHistory, period: Period, config: ScoringConfig, cal: WorkCalendar) -> list[AckFact]:
    """Notices of the task acknowledged late or not at all, whose deadline (``ack_within`` working days after
    they were planned) falls in the period."""
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
class PeriodFacts:
    """A period's facts: each unit's (the scorer's input), each item's by ref, and how many tasks miss reports."""

    period: Period
    units: list[UnitFacts]
    items: dict[str, tuple[TaskHistory, ItemFact]]  # by item ref
    missing: int


def period_facts(store: ReportSnapshot, period: Period, config: ScoringConfig, cal: WorkCalendar) -> PeriodFacts:
    """Every task's facts of the period, gathered per unit: as lead unit (items, reports, acknowledgements)
    and as supporting unit (items)."""
    lead: dict[int, dict[str, list[Any]]] = defaultdict(lambda: {"items": [], "reports": [], "acks": []})
    supporting: dict[int, list[ItemFact]] = defaultdict(list)
    in_scope: set[int] = set()
    items: dict[str, tuple[TaskHistory, ItemFact]] = {}
    missing = 0
    for task in store.tasks:
        facts = []
        for item in task.items:
            fact = item_fact(item, task, period, cal)
            if fact is not None:
                facts.append(fact)
                items[item.ref] = (task, fact)
        reports = progress_report_facts(task, period, config)
        missing += any(r.kind == "missing" for r in reports)
        acks = ack_facts(task, period, config, cal) if task.acks else []
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
        own = lead.get(unit_id)
        units.append(UnitFacts(
            unit=u.name, kind=u.kind,
            lead=RoleFacts(tuple(own["items"]), tuple(own["reports"]), tuple(own["acks"])) if own else RoleFacts(),
            supporting=RoleFacts(items=tuple(supporting.get(unit_id, ()))),
        ))
    return PeriodFacts(period=period, units=units, items=items, missing=missing)


def period_for(as_of: dt.date, config: ScoringConfig) -> Period:
    """The scoring period that ends on ``as_of`` (``period_days`` long, both ends included)."""
    return Period(as_of - dt.timedelta(days=config.period_days - 1), as_of)


# --------------------------------------------------------------------------------------------
# Criticism streaks and the leader told (referral to the leadership group, matrix.scoring.referral)


def told_leader(store: ReportSnapshot, unit_ids: set[int],
                last_level: Callable[[TaskHistory, ItemHistory], int | None]) -> set[int]:
    """The units (of ``unit_ids``) with an escalation at the last level of the ladder in force on the item
    (``last_level``; None: the ladder has none) planned by the snapshot's day on an item of one of their
    tasks as lead unit: their leader has been told."""
    out: set[int] = set()
    for task in store.tasks:
        if task.lead_unit_id not in unit_ids or task.lead_unit_id in out:
            continue
        for item in task.items:
            if not item.levels:
                continue
            top = last_level(task, item)
            if top is not None and any(lv >= top and planned <= store.as_of for planned, _due, lv in item.levels):
                out.add(task.lead_unit_id)
                break
    return out


def _criticised_in(tasks: list[TaskHistory], period: Period, config: ScoringConfig, cal: WorkCalendar) -> bool:
    """Whether the criticism condition (``scoring.criticism_reasons``) held for the lead unit of ``tasks`` in
    ``period``: its item facts first (without counting working days: the condition does not use them), then,
    only if they do not meet it, each task's missed progress reports, counted only as far as the rule needs."""
    items = tuple(fact for task in tasks for item in task.items
                  if (fact := item_fact(item, task, period, cal, count_days=False)) is not None)
    if criticism_reasons(RoleFacts(items), config):
        return True
    needed, every = config.criticism_missed_in_a_row, config.reports_every_days
    if not (needed and every):
        return False
    for task in tasks:
        quantity = [m for m in task.items if m.kind == ItemKind.MILESTONE and m.quantity is not None
                    and m.start is not None]
        if quantity and missed_windows(task, period.end, every, quantity, limit=needed) >= needed:
            return True
    return False


def criticism_streaks(store: ReportSnapshot, unit_ids: set[int], period: Period, config: ScoringConfig,
                      cal: WorkCalendar) -> dict[int, tuple[int, dt.date]]:
    """Per unit (of ``unit_ids``, criticised in ``period``): its criticism streak — the consecutive weekly
    periods ending on ``period.end`` in which the criticism condition held (uncapped) — and the last day
    of the first of them. Earlier weeks are rebuilt from the snapshot's facts as the report of their day
    saw them, only for these units' tasks, each unit until the condition fails (or ``MAX_CRITICISM_WEEKS``)."""
    tasks: dict[int, list[TaskHistory]] = defaultdict(list)
    for task in store.tasks:
        if task.lead_unit_id in unit_ids:
            tasks[task.lead_unit_id].append(task)
    out = {unit_id: (1, period.end) for unit_id in unit_ids}
    active = set(unit_ids)
    week = dt.timedelta(days=7)
    earlier = period
    for _ in range(1, MAX_CRITICISM_WEEKS):
        if not active:
            break
        earlier = Period(earlier.start - week, earlier.end - week)
        for unit_id in sorted(active):
            if _criticised_in(tasks[unit_id], earlier, config, cal):
                out[unit_id] = (out[unit_id][0] + 1, earlier.end)
            else:
                active.discard(unit_id)
    return out


# --------------------------------------------------------------------------------------------
# Lights and the overdue series


ShownItem = tuple[ItemHistory, Item, dt.date | None, StatusLight]  # (item, its state as of the day, closed on, light)
TaskLight = tuple[TaskHistory, Light, list[ShownItem]]  # (task, its light's colour, its items shown)


def task_lights(store: ReportSnapshot, facts: PeriodFacts, policies: PolicySet, cal: WorkCalendar) -> list[TaskLight]:
    """Every task in plan order with its light and its items' (item, state, light) as of the day."""
    day = store.as_of
    out: list[TaskLight] = []
    for task in sorted(store.tasks, key=lambda t: (store.plans[t.plan_id].code, t.position, task_order(t.code))):
        policy = policies.for_task(task.plan_code, task.code)
        shown: list[ShownItem] = []
        for item in task.items:
            due = item.due_at(day)
            closed = item.closed_by(day)
            if before_supervision(item.kind, due, item.supervised_from, day):
                continue
            if item.kind == ItemKind.INSTANCE:
                current = item.start is not None and item.start <= day <= due
                if not (current or (due < day and closed is None) or item.ref in facts.items):
                    continue
            state = item.state_at(day, due, closed)
            shown.append((item, state, closed, light(state, day, cal, policy)))
        open_colours: list[Light] = [lt.colour for *_, lt in shown if lt.colour != Light.CLOSED]
        colour = worst(open_colours)
        out.append((task, colour, shown))
    return out


def overdue_series(store: ReportSnapshot, days: list[dt.date]) -> list[int]:
    """Items overdue at the end of each day in ``days``: past their due date then, not closed by then (a
    period that fell due before its supervision began, until that day: a replay of history)."""
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
                if item.supervised_from is not None and before_supervision(item.kind, due, item.supervised_from, dt.date.max):
                    stop = min(stop, item.supervised_from)  # not owed from the day its supervision began
                if begin < stop:
                    starts.append(begin)
                    ends.append(stop)
    starts.sort()
    ends.sort()
    return [bisect_right(starts, d) - bisect_right(ends, d) for d in days]

