"""The SMTP channel: messages handed to a mail server with aiosmtplib, over reused connections.

``SmtpConfig.from_url`` reads ``smtp://user@host:port`` (plain), ``smtp+starttls://…`` (STARTTLS
required) and ``smtps://…`` (implicit TLS); the password comes only from DUBAN_SMTP_PASSWORD and is
never part of a message or a log line. A server's replies become outcomes (``classify``): 4xx and
connection trouble are retried later, 5xx fail the message, and a refusal of duban itself (login,
sender address, TLS) halts the run. Messages are paced to DUBAN_MESSAGES_PER_MINUTE across all of the
channel's connections.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from duban.matrix.errors import ConfigError
from duban.notifications.mail import sender_address
from duban.store.outbox import Claimed, Outcome

if TYPE_CHECKING:
    import aiosmtplib

    from duban.config.settings import Settings


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    security: str = "none"  # none | starttls | tls
    verify: bool = True
    cafile: str | None = None  # a private CA (an office's intranet mail server), instead of the system's
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str, *, password: str | None = None, timeout: float = 30.0) -> SmtpConfig:
        parts = urlsplit(url)
        schemes = {"smtp": ("none", 25), "smtp+starttls": ("starttls", 587), "smtps": ("tls", 465)}
        if parts.scheme not in schemes:
            raise ConfigError(f"DUBAN_SMTP_URL: unknown scheme {parts.scheme!r}; use smtp://, smtp+starttls:// or smtps://")
        if parts.password:
            raise ConfigError("DUBAN_SMTP_URL: do not put the password in the URL; set DUBAN_SMTP_PASSWORD")
        if not parts.hostname:
            raise ConfigError(f"DUBAN_SMTP_URL: no host in {url!r}")
        security, default_port = schemes[parts.scheme]
        query = parse_qs(parts.query)
        verify = query.get("verify", ["true"])[0].lower() not in ("false", "0", "no")
        cafile = query.get("cafile", [None])[0]
        if cafile is not None and not Path(cafile).is_file():
            raise ConfigError(f"DUBAN_SMTP_URL: cafile {cafile!r} is not a file")
        try:
            port = parts.port or default_port
        except ValueError:
            raise ConfigError(f"DUBAN_SMTP_URL: bad port in {url!r}") from None
        return cls(host=parts.hostname, port=port, username=unquote(parts.username) if parts.username else None,
                   password=password, security=security, verify=verify, cafile=cafile, timeout=timeout)

    def describe(self) -> str:
        """For messages and logs: never the password."""
        user = f"{self.username}@" if self.username else ""
        return f"{ {'none': 'smtp', 'starttls': 'smtp+starttls', 'tls': 'smtps'}[self.security]}://{user}{self.host}:{self.port}"

    def tls_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.cafile)
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


def _tls_error(exc: BaseException | None) -> ssl.SSLError | None:
    """The TLS failure behind ``exc`` (aiosmtplib wraps a failed handshake in SMTPConnectError)."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, ssl.SSLError):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def classify_session(exc: BaseException, config: SmtpConfig) -> Outcome:
    """Trouble while opening the session (connect, STARTTLS, login), before any message is offered.

    What concerns duban itself halts the run — the server offers no login but a user is configured,
    the login is refused, STARTTLS is missing, the TLS handshake or the certificate fails: every
    other message would meet the same refusal, and none of them is at fault, so they wait, their
    attempts not counted, for the configuration to be fixed. A server that cannot be reached, or
    greets with a refusal, is retried with backoff as before."""
    import aiosmtplib

    tls = _tls_error(exc)
    if tls is not None:
        reason = getattr(tls, "verify_message", "") or getattr(tls, "reason", "") or str(tls)
        hint = ("check the server's certificate, or trust the office's CA with ?cafile=/path/ca.pem in DUBAN_SMTP_URL"
                if isinstance(tls, ssl.SSLCertVerificationError) else
                "check that the port speaks TLS (smtps://, usually 465) or STARTTLS (smtp+starttls://, usually 587)")
        return Outcome("halt", f"TLS with {config.host}:{config.port} failed ({reason}); {hint}")
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return Outcome("halt", f"login refused (check the user in DUBAN_SMTP_URL and DUBAN_SMTP_PASSWORD): {exc.code} {exc.message}")
    text = str(exc)
    if type(exc) is aiosmtplib.SMTPException and "AUTH extension" in text:
        return Outcome("halt", f"the server offers no login (AUTH) but DUBAN_SMTP_URL names a user ({config.username}): "
                               "remove the user from the URL, or use smtp+starttls:// or smtps:// if the server "
                               "offers login only over TLS")
    if type(exc) is aiosmtplib.SMTPException and "STARTTLS extension" in text:
        return Outcome("halt", "the server does not offer STARTTLS, which smtp+starttls:// requires: use smtps:// "
                               "(implicit TLS) or ask for the server's TLS port")
    if isinstance(exc, aiosmtplib.SMTPHeloError) and exc.code >= 500:
        return Outcome("halt", f"server refused the session (EHLO): {exc.code} {exc.message}")
    return classify(exc)


