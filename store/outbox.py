"""The outbox: deliveries and messages, and the one state machine every channel's messages go through.

A notice gets a *delivery* per recipient (pending → queued → sent | failed; *held* while nobody has
an address for that recipient, re-resolved against the directory at every run); pending deliveries
are grouped into *messages*, each stored whole (its bytes are what any channel hands over, so a
resend is the same message). A message moves

    pending ──claim──▶ sending ──record──▶ sent | failed
       ▲                 │  └─record (retry: later, backing off; defer: later, uncounted) / release (untried) / halt──┐
       └─────────────────┴────────────────────────────────────────────────────────────────────────────────────┘
    held ──release_held──▶ pending     (planned by a replayed sweep: waits for DUBAN_ALLOW_REPLAY_MAIL)

``claim`` leases due messages to one process (PostgreSQL skips rows another worker holds); a lease
that runs out (the process died while sending) makes the message due again, and it is sent again
byte for byte. ``record`` writes what a channel said (an ``Outcome``); ``finish_notices`` closes the
notices none of whose deliveries is on its way any more, by their 主送 deliveries; ``requeue_failed``
puts failed messages back after the office fixed something. Nothing here knows how a message leaves:
that is a channel's business (notifications.channels), and the outcome is all the outbox hears of it.

Every message has a ``channel``: ``email`` (SMTP or .eml files; every message before group robots) or a
robot kind (``dingtalk``, ``wecom``, ``feishu``: notifications.channels.robots). ``claim`` takes the
channels it is asked for, so a run hands each message to the channel that carries it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from duban.matrix.vocabulary import SUPERSEDABLE_KINDS
from duban.store.db import begin_immediate, transaction
from duban.store.supervision import _insert_ignore
from duban.store.tables import DeliveryRow, MessageRow, NoticeRow, PlanRow, SweepRow, TaskHoldRow, TaskRow, UnitRow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from duban.config.settings import Settings

# The tables as SQLAlchemy Core sees them (the outbox's statements are set-based).
MESSAGE: sa.Table = MessageRow.__table__  # type: ignore[attr-defined]  # SQLModel sets it on the class
DELIVERY: sa.Table = DeliveryRow.__table__  # type: ignore[attr-defined]
NOTICE: sa.Table = NoticeRow.__table__  # type: ignore[attr-defined]
TASK: sa.Table = TaskRow.__table__  # type: ignore[attr-defined]
PLAN: sa.Table = PlanRow.__table__  # type: ignore[attr-defined]
UNIT: sa.Table = UnitRow.__table__  # type: ignore[attr-defined]
SWEEP: sa.Table = SweepRow.__table__  # type: ignore[attr-defined]
TASK_HOLD: sa.Table = TaskHoldRow.__table__  # type: ignore[attr-defined]

LEASE = dt.timedelta(minutes=10)  # a message still "sending" after this was lost with its process
CLAIM_BATCH = 200  # messages per claim: sent well within one lease even by a slow server


@dataclass(slots=True)
class Outcome:
    """What a channel says happened to one message it was handed."""

    status: str  # sent | retry | failed | halt (the server refused duban itself: login, sender, TLS)
    error: str = ""
    refused: dict[str, str] | None = None  # recipient address -> server reply, when only some were refused
    where: str = ""  # where the message went, when the channel can say (an .eml file's path)
    # defer: not tried, the channel's own pace (a robot's messages a minute) is spent: pending again
    # after ``after`` seconds, the attempt not counted.
    after: float = 0.0


class Claimed(NamedTuple):
    """A message leased to this process: its row, its stored bytes, its recipients (comma-separated)."""

    pk: int
    body: bytes
    address: str


class Tally(Protocol):
    """What ``record`` counts into (workflows.delivery_service.DeliveryResult is one)."""

    sent: int
    retrying: int
    failed: int
    recipients_refused: int
    halted: str
    errors: list[str]
    failures: list[dict[str, str]]
    undeliverable: list[dict[str, str]]


# --------------------------------------------------------------------------------------------
# Planning: deliveries and messages into the outbox


def plan_alone(session: Session) -> None:
    """One process plans at a time: a second planner then finds the notices and deliveries the first
    one took, and plans nothing twice. PostgreSQL: a transaction-scoped advisory lock. SQLite: the
    write lock taken up front (BEGIN IMMEDIATE) — pysqlite would only take it at the first write,
    after this transaction had read the same pending rows as the other planner."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('duban.delivery.plan'))"))
    elif session.get_bind().dialect.name == "sqlite":
        begin_immediate(session)


