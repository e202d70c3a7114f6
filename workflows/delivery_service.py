"""Delivery: from planned notices to messages handed over — once, whatever falls over.

Two phases, each committed before the next begins:

1. Plan (one transaction): every pending notice gets a delivery row per recipient (主送 and 抄送),
   resolved to an address or recorded as undeliverable; pending deliveries are grouped into
   messages (a digest per address by default, or one message per notice), rendered, and stored
   whole with a Message-ID derived from the message's key.
2. Send: messages are claimed (pending → sending, with a lease; PostgreSQL skips rows another worker
   holds), handed to the SMTP server over reused connections, or written as .eml files when no
   server is configured, and marked sent or failed. A 4xx reply or a connection error puts the
   message back to pending with a later ``next_attempt_at`` (exponential backoff); a 5xx reply fails
   it for good, the server's reply kept. A message whose lease ran out (the process died while
   sending) is claimed again and resent byte for byte, with the same Message-ID.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from duban.matrix.gcpause import no_cyclic_gc
from duban.matrix.script import for_language
from duban.notifications.mail import (
    Outcome,
    RateLimiter,
    SmtpConfig,
    SmtpSender,
    build_message,
    check_message,
    eml_name,
    message_id_for,
    sender_address,
    thread_id_for,
    write_eml,
)
from duban.notifications.recipients import Directory
from duban.store.db import begin_immediate, real_clock, transaction
from duban.store.supervision import _insert_ignore
from duban.store.tables import DeliveryRow, MessageRow, NoticeRow, PlanRow, TaskRow, UnitRow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from duban.config.settings import Settings

_EMAILS = re.compile(r"<?[^\s<>@,;]+@[^\s<>@,;]+>?")  # addresses in a server's reply, left out when grouping by reason
LEASE = dt.timedelta(minutes=10)  # a message still "sending" after this was lost with its process
CLAIM_BATCH = 200  # messages per claim: sent well within one lease even by a slow server
RECORD_BATCH = 1  # outcomes written per transaction while sending (1: a crash repeats at most one message)


@dataclass(slots=True)
class DeliveryResult:
    target: str
    planned_messages: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    recipients_refused: int = 0
    superseded: int = 0
    undeliverable: list[dict[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Why the run stopped when the server refused duban itself (no login offered, login refused, TLS,
    # sender refused); "" otherwise. The messages then wait, their attempts not counted.
    halted: str = ""
    failures: list[dict[str, str]] = field(default_factory=list)  # {address, error} of each message failed for good

    def by_reason(self, examples: int = 3) -> dict[str, list[dict[str, Any]]]:
        """Failed messages and undeliverable recipients counted per reason, most frequent first, with
        the first few examples of each: what a person reads after a run of thousands of messages."""
        def group(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
            counts: dict[str, list[str]] = {}
            for reason, example in pairs:
                counts.setdefault(reason, []).append(example)
            return [{"reason": r, "count": len(xs), "examples": xs[:examples]}
                    for r, xs in sorted(counts.items(), key=lambda kv: (-len(kv[1]), kv[0]))]

        return {"failed": group([(_reason(f["error"]), _short(f["address"], 60)) for f in self.failures]),
                "undeliverable": group([(u["reason"], _short(f"task {u['task']} → {u['name']} ({u['role']})", 60))
                                        for u in self.undeliverable])}

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "planned_messages": self.planned_messages, "sent": self.sent,
                "retrying": self.retrying, "failed": self.failed, "recipients_refused": self.recipients_refused,
                "superseded": self.superseded,
                "undeliverable": self.undeliverable, "errors": self.errors, "halted": self.halted,
                "by_reason": self.by_reason()}


def _reason(error: str) -> str:
    """A server's reply as a reason shared by many messages: addresses left out, repeats said once."""
    head, colon, replies = _EMAILS.sub("…", error).partition(": ")
    if colon and "; " in replies:
        error = f"{head}: " + "; ".join(dict.fromkeys(replies.split("; ")))
    else:
        error = f"{head}{colon}{replies}"
    return _short(error, 120)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


