"""Delivery: from planned notices to messages handed over — once, whatever falls over.

Two phases, each committed before the next begins:

1. Plan (one transaction): every pending notice gets a delivery row per recipient (主送 and 抄送),
   resolved to an address or *held* (nobody has one yet: resolved again against the directory at
   every run, and sent once it gains the address); pending deliveries are grouped into messages (a
   digest per address by default, or one message per notice; a closing request's answer is always a
   message of its own), rendered, and stored whole with a
   Message-ID derived from the message's key. A message of notices a replayed sweep planned (its
   as-of more than a day from the local day it ran) — or of a closing request's answer decided for
   such a day — is held rather than mailed to real people by SMTP, unless DUBAN_ALLOW_REPLAY_MAIL=1;
   the .eml outbox always takes it.
2. Send: messages are claimed from the outbox (store.outbox: pending → sending, with a lease;
   PostgreSQL skips rows another worker holds) and handed to the channel the settings choose
   (notifications.channels: an SMTP server over reused connections, or .eml files when no server is
   configured); what the channel says is recorded. "Try later" (a 4xx reply, a connection error)
   puts the message back to pending with a later ``next_attempt_at`` (exponential backoff); a final
   refusal (5xx) fails it for good, the server's reply kept; a refusal of duban itself (login,
   sender, TLS) stops the run and the messages wait. A message whose lease ran out (the process died
   while sending) is claimed again and resent byte for byte, with the same Message-ID.

Whatever sends — the notices here, the weekly report (``send_now``) — goes through this one pipeline.

Group robots (DingTalk, WeCom, Feishu; a unit's ``channels:`` in the directory) are a second channel in
the same pipeline, beside the mail, never instead of it. A notice's recipients are resolved twice: to
email addresses (held when there is none, as before) and to robot addresses (only the ``unit`` and
``office`` roles have robots; a unit without one is simply not reached that way). Each robot address is
a delivery of its own, so one notice yields one mail message per mail recipient and, per robot of its
recipient units, one robot message — in digest mode one robot message per robot and office (the
unit's notices of the run together, as its mail digest), else one per notice and robot. Robot messages
are rendered as Markdown (``Renderer.markdown_notice``/``markdown_digest``), stored in the outbox with
their own key (``message.channel`` the robot's kind), held like mail when a replay planned them (unless
DUBAN_ALLOW_REPLAY_MAIL=1, whatever the mail channel), and sent after the mail by the robot channel
(notifications.channels.robots), with the same claims, leases, retries, backoff and states. A notice
is sent when any of its 主送 deliveries is, by mail or robot.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy.orm import Session

from duban.matrix.gcpause import no_cyclic_gc
from duban.matrix.script import for_language
from duban.matrix.vocabulary import NOTICE_KINDS
from duban.notifications.channels import Channel, channel_for
from duban.notifications.mail import build_message, check_message, message_id_for, sender_address, thread_id_for
from duban.notifications.recipients import ROBOT_KINDS, Directory, RobotTarget, robot_kind, robot_targets
from duban.store import outbox
from duban.store.db import real_clock, transaction
from duban.store.outbox import CLAIM_BATCH, LEASE, Claimed, Outcome

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from duban.config.settings import Settings
    from duban.matrix.calendar import WorkCalendar
    from duban.notifications.render import Letterhead, Renderer

__all__ = ["CLAIM_BATCH", "LEASE", "DeliveryResult", "deliver", "list_messages", "requeue_failed", "send_now",
           "summarize"]

_EMAILS = re.compile(r"<?[^\s<>@,;]+@[^\s<>@,;]+>?")  # addresses in a server's reply, left out when grouping by reason


@dataclass(slots=True)
class DeliveryResult:
    target: str
    planned_messages: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    recipients_refused: int = 0
    superseded: int = 0
    # Recipients the server refused for good (5xx) while the others got the message.
    undeliverable: list[dict[str, str]] = field(default_factory=list)
    # Every recipient held in the outbox after the run (no address yet; a replay's message):
    # {notice, task, role, name, reason, cause} (store.outbox.held).
    held: list[dict[str, str]] = field(default_factory=list)
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

        def who(u: dict[str, str]) -> str:
            return _short(f"task {u['task']} → {u['name']} ({u['role']})", 60)

        return {"failed": group([(_reason(f["error"]), _short(f["address"], 60)) for f in self.failures]),
                "held": group([(u["cause"], who(u)) for u in self.held]),
                "undeliverable": group([(_reason(u["reason"]), who(u)) for u in self.undeliverable])}

    def summary(self) -> str:
        """The run in one line, the same for `duban deliver`, `duban run` and a flow run's log."""
        return summarize({"sent": self.sent, "held": self.held, "failed": self.failed,
                          "undeliverable": self.undeliverable, "retrying": self.retrying})

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "planned_messages": self.planned_messages, "sent": self.sent,
                "held": len(self.held), "retrying": self.retrying, "failed": self.failed,
                "recipients_refused": self.recipients_refused, "superseded": self.superseded,
                "undeliverable": self.undeliverable, "held_recipients": self.held, "errors": self.errors,
                "halted": self.halted, "summary": self.summary(), "by_reason": self.by_reason()}


