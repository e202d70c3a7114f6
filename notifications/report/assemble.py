"""The weekly report's model assembled from a period's facts: task rows, overdue rows, the chart, the
undeliverable recipients and the headline numbers.

Pure: everything comes from a ``matrix.report_facts.ReportSnapshot``, the period's facts and scoreboard,
and the tasks' lights as of the day (``workflows.report_service.build_report`` reads and scores, then
calls ``weekly_report_model``). A large plan's report stays readable: its task and overdue tables list
the worst ``report.max_rows`` rows and count the rest; the headline numbers always cover everything.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from duban.matrix.calendar import WorkCalendar
from duban.matrix.report_facts import PeriodFacts, ReportSnapshot, ShownItem, TaskHistory, TaskLight, overdue_series
from duban.matrix.rules import RulesUsed
from duban.matrix.scoring import Scoreboard, ScoringConfig, task_order
from duban.notifications.report.model import (
    ChartView,
    Headline,
    ItemView,
    OverdueView,
    TaskView,
    UndeliverableView,
    WeeklyReport,
    WeekPoint,
)

__all__ = ["weekly_report_model"]


def weekly_report_model(store: ReportSnapshot, *, board: Scoreboard, this: PeriodFacts, last: PeriodFacts,
                        tasks: list[TaskLight], scoring: ScoringConfig, cal: WorkCalendar,
                        rules: RulesUsed | None = None) -> WeeklyReport:
    """The report as of ``store.as_of``: ``board`` scores this period's facts (``this``; ``last`` is the
    period a week before), ``tasks`` are every task with its light (``matrix.report_facts.task_lights``);
    ``rules`` names the scoring rules used, in the footer."""
    as_of = store.as_of
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
        tasks_omitted=tasks_omitted, overdue_omitted=len(overdue) - len(shown_overdue), rules=rules,
    )


def _task_view(store: ReportSnapshot, facts: PeriodFacts, task: TaskHistory, colour: str,
               shown: list[ShownItem]) -> TaskView:
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


def _overdue_views(store: ReportSnapshot, facts: PeriodFacts) -> list[OverdueView]:
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



def _chart(store: ReportSnapshot, config: ScoringConfig) -> ChartView | None:
    as_of = store.as_of
    starts = [p.start for p in store.plans.values() if p.start is not None]
    plan_start = min(starts) if starts else as_of - dt.timedelta(days=7 * 12)
    # The tasks that share the commonest sequence of quantity milestones (the plan's 25 + 40 村).
    groups: dict[tuple, list[TaskHistory]] = defaultdict(list)
    for task in store.tasks:
        ms = [m for m in task.items if m.kind == "milestone"]
        if ms and all(m.quantity is not None for m in ms) and len({m.measure for m in ms}) == 1:
            groups[tuple((m.due, m.quantity, m.measure) for m in ms)].append(task)
    group: list[TaskHistory] = []
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
    overdue = overdue_series(store, ends)
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


def _undeliverable_views(store: ReportSnapshot) -> list[UndeliverableView]:
    tasks = {t.id: t.code for t in store.tasks}
    grouped: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for role, name, display, reason, task_id in store.undeliverable:
        grouped[(role, display or name or role, reason or "")].append(tasks.get(task_id, ""))
    return [UndeliverableView(role=role, name=name, reason=reason, notices=len(codes),
                              tasks=tuple(sorted(set(codes), key=task_order)))
            for (role, name, reason), codes in sorted(grouped.items())]