# --------------------------------------------------------------------------------------------
# Phase 1: plan


def _plan_alone(session: Session) -> None:
    """One process plans at a time: a second planner then finds the notices and deliveries the first
    one took, and plans nothing twice. PostgreSQL: a transaction-scoped advisory lock. SQLite: the
    write lock taken up front (BEGIN IMMEDIATE) — pysqlite would only take it at the first write,
    after this transaction had read the same pending rows as the other planner."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('duban.delivery.plan'))"))
    elif session.get_bind().dialect.name == "sqlite":
        begin_immediate(session)


def _supersede(session: Session, result: DeliveryResult) -> None:
    """Of several unsent reminders or chases of one series (two sweeps ran before a delivery), send
    only the newest: it says the same thing with today's numbers. The others are marked superseded."""
    n = NoticeRow.__table__
    newest = (sa.select(sa.func.max(n.c.id)).where(n.c.status == "pending", n.c.kind.in_(("reminder", "chase")))
              .group_by(n.c.series))
    stale = session.connection().execute(
        sa.update(n).where(n.c.status == "pending", n.c.kind.in_(("reminder", "chase")), n.c.id.not_in(newest))
        .values(status="superseded"))
    result.superseded = stale.rowcount or 0


def _resolve_pending_notices(session: Session, directory: Directory, now: dt.datetime, result: DeliveryResult) -> None:
    notices = session.execute(sa.select(NoticeRow.id, NoticeRow.recipients, NoticeRow.cc, TaskRow.code, TaskRow.plan_id)
                              .join(TaskRow, TaskRow.id == NoticeRow.task_id)
                              .where(NoticeRow.status == "pending").order_by(NoticeRow.id)).all()
    if not notices:
        return
    rows: list[dict[str, Any]] = []
    for notice_id, to, cc, task_code, plan_id in notices:
        seen: set[str] = set()
        for is_cc, people in ((False, to), (True, cc)):
            for person in people:
                for r in directory.resolve(person["role"], person["name"], plan_id):
                    if r.address and r.address in seen:
                        continue  # someone who is both 主送 and 抄送 gets it once, as 主送
                    seen.add(r.address)
                    rows.append({"notice_id": notice_id, "recipient_role": r.role, "recipient_name": r.name,
                                 "display_name": r.display_name, "address": r.address, "is_cc": is_cc,
                                 "status": "pending" if r.address else "undeliverable",
                                 "last_error": r.reason, "created_at": now})
                    if not r.address:
                        result.undeliverable.append({"notice": str(notice_id), "task": task_code, "role": r.role,
                                                     "name": r.display_name, "reason": r.reason})
    conn = session.connection()
    conn.execute(_insert_ignore(session, DeliveryRow.__table__, ("notice_id", "recipient_role", "recipient_name", "address")), rows)
    conn.execute(sa.update(NoticeRow.__table__).where(NoticeRow.__table__.c.id.in_([n[0] for n in notices]))
                 .values(status="sending"))


