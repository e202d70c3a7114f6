"""The sweep: look at every open milestone and recurring obligation and write today's notices, once.

``sweep(engine, now=…, policies=…)`` loads the open items with a few set-based queries, asks the pure
planner (matrix.planner) what each owes today, and inserts the notices in one transaction with
INSERT … ON CONFLICT (key) DO NOTHING. Running it twice, after a crash, or two at once (PostgreSQL)
never duplicates a notice: the key is the notice's identity. Each run is recorded in ``sweep``.
Also here: status lights, the outbox listing and acknowledgements (簽收).
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from duban.matrix.calendar import WorkCalendar
from duban.matrix.errors import NotFound, Refused
from duban.matrix.gcpause import no_cyclic_gc
from duban.matrix.planner import Item, PlannedNotice, StatusLight, TaskInfo, light, plan_notices, worst
from duban.matrix.policy import EscalationLevel, PolicySet
from duban.matrix.vocabulary import INSTANCE_HORIZON, NOTICE_KINDS, ItemKind, Light
from duban.store import repository as repo
from duban.store.db import real_clock, transaction
from duban.store.supervision import _insert_ignore, ensure_instances
from duban.store.tables import (
    EventRow,
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


@dataclass(slots=True)
class OpenItem:
    item: Item
    plan_id: int
    plan_code: str
    task_id: int
    task: TaskInfo
    title: str
    label: str = ""


@dataclass(slots=True)
class SweepResult:
    sweep_id: int
    as_of: dt.date
    items: int = 0
    created: dict[str, int] = field(default_factory=dict)
    instances_created: int = 0
    newly_overdue: int = 0
    calendar_fallback_years: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"sweep": self.sweep_id, "as_of": self.as_of.isoformat(), "items": self.items,
                "created": self.created, "instances_created": self.instances_created,
                "newly_overdue": self.newly_overdue, "calendar_fallback_years": self.calendar_fallback_years}


# --------------------------------------------------------------------------------------------
# Loading open items


@lru_cache(maxsize=256)
def _ladder(text: str | None) -> tuple[EscalationLevel, ...] | None:
    """A frozen ladder from its stored JSON text; nearly every item shares one, so parse each once."""
    return None if text is None else tuple(EscalationLevel.from_dict(d) for d in json.loads(text))


def _dec(v: Any) -> Decimal | None:
    return v if v is None or isinstance(v, Decimal) else Decimal(str(v))


def load_open_items(session: Session, *, plan_code: str | None = None, include_closed: bool = False,
                    task_ids: Iterable[int] | None = None, due_by: dt.date | None = None) -> list[OpenItem]:
    """Every live milestone and recurrence instance (open ones unless ``include_closed``), with its task.

    Core queries on the session's connection: no ORM identity map for tens of thousands of rows.
    ``due_by`` leaves out items due later than that day (the sweep needs only those it may remind
    or chase; their pace start, which needs the earlier milestones, is then not computed).
    """
    plan_filter = []
    if plan_code is not None:
        plan_filter.append(TaskRow.plan_id == repo.plan_row(session, plan_code).id)
    if task_ids is not None:
        plan_filter.append(TaskRow.id.in_(list(task_ids)))
    conn = session.connection()
    unit_names = dict(conn.execute(sa.select(UnitRow.id, UnitRow.name)).all())
    plans = dict(conn.execute(sa.select(PlanRow.id, PlanRow.code)).all())
    plan_starts = dict(conn.execute(sa.select(PlanRow.id, PlanRow.start)).all())
    tasks = {r.id: r for r in conn.execute(
        sa.select(TaskRow.id, TaskRow.plan_id, TaskRow.code, TaskRow.title, TaskRow.lead_unit_id)
        .where(TaskRow.archived_at.is_(None), *plan_filter)).all()}
    live = sa.select(TaskRow.id).where(TaskRow.archived_at.is_(None), *plan_filter)
    supporting: dict[int, list[str]] = defaultdict(list)
    for task_id, unit_id in conn.execute(
            sa.select(TaskUnitRow.task_id, TaskUnitRow.unit_id).where(TaskUnitRow.task_id.in_(live))
            .order_by(TaskUnitRow.task_id, TaskUnitRow.position)):
        supporting[task_id].append(unit_names[unit_id])
    officials: dict[int, list[str]] = defaultdict(list)
    for task_id, name in conn.execute(
            sa.select(TaskOfficialRow.task_id, OfficialRow.name).join(OfficialRow, OfficialRow.id == TaskOfficialRow.official_id)
            .where(TaskOfficialRow.task_id.in_(live)).order_by(TaskOfficialRow.task_id, TaskOfficialRow.position)):
        officials[task_id].append(name)
    infos = {tid: TaskInfo(code=t.code, lead_unit=unit_names[t.lead_unit_id], supporting_units=tuple(supporting[tid]),
                           lead_officials=tuple(officials[tid])) for tid, t in tasks.items()}

    out: list[OpenItem] = []
    m = MilestoneRow
    previous_due: dict[int, dt.date] = {}
    for row in conn.execute(
            sa.select(m.id, m.task_id, m.due, m.extended_due, m.start, m.quantity, m.measure, m.label, m.done_quantity,
                      m.done_percent, m.closed_at, sa.cast(m.ladder, sa.Text).label("ladder"))
            .where(m.archived_at.is_(None), m.task_id.in_(live),
                   *([sa.func.coalesce(m.extended_due, m.due) <= due_by] if due_by else []))
            .order_by(m.task_id, m.seq)).all():
        t = tasks[row.task_id]
        # A milestone's pace runs from its own start, else the day after the previous one, else the plan start.
        start = row.start or (previous_due[row.task_id] + dt.timedelta(days=1) if row.task_id in previous_due else plan_starts.get(t.plan_id))
        previous_due[row.task_id] = row.extended_due or row.due
        if row.closed_at is not None and not include_closed:
            continue
        item = Item(kind=ItemKind.MILESTONE, id=row.id, due=row.extended_due or row.due, start=start, quantity=_dec(row.quantity),
                    measure=row.measure, done_quantity=_dec(row.done_quantity), done_percent=_dec(row.done_percent),
                    closed=row.closed_at is not None, ladder=_ladder(row.ladder))
        out.append(OpenItem(item, t.plan_id, plans[t.plan_id], row.task_id, infos[row.task_id], t.title, row.label))
    i, r = RecurrenceInstanceRow, RecurrenceRow
    q = (sa.select(i.id, i.task_id, i.due, i.extended_due, i.period_start, i.done_count, i.done_amount, i.closed_at,
                   sa.cast(i.ladder, sa.Text).label("ladder"),
                   r.min_count, r.min_amount, r.amount_unit, r.label)
         .join(r, r.id == i.recurrence_id).where(r.archived_at.is_(None), i.task_id.in_(live)))
    if not include_closed:
        q = q.where(i.closed_at.is_(None))
    if due_by:
        q = q.where(sa.func.coalesce(i.extended_due, i.due) <= due_by)
    for row in conn.execute(q.order_by(i.task_id, i.due)).all():
        t = tasks[row.task_id]
        item = Item(kind=ItemKind.INSTANCE, id=row.id, due=row.extended_due or row.due, start=row.period_start,
                    min_count=row.min_count, done_count=row.done_count or 0, min_amount=_dec(row.min_amount),
                    done_amount=_dec(row.done_amount), measure=row.amount_unit, closed=row.closed_at is not None,
                    ladder=_ladder(row.ladder))
        out.append(OpenItem(item, t.plan_id, plans[t.plan_id], row.task_id, infos[row.task_id], t.title, row.label))
    return out


# --------------------------------------------------------------------------------------------
# The sweep


def _local_day(now: dt.datetime) -> dt.date:
    return now.date()


@lru_cache(maxsize=65536)
def _people(recipients: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    """The stored form of a recipient list (shared, never mutated: the column writer only reads it)."""
    return [{"role": role, "name": name} for role, name in recipients]


def _notice_row(o: OpenItem, p: PlannedNotice, *, now: dt.datetime, sweep_id: int) -> dict[str, Any]:
    return {
        "key": p.key, "series": p.series, "kind": p.kind.value, "level": p.level, "plan_id": o.plan_id, "task_id": o.task_id,
        "milestone_id": o.item.id if o.item.kind == ItemKind.MILESTONE else None,
        "instance_id": o.item.id if o.item.kind == ItemKind.INSTANCE else None,
        "due": p.due, "days": p.days, "planned_for": p.planned_for,
        "recipients": _people(p.recipients),
        "cc": _people(p.cc),
        "sweep_id": sweep_id, "created_at": now, "status": "pending", "attempts": 0, "last_error": "",
        "acknowledged_by": "", "data": {"label": o.label} if o.label else {},
    }


def _wall_clock() -> dt.datetime:
    """When a sweep really started and finished (its ``as_of`` is the day it acted for, which a replay
    or a catch-up sets): the record of runs is about the machine's time."""
    return dt.datetime.now(dt.timezone.utc)