def summarize(counts: Mapping[str, Any]) -> str:
    """sent / held / failed / undeliverable (and how many will be retried) in one line, from a run's
    counts or lists (``DeliveryResult.as_dict()``): messages sent and failed, recipients held (no
    address yet, or a replay's) and undeliverable (refused for good by the server)."""
    def n(key: str) -> int:
        value = counts.get(key) or 0
        return len(value) if isinstance(value, list) else int(value)

    line = f"{n('sent')} sent, {n('held')} held, {n('failed')} failed, {n('undeliverable')} undeliverable"
    return line + (f"; {n('retrying')} will be retried" if n("retrying") else "")


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


def _resolve_pending_notices(session: Session, directory: Directory, now: dt.datetime,
                             robots: Directory | None = None) -> None:
    """Every pending notice's deliveries: one per mail address (held when there is none) and, with
    ``robots`` (the directory resolving to group robots), one per robot of its recipient units."""
    notices = outbox.pending_notices(session)
    if not notices:
        return
    rows: list[dict[str, Any]] = []
    for notice_id, to, cc, _task_code, plan_id in notices:
        seen: set[str] = set()
        for is_cc, people in ((False, to), (True, cc)):
            for person in people:
                for r in directory.resolve(person["role"], person["name"], plan_id):
                    if r.address and r.address in seen:
                        continue  # someone who is both 主送 and 抄送 gets it once, as 主送
                    seen.add(r.address)
                    rows.append({"notice_id": notice_id, "recipient_role": r.role, "recipient_name": r.name,
                                 "display_name": r.display_name, "address": r.address, "is_cc": is_cc,
                                 "status": "pending" if r.address else "held",
                                 "last_error": r.reason, "created_at": now})
                if robots is None or person["role"] not in ("unit", "office"):
                    continue
                for r in robots.resolve(person["role"], person["name"], plan_id):
                    if r.address and r.address not in seen:  # (a unit without a robot: nothing to hold)
                        seen.add(r.address)
                        rows.append({"notice_id": notice_id, "recipient_role": r.role, "recipient_name": r.name,
                                     "display_name": r.display_name, "address": r.address, "is_cc": is_cc,
                                     "status": "pending", "last_error": "", "created_at": now})
    outbox.add_deliveries(session, rows, [n[0] for n in notices])