def _plan_messages(session: Session, *, now: dt.datetime, settings: "Settings", result: DeliveryResult) -> None:
    from duban.notifications.render import Renderer
    from duban.notifications.views import build_views, letterhead_for

    dc = DeliveryRow.__table__.c
    rows = session.execute(sa.select(dc.id, dc.notice_id, dc.recipient_role, dc.display_name, dc.address, dc.is_cc)
                           .where(dc.status == "pending", dc.message_pk.is_(None)).order_by(dc.id)).all()
    if not rows:
        return
    views = build_views(session, sorted({r.notice_id for r in rows}))
    renderer = Renderer(language=settings.language, override_dir=settings.config_dir / "templates")
    from duban.notifications.render import Letterhead, RecipientView

    letterhead = letterhead_for(session, now.date())
    in_script = for_language(settings.language)  # header names in the letter's script too: 督辦系統 → 督办系统
    sender = sender_address(in_script(settings.mail_from))
    domain = sender.rsplit("@", 1)[1].rstrip(">")
    # Plain rows (tens of thousands in a big run).
    pending = [_Pending(r.id, r.notice_id, r.recipient_role, in_script(r.display_name), r.address, r.is_cc) for r in rows]
    # Each plan's office signs its own notices (several plans, several offices): a digest gathers one
    # recipient's notices under one letterhead, so a recipient of two offices gets one mail from each.
    offices = dict(session.execute(sa.select(PlanRow.code, UnitRow.name).join(UnitRow, UnitRow.id == PlanRow.office_unit_id)).all())

    def letterhead_of(notice_id: int) -> Letterhead:
        issuer = offices.get(views[notice_id].plan_code)
        return replace(letterhead, issuer=issuer) if issuer else letterhead

    groups: dict[Any, list[_Pending]] = defaultdict(list)
    for d in pending:
        groups[(d.address, letterhead_of(d.notice_id).issuer) if settings.delivery_mode == "digest" else d.notice_id].append(d)
    keys = {n.id: n.key for n in session.execute(sa.select(NoticeRow.id, NoticeRow.key)
                                                 .where(NoticeRow.id.in_([d.notice_id for d in pending])))}
    new_messages: list[dict[str, Any]] = []
    members: dict[str, list[int]] = {}
    for group, deliveries in groups.items():
        # What the message carries, by identity rather than by row ids: a planning transaction rolled
        # back (kill -9) still used up PostgreSQL sequence numbers, and the message planned again must
        # get the same key and Message-ID as if nothing had happened.
        ids = "\n".join(sorted(f"{keys[d.notice_id]}|{d.recipient_role}|{d.address}|{int(d.is_cc)}" for d in deliveries))
        if settings.delivery_mode == "digest":
            address = group[0]
            first = deliveries[0]
            recipient = RecipientView(name=first.display_name, email=address, role=first.recipient_role)
            items = [_as_cc(views[d.notice_id], d.is_cc) for d in deliveries]
            rendered = renderer.digest(items, recipient, letterhead=letterhead_of(first.notice_id))
            key = f"digest:{address}:{hashlib.sha256(ids.encode()).hexdigest()[:24]}"
            to, cc, thread = [(first.display_name, address)], [], None
        else:
            view = views[group]
            to = [(d.display_name, d.address) for d in deliveries if not d.is_cc]
            cc = [(d.display_name, d.address) for d in deliveries if d.is_cc]
            head = deliveries[0]
            recipient = RecipientView(name=head.display_name, email=head.address, role=head.recipient_role)
            rendered = renderer.notice(view, recipient, letterhead=letterhead_of(group))
            key = f"notice:{keys[group]}:{hashlib.sha256(ids.encode()).hexdigest()[:12]}"
            thread = thread_id_for(f"{view.plan_code}:{view.task_code}", domain)
            if not to:  # only 抄送 recipients are left (the 主送 one was undeliverable)
                to, cc = cc, []
        message_id = message_id_for(key, domain)
        important = any(views[d.notice_id].kind == "escalation" and views[d.notice_id].level >= 2 for d in deliveries)
        body = build_message(sender=sender, to=to, cc=cc, subject=rendered.subject, text=rendered.text,
                             html=rendered.html, message_id=message_id, date=now, thread=thread, important=important)
        check_message(body)  # read back strictly before it is stored (folded headers, no defect)
        new_messages.append({"key": key, "address": ", ".join(a for _, a in [*to, *cc]), "message_id": message_id,
                             "subject": rendered.subject, "status": "pending", "attempts": 0, "last_error": "",
                             "created_at": now, "notices": len({d.notice_id for d in deliveries}), "body": body})
        members[key] = [d.id for d in deliveries]
    # One statement for the messages, one for linking their deliveries.
    conn = session.connection()
    table = MessageRow.__table__
    ids = dict(conn.execute(sa.insert(table).returning(table.c.key, table.c.id), new_messages).all()) if new_messages else {}
    links = [{"delivery": d, "message": ids[key]} for key, ds in members.items() for d in ds]
    if links:
        d = DeliveryRow.__table__
        conn.execute(sa.update(d).where(d.c.id == sa.bindparam("delivery"))
                     .values(status="queued", message_pk=sa.bindparam("message")), links)
    result.planned_messages += len(new_messages)


