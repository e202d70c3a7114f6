"""Channels: the ways a message leaves duban (渠道). The outbox does not care which one.

A channel is to delivery what a transport is to httpx: the pipeline (workflows.delivery_service)
claims messages from the outbox (store.outbox), hands each one to a ``Connection`` of the channel,
and records the ``Outcome`` it gets back — sent, retry later (with the reason), failed for good, or
halt (the server refuses duban itself: every other message would meet the same refusal, so the run
stops and the messages wait, their attempts not counted). Backoff, leases, counts and what a person
reads after a run are the pipeline's and the outbox's, the same for every channel.

For mail there are two: ``smtp`` (channels.smtp, when DUBAN_SMTP_URL is set) and ``eml``
(channels.eml, .eml files in the outbox folder otherwise). ``channel_for`` picks one from settings.
Beside the mail, ``robots`` (channels.robots: DingTalk, WeCom and Feishu group robots) carries the
messages of the robots units list under ``channels:`` in the directory; a run sends the mail first,
then the robot messages. Each stored message says which channel carries it (``message.channel``:
``email`` or the robot's kind), and a channel claims only its own.

Adding a channel: a module here with a class that has the attributes and the ``connect`` method of
``Channel`` and returns ``Outcome``s (map the service's "try later" to retry, its own pace spent to
defer, its refusal of a message to failed, its refusal of duban's credentials to halt); its address
kind in notifications.recipients (where its addresses come from, ``ADDRESS_BOOKS``); its messages
planned in workflows.delivery_service with their ``channel``, and drained by their channel there.
The outbox's states, keys, retries and leases stay as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from duban.store.outbox import Claimed, Outcome

if TYPE_CHECKING:
    from duban.config.settings import Settings

__all__ = ["Channel", "Claimed", "Connection", "Outcome", "channel_for"]


class Connection(Protocol):
    """One way through a channel (an SMTP connection, reused): hands messages over one at a time."""

    async def send(self, message: Claimed) -> Outcome:
        """Hand one stored message over. Never raises for the channel's own trouble: that is an Outcome."""
        ...

    async def close(self) -> None: ...


class Channel(Protocol):
    name: str  # smtp | eml: what settings choose; robots: the group robots beside them
    label: str  # how a person knows it in a halt's error line ("SMTP configuration: …")
    address_kind: str  # which addresses its messages carry (notifications.recipients.ADDRESS_BOOKS): email | robot
    target: str  # where messages go, for the run's summary; never a secret
    concurrency: int  # connections used at once
    record_batch: int  # outcomes written per transaction: 1 unless a resend is harmless (a crash repeats up to this many)
    # Whether its messages reach people (a mail server) or only a folder: a replay's notices are held
    # from a channel that reaches people unless DUBAN_ALLOW_REPLAY_MAIL=1.
    reaches_people: bool

    def connect(self) -> Connection:
        """A new connection (opened lazily, at its first send)."""
        ...


def channel_for(settings: Settings) -> Channel:
    """The channel the settings choose: SMTP when DUBAN_SMTP_URL is set, else .eml files in the outbox
    folder. A bad SMTP URL is a ConfigError here, before anything is planned."""
    if settings.smtp_url:
        from duban.notifications.channels.smtp import SmtpChannel

        return SmtpChannel.from_settings(settings)
    from duban.notifications.channels.eml import EmlChannel

    return EmlChannel(settings.outbox_dir)