def _readdress_held(session: Session, directory: Directory, now: dt.datetime) -> None:
    """Held deliveries (nobody had an address) resolved again against today's directory: those that
    found an address are sent by this run, the others stay held with today's reason."""
    rows = outbox.held_deliveries(session)
    if not rows:
        return
    known = outbox.notice_addresses(session, {r.notice_id for r in rows})
    found: list[dict[str, Any]] = []
    extra: list[dict[str, Any]] = []
    still: list[dict[str, Any]] = []
    dropped: list[int] = []
    for r in rows:
        resolved = directory.resolve(r.recipient_role, r.recipient_name, r.plan_id)
        fresh = [x for x in resolved if x.address and x.address not in known[r.notice_id]]
        missing = [x for x in resolved if not x.address]  # (a group's members: some may still have none)
        if not fresh:
            if missing:
                if (r.status, r.last_error) != ("held", missing[0].reason):  # (an unchanged one is not written again)
                    still.append({"pk": r.id, "why": missing[0].reason})
            else:  # the notice reaches that address already (as 主送 or 抄送)
                dropped.append(r.id)
            continue
        known[r.notice_id].update(x.address for x in fresh)
        found.append({"pk": r.id, "addr": fresh[0].address, "who": fresh[0].display_name})
        extra.extend({"notice_id": r.notice_id, "recipient_role": x.role, "recipient_name": x.name,
                      "display_name": x.display_name, "address": x.address, "is_cc": r.is_cc,
                      "status": "pending" if x.address else "held", "last_error": x.reason, "created_at": now}
                     for x in fresh[1:] + missing[:1])
    outbox.readdress(session, found, extra, still, dropped)


