"""The sweep: look at every open milestone and recurring obligation and write today's notices, once.

``sweep(engine, now=…, policies=…)`` loads the open items with a few set-based queries, asks the pure
planner (matrix.planner) what each owes today, and inserts the notices in one transaction with
INSERT … ON CONFLICT (key) DO NOTHING. Running it twice, after a crash, or two at once (PostgreSQL)
never duplicates a notice: the key is the notice's identity. Each run is recorded in ``sweep``.
The record of runs is here too (``list_sweeps``, a lapsed lease shown as interrupted). Status lights
are in ``status_service``, the outbox listing and acknowledgements in ``notice_service``, a task's
history in ``history_service``; the items themselves are loaded by ``store.supervision``.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from duban.matrix.calendar import WorkCalendar
from duban.matrix.gcpause import no_cyclic_gc
from duban.matrix.planner import PlannedNotice, SupervisedItem, plan_notices
from duban.matrix.policy import PolicySet
from duban.matrix.vocabulary import INSTANCE_HORIZON, NOTICE_EVENTS, NOTICE_KINDS, ItemKind
from duban.store.db import real_clock, release_interrupted, transaction
from duban.store.supervision import _insert_ignore, ensure_instances, load_open_items
from duban.store.tables import EventRow, MilestoneRow, NoticeRow, RecurrenceInstanceRow, SweepRow, TaskHoldRow
from duban.workflows.calendar_service import work_calendar

# Members as module constants: an enum member's lookup costs ~0.2 µs, and these run per item.
_INSTANCE = ItemKind.INSTANCE
_MILESTONE = ItemKind.MILESTONE


@dataclass(slots=True)
class SweepResult:
    sweep_id: int
    as_of: dt.date
    items: int = 0
    created: dict[str, int] = field(default_factory=dict)
    instances_created: int = 0
    newly_overdue: int = 0
    calendar_fallback_years: list[int] = field(default_factory=list)
    notices: list[dict[str, Any]] | None = None  # a dry run's (its sweep_id was never stored): what it would write

    def as_dict(self) -> dict[str, Any]:
        done = {"sweep": self.sweep_id if self.notices is None else None, "as_of": self.as_of.isoformat(), "items": self.items,
                "created": self.created, "instances_created": self.instances_created,
                "newly_overdue": self.newly_overdue, "calendar_fallback_years": self.calendar_fallback_years}
        return done if self.notices is None else {**done, "dry_run": True, "notices": self.notices}


# --------------------------------------------------------------------------------------------
# Loading open items


# --------------------------------------------------------------------------------------------
# The sweep


def _local_day(now: dt.datetime) -> dt.date:
    return now.date()


@lru_cache(maxsize=65536)
def _people(recipients: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    """The stored form of a recipient list (shared, never mutated: the column writer only reads it)."""
    return [{"role": role, "name": name} for role, name in recipients]


def _notice_row(o: SupervisedItem, p: PlannedNotice, *, now: dt.datetime, sweep_id: int) -> dict[str, Any]:
    return {
        "key": p.key, "series": p.series, "kind": p.kind.value, "level": p.level, "plan_id": o.plan_id, "task_id": o.task_id,
        "milestone_id": o.item.id if o.item.kind == _MILESTONE else None,
        "instance_id": o.item.id if o.item.kind == _INSTANCE else None,
        "due": p.due, "days": p.days, "planned_for": p.planned_for,
        "recipients": _people(p.recipients),
        "cc": _people(p.cc),
        "sweep_id": sweep_id, "created_at": now, "status": "pending", "attempts": 0, "last_error": "",
        "acknowledged_by": "", "data": {"label": o.label} if o.label else {},
    }


def _wall_clock() -> dt.datetime:
    """When a sweep really started and finished (its ``as_of`` is the day it acted for, which a replay
    or a catch-up sets): the record of runs is about the machine's time."""
    return dt.datetime.now(dt.UTC)


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

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def _fail(engine: Engine, sweep_id: int, error: BaseException, now: dt.datetime) -> None:
    why = "stopped (Ctrl-C) before it finished; nothing it planned was written" if isinstance(error, KeyboardInterrupt) \
        else f"{type(error).__name__}: {error}"
    with transaction(engine) as s:
        s.execute(sa.update(SweepRow).where(SweepRow.id == sweep_id)
                  .values(status="failed", finished_at=_wall_clock(), error=why[:2000]))


