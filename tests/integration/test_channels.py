"""The delivery pipeline does not care how a message leaves: a third channel, kept in memory, gets the
same claims, leases, exponential backoff, halts and outcome recording as SMTP and .eml files.

``MemoryChannel`` is a real implementation of notifications.channels.Channel (not a mock): it keeps
every message it is handed and answers with the outcomes a test scripts.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from duban.config.settings import Settings
from duban.matrix.policy import load_policy
from duban.notifications.channels import Channel, Claimed, Outcome, channel_for
from duban.store.db import transaction
from duban.store.tables import DeliveryRow, MessageRow, NoticeRow
from duban.workflows.delivery_service import deliver, send_now
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.sweep_service import sweep

# Every test here replays 2015 through a channel that reaches people (MemoryChannel does not say it
# does not): a replay's mail is allowed.
pytestmark = pytest.mark.usefixtures("allow_replay_mail")

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2015, 12, 4, 9, 0, tzinfo=SHANGHAI)
BASE = 60  # retry_base_seconds


class MemoryChannel:
    """Messages kept in a list; each answer is the next of ``script`` (then ``then``)."""

    name = "memory"
    label = "memory"
    address_kind = "email"
    target = "memory://test"
    concurrency = 1
    record_batch = 1

    def __init__(self, script: list[Outcome] | None = None, then: Outcome | None = None) -> None:
        self.script = list(script or [])
        self.then = then or Outcome("sent")
        self.received: list[Claimed] = []
        self.closed = 0

    def connect(self) -> MemoryChannel:
        return self

    async def send(self, message: Claimed) -> Outcome:
        self.received.append(message)
        return self.script.pop(0) if self.script else self.then

    async def close(self) -> None:
        self.closed += 1


@pytest.fixture
def swept(engine):
    import_file(engine, ROOT / "config" / "plans" / "district-2015.yaml", PlanOptions(),
                now=dt.datetime(2015, 7, 1, 9, tzinfo=SHANGHAI))
    sweep(engine, now=dt.datetime(2015, 12, 4, 8, 30, tzinfo=SHANGHAI),
          policies=load_policy(ROOT / "config" / "policy.yaml"))
    return engine


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url="sqlite://", outbox_dir=tmp_path / "outbox", config_dir=tmp_path / "cfg",
                    mail_from="督辦系統 <duban@example.org>", messages_per_minute=0, retry_base_seconds=BASE,
                    max_attempts=3)


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now


def messages(engine) -> dict[int, MessageRow]:
    with transaction(engine) as s:
        return {m.id: m for m in s.execute(sa.select(MessageRow)).scalars()}


def utc(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)  # SQLite keeps UTC without its zone


def test_the_memory_channel_is_a_channel(settings: Settings) -> None:
    channel: Channel = MemoryChannel()  # type-checks against the protocol
    assert channel.address_kind == channel_for(settings).address_kind == "email"
    assert channel_for(settings).name == "eml"
    assert channel_for(settings.model_copy(update={"smtp_url": "smtp://127.0.0.1:2525"})).name == "smtp"


def test_retries_back_off_exponentially_then_the_same_bytes_are_sent(swept, settings: Settings) -> None:
    clock = Clock()
    later = Outcome("retry", "421 4.7.0 busy, try later")
    first = MemoryChannel(then=later)
    r1 = deliver(swept, now=NOW, settings=settings, clock=clock, channel=first)
    planned = messages(swept)
    assert r1.target == "memory://test" and r1.planned_messages == len(planned) > 0
    assert r1.retrying == len(planned) and r1.sent == r1.failed == 0 and first.closed == 1
    assert sorted(m.pk for m in first.received) == sorted(planned)
    for m in planned.values():
        assert (m.status, m.attempts, m.last_error) == ("pending", 1, later.error)
        assert utc(m.next_attempt_at) == clock.now + dt.timedelta(seconds=BASE)

    # Not due yet: nothing is handed over.
    idle = MemoryChannel()
    assert deliver(swept, now=NOW, settings=settings, clock=clock, channel=idle).retrying == 0 and not idle.received

    clock.now += dt.timedelta(seconds=BASE)
    second = MemoryChannel(then=later)
    assert deliver(swept, now=NOW, settings=settings, clock=clock, channel=second).retrying == len(planned)
    for m in messages(swept).values():  # the second delay is twice the first
        assert m.attempts == 2 and utc(m.next_attempt_at) == clock.now + dt.timedelta(seconds=2 * BASE)

    clock.now += dt.timedelta(seconds=2 * BASE)
    third = MemoryChannel()
    r3 = deliver(swept, now=NOW, settings=settings, clock=clock, channel=third)
    assert r3.sent == len(planned) and r3.retrying == r3.failed == 0
    assert {m.pk: m.body for m in third.received} == {pk: m.body for pk, m in planned.items()}  # byte for byte
    with transaction(swept) as s:
        assert set(s.execute(sa.select(MessageRow.status)).scalars()) == {"sent"}
        assert set(s.execute(sa.select(DeliveryRow.status).where(DeliveryRow.address != "")).scalars()) == {"sent"}
        assert "sending" not in set(s.execute(sa.select(NoticeRow.status)).scalars())


def test_a_message_retried_too_often_or_refused_for_good_fails(swept, settings: Settings) -> None:
    clock = Clock()
    refused = Outcome("failed", "550 5.1.1 no such user")
    first = MemoryChannel(script=[refused], then=Outcome("retry", "451 later"))
    r = deliver(swept, now=NOW, settings=settings, clock=clock, channel=first)
    failed_pk = first.received[0].pk
    assert r.failed == 1 and r.failures[0]["error"] == refused.error and r.retrying == len(first.received) - 1
    for _ in range(settings.max_attempts - 1):  # max_attempts: the last retry fails the message
        clock.now += dt.timedelta(days=1)
        deliver(swept, now=NOW, settings=settings, clock=clock, channel=MemoryChannel(then=Outcome("retry", "451 later")))
    states = messages(swept)
    assert {m.status for m in states.values()} == {"failed"}
    assert states[failed_pk].attempts == 1 and states[failed_pk].last_error == refused.error
    with transaction(swept) as s:
        assert set(s.execute(sa.select(DeliveryRow.status).where(DeliveryRow.message_pk == failed_pk)).scalars()) == {"failed"}


def test_a_halt_stops_the_run_and_the_messages_wait_uncounted(swept, settings: Settings) -> None:
    clock = Clock()
    halted = MemoryChannel(then=Outcome("halt", "credentials refused"))
    r = deliver(swept, now=NOW, settings=settings, clock=clock, channel=halted)
    assert len(halted.received) == 1 and r.halted == "credentials refused"
    assert r.errors == ["memory configuration: credentials refused"] and r.sent == r.failed == r.retrying == 0
    for m in messages(swept).values():
        assert m.status == "pending" and m.attempts == 0 and m.next_attempt_at is None
        assert m.last_error == "credentials refused"
    fixed = MemoryChannel()
    assert deliver(swept, now=NOW, settings=settings, clock=clock, channel=fixed).sent == len(messages(swept))


def test_send_now_hands_over_only_the_messages_it_is_given(swept, settings: Settings) -> None:
    clock = Clock()
    deliver(swept, now=NOW, settings=settings, clock=clock, channel=MemoryChannel(then=Outcome("halt", "wait")))
    pks = sorted(messages(swept))
    channel = MemoryChannel()
    result, outcomes = send_now(swept, pks[:2], now=NOW, settings=settings, clock=clock, channel=channel)
    assert [m.pk for m in channel.received] == pks[:2] and result.sent == 2
    assert {pk: o.status for pk, o in outcomes.items()} == {pks[0]: "sent", pks[1]: "sent"}
    assert {pk for pk, m in messages(swept).items() if m.status == "sent"} == set(pks[:2])


def test_a_session_refused_at_login_leaves_no_connection_open(start_smtp) -> None:
    """A server that offers no login while duban names a user: the session is refused (a halt) and the
    connection duban opened is closed then, not left to the garbage collector (an unclosed transport)."""
    import asyncio
    import gc
    import warnings

    from duban.notifications.channels.smtp import SmtpConfig, SmtpSender

    controller = start_smtp()  # no authenticator: the server offers no AUTH
    sender = SmtpSender(SmtpConfig.from_url(f"smtp://duban@127.0.0.1:{controller.port}", password="secret", timeout=10))

    async def one_try():
        outcome = await sender.send(b"Subject: x\r\n\r\nx\r\n", "office@example.org", ["unit@example.org"])
        await sender.close()
        return outcome

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome = asyncio.run(one_try())
        gc.collect()
    assert outcome.status == "halt" and "no login" in outcome.error, outcome
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == [], unclosed