def supersede(session: Session) -> int:
    """Of several unsent reminders or chases of one series (two sweeps ran before a delivery, or a
    unit had no address for days), keep only the newest: it says the same thing with today's numbers.
    The others — pending, or held for an address — are marked superseded; returns how many. (A notice
    in a held message, a replay's, is left to go with its message.)"""
    n, d = NOTICE, DELIVERY
    unsent = n.c.status.in_(("pending", "held"))
    newest = (sa.select(sa.func.max(n.c.id)).where(unsent, n.c.kind.in_(SUPERSEDABLE_KINDS))
              .group_by(n.c.series))
    in_held_message = sa.select(d.c.notice_id).where(d.c.status == "held", d.c.message_pk.is_not(None))
    stale = session.connection().execute(
        sa.update(n).where(unsent, n.c.kind.in_(SUPERSEDABLE_KINDS), n.c.id.not_in(newest),
                           n.c.id.not_in(in_held_message))
        .values(status="superseded"))
    return stale.rowcount or 0


def pending_notices(session: Session) -> list[Any]:
    """Notices waiting for their deliveries: (id, recipients, cc, task code, plan id), oldest first. A
    task whose notices the office holds (``task_hold``) keeps its pending notices until it is resumed."""
    n, t = NOTICE.c, TASK.c
    return list(session.execute(sa.select(n.id, n.recipients, n.cc, t.code, t.plan_id).join(TASK, t.id == n.task_id)
                                .where(n.status == "pending", n.task_id.not_in(sa.select(TASK_HOLD.c.task_id)))
                                .order_by(n.id)).all())


def add_deliveries(session: Session, rows: list[dict[str, Any]], notice_ids: Iterable[int]) -> None:
    """Store the notices' deliveries (a repeat of one already stored is ignored) and mark the notices
    as on their way."""
    conn = session.connection()
    if rows:
        conn.execute(_insert_ignore(session, DELIVERY,
                                    ("notice_id", "recipient_role", "recipient_name", "address")), rows)
    conn.execute(sa.update(NOTICE).where(NOTICE.c.id.in_(list(notice_ids)))
                 .values(status="sending"))


def unqueued_deliveries(session: Session) -> list[Any]:
    """Pending deliveries not yet in a message: (id, notice_id, recipient_role, display_name, address, is_cc,
    recipient_name)."""
    dc = DELIVERY.c
    return list(session.execute(sa.select(dc.id, dc.notice_id, dc.recipient_role, dc.display_name, dc.address, dc.is_cc,
                                          dc.recipient_name)
                                .where(dc.status == "pending", dc.message_pk.is_(None)).order_by(dc.id)).all())


def notice_keys(session: Session, notice_ids: Iterable[int]) -> dict[int, str]:
    n = NOTICE.c
    return {r.id: r.key for r in session.execute(sa.select(n.id, n.key).where(n.id.in_(list(notice_ids))))}


def plan_offices(session: Session) -> dict[str, str]:
    """Plan code → the name of the office that runs it (the letterhead's issuer)."""
    return {r.code: r.name for r in session.execute(
        sa.select(PLAN.c.code, UNIT.c.name).join(UNIT, UNIT.c.id == PLAN.c.office_unit_id))}


def enqueue(session: Session, messages: list[dict[str, Any]], members: dict[str, list[int]]) -> int:
    """Store new messages (MessageRow columns, ``status`` pending, or held with the reason as
    ``last_error``) and link each one's deliveries (``members``: message key → delivery ids), which
    become queued (held, with the reason, in a held message). One statement for the messages, one for
    the links. Returns how many messages."""
    if not messages:
        return 0
    conn = session.connection()
    ids: dict[str, int] = {r.key: r.id for r in conn.execute(sa.insert(MESSAGE).returning(MESSAGE.c.key, MESSAGE.c.id),
                                                                messages)}
    held = {m["key"]: m["last_error"] for m in messages if m["status"] == "held"}
    links = [{"delivery": d, "message": ids[key], "state": "held" if key in held else "queued", "why": held.get(key, "")}
             for key, ds in members.items() for d in ds]
    if links:
        d = DELIVERY
        conn.execute(sa.update(d).where(d.c.id == sa.bindparam("delivery"))
                     .values(status=sa.bindparam("state"), message_pk=sa.bindparam("message"),
                             last_error=sa.bindparam("why")), links)
    return len(messages)