class _Pending(NamedTuple):
    """A delivery waiting for its message."""

    id: int
    notice_id: int
    recipient_role: str
    display_name: str
    address: str
    is_cc: bool


def _as_cc(view, is_cc: bool):
    return replace(view, is_cc=is_cc) if view.is_cc != is_cc else view


# --------------------------------------------------------------------------------------------
# Phase 2: send


def _claim(engine: "Engine", now: dt.datetime, batch: int = CLAIM_BATCH) -> list[tuple[int, bytes, str]]:
    """Take due messages (pending and due, or sending with a lapsed lease) for this process. ``now`` is
    the real time (``real_clock``), never a replay's as-of: a lease must mean the same to every process.

    The update re-checks that each message is still due, and returns only the ones it took: two
    processes that picked the same ids (SQLite has no SKIP LOCKED) cannot both claim a message —
    the second one's update waits for the first to commit and then finds them leased."""
    with transaction(engine) as session:
        t = MessageRow.__table__
        due = sa.or_(sa.and_(t.c.status == "pending", sa.or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= now)),
                     sa.and_(t.c.status == "sending", t.c.next_attempt_at <= now))
        q = sa.select(t.c.id).where(due).order_by(t.c.id).limit(batch)
        if session.get_bind().dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        ids = list(session.execute(q).scalars())
        if not ids:
            return []
        taken = list(session.execute(
            sa.update(t).where(t.c.id.in_(ids), due)
            .values(status="sending", attempts=t.c.attempts + 1, next_attempt_at=now + LEASE).returning(t.c.id)).scalars())
        if not taken:
            return []
        rows = session.execute(sa.select(t.c.id, t.c.body, t.c.address).where(t.c.id.in_(taken)).order_by(t.c.id)).all()
        return [(r.id, r.body, r.address) for r in rows]


def _release(engine: "Engine", message_pks: list[int], reason: str = "") -> None:
    """Claimed messages this run did not try (it stopped early): back to pending at once, the attempt
    not counted; ``reason`` (why the run stopped) becomes their last error, for `duban messages`."""
    if message_pks:
        t = MessageRow.__table__
        values: dict[str, Any] = {"status": "pending", "attempts": t.c.attempts - 1, "next_attempt_at": None}
        if reason:
            values["last_error"] = reason
        with engine.begin() as conn:
            conn.execute(sa.update(t).where(t.c.id.in_(message_pks), t.c.status == "sending").values(**values))


def _record(engine: "Engine", outcomes: list[tuple[int, Outcome]], now: dt.datetime, settings: "Settings",
            result: DeliveryResult, clock: Callable[[], dt.datetime] | None = None) -> None:
    """Write what happened to a batch of messages, in one transaction (sent at ``now``, the run's day;
    retried after a delay counted on the real ``clock``)."""
    if not outcomes:
        return
    if all(o.status == "sent" and not o.refused for _, o in outcomes):
        # The common case, kept to two statements: it runs once per message sent.
        ids = [pk for pk, _ in outcomes]
        m, d = MessageRow.__table__, DeliveryRow.__table__
        with engine.begin() as conn:
            conn.execute(sa.update(m).where(m.c.id.in_(ids)).values(status="sent", sent_at=now, last_error="", next_attempt_at=None))
            conn.execute(sa.update(d).where(d.c.message_pk.in_(ids)).values(status="sent"))
        result.sent += len(ids)
        return
    with transaction(engine) as session:
        messages = {m.id: m for m in session.execute(
            sa.select(MessageRow).where(MessageRow.id.in_([pk for pk, _ in outcomes]))).scalars()}
        by_message: dict[int, list[DeliveryRow]] = defaultdict(list)
        for d in session.execute(sa.select(DeliveryRow).where(DeliveryRow.message_pk.in_(list(messages)))).scalars():
            by_message[d.message_pk].append(d)
        for message_pk, outcome in outcomes:
            _record_one(messages[message_pk], by_message[message_pk], outcome, now, settings, result,
                        clock() if clock else dt.datetime.now(dt.timezone.utc))