def replay_reasons(session: Session, notice_ids: list[int], timezone: str) -> dict[int, str]:
    """The notices a replayed sweep planned — its as-of more than a day from the local day (``timezone``)
    it really ran — each with why it is held: "held: planned by a replay (as of …, swept …); …"."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(timezone)
    out: dict[int, str] = {}
    for notice_id, (as_of, started_at) in outbox.notice_sweeps(session, notice_ids).items():
        ran = (started_at if started_at.tzinfo else started_at.replace(tzinfo=dt.UTC)).astimezone(tz).date()
        why = replay_reason(as_of, ran, "planned by a replay", "swept")
        if why:
            out[notice_id] = why
    # A notice no sweep planned (a closing request's answer) written for a replayed day (--as-of).
    for notice_id, (as_of, written_at) in outbox.notice_written(session, notice_ids).items():
        why = replay_reason(as_of, written_at.astimezone(tz).date(), "written for a replayed day", "written")
        if why:
            out[notice_id] = why
    return out


def replay_reason(as_of: dt.date, ran: dt.date, what: str, verb: str) -> str:
    """Why mail made for ``as_of`` on the local day ``ran`` waits ("held: <what> (as of …, <verb> …); …"),
    or "" when it is no replay: the two days are at most a day apart (a sweep just after midnight)."""
    if abs((as_of - ran).days) <= 1:
        return ""
    return f"held: {what} (as of {as_of.isoformat()}, {verb} {ran.isoformat()}); set DUBAN_ALLOW_REPLAY_MAIL=1 to send"


class _Pending(NamedTuple):
    """A delivery waiting for its message."""

    id: int
    notice_id: int
    recipient_role: str
    display_name: str
    address: str
    is_cc: bool
    recipient_name: str = ""  # the unit (or person) the notice names: whose signed link the letter carries


_UNIT_ROLES = ("unit", "unit_head")  # recipients that are a unit, who answer by its signed link


def _as_cc(view, is_cc: bool):
    return replace(view, is_cc=is_cc) if view.is_cc != is_cc else view


@dataclass(slots=True)
class _Planner:
    """What every message of one planning run shares: the notices' views, their keys, the letterheads."""

    views: dict[int, Any]
    keys: dict[int, str]
    renderer: Renderer
    letterhead: Letterhead
    offices: dict[str, str]  # plan code -> its office: each plan's office signs its own notices
    sender: str
    domain: str
    digest: bool
    now: dt.datetime
    replays: dict[int, str]  # notice id -> why its message is held (a replay's, when replays are held)
    links: Any = None  # link_service.NoticeLinks with DUBAN_PUBLIC_URL: each recipient unit's signed link

    def linked(self, views: list[Any], unit: str) -> list[Any]:
        """``views`` carrying ``unit``'s link of each one's plan, issued on the latest day this message's notices
        of that plan were planned (a replay's day, never the clock's: the same letter in every replay)."""
        days: dict[str, dt.date] = {}
        for v in views:
            days[v.plan_code] = max(days.get(v.plan_code, v.planned_for), v.planned_for)
        return [replace(v, link=self.links.url(plan_code=v.plan_code, unit_name=unit, day=days[v.plan_code]))
                for v in views]

    def letterhead_of(self, notice_id: int) -> Letterhead:
        issuer = self.offices.get(self.views[notice_id].plan_code)
        return replace(self.letterhead, issuer=issuer) if issuer else self.letterhead

    def robot_message(self, deliveries: list[_Pending], target: RobotTarget) -> dict[str, Any]:
        """One group robot message (a MessageRow's columns) for deliveries to one robot: the notices'
        Markdown in an envelope (notifications.channels.robots), keyed by what it carries."""
        from duban.notifications.channels.robots import envelope
        from duban.notifications.render import RecipientView

        views, keys = self.views, self.keys
        address = deliveries[0].address
        ids = "\n".join(sorted(f"{keys[d.notice_id]}|{d.recipient_role}|{d.address}|{int(d.is_cc)}" for d in deliveries))
        first = deliveries[0]
        recipient = RecipientView(name=first.display_name, email=address, role=first.recipient_role)
        notice_ids = sorted({d.notice_id for d in deliveries})
        letterhead = self.letterhead_of(first.notice_id)
        items = [_as_cc(views[d.notice_id], d.is_cc) for d in deliveries]
        if self.links is not None:  # the unit's signed link, as its mail carries it (DUBAN_PUBLIC_URL)
            unit = self.links.addressee([d.recipient_name for d in deliveries if d.recipient_role in _UNIT_ROLES],
                                        items[0].plan_code)
            if unit:
                items = self.linked(items, unit)
        if self.digest and views[first.notice_id].kind in NOTICE_KINDS:
            md = self.renderer.markdown_digest(items, recipient, letterhead=letterhead)
        else:
            md = self.renderer.markdown_notice(items[0], recipient, letterhead=letterhead)
        footer = ("Notice no. " if self.renderer.language == "en" else "通知编号：") + "、".join(map(str, notice_ids))
        body = envelope(kind=target.kind, webhook=target.webhook, secret_env=target.secret_env, notices=notice_ids,
                        title=md.title, text=md.text, footer=footer)
        key = f"{target.kind}:{'digest' if len(notice_ids) > 1 else 'notice'}:{hashlib.sha256((address + chr(10) + ids).encode()).hexdigest()[:32]}"
        held = next((self.replays[d.notice_id] for d in deliveries if d.notice_id in self.replays), "")
        return {"key": key, "address": address, "message_id": "", "subject": md.title, "channel": target.kind,
                "status": "held" if held else "pending", "attempts": 0, "last_error": held, "created_at": self.now,
                "notices": len(notice_ids), "body": body}

    def message(self, group: Any, deliveries: list[_Pending]) -> dict[str, Any]:
        """One message (a MessageRow's columns) for a group of deliveries: built, checked, keyed."""
        from duban.notifications.render import RecipientView

        views, keys = self.views, self.keys
        # What the message carries, by identity rather than by row ids: a planning transaction rolled
        # back (kill -9) still used up PostgreSQL sequence numbers, and the message planned again must
        # get the same key and Message-ID as if nothing had happened.
        ids = "\n".join(sorted(f"{keys[d.notice_id]}|{d.recipient_role}|{d.address}|{int(d.is_cc)}" for d in deliveries))
        if isinstance(group, tuple):  # a digest: (address, issuer, replay)
            address = group[0]
            first = deliveries[0]
            recipient = RecipientView(name=first.display_name, email=address, role=first.recipient_role)
            items = [_as_cc(views[d.notice_id], d.is_cc) for d in deliveries]
            if self.links is not None:
                unit = self.links.addressee([d.recipient_name for d in deliveries if d.recipient_role in _UNIT_ROLES],
                                            items[0].plan_code)
                if unit:
                    items = self.linked(items, unit)
            rendered = self.renderer.digest(items, recipient, letterhead=self.letterhead_of(first.notice_id))
            key = f"digest:{address}:{hashlib.sha256(ids.encode()).hexdigest()[:24]}"
            to, cc, thread = [(first.display_name, address)], [], None
        else:
            view = views[group]
            if self.links is not None:
                named = self.links.addressee([d.recipient_name for d in deliveries
                                              if not d.is_cc and d.recipient_role in _UNIT_ROLES], view.plan_code)
                if named:
                    view = self.linked([view], named)[0]
            to = [(d.display_name, d.address) for d in deliveries if not d.is_cc]
            cc = [(d.display_name, d.address) for d in deliveries if d.is_cc]
            head = deliveries[0]
            recipient = RecipientView(name=head.display_name, email=head.address, role=head.recipient_role)
            rendered = self.renderer.notice(view, recipient, letterhead=self.letterhead_of(group))
            key = f"notice:{keys[group]}:{hashlib.sha256(ids.encode()).hexdigest()[:12]}"
            thread = thread_id_for(f"{view.plan_code}:{view.task_code}", self.domain)
            if not to:  # only 抄送 recipients are left (the 主送 one was undeliverable)
                to, cc = cc, []
        message_id = message_id_for(key, self.domain)
        important = any(views[d.notice_id].kind == "escalation" and views[d.notice_id].level >= 2 for d in deliveries)
        body = build_message(sender=self.sender, to=to, cc=cc, subject=rendered.subject, text=rendered.text,
                             html=rendered.html, message_id=message_id, date=self.now, thread=thread, important=important)
        check_message(body)  # read back strictly before it is stored (folded headers, no defect)
        held = next((self.replays[d.notice_id] for d in deliveries if d.notice_id in self.replays), "")
        return {"key": key, "address": ", ".join(a for _, a in [*to, *cc]), "message_id": message_id,
                "subject": rendered.subject, "status": "held" if held else "pending", "attempts": 0, "last_error": held,
                "created_at": self.now, "notices": len({d.notice_id for d in deliveries}), "body": body, "channel": "email"}