def fail_deliveries(session: Session, ids: list[int], why: str) -> None:
    """Pending deliveries that no message can carry any more (a robot gone from the directory): failed, with why."""
    if ids:
        session.execute(sa.update(DELIVERY).where(DELIVERY.c.id.in_(ids)).values(status="failed", last_error=why))


def held_deliveries(session: Session) -> list[Any]:
    """Deliveries held for want of an address (and those an older duban called undeliverable for the
    same reason), to be resolved again against today's directory: (id, notice_id, recipient_role,
    recipient_name, is_cc, plan_id, status, last_error)."""
    dc, n = DELIVERY.c, NOTICE.c
    return list(session.execute(
        sa.select(dc.id, dc.notice_id, dc.recipient_role, dc.recipient_name, dc.is_cc, n.plan_id, dc.status, dc.last_error)
        .join(NOTICE, n.id == dc.notice_id)
        .where(dc.status.in_(("held", "undeliverable")), dc.address == "", dc.message_pk.is_(None),
               n.status.not_in(("superseded",)))
        .order_by(dc.id)).all())


def notice_addresses(session: Session, notice_ids: Iterable[int]) -> dict[int, set[str]]:
    """The addresses each notice already has a delivery for."""
    dc = DELIVERY.c
    out: dict[int, set[str]] = defaultdict(set)
    for r in session.execute(sa.select(dc.notice_id, dc.address).where(dc.notice_id.in_(list(notice_ids)), dc.address != "")):
        out[r.notice_id].add(r.address)
    return out


def readdress(session: Session, found: list[dict[str, Any]], extra: list[dict[str, Any]],
              still_held: list[dict[str, Any]], dropped: list[int]) -> None:
    """Write what resolving held deliveries again gave: ``found`` (id, address, display_name) become
    pending with their address; ``extra`` are further deliveries of the same recipient (a group's
    other members); ``still_held`` (id, why) stay held with today's reason; ``dropped`` (an address
    the notice already reaches) are deleted. Their notices, if held, are on their way again."""
    conn, d = session.connection(), DELIVERY
    if found:
        conn.execute(sa.update(d).where(d.c.id == sa.bindparam("pk"))
                     .values(status="pending", address=sa.bindparam("addr"), display_name=sa.bindparam("who"),
                             last_error=""), found)
    if extra:
        conn.execute(_insert_ignore(session, d, ("notice_id", "recipient_role", "recipient_name", "address")), extra)
    if still_held:
        conn.execute(sa.update(d).where(d.c.id == sa.bindparam("pk")).values(status="held", last_error=sa.bindparam("why")),
                     still_held)
    if dropped:
        conn.execute(sa.delete(d).where(d.c.id.in_(dropped)))
    moved = [r["pk"] for r in found] + dropped
    if moved or extra:
        notices = sa.select(d.c.notice_id).where(d.c.status == "pending")
        conn.execute(sa.update(NOTICE).where(NOTICE.c.status.in_(("held", "undeliverable")), NOTICE.c.id.in_(notices))
                     .values(status="sending"))


def notice_sweeps(session: Session, notice_ids: Iterable[int]) -> dict[int, tuple[dt.date, dt.datetime]]:
    """For each notice a sweep planned: (the sweep's as-of day, when it really started)."""
    n, s = NOTICE.c, SWEEP.c
    rows = session.execute(sa.select(n.id, s.as_of, s.started_at).join(SWEEP, s.id == n.sweep_id)
                           .where(n.id.in_(list(notice_ids))))
    return {r.id: (r.as_of, r.started_at) for r in rows}