# A running sweep renews its lease every HEARTBEAT; one whose lease ran out SWEEP_LEASE after its last
# renewal has lost its process (kill -9, a power cut): the next sweep marks it interrupted. The sweep
# is one transaction, so an interrupted one wrote nothing but its record.
SWEEP_LEASE = dt.timedelta(minutes=2)
HEARTBEAT = dt.timedelta(seconds=20)


def _start(engine: Engine, as_of: dt.date, clock: Callable[[], dt.datetime]) -> int:
    with transaction(engine) as s:
        real_now = clock()
        _mark_interrupted(s, real_now)
        row = SweepRow(as_of=as_of, started_at=_wall_clock(), status="running", counts={}, host=socket.gethostname(),
                       lease_until=real_now + SWEEP_LEASE)
        s.add(row)
        s.flush()
        return row.id


def _mark_interrupted(session: Session, real_now: dt.datetime) -> int:
    """Running sweeps whose lease ran out (rows from before leases: counted from their start) are
    marked interrupted; returns how many."""
    t = SweepRow.__table__.c
    lapsed = sa.or_(t.lease_until < real_now, sa.and_(t.lease_until.is_(None), t.started_at < real_now - SWEEP_LEASE))
    done = session.execute(sa.update(SweepRow).where(t.status == "running", lapsed).values(
        status="interrupted",
        error=sa.func.coalesce(sa.func.nullif(t.error, ""), "its process stopped before it finished (lease ran out); "
                                                             "nothing it planned was written")))
    return done.rowcount or 0