def _notice_links(session: Session, settings: Settings) -> Any:
    """Each recipient unit's signed link for the letters, when DUBAN_PUBLIC_URL names the console's address."""
    if not settings.public_url:
        return None
    from duban.workflows.link_service import NoticeLinks

    return NoticeLinks(session, settings.public_url)


def _plan_messages(session: Session, *, now: dt.datetime, settings: Settings, result: DeliveryResult,
                   renderer: Renderer | None = None, calendar: WorkCalendar | None = None,
                   hold_replays: bool = False, hold_robot_replays: bool = True) -> None:
    from duban.notifications.render import Renderer
    from duban.notifications.views import build_views, letterhead_for

    rows = outbox.unqueued_deliveries(session)
    if not rows:
        return
    robot_rows = [r for r in rows if robot_kind(r.address)]
    rows = [r for r in rows if not robot_kind(r.address)]
    in_script = for_language(settings.language)  # header names in the letter's script too: 督辦系統 → 督办系统
    sender = sender_address(in_script(settings.mail_from))
    # Plain rows (tens of thousands in a big run).
    pending = [_Pending(r.id, r.notice_id, r.recipient_role, in_script(r.display_name), r.address, r.is_cc,
                        r.recipient_name) for r in rows]
    robot_pending = [_Pending(r.id, r.notice_id, r.recipient_role, in_script(r.display_name), r.address, r.is_cc,
                              r.recipient_name) for r in robot_rows]
    notice_ids = sorted({d.notice_id for d in pending + robot_pending})
    replays = replay_reasons(session, notice_ids, settings.timezone) if hold_replays or hold_robot_replays else {}
    planner = _Planner(
        views=build_views(session, notice_ids, calendar=calendar),
        keys=outbox.notice_keys(session, notice_ids),
        renderer=renderer or Renderer(language=settings.language, override_dir=settings.config_dir / "templates"),
        letterhead=letterhead_for(session, now.date()), offices=outbox.plan_offices(session),
        sender=sender, domain=sender.rsplit("@", 1)[1].rstrip(">"), digest=settings.delivery_mode == "digest", now=now,
        replays=replays if hold_replays else {},
        links=_notice_links(session, settings))
    # A digest gathers one recipient's notices under one letterhead, so a recipient of two offices
    # (several plans, several offices) gets one mail from each; a replay's notices (held) go apart.
    # A closing request's answer (退回通知, 辦結確認) is a letter of its own, never in a digest.
    groups: dict[Any, list[_Pending]] = defaultdict(list)
    for d in pending:
        groups[(d.address, planner.letterhead_of(d.notice_id).issuer, d.notice_id in planner.replays)
               if planner.digest and planner.views[d.notice_id].kind in NOTICE_KINDS else d.notice_id].append(d)
    new_messages: list[dict[str, Any]] = []
    members: dict[str, list[int]] = {}
    for group, deliveries in groups.items():
        message = planner.message(group, deliveries)
        new_messages.append(message)
        members[message["key"]] = [d.id for d in deliveries]
    if robot_pending:
        _plan_robot_messages(session, replace(planner, replays=replays if hold_robot_replays else {}), robot_pending,
                             new_messages, members)
    result.planned_messages += outbox.enqueue(session, new_messages, members)