def notice_written(session: Session, notice_ids: Iterable[int]) -> dict[int, tuple[dt.date, dt.datetime]]:
    """For each notice no sweep planned that says when it was written (a closing request's answer,
    ``data["written_at"]``): (the day it is for, when it was really written)."""
    n = NOTICE.c
    out: dict[int, tuple[dt.date, dt.datetime]] = {}
    for r in session.execute(sa.select(n.id, n.planned_for, n.data)
                             .where(n.id.in_(list(notice_ids)), n.sweep_id.is_(None))):
        written = (r.data or {}).get("written_at")
        if written:
            out[r.id] = (r.planned_for, dt.datetime.fromisoformat(written))
    return out


def release_held(session: Session, channels: Iterable[str] | None = None) -> int:
    """Held messages (planned by a replay; only those of ``channels`` when given) go out now: pending
    again, their deliveries queued, their notices on their way. Returns how many."""
    m, d, n = MESSAGE, DELIVERY, NOTICE
    q = sa.select(m.c.id).where(m.c.status == "held")
    if channels is not None:
        q = q.where(m.c.channel.in_(list(channels)))
    ids = list(session.execute(q).scalars())
    if not ids:
        return 0
    session.execute(sa.update(m).where(m.c.id.in_(ids)).values(status="pending", last_error="", next_attempt_at=None))
    session.execute(sa.update(d).where(d.c.message_pk.in_(ids), d.c.status == "held").values(status="queued", last_error=""))
    session.execute(sa.update(n).where(n.c.status == "held", n.c.id.in_(
        sa.select(d.c.notice_id).where(d.c.message_pk.in_(ids)))).values(status="sending", last_error=""))
    return len(ids)


def enqueue_once(engine: Engine, message: dict[str, Any]) -> tuple[int, str | None]:
    """Store one message that carries no notice (the weekly report), unless a message with its key
    exists: returns (its id, None) when stored now, else (the existing one's id, its status)."""
    with transaction(engine) as session:
        row = {"status": "pending", "attempts": 0, "next_attempt_at": None, "last_error": "", "notices": 0, **message}
        inserted = session.connection().execute(
            _insert_ignore(session, MESSAGE, ("key",)).returning(MESSAGE.c.id), [row]).all()
        if inserted:
            return inserted[0][0], None
        existing = session.execute(sa.select(MESSAGE.c.id, MESSAGE.c.status).where(MESSAGE.c.key == row["key"])).one()
        return existing.id, existing.status


# --------------------------------------------------------------------------------------------
# Sending: claim, release, record, finish


def claim(engine: Engine, now: dt.datetime, batch: int = CLAIM_BATCH, *, ids: list[int] | None = None,
          channels: Iterable[str] | None = None) -> list[Claimed]:
    """Take due messages (pending and due, or sending with a lapsed lease) for this process; ``ids``
    limits the claim to those messages, ``channels`` to the messages those channels carry. ``now`` is the real time (``real_clock``), never a replay's
    as-of: a lease must mean the same to every process.

    The update re-checks that each message is still due, and returns only the ones it took: two
    processes that picked the same ids (SQLite has no SKIP LOCKED) cannot both claim a message —
    the second one's update waits for the first to commit and then finds them leased."""
    with transaction(engine) as session:
        t = MESSAGE
        due = sa.or_(sa.and_(t.c.status == "pending", sa.or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= now)),
                     sa.and_(t.c.status == "sending", t.c.next_attempt_at <= now))
        q = sa.select(t.c.id).where(due).order_by(t.c.id).limit(batch)
        if ids is not None:
            q = q.where(t.c.id.in_(ids))
        if channels is not None:
            q = q.where(t.c.channel.in_(list(channels)))
        if session.get_bind().dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        found = list(session.execute(q).scalars())
        if not found:
            return []
        taken = list(session.execute(
            sa.update(t).where(t.c.id.in_(found), due)
            .values(status="sending", attempts=t.c.attempts + 1, next_attempt_at=now + LEASE).returning(t.c.id)).scalars())
        if not taken:
            return []
        rows = session.execute(sa.select(t.c.id, t.c.body, t.c.address).where(t.c.id.in_(taken)).order_by(t.c.id)).all()
        return [Claimed(r.id, r.body, r.address) for r in rows]


