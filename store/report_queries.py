"""The weekly report's reads: everything it needs as of a day, one set-based query per table.

``read_snapshot`` reads tasks, supporting units, milestones, recurrence periods, approved extensions,
progress reports, escalation notices, notices awaiting acknowledgement and undeliverable deliveries —
never a query per task — into a ``matrix.report_facts.ReportSnapshot``, from which each item's state
is rebuilt for any day (see there). ``office_recipients`` gives the addresses of the office running
the report's plans.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from duban.matrix.errors import NotFound
from duban.matrix.model import named_for
from duban.matrix.report_facts import ItemHistory, ReportOffice, ReportSnapshot, TaskHistory
from duban.matrix.reporting import ongoing_label

# The sweep's horizon: the report shows the periods it holds.
from duban.matrix.vocabulary import INSTANCE_HORIZON, ItemKind
from duban.store import repository as repo
from duban.store.db import transaction
from duban.store.tables import (
    DeliveryRow,
    ExtensionRow,
    MilestoneRow,
    NoticeRow,
    OfficialRow,
    PlanRow,
    ProgressReportRow,
    RecurrenceInstanceRow,
    RecurrenceRow,
    TaskOfficialRow,
    TaskRow,
    TaskUnitRow,
    UnitRow,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = ["read_snapshot", "load_snapshot", "office_recipients", "task_officials", "frozen_last_levels"]


def read_snapshot(engine: Engine, *, plan: str | None, as_of: dt.date, tz: dt.tzinfo, ack_kinds: Iterable[str],
                  ack_since: dt.date, period_start: dt.date) -> ReportSnapshot:
    """The snapshot as of ``as_of`` (the end of that local day in ``tz``), read in one transaction that
    only reads (see ``load_snapshot``)."""
    with transaction(engine) as session:
        snapshot = load_snapshot(session, plan=plan, as_of=as_of, tz=tz, ack_kinds=ack_kinds, ack_since=ack_since,
                                 period_start=period_start)
        session.rollback()  # reads only
    return snapshot


def load_snapshot(session: Session, *, plan: str | None, as_of: dt.date, tz: dt.tzinfo, ack_kinds: Iterable[str],
                  ack_since: dt.date, period_start: dt.date) -> ReportSnapshot:
    """Plans (``plan`` or all), units, live tasks with their items and history up to ``as_of``; notices of
    ``ack_kinds`` planned since ``ack_since``; undeliverable deliveries since ``period_start``."""
    conn = session.connection()
    plans = _plans(session, conn, plan)
    units = {r.id: r for r in conn.execute(sa.select(UnitRow.id, UnitRow.name, UnitRow.kind, UnitRow.is_office,
                                                     UnitRow.emails, UnitRow.head_email, UnitRow.head_title)).all()}
    live = sa.select(TaskRow.id).where(TaskRow.archived_at.is_(None), TaskRow.plan_id.in_(list(plans)))
    tasks = _tasks(conn, plans, live)
    milestones = _milestones(conn, tasks, plans, live, tz)
    instances = _instances(conn, tasks, live, as_of, tz)
    _history(conn, tasks, milestones, instances, live, as_of)
    _acks(conn, tasks, live, tz, kinds=list(ack_kinds), since=ack_since, as_of=as_of)
    return ReportSnapshot(as_of=as_of, tz=tz, plans=plans, units=units, tasks=list(tasks.values()),
                          undeliverable=_undeliverable(conn, live, tz, period_start, as_of),
                          office=_office_snapshot(repo.office_of(session, plan)))


def office_recipients(engine: Engine, plan: str | None = None) -> list[tuple[str, str]]:
    """(display name, address) of the office running ``plan`` (or every plan): its own addresses, then its
    head's ("<office> <head title, 主任 by default> <head's name>")."""
    out: list[tuple[str, str]] = []
    with transaction(engine) as session:
        office = repo.office_of(session, plan)
        if office is not None:
            out += [(office.name, e) for e in office.emails]
            if office.head_email:
                out.append((" ".join(filter(None, (office.name, office.head_title or "主任", office.head_name))),
                            office.head_email))
    return out