def _plan_robot_messages(session: Session, planner: _Planner, pending: list[_Pending], new_messages: list[dict[str, Any]],
                         members: dict[str, list[int]]) -> None:
    """Robot messages for ``pending`` robot deliveries: per robot, office (and replay or not) in digest
    mode, else per notice and robot. A robot gone from the directory since its deliveries were made
    fails them, with why."""
    targets = robot_targets(session)
    gone = [d.id for d in pending if d.address not in targets]
    outbox.fail_deliveries(session, gone, "the group robot is no longer in the unit directory")
    groups: dict[Any, list[_Pending]] = defaultdict(list)
    for d in pending:  # (a closing request's answer is a message of its own, as its mail)
        if d.address in targets:
            groups[(d.address, planner.letterhead_of(d.notice_id).issuer, d.notice_id in planner.replays)
                   if planner.digest and planner.views[d.notice_id].kind in NOTICE_KINDS
                   else (d.notice_id, d.address)].append(d)
    for deliveries in groups.values():
        message = planner.robot_message(deliveries, targets[deliveries[0].address])
        new_messages.append(message)
        members[message["key"]] = [d.id for d in deliveries]


# --------------------------------------------------------------------------------------------
# Phase 2: send, through whichever channel


async def _send(engine: Engine, claimed: list[Claimed], channel: Channel, *, now: dt.datetime,
                settings: Settings, result: DeliveryResult, clock: Callable[[], dt.datetime],
                outcomes: dict[int, Outcome] | None = None) -> bool:
    """Hand the claimed messages to ``channel`` over ``channel.concurrency`` connections, recording
    each outcome as the channel allows (``record_batch``); True when the channel halted (the server
    refused duban itself) and the run stopped. ``outcomes`` collects what happened to each message."""
    queue: asyncio.Queue = asyncio.Queue()
    for item in claimed:
        queue.put_nowait(item)
    halted: list[str] = []

    def record(done: list[tuple[int, Outcome]]) -> None:
        outbox.record(engine, done, now, settings, result, clock, label=channel.label)
        if outcomes is not None:
            outcomes.update(done)

    async def worker() -> None:
        # Outcomes are written as soon as the channel allows: with SMTP (one at a time) a crash can
        # leave at most the message in flight unrecorded, and that one is sent again later, byte for
        # byte with the same Message-ID.
        connection = channel.connect()
        done: list[tuple[int, Outcome]] = []
        try:
            while not queue.empty() and not halted:
                message = queue.get_nowait()
                outcome = await connection.send(message)
                done.append((message.pk, outcome))
                if outcome.status == "halt":
                    halted.append(outcome.error)  # every other message would be refused the same way
                if len(done) >= channel.record_batch:
                    record(done)
                    done = []
        finally:
            record(done)
            await connection.close()

    await asyncio.gather(*(worker() for _ in range(min(channel.concurrency, len(claimed)))))
    if halted:
        untried: list[int] = []
        while not queue.empty():
            untried.append(queue.get_nowait().pk)
        outbox.release(engine, untried, halted[0])
    return bool(halted)