def release(engine: Engine, message_pks: list[int], reason: str = "") -> None:
    """Claimed messages this run did not try (it stopped early): back to pending at once, the attempt
    not counted; ``reason`` (why the run stopped) becomes their last error, for `duban messages`."""
    if message_pks:
        t = MESSAGE
        values: dict[str, Any] = {"status": "pending", "attempts": t.c.attempts - 1, "next_attempt_at": None}
        if reason:
            values["last_error"] = reason
        with engine.begin() as conn:
            conn.execute(sa.update(t).where(t.c.id.in_(message_pks), t.c.status == "sending").values(**values))


def record(engine: Engine, outcomes: list[tuple[int, Outcome]], now: dt.datetime, settings: Settings,
           tally: Tally, clock: Callable[[], dt.datetime] | None = None, *, label: str = "SMTP") -> None:
    """Write what happened to a batch of messages, in one transaction (sent at ``now``, the run's day;
    retried after a delay counted on the real ``clock``, doubling from ``settings.retry_base_seconds``
    up to ``settings.max_attempts``). ``label`` names the channel in a halt's error line."""
    if not outcomes:
        return
    if all(o.status == "sent" and not o.refused for _, o in outcomes):
        # The common case, kept to two statements: it runs once per message sent.
        ids = [pk for pk, _ in outcomes]
        m, d = MESSAGE, DELIVERY
        with engine.begin() as conn:
            conn.execute(sa.update(m).where(m.c.id.in_(ids)).values(status="sent", sent_at=now, last_error="", next_attempt_at=None))
            conn.execute(sa.update(d).where(d.c.message_pk.in_(ids)).values(status="sent"))
        tally.sent += len(ids)
        return
    with transaction(engine) as session:
        messages = {m.id: m for m in session.execute(
            sa.select(MessageRow).where(MESSAGE.c.id.in_([pk for pk, _ in outcomes]))).scalars()}
        by_message: dict[int, list[DeliveryRow]] = defaultdict(list)
        for row in session.execute(sa.select(DeliveryRow).where(DELIVERY.c.message_pk.in_(list(messages)))).scalars():
            by_message[row.message_pk or 0].append(row)  # (never None: selected by message)
        for message_pk, outcome in outcomes:
            _record_one(messages[message_pk], by_message[message_pk], outcome, now, settings, tally,
                        clock() if clock else dt.datetime.now(dt.UTC), label)


def _record_one(msg: MessageRow, deliveries: list[DeliveryRow], outcome: Outcome, now: dt.datetime,
                settings: Settings, tally: Tally, real_now: dt.datetime, label: str) -> None:
    if outcome.status == "sent":
        msg.status, msg.sent_at, msg.last_error, msg.next_attempt_at = "sent", now, outcome.error, None
        refused = outcome.refused or {}
        for d in deliveries:
            reply = refused.get(d.address)
            if reply is None:
                d.status = "sent"
            elif reply.startswith("4") and d.refusals + 1 < settings.max_attempts:
                # Temporarily refused while the others got it: this recipient goes into a new message.
                d.status, d.message_pk, d.last_error, d.refusals = "pending", None, reply, d.refusals + 1
                tally.recipients_refused += 1
            else:  # refused for good (5xx), or temporarily too many times
                d.status, d.last_error, d.refusals = "failed", reply, d.refusals + 1
                tally.recipients_refused += 1
                tally.undeliverable.append({"notice": str(d.notice_id), "task": "", "role": d.recipient_role,
                                            "name": d.display_name, "reason": reply})
        tally.sent += 1
    elif outcome.status == "halt":
        # The server refused duban itself (login, sender address): nothing is wrong with this message,
        # so it waits, uncounted, for the configuration to be fixed.
        msg.status, msg.last_error, msg.next_attempt_at = "pending", outcome.error, None
        msg.attempts = max(0, msg.attempts - 1)
        if not tally.halted:
            tally.halted = outcome.error
            tally.errors.append(f"{label} configuration: {outcome.error}")
    elif outcome.status == "defer":
        # The channel's own pace is spent (a robot's messages a minute): not tried, so not counted.
        msg.status, msg.last_error = "pending", outcome.error
        msg.attempts = max(0, msg.attempts - 1)
        msg.next_attempt_at = real_now + dt.timedelta(seconds=max(1.0, outcome.after))
        tally.retrying += 1
    elif outcome.status == "retry" and msg.attempts < settings.max_attempts:
        delay = dt.timedelta(seconds=settings.retry_base_seconds * 2 ** (msg.attempts - 1))
        msg.status, msg.last_error, msg.next_attempt_at = "pending", outcome.error, real_now + delay
        tally.retrying += 1
    else:
        msg.status, msg.last_error, msg.next_attempt_at = "failed", outcome.error, None
        for d in deliveries:
            d.status, d.last_error = "failed", (outcome.refused or {}).get(d.address, outcome.error)
        tally.failed += 1
        tally.errors.append(f"{msg.address}: {outcome.error}")
        tally.failures.append({"address": msg.address, "error": outcome.error})