class _Heartbeat:
    """Renews a running sweep's lease from a thread while the sweep works (its own short transactions).
    On SQLite a renewal waits while the sweep itself holds the write lock — as any other writer would,
    so nobody can mark it interrupted meanwhile either."""

    def __init__(self, engine: Engine, sweep_id: int, clock: Callable[[], dt.datetime]) -> None:
        import threading

        self.engine, self.sweep_id, self.clock = engine, sweep_id, clock
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"sweep-{sweep_id}-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(HEARTBEAT.total_seconds()):
            try:
                with self.engine.begin() as conn:
                    conn.execute(sa.update(SweepRow).where(SweepRow.id == self.sweep_id, SweepRow.status == "running")
                                 .values(lease_until=self.clock() + SWEEP_LEASE))
            except Exception:  # noqa: BLE001 - a missed renewal is retried at the next beat
                continue

    def __enter__(self) -> "_Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def _fail(engine: Engine, sweep_id: int, error: BaseException, now: dt.datetime) -> None:
    with transaction(engine) as s:
        s.execute(sa.update(SweepRow).where(SweepRow.id == sweep_id)
                  .values(status="failed", finished_at=_wall_clock(), error=f"{type(error).__name__}: {error}"[:2000]))


def sweep(engine: Engine, *, now: dt.datetime, policies: PolicySet, plan: str | None = None,
          calendar: WorkCalendar | None = None, clock: Callable[[], dt.datetime] | None = None) -> SweepResult:
    """Evaluate everything open at ``now`` and write the notices owed, exactly once each.

    ``clock`` is the real time for the sweep's lease (``store.db.real_clock`` unless a test gives one),
    never ``now``, which a replay sets to the day it acts for."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    today = _local_day(now)
    cal = calendar or WorkCalendar()
    clock = clock or real_clock(engine)
    sweep_id = _start(engine, today, clock)
    result = SweepResult(sweep_id=sweep_id, as_of=today)
    try:
        with _Heartbeat(engine, sweep_id, clock), no_cyclic_gc(), transaction(engine) as session:
            _sweep_in(session, result, now=now, today=today, policies=policies, plan=plan, cal=cal)
    except BaseException as e:
        _fail(engine, sweep_id, e, now)
        raise
    result.calendar_fallback_years = sorted(cal.fallback_years)
    return result


def _sweep_in(session: Session, result: SweepResult, *, now: dt.datetime, today: dt.date, policies: PolicySet,
              plan: str | None, cal: WorkCalendar) -> None:
    result.instances_created = ensure_instances(session, through=today + INSTANCE_HORIZON)
    # Items due later than the furthest reminder can reach owe nothing today.
    reach = max(policies.max_reminder_days(), 0)
    items = load_open_items(session, plan_code=plan, due_by=cal.add_working_days(today, reach) + dt.timedelta(days=1))
    result.items = len(items)
    acknowledged = {s for (s,) in session.execute(
        sa.select(NoticeRow.series).where(NoticeRow.acknowledged_at.is_not(None)).distinct())}
    planned: list[tuple[OpenItem, PlannedNotice]] = []
    freezes: dict[str, list[dict[str, Any]]] = {ItemKind.MILESTONE: [], ItemKind.INSTANCE: []}
    for o in items:
        policy = policies.for_task(o.plan_code, o.task.code)
        notices, freeze = plan_notices(o.item, o.task, today, cal, policy, acknowledged)
        planned.extend((o, p) for p in notices)
        if freeze is not None:
            freezes[o.item.kind].append({"item_id": o.item.id, "day": today, "ladder": [lv.as_dict() for lv in freeze],
                                         "o": o})
    # Freeze the ladder in force on items that just went overdue (only where none is frozen yet).
    overdue_events = []
    for kind, table in ((ItemKind.MILESTONE, MilestoneRow), (ItemKind.INSTANCE, RecurrenceInstanceRow)):
        rows = freezes[kind]
        if rows:
            t = table.__table__  # Core executemany: one statement for every item, by id
            session.connection().execute(
                sa.update(t).where(t.c.id == sa.bindparam("item_id"), t.c.first_overdue_on.is_(None))
                .values(first_overdue_on=sa.bindparam("day"), ladder=sa.bindparam("frozen")),
                [{"item_id": r["item_id"], "day": r["day"], "frozen": r["ladder"]} for r in rows])
            for r in rows:
                o = r["o"]
                # The ladder itself is on the item; the event says when and against which due date.
                overdue_events.append(_keyed_event(now, "item.overdue", o, f"overdue:{o.item.ref}:{o.item.due.isoformat()}",
                                                   {"due": o.item.due.isoformat()}))
    inserted = _insert_notices(session, planned, now=now, sweep_id=result.sweep_id)
    # Each notice written is also an append-only event (notice.escalation, notice.chase …): the notice
    # row goes on to change (sent, acknowledged), the event stays as it was. Keyed, so written once.
    result.created = {k.value: 0 for k in NOTICE_KINDS}
    by_key = {p.key: (o, p) for o, p in planned}
    notice_events = []
    for key in inserted:
        o, p = by_key[key]
        result.created[p.kind] += 1
        notice_events.append(_keyed_event(now, NOTICE_EVENT[p.kind], o, f"notice:{key}", {  # the rest is on the notice
            "notice_key": key, "level": p.level, "due": p.due.isoformat(), "days": p.days}))
    conn = session.connection()
    for chunk in range(0, len(notice_events), 5000):
        conn.execute(_insert_ignore(session, EventRow.__table__, ("key",)), notice_events[chunk:chunk + 5000])
    result.newly_overdue = _record_events(session, overdue_events) if overdue_events else 0
    session.execute(sa.update(SweepRow).where(SweepRow.id == result.sweep_id).values(
        status="done", finished_at=_wall_clock(), error="", counts={**result.created, "items": result.items,
                                                "instances_created": result.instances_created,
                                                "newly_overdue": result.newly_overdue}))


NOTICE_EVENT = {kind.value: f"notice.{kind}" for kind in NOTICE_KINDS}  # as `history` has always named them


def _keyed_event(now: dt.datetime, kind: str, o: OpenItem, key: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"at": now, "kind": kind, "key": key, "plan_id": o.plan_id, "task_id": o.task_id, "actor": "sweep",
            "data": {"item": o.item.ref, **data}}


def _record_events(session: Session, events: list[dict[str, Any]]) -> int:
    """Insert sweep events once each (by key); returns how many were new."""
    existing = {k for (k,) in session.execute(sa.select(EventRow.key).where(EventRow.key.in_([e["key"] for e in events])))} \
        if len(events) <= 2000 else {k for (k,) in session.execute(sa.select(EventRow.key).where(EventRow.key.is_not(None)))}
    new = [e for e in events if e["key"] not in existing]
    if new:
        session.connection().execute(_insert_ignore(session, EventRow.__table__, ("key",)), new)
    return len(new)


def _insert_notices(session: Session, planned: list[tuple[OpenItem, PlannedNotice]], *, now: dt.datetime,
                    sweep_id: int) -> list[str]:
    """Insert the planned notices that do not exist yet; returns the keys this sweep created."""
    if not planned:
        return []
    dues = [p.due for _, p in planned]
    existing = {k for (k,) in session.execute(
        sa.select(NoticeRow.key).where(NoticeRow.due >= min(dues), NoticeRow.due <= max(dues)))}
    rows = [_notice_row(o, p, now=now, sweep_id=sweep_id) for o, p in planned if p.key not in existing]
    if not rows:
        return []
    # Another sweep may have inserted some of these since we looked: ON CONFLICT skips them, and
    # RETURNING tells us which rows are ours.
    table = NoticeRow.__table__  # Core, not the ORM's bulk path: tens of thousands of rows
    stmt = _insert_ignore(session, table, ("key",)).returning(table.c.key)
    conn = session.connection()
    created: list[str] = []
    for chunk in range(0, len(rows), 5000):
        created.extend(k for (k,) in conn.execute(stmt, rows[chunk:chunk + 5000]))
    return created


# --------------------------------------------------------------------------------------------
# Status, outbox, acknowledgement


def status(engine: Engine, *, now: dt.datetime, policies: PolicySet, plan: str | None = None, unit: str | None = None,
           calendar: WorkCalendar | None = None) -> list[dict[str, Any]]:
    """Each task's light (its worst open item's) and each item's, at ``now``."""
    today = _local_day(now)
    cal = calendar or WorkCalendar()
    with transaction(engine) as session:
        task_ids = None
        if unit is not None:
            task_ids = [tid for _, tid in repo.query_task_ids(session, plan_code=plan, unit=unit)]
        ensure_instances(session, through=today)
        items = load_open_items(session, plan_code=plan, include_closed=True, task_ids=task_ids)
    by_task: dict[int, list[tuple[OpenItem, StatusLight]]] = defaultdict(list)
    for o in items:
        if o.item.kind == ItemKind.INSTANCE and o.item.due > today + INSTANCE_HORIZON:
            continue
        by_task[o.task_id].append((o, light(o.item, today, cal, policies.for_task(o.plan_code, o.task.code))))
    out = []
    for task_id, pairs in by_task.items():
        o0 = pairs[0][0]
        open_colours = [lt.colour for _, lt in pairs if lt.colour != Light.CLOSED]
        out.append({
            "plan": o0.plan_code, "code": o0.task.code, "title": o0.title, "lead_unit": o0.task.lead_unit,
            "light": worst(open_colours).value,
            "items": [{
                "kind": o.item.kind.value, "id": o.item.id, "due": o.item.due.isoformat(), "label": o.label,
                "quantity": _num(o.item.quantity), "measure": o.item.measure, "done_quantity": _num(o.item.done_quantity),
                "min_count": o.item.min_count, "done_count": o.item.done_count if o.item.kind == ItemKind.INSTANCE else None,
                "light": lt.colour.value, "reason": lt.reason.value, "working_days_overdue": lt.working_days_overdue,
                "working_days_left": lt.working_days_left, "expected": _num(lt.expected),
            } for o, lt in pairs],
        })
    order = {Light.RED: 0, Light.YELLOW: 1, Light.GREEN: 2, Light.CLOSED: 3}
    out.sort(key=lambda r: (r["plan"], order[r["light"]], [int(x) if x.isdigit() else x for x in r["code"].split(".")]))
    return out