def _record_one(msg: MessageRow, deliveries: list[DeliveryRow], outcome: Outcome, now: dt.datetime,
                settings: "Settings", result: DeliveryResult, real_now: dt.datetime) -> None:
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
                result.recipients_refused += 1
            else:  # refused for good (5xx), or temporarily too many times
                d.status, d.last_error, d.refusals = "failed", reply, d.refusals + 1
                result.recipients_refused += 1
        result.sent += 1
    elif outcome.status == "halt":
        # The server refused duban itself (login, sender address): nothing is wrong with this message,
        # so it waits, uncounted, for the configuration to be fixed.
        msg.status, msg.last_error, msg.next_attempt_at = "pending", outcome.error, None
        msg.attempts = max(0, msg.attempts - 1)
        if not result.halted:
            result.halted = outcome.error
            result.errors.append(f"SMTP configuration: {outcome.error}")
    elif outcome.status == "retry" and msg.attempts < settings.max_attempts:
        delay = dt.timedelta(seconds=settings.retry_base_seconds * 2 ** (msg.attempts - 1))
        msg.status, msg.last_error, msg.next_attempt_at = "pending", outcome.error, real_now + delay
        result.retrying += 1
    else:
        msg.status, msg.last_error, msg.next_attempt_at = "failed", outcome.error, None
        for d in deliveries:
            d.status, d.last_error = "failed", (outcome.refused or {}).get(d.address, outcome.error)
        result.failed += 1
        result.errors.append(f"{msg.address}: {outcome.error}")
        result.failures.append({"address": msg.address, "error": outcome.error})


async def _send_smtp(engine: "Engine", claimed: list[tuple[int, bytes, str]], *, now: dt.datetime,
                     settings: "Settings", config: SmtpConfig, result: DeliveryResult,
                     clock: Callable[[], dt.datetime]) -> bool:
    """Send the claimed messages over ``smtp_concurrency`` reused connections; True when the server
    refused duban itself (login or sender) and the run stopped."""
    queue: asyncio.Queue = asyncio.Queue()
    for item in claimed:
        queue.put_nowait(item)
    limiter = RateLimiter(settings.messages_per_minute)
    sender = sender_address(settings.mail_from)
    envelope_from = sender.rsplit("<", 1)[-1].rstrip(">")

    halted: list[str] = []

    async def worker() -> None:
        # Each outcome is written as soon as it is known: a crash can leave at most the message in
        # flight unrecorded, and that one is sent again later, byte for byte with the same Message-ID.
        smtp = SmtpSender(config)
        done: list[tuple[int, Outcome]] = []
        try:
            while not queue.empty() and not halted:
                message_pk, body, addresses = queue.get_nowait()
                await limiter.wait()
                outcome = await smtp.send(body, envelope_from, [a.strip() for a in addresses.split(",") if a.strip()])
                done.append((message_pk, outcome))
                if outcome.status == "halt":
                    halted.append(outcome.error)  # every other message would be refused the same way
                if len(done) >= RECORD_BATCH:
                    _record(engine, done, now, settings, result, clock)
                    done = []
        finally:
            _record(engine, done, now, settings, result, clock)
            await smtp.close()

    await asyncio.gather(*(worker() for _ in range(min(settings.smtp_concurrency, len(claimed)))))
    if halted:
        untried: list[int] = []
        while not queue.empty():
            untried.append(queue.get_nowait()[0])
        _release(engine, untried, halted[0])
    return bool(halted)