def _drain(engine: Engine, channel: Channel, *, now: dt.datetime, settings: Settings, result: DeliveryResult,
           clock: Callable[[], dt.datetime], ids: list[int] | None = None,
           outcomes: dict[int, Outcome] | None = None, channels: tuple[str, ...] = ("email",)) -> None:
    """Claim due messages of ``channels`` (only ``ids`` if given) and send them, batch after batch,
    until none is due or the channel halts."""
    # A claim's lease is counted from when it is taken, and a batch is never more than the rate
    # limit lets out in half a lease.
    batch = getattr(channel, "claim_batch", CLAIM_BATCH)
    if settings.messages_per_minute > 0 and channel.address_kind == "email":
        batch = max(1, min(batch, int(settings.messages_per_minute * LEASE.total_seconds() / 60 / 2)))
    while True:
        claimed = outbox.claim(engine, clock(), batch, ids=ids, channels=channels)
        if not claimed:
            break
        if asyncio.run(_send(engine, claimed, channel, now=now, settings=settings, result=result, clock=clock,
                             outcomes=outcomes)):
            break
        if len(claimed) < batch:
            break


def deliver(engine: Engine, *, now: dt.datetime, settings: Settings,
            clock: Callable[[], dt.datetime] | None = None, channel: Channel | None = None,
            renderer: Renderer | None = None, calendar: WorkCalendar | None = None, actor: str = "",
            robots: Channel | None = None) -> DeliveryResult:
    """Plan messages for every pending notice and hand over every message that is due.

    ``now`` is the day the run acts for (a replay's as-of): it dates the letters. Leases and retry
    times are counted on ``clock``, the real time (``store.db.real_clock`` unless a test gives one),
    so that a replay's claims mean the same to a live deliver beside it. ``channel`` is the one the
    settings choose (``channel_for``) unless given; ``renderer`` and ``calendar`` the process's
    (``App.renderer``, ``App.calendar``), else new ones for the settings' language and templates.
    ``actor`` (the console's user who asked for the run) records a ``delivery.run`` event with the summary.
    ``robots`` is the group robots' channel (notifications.channels.robots.RobotChannel unless given):
    it sends the robot messages after the mail."""
    clock = clock or real_clock(engine)
    channel = channel or channel_for(settings)
    result = DeliveryResult(target=channel.target)
    # A replay's notices reach real people only when the office says so; a folder of .eml files reaches
    # nobody. (A channel that does not say is taken to reach people.)
    hold_replays = getattr(channel, "reaches_people", True) and not settings.allow_replay_mail
    with no_cyclic_gc():
        with transaction(engine) as session:
            outbox.plan_alone(session)
            result.superseded = outbox.supersede(session)
            directory = Directory(session, channel.address_kind)
            _readdress_held(session, directory, now)
            _resolve_pending_notices(session, directory, now, directory.for_kind("robot"))
            if not hold_replays:
                outbox.release_held(session, [channel.address_kind])
            if settings.allow_replay_mail:
                outbox.release_held(session, ROBOT_KINDS)  # (robots reach people whatever the mail channel)
        with transaction(engine) as session:
            outbox.plan_alone(session)
            _plan_messages(session, now=now, settings=settings, result=result, renderer=renderer, calendar=calendar,
                           hold_replays=hold_replays, hold_robot_replays=not settings.allow_replay_mail)
    _drain(engine, channel, now=now, settings=settings, result=result, clock=clock, channels=(channel.address_kind,))
    if robots is None and outbox.waiting(engine, ROBOT_KINDS):
        import importlib.util

        from duban.notifications.channels.robots import RobotChannel

        if importlib.util.find_spec("httpx") is None:
            result.errors.append("group robots: httpx is not installed (pip install 'duban[im]'); their messages wait")
        else:
            robots = RobotChannel()
    if robots is not None:
        _drain(engine, robots, now=now, settings=settings, result=result, clock=clock, channels=ROBOT_KINDS)
    # Recipients refused with a 4xx while others got the message wait for the next run, in a new message.
    outbox.finish_notices(engine)
    result.held = outbox.held(engine)
    if result.undeliverable:
        codes = outbox.task_codes(engine, {int(u["notice"]) for u in result.undeliverable})
        for u in result.undeliverable:
            u["task"] = codes.get(int(u["notice"]), "")
    if actor:
        from duban.workflows.history_service import record_action

        record_action(engine, "delivery.run", now=now, actor=actor,
                      data={"target": result.target, "summary": result.summary(), "sent": result.sent,
                            "failed": result.failed, "held": len(result.held), "halted": result.halted})
    return result