def classify(exc: BaseException, *, recipients: Iterable[str] = ()) -> Outcome:
    """4xx replies and connection trouble are worth retrying; 5xx replies are final for the message.

    Refusals of duban itself — the sender address refused — say nothing about the message: ``halt``
    (the run stops, the messages wait for the configuration to be fixed)."""
    import aiosmtplib

    if isinstance(exc, aiosmtplib.SMTPNotSupported) and any(not r.isascii() for r in recipients):
        # An internationalised address this server cannot carry (no SMTPUTF8): this message's problem.
        return Outcome("failed", f"the server cannot take non-ASCII addresses (no SMTPUTF8): {exc}")
    if isinstance(exc, (aiosmtplib.SMTPAuthenticationError, aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPNotSupported,
                        aiosmtplib.SMTPHeloError)):
        reply = f"{exc.code} {exc.message}" if isinstance(exc, aiosmtplib.SMTPResponseException) else str(exc)
        what = {aiosmtplib.SMTPAuthenticationError: "login refused (check the user in DUBAN_SMTP_URL and DUBAN_SMTP_PASSWORD)",
                aiosmtplib.SMTPSenderRefused: "sender address refused (check DUBAN_MAIL_FROM)"}.get(type(exc), "server refused the session")
        if isinstance(exc, aiosmtplib.SMTPResponseException) and 400 <= exc.code < 500:
            return Outcome("retry", f"{what}: {reply}")
        return Outcome("halt", f"{what}: {reply}")
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        replies = {r.recipient: f"{r.code} {r.message}" for r in exc.recipients}
        transient = all(400 <= r.code < 500 for r in exc.recipients)
        return Outcome("retry" if transient else "failed", "all recipients refused: " + "; ".join(replies.values()), replies)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        reply = f"{exc.code} {exc.message}"
        return Outcome("retry" if 400 <= exc.code < 500 else "failed", reply)
    if isinstance(exc, (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError)):
        return Outcome("retry", f"{type(exc).__name__}: {exc}")
    raise exc


class RateLimiter:
    """At most ``per_minute`` messages a minute, spread evenly (a simple pacing limiter).

    Each caller reserves the next free slot and then sleeps until it: nothing awaits between reading
    and moving the slot, so the connections of one event loop share it without a lock, and the
    limiter outlives an event loop (the pipeline runs one per claim)."""

    def __init__(self, per_minute: int) -> None:
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self._next = 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class SmtpSender:
    """One SMTP connection, reused for a batch; reconnects when the server drops it."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._client: aiosmtplib.SMTP | None = None

    async def _connect(self):
        import aiosmtplib

        c = self.config
        client = aiosmtplib.SMTP(hostname=c.host, port=c.port, timeout=c.timeout, use_tls=c.security == "tls",
                                 start_tls=False, tls_context=c.tls_context() if c.security != "none" else None,
                                 validate_certs=c.verify)
        await client.connect()
        try:
            if c.security == "starttls":
                await client.starttls(tls_context=c.tls_context())
            if c.username:
                await client.login(c.username, c.password or "")
        except BaseException:
            client.close()  # refused before it was ours to keep: close it now, not at garbage collection
            raise
        self._client = client
        return client

    async def send(self, body: bytes, sender: str, recipients: list[str]) -> Outcome:
        """Hand one message over; returns what happened (never raises for SMTP or network trouble)."""
        try:
            client = self._client
            if client is None or not client.is_connected:
                client = await self._connect()
        except BaseException as exc:  # noqa: BLE001 - classify() re-raises anything that is not mail trouble
            await self.close()
            return classify_session(exc, self.config)
        try:
            errors, _reply = await client.sendmail(sender, recipients, body)
        except BaseException as exc:  # noqa: BLE001 - classify() re-raises anything that is not mail trouble
            await self.close()
            return classify(exc, recipients=recipients)
        if errors:
            refused = {addr: f"{r.code} {r.message}" for addr, r in errors.items()}
            return Outcome("sent", "; ".join(f"{a}: {r}" for a, r in refused.items()), refused)
        return Outcome("sent")

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                if client.is_connected:
                    await client.quit()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail; nothing to do
                client.close()


class SmtpChannel:
    """Mail to an SMTP server: ``concurrency`` reused connections, paced together."""

    name = "smtp"
    label = "SMTP"
    address_kind = "email"
    reaches_people = True
    record_batch = 1  # each outcome written as soon as it is known: a crash resends at most the message in flight

    def __init__(self, config: SmtpConfig, *, mail_from: str, concurrency: int = 4, messages_per_minute: int = 0) -> None:
        self.config = config
        self.target = config.describe()
        self.concurrency = concurrency
        self.limiter = RateLimiter(messages_per_minute)
        self.mail_from = mail_from

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpChannel:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        config = SmtpConfig.from_url(settings.smtp_url or "", password=password, timeout=settings.smtp_timeout)
        return cls(config, mail_from=settings.mail_from, concurrency=settings.smtp_concurrency,
                   messages_per_minute=settings.messages_per_minute)

    def connect(self) -> SmtpConnection:
        return SmtpConnection(self)

    @property
    def envelope_from(self) -> str:
        """The bare address of DUBAN_MAIL_FROM (checked when the first message goes, not before)."""
        return sender_address(self.mail_from).rsplit("<", 1)[-1].rstrip(">")


class SmtpConnection:
    """One connection of an SmtpChannel (opened at the first message, reopened when dropped)."""

    def __init__(self, channel: SmtpChannel) -> None:
        self.channel = channel
        self.smtp = SmtpSender(channel.config)
        self.envelope_from = channel.envelope_from

    async def send(self, message: Claimed) -> Outcome:
        await self.channel.limiter.wait()
        recipients = [a.strip() for a in message.address.split(",") if a.strip()]
        return await self.smtp.send(message.body, self.envelope_from, recipients)

    async def close(self) -> None:
        await self.smtp.close()