def task_officials(engine: Engine, task_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
    """Each task's lead officials (牵头领导) in the task's order, as "name(title)" (the title as the task
    writes it, else the official's): one query, for the tasks of the units a report refers."""
    ids = sorted(set(task_ids))
    out: dict[int, list[str]] = {task_id: [] for task_id in ids}
    if not ids:
        return {}
    t: Any = TaskOfficialRow  # columns, as SQLModel builds them (mypy sees the model's value types)
    o: Any = OfficialRow
    with engine.connect() as conn:
        for task_id, name, task_title, title in conn.execute(
                sa.select(t.task_id, o.name, t.title, o.title).join(o, o.id == t.official_id)
                .where(t.task_id.in_(ids)).order_by(t.task_id, t.position)).all():
            label = task_title or title
            out[task_id].append(f"{name}({label})" if label else name)
    return {task_id: tuple(names) for task_id, names in out.items()}


def frozen_last_levels(engine: Engine, task_ids: Iterable[int]) -> dict[str, int | None]:
    """The last level of the escalation ladder frozen on an item when it first went overdue (by item ref,
    "m12" / "i5"; None for an empty ladder), for the items of ``task_ids`` that have one: the ladder in force
    on them, whatever the policy says today. One query per table, for the tasks of criticised units."""
    ids = sorted(set(task_ids))
    out: dict[str, int | None] = {}
    if not ids:
        return out
    with engine.connect() as conn:
        for prefix, row in (("m", MilestoneRow), ("i", RecurrenceInstanceRow)):
            r: Any = row
            for item_id, ladder in conn.execute(sa.select(r.id, r.ladder)
                                                .where(r.task_id.in_(ids), r.ladder.is_not(None))).all():
                steps = json.loads(ladder) if isinstance(ladder, str) else ladder
                out[f"{prefix}{item_id}"] = max((int(step["level"]) for step in steps or []), default=None)
    return out


def _local_day(value: dt.datetime | None, tz: dt.tzinfo) -> dt.date | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(tz).date()


def _dec(v: Any) -> Decimal | None:
    if v is None:
        return None
    d = v if isinstance(v, Decimal) else Decimal(str(v))
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()


def _plans(session: Session, conn: Connection, plan: str | None) -> dict[int, Any]:
    plan_ids: list[int] | None = None
    if plan is not None:
        plan_ids = [repo.plan_row(session, plan).id]
    plans = {r.id: r for r in conn.execute(sa.select(PlanRow.id, PlanRow.code, PlanRow.title, PlanRow.issuer,
                                                     PlanRow.start, PlanRow.end, PlanRow.timezone)).all()
             if plan_ids is None or r.id in plan_ids}
    if not plans:
        raise NotFound("no plan has been imported yet; run `duban matrix import PLAN.yaml`")
    return plans


def _tasks(conn: Connection, plans: dict[int, Any], live: sa.Select[Any]) -> dict[int, TaskHistory]:
    tasks: dict[int, TaskHistory] = {}
    for task_id, plan_id, code, title, position, lead_unit_id, veto in conn.execute(
            sa.select(TaskRow.id, TaskRow.plan_id, TaskRow.code, TaskRow.title, TaskRow.position, TaskRow.lead_unit_id,
                      TaskRow.veto)
            .where(TaskRow.id.in_(live)).order_by(TaskRow.plan_id, TaskRow.position, TaskRow.id)).all():
        tasks[task_id] = TaskHistory(task_id, plan_id, plans[plan_id].code, code, title, position, lead_unit_id, bool(veto))
    for task_id, unit_id in conn.execute(sa.select(TaskUnitRow.task_id, TaskUnitRow.unit_id)
                                         .where(TaskUnitRow.task_id.in_(live))
                                         .order_by(TaskUnitRow.task_id, TaskUnitRow.position)).all():
        tasks[task_id].supporting.append(unit_id)
    return tasks


def _milestones(conn: Connection, tasks: dict[int, TaskHistory], plans: dict[int, Any], live: sa.Select[Any],
                tz: dt.tzinfo) -> dict[int, ItemHistory]:
    """Each live milestone, starting on its own start, else the day after the task's previous milestone's
    (extended) due date, else its plan's start."""
    milestones: dict[int, ItemHistory] = {}
    m = MilestoneRow
    previous_due: dict[int, dt.date] = {}
    plan_start = {pid: p.start for pid, p in plans.items()}
    one_day = dt.timedelta(days=1)
    quantities: dict[Any, Decimal | None] = {}
    # Plain tuples, unpacked: tens of thousands of rows.
    for mid, task_id, seq, due, extended_due, own_start, quantity, measure, label, closed_at, since in conn.execute(
            sa.select(m.id, m.task_id, m.seq, m.due, m.extended_due, m.start, m.quantity, m.measure, m.label, m.closed_at,
                      m.supervised_from)
            .where(m.archived_at.is_(None), m.task_id.in_(live)).order_by(m.task_id, m.seq)).all():
        task = tasks[task_id]
        before = previous_due.get(task_id)
        start = own_start or (before + one_day if before is not None else plan_start[task.plan_id])
        previous_due[task_id] = extended_due or due
        if quantity is not None:
            if quantity not in quantities:
                quantities[quantity] = _dec(quantity)
            quantity = quantities[quantity]
        item = ItemHistory(ItemKind.MILESTONE, mid, task_id, seq, due, start, quantity, measure, label or "",
                           _local_day(closed_at, tz) if closed_at is not None else None, supervised_from=since)
        task.items.append(item)
        milestones[mid] = item
    return milestones


def _instances(conn: Connection, tasks: dict[int, TaskHistory], live: sa.Select[Any], as_of: dt.date,
               tz: dt.tzinfo) -> dict[int, ItemHistory]:
    """The periods of recurring obligations due up to ``INSTANCE_HORIZON`` after ``as_of`` (the periods the
    sweep creates and ``status`` shows)."""
    instances: dict[int, ItemHistory] = {}
    i, rec = RecurrenceInstanceRow, RecurrenceRow
    for r in conn.execute(sa.select(i.id, i.task_id, i.due, i.period_start, i.closed_at, rec.min_count, rec.label,
                                    col(rec.beneficiary), rec.supervised_from, rec.ongoing, rec.freq, rec.rule)
                          .join(rec, rec.id == i.recurrence_id)
                          .where(rec.archived_at.is_(None), i.task_id.in_(live), i.due <= as_of + INSTANCE_HORIZON)
                          .order_by(i.task_id, i.due, i.id)).all():
        label = ongoing_label(r.label or "", r.freq, r.rule) if r.ongoing else r.label or ""  # 持續推進（每月5日前…）
        item = ItemHistory(ItemKind.INSTANCE, r.id, r.task_id, 0, r.due, r.period_start, label=named_for(label, r.beneficiary),
                           closed_on=_local_day(r.closed_at, tz), min_count=r.min_count,
                           supervised_from=r.supervised_from)
        tasks[r.task_id].items.append(item)
        instances[r.id] = item
    return instances


def _history(conn: Connection, tasks: dict[int, TaskHistory], milestones: dict[int, ItemHistory],
             instances: dict[int, ItemHistory], live: sa.Select[Any], as_of: dt.date) -> None:
    """Approved extensions, progress reports and escalations up to ``as_of``, added to their items (and
    the lead unit's reports to their task)."""

    def find(milestone_id: int | None, instance_id: int | None) -> ItemHistory | None:
        return milestones.get(milestone_id) if milestone_id is not None else instances.get(instance_id)

    e = ExtensionRow
    for r in conn.execute(sa.select(e.milestone_id, e.instance_id, e.new_due, e.decided_on, e.id)
                          .where(e.status == "approved", e.task_id.in_(live), e.decided_on <= as_of)
                          .order_by(e.decided_on, e.id)).all():
        item = find(r.milestone_id, r.instance_id)
        if item is not None:
            item.add("changes", (r.decided_on, r.new_due))
    p = ProgressReportRow
    # A supporting unit's part counts only once accepted, from the day it was (counted_on), its done quantity
    # added to the cumulative figure before it (workflows.progress_acceptance); pending and refused parts never.
    day = sa.func.coalesce(p.counted_on, p.reported_on)
    totals: dict[int, Decimal] = {}
    percents: dict[int, Decimal] = {}
    for r in conn.execute(sa.select(p.id, p.task_id, p.milestone_id, p.instance_id, p.unit_id, p.done_quantity,
                                    p.done_percent, p.done_count, p.reported_on, p.state, day.label("day"))
                          .where(p.task_id.in_(live), day <= as_of, p.state.in_(("counted", "accepted")))
                          .order_by(day, p.id)).all():
        item = find(r.milestone_id, r.instance_id)
        done = _dec(r.done_quantity)
        if r.milestone_id is not None and done is not None:
            if r.state == "accepted":
                done = totals.get(r.milestone_id, Decimal(0)) + done
            totals[r.milestone_id] = done
        percent = _dec(r.done_percent)
        if r.milestone_id is not None and percent is not None:
            if r.state == "accepted":  # a part's percent only raises the milestone's
                percent = max(percent, percents.get(r.milestone_id, percent))
            percents[r.milestone_id] = percent
        if item is not None:
            item.add("reports", (r.day, r.id, done, percent, r.done_count))
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


def _acks(conn: Connection, tasks: dict[int, TaskHistory], live: sa.Select[Any], tz: dt.tzinfo, *,
          kinds: list[str], since: dt.date, as_of: dt.date) -> None:
    """Notices of ``kinds`` planned from ``since`` to ``as_of`` (not superseded), with the local day each was
    acknowledged, added to their tasks."""
    if not kinds:
        return
    n = NoticeRow
    for r in conn.execute(sa.select(n.task_id, n.kind, n.level, n.planned_for, n.acknowledged_at)
                          .where(n.kind.in_(kinds), n.task_id.in_(live), n.status != "superseded",
                                 n.planned_for >= since, n.planned_for <= as_of)
                          .order_by(n.task_id, n.planned_for, n.id)).all():
        tasks[r.task_id].acks.append((r.kind, r.level, r.planned_for, _local_day(r.acknowledged_at, tz)))


def _undeliverable(conn: Connection, live: sa.Select[Any], tz: dt.tzinfo, period_start: dt.date,
                   as_of: dt.date) -> list[Any]:
    """Deliveries that found nobody to deliver to (held for an address), recorded during the period (local days)."""
    begin = dt.datetime.combine(period_start, dt.time(0), tz).astimezone(dt.UTC)
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(0), tz).astimezone(dt.UTC)
    d, n = DeliveryRow, NoticeRow
    return conn.execute(
        sa.select(d.recipient_role, d.recipient_name, d.display_name, d.last_error, n.task_id)
        .join(n, n.id == d.notice_id)
        .where(d.status.in_(("held", "undeliverable")),  # type: ignore[attr-defined]  # a column, as SQLModel builds it
               d.address == "", d.created_at >= begin, d.created_at < end, n.task_id.in_(live))
        .order_by(d.id)).all()


def _office_snapshot(row: Any) -> ReportOffice | None:
    """The office's values read inside the session (the report is built after it closed and rolled back)."""
    return None if row is None else ReportOffice(row.id, row.name)