def send_now(engine: Engine, message_pks: list[int], *, now: dt.datetime, settings: Settings,
             clock: Callable[[], dt.datetime] | None = None,
             channel: Channel | None = None) -> tuple[DeliveryResult, dict[int, Outcome]]:
    """One delivery pass over just these messages (freshly enqueued, e.g. the weekly report), through
    the same claim, channel and record as ``deliver``: what happened to each one it could claim (a
    message another process holds, or one not due yet, is left to that process or a later run)."""
    clock = clock or real_clock(engine)
    channel = channel or channel_for(settings)
    result = DeliveryResult(target=channel.target)
    outcomes: dict[int, Outcome] = {}
    _drain(engine, channel, now=now, settings=settings, result=result, clock=clock, ids=list(message_pks),
           outcomes=outcomes, channels=(channel.address_kind,))
    return result, outcomes


def requeue_failed(engine: Engine, *, now: dt.datetime, message_ids: list[int] | None = None,
                   actor: str = "") -> int:
    """Put failed messages (all, or ``message_ids``) back in the queue with their attempts reset —
    after the office fixed an address or the mail server: the same bytes, the same Message-ID.
    Their deliveries and notices go back to "on their way". Returns how many were requeued; when
    ``actor`` is given (the console's user) a ``mail.requeued`` event says who did it."""
    requeued = outbox.requeue_failed(engine, message_ids)
    if requeued and actor:
        from duban.workflows.history_service import record_action

        record_action(engine, "mail.requeued", now=now, actor=actor,
                      data={"messages": sorted(message_ids) if message_ids else "all failed", "count": requeued})
    return requeued


def list_messages(engine: Engine, *, status: str | None = None, limit: int | None = None,
                  offset: int = 0) -> list[dict[str, Any]]:
    return outbox.list_messages(engine, status=status, limit=limit, offset=offset)


def count_messages(engine: Engine, *, status: str | None = None) -> int:
    return outbox.count_messages(engine, status=status)


def waiting_for_an_address(engine: Engine) -> list[dict[str, str]]:
    """Recipients held with no message yet, for want of an address: {notice, task, role, name, reason, cause}."""
    return [h for h in outbox.held(engine) if h["cause"].startswith("no address")]