def finish_notices(engine: Engine) -> None:
    """Close the notices none of whose deliveries is still on its way, by their 主送 (To) deliveries:
    sent when a 主送 recipient got it, else held when one is held (no address yet, or a replay's
    message), else failed; a 抄送 copy that went out is recorded as sent but does not make the notice
    sent. (A notice with no 主送 delivery goes by its copies.) A held notice's ``last_error`` says why.

    One statement for the states, so one snapshot: under PostgreSQL's READ COMMITTED each statement
    sees what was committed when it began, and a worker recording its deliveries between two separate
    updates would make a notice look as if it had nothing sent, failed or in flight."""
    d, n = DELIVERY, NOTICE
    in_flight = sa.select(d.c.notice_id).where(d.c.status.in_(("pending", "queued")))

    def having(status: str, to_only: bool = True) -> sa.Select[Any]:
        q = sa.select(d.c.notice_id).where(d.c.status == status)
        return q.where(d.c.is_cc.is_(False)) if to_only else q

    no_to = n.c.id.not_in(sa.select(d.c.notice_id).where(d.c.is_cc.is_(False)))
    outcome = sa.case((n.c.id.in_(having("sent")), "sent"), (n.c.id.in_(having("held")), "held"),
                      (n.c.id.in_(having("failed")), "failed"),
                      (sa.and_(no_to, n.c.id.in_(having("sent", False))), "sent"),
                      (sa.and_(no_to, n.c.id.in_(having("held", False))), "held"),
                      (sa.and_(no_to, n.c.id.in_(having("failed", False))), "failed"), else_="undeliverable")
    with transaction(engine) as session:
        session.execute(sa.update(n).where(n.c.status.in_(("sending", "held", "undeliverable")), n.c.id.not_in(in_flight))
                        .values(status=outcome))
        _held_reasons(session)


def held_reason(display_name: str, role: str, address: str, error: str) -> str:
    """Why a held delivery waits, as a person reads it."""
    return error if address else f"no address for {display_name} ({role}) in the directory"


def _held_reasons(session: Session) -> None:
    """Each held notice's ``last_error``: why its first held recipient (主送 first) waits."""
    d, n = DELIVERY.c, NOTICE.c
    rows = session.execute(sa.select(d.notice_id, d.display_name, d.recipient_role, d.address, d.last_error,
                                     n.last_error.label("said"))
                           .join(NOTICE, n.id == d.notice_id).where(n.status == "held", d.status == "held")
                           .order_by(d.notice_id, d.is_cc, d.id)).all()
    why: dict[int, str] = {}
    said: dict[int, str] = {}
    for r in rows:
        why.setdefault(r.notice_id, held_reason(r.display_name, r.recipient_role, r.address, r.last_error))
        said[r.notice_id] = r.said
    why = {k: v for k, v in why.items() if said[k] != v}  # (what a notice says already is not written again)
    if why:
        session.execute(sa.update(NOTICE).where(NOTICE.c.id == sa.bindparam("pk")).values(last_error=sa.bindparam("why")),
                        [{"pk": k, "why": v} for k, v in why.items()])


def held(engine: Engine) -> list[dict[str, str]]:
    """Every delivery held in the outbox now: {notice, task, role, name, reason, cause}, oldest first
    (``cause``: the reason shared by many, to count them by)."""
    d, n, t = DELIVERY.c, NOTICE.c, TASK.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(d.notice_id, t.code, d.recipient_role, d.display_name, d.address, d.last_error)
                            .join(NOTICE, n.id == d.notice_id).join(TASK, t.id == n.task_id)
                            .where(d.status == "held", n.status != "superseded").order_by(d.id)).all()
    return [{"notice": str(r.notice_id), "task": r.code, "role": r.recipient_role, "name": r.display_name,
             "reason": held_reason(r.display_name, r.recipient_role, r.address, r.last_error),
             "cause": _cause(r.address, r.last_error)} for r in rows]


