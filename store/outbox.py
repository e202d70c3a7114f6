"""The outbox: deliveries and messages, and the one state machine every channel's messages go through.

A notice gets a *delivery* per recipient (pending → queued → sent | failed, or undeliverable when
nobody has an address); pending deliveries are grouped into *messages*, each stored whole (its bytes
are what any channel hands over, so a resend is the same message). A message moves

    pending ──claim──▶ sending ──record──▶ sent | failed
       ▲                 │  └─record (retry: later, backing off) / release (untried) / halt──┐
       └─────────────────┴───────────────────────────────────────────────────────────────────┘

``claim`` leases due messages to one process (PostgreSQL skips rows another worker holds); a lease
that runs out (the process died while sending) makes the message due again, and it is sent again
byte for byte. ``record`` writes what a channel said (an ``Outcome``); ``finish_notices`` closes the
notices none of whose deliveries is on its way any more; ``requeue_failed`` puts failed messages
back after the office fixed something. Nothing here knows how a message leaves: that is a channel's
business (notifications.channels), and the outcome is all the outbox hears of it.
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
from duban.store.tables import DeliveryRow, MessageRow, NoticeRow, PlanRow, TaskRow, UnitRow

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

LEASE = dt.timedelta(minutes=10)  # a message still "sending" after this was lost with its process
CLAIM_BATCH = 200  # messages per claim: sent well within one lease even by a slow server


@dataclass(slots=True)
class Outcome:
    """What a channel says happened to one message it was handed."""

    status: str  # sent | retry | failed | halt (the server refused duban itself: login, sender, TLS)
    error: str = ""
    refused: dict[str, str] | None = None  # recipient address -> server reply, when only some were refused
    where: str = ""  # where the message went, when the channel can say (an .eml file's path)


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
    """Of several unsent reminders or chases of one series (two sweeps ran before a delivery), keep
    only the newest: it says the same thing with today's numbers. The others are marked superseded;
    returns how many."""
    n = NOTICE
    newest = (sa.select(sa.func.max(n.c.id)).where(n.c.status == "pending", n.c.kind.in_(SUPERSEDABLE_KINDS))
              .group_by(n.c.series))
    stale = session.connection().execute(
        sa.update(n).where(n.c.status == "pending", n.c.kind.in_(SUPERSEDABLE_KINDS), n.c.id.not_in(newest))
        .values(status="superseded"))
    return stale.rowcount or 0


def pending_notices(session: Session) -> list[Any]:
    """Notices waiting for their deliveries: (id, recipients, cc, task code, plan id), oldest first."""
    n, t = NOTICE.c, TASK.c
    return list(session.execute(sa.select(n.id, n.recipients, n.cc, t.code, t.plan_id).join(TASK, t.id == n.task_id)
                                .where(n.status == "pending").order_by(n.id)).all())


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
    """Pending deliveries not yet in a message: (id, notice_id, recipient_role, display_name, address, is_cc)."""
    dc = DELIVERY.c
    return list(session.execute(sa.select(dc.id, dc.notice_id, dc.recipient_role, dc.display_name, dc.address, dc.is_cc)
                                .where(dc.status == "pending", dc.message_pk.is_(None)).order_by(dc.id)).all())


def notice_keys(session: Session, notice_ids: Iterable[int]) -> dict[int, str]:
    n = NOTICE.c
    return {r.id: r.key for r in session.execute(sa.select(n.id, n.key).where(n.id.in_(list(notice_ids))))}


def plan_offices(session: Session) -> dict[str, str]:
    """Plan code → the name of the office that runs it (the letterhead's issuer)."""
    return {r.code: r.name for r in session.execute(
        sa.select(PLAN.c.code, UNIT.c.name).join(UNIT, UNIT.c.id == PLAN.c.office_unit_id))}


def enqueue(session: Session, messages: list[dict[str, Any]], members: dict[str, list[int]]) -> int:
    """Store new messages (MessageRow columns, ``status`` pending) and link each one's deliveries
    (``members``: message key → delivery ids), which become queued. One statement for the messages,
    one for the links. Returns how many messages."""
    if not messages:
        return 0
    conn = session.connection()
    ids: dict[str, int] = {r.key: r.id for r in conn.execute(sa.insert(MESSAGE).returning(MESSAGE.c.key, MESSAGE.c.id),
                                                                messages)}
    links = [{"delivery": d, "message": ids[key]} for key, ds in members.items() for d in ds]
    if links:
        d = DELIVERY
        conn.execute(sa.update(d).where(d.c.id == sa.bindparam("delivery"))
                     .values(status="queued", message_pk=sa.bindparam("message")), links)
    return len(messages)


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


def claim(engine: Engine, now: dt.datetime, batch: int = CLAIM_BATCH, *, ids: list[int] | None = None) -> list[Claimed]:
    """Take due messages (pending and due, or sending with a lapsed lease) for this process; ``ids``
    limits the claim to those messages. ``now`` is the real time (``real_clock``), never a replay's
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
        tally.sent += 1
    elif outcome.status == "halt":
        # The server refused duban itself (login, sender address): nothing is wrong with this message,
        # so it waits, uncounted, for the configuration to be fixed.
        msg.status, msg.last_error, msg.next_attempt_at = "pending", outcome.error, None
        msg.attempts = max(0, msg.attempts - 1)
        if not tally.halted:
            tally.halted = outcome.error
            tally.errors.append(f"{label} configuration: {outcome.error}")
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
    """A notice is sent when none of its deliveries is still on its way (failed if none got through,
    undeliverable if none had an address).

    One statement, so one snapshot: under PostgreSQL's READ COMMITTED each statement sees what was
    committed when it began, and a worker recording its deliveries between two separate updates would
    make a notice look as if it had nothing sent, failed or in flight."""
    with transaction(engine) as session:
        d = DELIVERY
        in_flight = sa.select(d.c.notice_id).where(d.c.status.in_(("pending", "queued")))
        delivered = sa.select(d.c.notice_id).where(d.c.status == "sent")
        failed = sa.select(d.c.notice_id).where(d.c.status == "failed")
        n = NOTICE
        outcome = sa.case((n.c.id.in_(delivered), "sent"), (n.c.id.in_(failed), "failed"), else_="undeliverable")
        session.execute(sa.update(n).where(n.c.status == "sending", n.c.id.not_in(in_flight)).values(status=outcome))


# --------------------------------------------------------------------------------------------
# After a run: put failed messages back, list messages


def requeue_failed(engine: Engine, message_ids: list[int] | None = None) -> int:
    """Put failed messages (all, or ``message_ids``) back in the queue with their attempts reset: the
    same bytes, the same Message-ID. Their deliveries and notices go back to "on their way". Returns
    how many were requeued."""
    m, d, n = MESSAGE, DELIVERY, NOTICE
    with transaction(engine) as session:
        q = sa.select(m.c.id).where(m.c.status == "failed")
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


def waiting(engine: Engine) -> int:
    """How many messages are still pending or being sent."""
    with engine.connect() as conn:
        t = MESSAGE
        return conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.status.in_(("pending", "sending")))).scalar_one()


def list_messages(engine: Engine, *, status: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Messages oldest first (``status``: comma-separated states to keep), as JSON-ready dicts."""
    with transaction(engine) as session:
        m = MESSAGE.c
        q = sa.select(m.id, m.address, m.subject, m.status, m.attempts, m.next_attempt_at, m.last_error, m.message_id,
                      m.notices, m.created_at, m.sent_at).order_by(m.id)
        if status:
            q = q.where(m.status.in_(status.split(",")))
        if limit:
            q = q.limit(limit)
        return [{"id": r.id, "to": r.address, "subject": r.subject, "status": r.status, "attempts": r.attempts,
                 "next_attempt_at": r.next_attempt_at.isoformat() if r.next_attempt_at else None,
                 "last_error": r.last_error, "message_id": r.message_id, "notices": r.notices,
                 "created_at": r.created_at.isoformat(), "sent_at": r.sent_at.isoformat() if r.sent_at else None}
                for r in session.execute(q).all()]