def _num(v: Decimal | None) -> int | float | None:
    if v is None:
        return None
    return int(v) if v == v.to_integral() else float(v)


def list_notices(engine: Engine, *, status_: str | None = None, kind: str | None = None, plan: str | None = None,
                 task: str | None = None, since: dt.date | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    with transaction(engine) as session:
        q = (sa.select(NoticeRow, PlanRow.code, TaskRow.code, TaskRow.title)
             .join(PlanRow, PlanRow.id == NoticeRow.plan_id).join(TaskRow, TaskRow.id == NoticeRow.task_id))
        if status_:
            q = q.where(NoticeRow.status.in_(status_.split(",")))
        if kind:
            q = q.where(NoticeRow.kind.in_(kind.split(",")))
        if plan:
            q = q.where(PlanRow.code == plan)
        if task:
            q = q.where(TaskRow.code == task)
        if since:
            q = q.where(NoticeRow.planned_for >= since)
        q = q.order_by(NoticeRow.id)
        if limit:
            q = q.limit(limit)
        return [notice_json(n, plan_code, task_code, title) for n, plan_code, task_code, title in session.execute(q).all()]


def notice_json(n: NoticeRow, plan_code: str, task_code: str, title: str) -> dict[str, Any]:
    return {
        "id": n.id, "key": n.key, "kind": n.kind, "level": n.level, "plan": plan_code, "task": task_code, "title": title,
        "item": ("m" if n.milestone_id else "i") + str(n.milestone_id or n.instance_id), "due": n.due.isoformat(),
        "days": n.days, "planned_for": n.planned_for.isoformat(), "to": n.recipients, "cc": n.cc, "status": n.status,
        "attempts": n.attempts, "created_at": n.created_at.isoformat(),
        "acknowledged_at": n.acknowledged_at.isoformat() if n.acknowledged_at else None,
        "acknowledged_by": n.acknowledged_by, "sweep": n.sweep_id,
    }


def acknowledge(engine: Engine, *, notice_id: int, now: dt.datetime, by: str = "") -> dict[str, Any]:
    """簽收: a recipient confirms a notice; the rest of its series is not sent. Escalation goes on."""
    with transaction(engine) as session:
        n = session.get(NoticeRow, notice_id)
        if n is None:
            raise NotFound(f"no notice {notice_id}")
        if n.acknowledged_at is not None:
            raise Refused(f"notice {notice_id} was already acknowledged on {n.acknowledged_at.date()} by {n.acknowledged_by or 'someone'}")
        n.acknowledged_at = now
        n.acknowledged_by = by
        session.add(EventRow(at=now, kind="notice.acknowledged", plan_id=n.plan_id, task_id=n.task_id, actor=by,
                             data={"notice": n.id, "key": n.key, "series": n.series}))
        session.flush()
        plan_code = session.get(PlanRow, n.plan_id).code
        task = session.get(TaskRow, n.task_id)
        return notice_json(n, plan_code, task.code, task.title)


def list_sweeps(engine: Engine, *, limit: int = 20, clock: Callable[[], dt.datetime] | None = None) -> list[dict[str, Any]]:
    """Recent sweeps, newest first. A running sweep whose lease ran out is shown interrupted even
    before the next sweep records it so."""
    real_now = (clock or real_clock(engine))()
    with transaction(engine) as session:
        rows = session.execute(sa.select(SweepRow).order_by(SweepRow.id.desc()).limit(limit)).scalars().all()
        out = []
        for r in rows:
            status, error = r.status, r.error
            lease = r.lease_until or (r.started_at + SWEEP_LEASE)
            if status == "running" and lease < real_now:
                status, error = "interrupted", error or "its process stopped before it finished (lease ran out); nothing it planned was written"
            out.append({"id": r.id, "as_of": r.as_of.isoformat(), "started_at": r.started_at.isoformat(),
                        "finished_at": r.finished_at.isoformat() if r.finished_at else None, "status": status,
                        "counts": r.counts, "host": r.host, "error": error,
                        "lease_until": r.lease_until.isoformat() if r.lease_until else None})
        return out


def task_history(engine: Engine, *, task: str, plan: str | None = None) -> list[dict[str, Any]]:
    """Everything that happened to a task, oldest first: its events and the notices planned for it."""
    with transaction(engine) as session:
        events = repo.history(session, plan, task)
        plan_row = repo.plan_row(session, plan)
        task_id = session.execute(sa.select(TaskRow.id).where(TaskRow.plan_id == plan_row.id, TaskRow.code == task)).scalar_one()
        notices = session.execute(sa.select(NoticeRow).where(NoticeRow.task_id == task_id).order_by(NoticeRow.id)).scalars().all()
        by_key = {n.key: n for n in notices}
        out = []
        for e in events:
            data = dict(e.data or {})
            n = by_key.pop(data.get("notice_key", ""), None)
            if n is not None:  # the event as written, and its notice: to whom, for when, where it stands now
                data.update(notice=n.id, planned_for=n.planned_for.isoformat(), status=n.status,
                            to=[f"{r['role']}:{r['name']}" if r["name"] else r["role"] for r in n.recipients])
            out.append({"at": e.at.isoformat(), "kind": e.kind, "actor": e.actor, "data": data})
        # Notices written before notice events existed (schema 0003 and earlier): shown from their rows.
        out += [{"at": n.created_at.isoformat(), "kind": NOTICE_EVENT[n.kind], "actor": "sweep",
                 "data": {"notice": n.id, "notice_key": n.key, "level": n.level, "due": n.due.isoformat(), "days": n.days,
                          "planned_for": n.planned_for.isoformat(), "status": n.status,
                          "to": [f"{r['role']}:{r['name']}" if r["name"] else r["role"] for r in n.recipients]}}
                for n in by_key.values()]
    out.sort(key=lambda e: e["at"])  # stable: events before notices of the same moment
    return out