def _finish_notices(engine: "Engine") -> None:
    """A notice is sent when none of its deliveries is still on its way (failed if none got through,
    undeliverable if none had an address).

    One statement, so one snapshot: under PostgreSQL's READ COMMITTED each statement sees what was
    committed when it began, and a worker recording its deliveries between two separate updates would
    make a notice look as if it had nothing sent, failed or in flight."""
    with transaction(engine) as session:
        d = DeliveryRow.__table__
        in_flight = sa.select(d.c.notice_id).where(d.c.status.in_(("pending", "queued")))
        delivered = sa.select(d.c.notice_id).where(d.c.status == "sent")
        failed = sa.select(d.c.notice_id).where(d.c.status == "failed")
        n = NoticeRow.__table__
        outcome = sa.case((n.c.id.in_(delivered), "sent"), (n.c.id.in_(failed), "failed"), else_="undeliverable")
        session.execute(sa.update(n).where(n.c.status == "sending", n.c.id.not_in(in_flight)).values(status=outcome))


def deliver(engine: "Engine", *, now: dt.datetime, settings: "Settings",
            clock: Callable[[], dt.datetime] | None = None) -> DeliveryResult:
    """Plan messages for every pending notice and hand over every message that is due.

    ``now`` is the day the run acts for (a replay's as-of): it dates the letters. Leases and retry
    times are counted on ``clock``, the real time (``store.db.real_clock`` unless a test gives one),
    so that a replay's claims mean the same to a live deliver beside it."""
    clock = clock or real_clock(engine)
    config = None
    if settings.smtp_url:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        config = SmtpConfig.from_url(settings.smtp_url, password=password, timeout=settings.smtp_timeout)
    result = DeliveryResult(target=config.describe() if config else str(settings.outbox_dir))
    with no_cyclic_gc():
        with transaction(engine) as session:
            _plan_alone(session)
            _supersede(session, result)
            _resolve_pending_notices(session, Directory(session), now, result)
        with transaction(engine) as session:
            _plan_alone(session)
            _plan_messages(session, now=now, settings=settings, result=result)
    # A claim's lease is counted from when it is taken, and a batch is never more than the rate
    # limit lets out in half a lease.
    batch = CLAIM_BATCH
    if settings.messages_per_minute > 0:
        batch = max(1, min(batch, int(settings.messages_per_minute * LEASE.total_seconds() / 60 / 2)))
    while True:
        claimed = _claim(engine, clock(), batch)
        if not claimed:
            break
        if config is None:
            for message_pk, body, _ in claimed:
                write_eml(settings.outbox_dir, eml_name(message_pk, body), body)
            _record(engine, [(pk, Outcome("sent")) for pk, _, _ in claimed], now, settings, result, clock)
        elif asyncio.run(_send_smtp(engine, claimed, now=now, settings=settings, config=config, result=result, clock=clock)):
            break
        if len(claimed) < batch:
            break
    # Recipients refused with a 4xx while others got the message wait for the next run, in a new message.
    _finish_notices(engine)
    return result


def requeue_failed(engine: "Engine", *, now: dt.datetime, message_ids: list[int] | None = None) -> int:
    """Put failed messages (all, or ``message_ids``) back in the queue with their attempts reset —
    after the office fixed an address or the mail server: the same bytes, the same Message-ID.
    Their deliveries and notices go back to "on their way". Returns how many were requeued."""
    m, d, n = MessageRow.__table__, DeliveryRow.__table__, NoticeRow.__table__
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


def list_messages(engine: "Engine", *, status: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    with transaction(engine) as session:
        q = sa.select(MessageRow.id, MessageRow.address, MessageRow.subject, MessageRow.status, MessageRow.attempts,
                      MessageRow.next_attempt_at, MessageRow.last_error, MessageRow.message_id, MessageRow.notices,
                      MessageRow.created_at, MessageRow.sent_at).order_by(MessageRow.id)
        if status:
            q = q.where(MessageRow.status.in_(status.split(",")))
        if limit:
            q = q.limit(limit)
        return [{"id": r.id, "to": r.address, "subject": r.subject, "status": r.status, "attempts": r.attempts,
                 "next_attempt_at": r.next_attempt_at.isoformat() if r.next_attempt_at else None,
                 "last_error": r.last_error, "message_id": r.message_id, "notices": r.notices,
                 "created_at": r.created_at.isoformat(), "sent_at": r.sent_at.isoformat() if r.sent_at else None}
                for r in session.execute(q).all()]