def sweep(engine: Engine, *, now: dt.datetime, policies: PolicySet, plan: str | None = None,
          calendar: WorkCalendar | None = None, clock: Callable[[], dt.datetime] | None = None,
          dry_run: bool = False, actor: str = "") -> SweepResult:
    """Evaluate everything open at ``now`` and write the notices owed, exactly once each.

    ``clock`` is the real time for the sweep's lease (``store.db.real_clock`` unless a test gives one),
    never ``now``, which a replay sets to the day it acts for. ``dry_run``: write nothing, and say in
    ``result.notices`` what would have been written (see ``_dry_run``). ``actor`` (the console's user who
    ran it) records a ``sweep.run`` event with the counts; a dry run records nothing."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    today = _local_day(now)
    cal = calendar or work_calendar(engine)  # the office's: its imported years count, as everywhere else
    if dry_run:
        return _dry_run(engine, now=now, today=today, policies=policies, plan=plan, cal=cal)
    clock = clock or real_clock(engine)
    sweep_id = _start(engine, today, clock)
    result = SweepResult(sweep_id=sweep_id, as_of=today)
    try:
        with _Heartbeat(engine, sweep_id, clock), no_cyclic_gc(), transaction(engine) as session:
            _sweep_in(session, result, now=now, today=today, policies=policies, plan=plan, cal=cal)
    except BaseException as e:
        release_interrupted(e)
        _fail(engine, sweep_id, e, now)
        raise
    result.calendar_fallback_years = sorted(cal.fallback_years)
    if actor:
        from duban.workflows.history_service import record_action

        record_action(engine, "sweep.run", now=now, actor=actor, data={"sweep": sweep_id, **result.as_dict()})
    return result


def _sweep_in(session: Session, result: SweepResult, *, now: dt.datetime, today: dt.date, policies: PolicySet,
              plan: str | None, cal: WorkCalendar) -> None:
    result.instances_created = ensure_instances(session, through=today + INSTANCE_HORIZON, as_of=today, calendar=cal)
    # Items due later than the furthest reminder can reach owe nothing today.
    reach = max(policies.max_reminder_days(), 0)
    items = load_open_items(session, plan_code=plan, due_by=cal.add_working_days(today, reach) + dt.timedelta(days=1),
                            as_of=today)
    result.items = len(items)
    acknowledged = {s for (s,) in session.execute(
        sa.select(NoticeRow.series).where(NoticeRow.acknowledged_at.is_not(None)).distinct())}
    held = set(session.execute(sa.select(TaskHoldRow.task_id)).scalars())  # the office holds their notices
    planned: list[tuple[SupervisedItem, PlannedNotice]] = []
    freezes: dict[str, list[dict[str, Any]]] = {_MILESTONE: [], _INSTANCE: []}
    for o in items:
        policy = policies.for_task(o.plan_code, o.task.code)
        notices, freeze = plan_notices(o.item, o.task, today, cal, policy, acknowledged)
        if o.task_id not in held:
            planned.extend((o, p) for p in notices)
        if freeze is not None:
            freezes[o.item.kind].append({"item_id": o.item.id, "day": today, "ladder": [lv.as_dict() for lv in freeze],
                                         "o": o})
    # Freeze the ladder in force on items that just went overdue (only where none is frozen yet).
    overdue_events = []
    for kind, table in ((_MILESTONE, MilestoneRow), (_INSTANCE, RecurrenceInstanceRow)):
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
        notice_events.append(_keyed_event(now, NOTICE_EVENTS[p.kind], o, f"notice:{key}", {  # the rest is on the notice
            "notice_key": key, "level": p.level, "due": p.due.isoformat(), "days": p.days}))
    conn = session.connection()
    for chunk in range(0, len(notice_events), 5000):
        conn.execute(_insert_ignore(session, EventRow.__table__, ("key",)), notice_events[chunk:chunk + 5000])
    result.newly_overdue = _record_events(session, overdue_events) if overdue_events else 0
    session.execute(sa.update(SweepRow).where(SweepRow.id == result.sweep_id).values(
        status="done", finished_at=_wall_clock(), error="", counts={**result.created, "items": result.items,
                                                "instances_created": result.instances_created,
                                                "newly_overdue": result.newly_overdue}))


def _dry_run(engine: Engine, *, now: dt.datetime, today: dt.date, policies: PolicySet, plan: str | None,
             cal: WorkCalendar) -> SweepResult:
    """``sweep --dry-run``: the very sweep (``_sweep_in``: periods opened, ladders frozen, notices and
    events inserted) in one transaction that is then rolled back, so a dry run and the real sweep after
    it never disagree. Its sweep record lives only inside that transaction (no lease, no heartbeat) and
    tells its notices apart; they are read back, as ``outbox --json`` shows them, before the rollback."""
    from duban.store.tables import PlanRow, TaskRow
    from duban.workflows.notice_service import notice_json

    with Session(engine, expire_on_commit=False) as session:
        session.begin()
        try:
            row = SweepRow(as_of=today, started_at=_wall_clock(), status="running", counts={}, host=socket.gethostname())
            session.add(row)
            session.flush()
            result = SweepResult(sweep_id=row.id or 0, as_of=today)
            with no_cyclic_gc():
                _sweep_in(session, result, now=now, today=today, policies=policies, plan=plan, cal=cal)
            q = (sa.select(NoticeRow, PlanRow.code, TaskRow.code, TaskRow.title)  # type: ignore[call-overload]
                 .where(NoticeRow.sweep_id == row.id)
                 .join(PlanRow, PlanRow.id == NoticeRow.plan_id).join(TaskRow, TaskRow.id == NoticeRow.task_id)
                 .order_by(NoticeRow.id))
            result.notices = [{**notice_json(*found), "id": None, "sweep": None} for found in session.execute(q).all()]
        finally:
            session.rollback()
    result.calendar_fallback_years = sorted(cal.fallback_years)
    return result


def _keyed_event(now: dt.datetime, kind: str, o: SupervisedItem, key: str, data: dict[str, Any]) -> dict[str, Any]:
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


def _insert_notices(session: Session, planned: list[tuple[SupervisedItem, PlannedNotice]], *, now: dt.datetime,
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