def task_codes(engine: Engine, notice_ids: Iterable[int]) -> dict[int, str]:
    """Notice id → its task's code."""
    with engine.connect() as conn:
        return {r.id: r.code for r in conn.execute(sa.select(NOTICE.c.id, TASK.c.code).join(TASK, TASK.c.id == NOTICE.c.task_id)
                                                   .where(NOTICE.c.id.in_(list(notice_ids))))}


def _cause(address: str, error: str) -> str:
    """What many held deliveries share: the directory's gap, or being a replay's (its days left out)."""
    if address:
        return "planned by a replay; set DUBAN_ALLOW_REPLAY_MAIL=1 to send" if "replay" in error else error
    return f"no address in the directory ({error})" if error else "no address in the directory"


# --------------------------------------------------------------------------------------------
# After a run: put failed messages back, list messages


def requeue_failed(engine: Engine, message_ids: list[int] | None = None) -> int:
    """Put failed messages (all, or ``message_ids``) back in the queue with their attempts reset: the
    same bytes, the same Message-ID. Their deliveries and notices go back to "on their way". Returns
    how many were requeued."""
    m, d, n = MESSAGE, DELIVERY, NOTICE
    with transaction(engine) as session:
        q = sa.select(m.c.id).where(m.c.status == "failed", m.c.address != "")  # "": pruned (workflows.prune_service)
        if message_ids:
            q = q.where(m.c.id.in_(message_ids))
        ids = list(session.execute(q).scalars())
        if not ids:
            return 0
        session.execute(sa.update(m).where(m.c.id.in_(ids)).values(status="pending", attempts=0, next_attempt_at=None))
        session.execute(sa.update(d).where(d.c.message_pk.in_(ids), d.c.status == "failed").values(status="queued"))
        session.execute(sa.update(n).where(n.c.status == "failed", n.c.id.in_(sa.select(d.c.notice_id).where(
            d.c.message_pk.in_(ids)))).values(status="sending"))
    return len(ids)


def waiting(engine: Engine, channels: Iterable[str] | None = None) -> int:
    """How many messages (of ``channels`` when given) are still pending or being sent."""
    with engine.connect() as conn:
        t = MESSAGE
        q = sa.select(sa.func.count()).select_from(t).where(t.c.status.in_(("pending", "sending")))
        if channels is not None:
            q = q.where(t.c.channel.in_(list(channels)))
        return conn.execute(q).scalar_one()


def count_messages(engine: Engine, *, status: str | None = None) -> int:
    """How many messages ``list_messages`` would list with ``status`` and no limit."""
    with engine.connect() as conn:
        q = sa.select(sa.func.count()).select_from(MESSAGE)
        if status:
            q = q.where(MESSAGE.c.status.in_(status.split(",")))
        return int(conn.execute(q).scalar_one())


def list_messages(engine: Engine, *, status: str | None = None, limit: int | None = None,
                  offset: int = 0) -> list[dict[str, Any]]:
    """Messages oldest first (``status``: comma-separated states to keep), as JSON-ready dicts."""
    with transaction(engine) as session:
        m = MESSAGE.c
        q = sa.select(m.id, m.address, m.subject, m.status, m.attempts, m.next_attempt_at, m.last_error, m.message_id,
                      m.notices, m.created_at, m.sent_at, m.channel).order_by(m.id)
        if status:
            q = q.where(m.status.in_(status.split(",")))
        if offset:
            q = q.offset(offset)
        if limit:
            q = q.limit(limit)
        return [{"id": r.id, "to": r.address, "subject": r.subject, "status": r.status, "attempts": r.attempts,
                 "next_attempt_at": r.next_attempt_at.isoformat() if r.next_attempt_at else None,
                 "last_error": r.last_error, "message_id": r.message_id, "notices": r.notices,
                 "created_at": r.created_at.isoformat(), "sent_at": r.sent_at.isoformat() if r.sent_at else None,
                 "channel": r.channel}
                for r in session.execute(q).all()]
