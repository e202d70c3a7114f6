"""Group robots: DingTalk (釘釘), WeCom (企業微信) and Feishu (飛書) custom robots, the channels offices read first.

A unit's ``channels:`` in the directory lists its robots (kind, webhook URL, the environment variable of
the signing secret); notifications.recipients resolves them to robot addresses, and the delivery
pipeline plans one outbox message per robot beside the unit's mail (workflows.delivery_service). Its
body is an *envelope* (``envelope``), JSON: the kind, the webhook, the secret's variable, the notice
numbers and the Markdown parts. What is signed is signed when the message goes (``RobotConnection``):
a timestamp older than an hour is refused by both signing robots, so it cannot be stored.

Each robot's documented request, sent here over httpx (the ``duban[im]`` extra):

- DingTalk custom robot: ``{"msgtype": "markdown", "markdown": {"title", "text"}}``; when signed,
  ``&timestamp=<ms>&sign=<urlencoded base64 HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")>``
  on the URL. The JSON answer's ``errcode`` 0 is success; 130101 (sending too fast) is retried later.
- WeCom group robot: the key is in the URL, no signature; ``{"msgtype": "markdown", "markdown":
  {"content"}}`` with content at most 4096 bytes of UTF-8, so a long digest is split into several
  messages numbered (1/3)…; ``errcode`` 45009 (API frequency out of limit) is retried later.
- Feishu custom bot: when signed, ``timestamp`` (seconds) and ``sign`` = base64(HMAC-SHA256(key=
  f"{timestamp}\\n{secret}", msg=b"")) in the JSON body; ``msg_type`` ``interactive`` (a message card
  whose one ``markdown`` element renders the Markdown, under a plain-text header with the title:
  the ``post`` type has no Markdown, only tagged runs). The answer's ``code`` 0 is success; 11232
  (frequency limited) is retried later.

Why not Apprise (the issue's first choice): its plugins (apprise/plugins/NotifyDingTalk.py, NotifyWeComBot.py,
NotifyFeishu.py) judge a post by its HTTP status only — these robots answer 200 with an error code —
so a refused signature or "too many" would count as sent; DingTalk's markdown mode still sends
``msgtype: text``, WeCom's sends text only, Feishu's neither signs nor renders Markdown, and the hosts
are fixed (no private deployment, no local receiver). The requests are small; this module sends them.

Outcomes: a network error, a timeout, an HTTP 5xx or 429 or a rate-limit code → retry (backoff, as
mail's 4xx); any other error code, a refused signature, or the secret's variable missing from the
environment → failed, the robot's answer kept; never halt (one robot's trouble says nothing of the
others). Within a run the channel paces each robot (per webhook URL) to its limit — DingTalk and
WeCom 20 messages a minute, Feishu 100 (and 5 a second, by spacing its posts) — and leaves the rest
for later (``defer``: pending again when the minute has passed, the attempt not counted).

A webhook gives no Message-ID, so delivery is at least once: a message whose lease ran out (the
process died after posting, before recording) is posted again, and a message of several parts that
fails part-way sends every part again. Every part carries its notice numbers (通知编號), so a rare
repeat in the group is recognisable.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import time
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from duban.store.outbox import Claimed, Outcome

if TYPE_CHECKING:
    import httpx

__all__ = ["LIMITS", "MAX_BYTES", "RobotChannel", "envelope", "feishu_sign", "dingtalk_sign", "split_markdown"]

# Messages a minute per robot (DingTalk: 20, then throttled for 10 minutes; WeCom: 20; Feishu: 100), and
# the least time between two posts to one robot (Feishu: 5 a second).
LIMITS = {"dingtalk": 20, "wecom": 20, "feishu": 100}
SPACING = {"dingtalk": 0.0, "wecom": 0.0, "feishu": 0.2}
# The Markdown of one message, in UTF-8 bytes (WeCom: 4096 documented; DingTalk and Feishu: ~20 000,
# kept lower so that the JSON around it stays within their request limits).
MAX_BYTES = {"dingtalk": 18000, "wecom": 4096, "feishu": 18000}
# Answers that mean "too many, try later".
RATE_LIMITED = {"dingtalk": {130101}, "wecom": {45009}, "feishu": {11232}}
TIMEOUT = 10.0


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's ``sign`` (before URL-encoding): base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}"))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's ``sign``: base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def split_markdown(text: str, limit: int, footer: str = "") -> list[str]:
    """``text`` in parts of at most ``limit`` UTF-8 bytes, cut at paragraph (else line, else character)
    boundaries; with several, each part starts "(i/n) " and ends with ``footer`` (the notice numbers, so
    that each part says which notices it belongs to) unless it has it already."""
    if len(text.encode()) <= limit:
        return [text]
    reserve = len(f"(99/99) \n\n{footer}\n".encode())
    room = max(64, limit - reserve)
    pieces: list[str] = []
    for para in text.split("\n\n"):
        for line in _fit(para, room):
            pieces.append(line)
    parts: list[str] = []
    current = ""
    for piece in pieces:
        joined = f"{current}\n\n{piece}" if current else piece
        if len(joined.encode()) <= room:
            current = joined
        else:
            parts.append(current)
            current = piece
    if current:
        parts.append(current)
    n = len(parts)
    out = []
    for i, part in enumerate(parts, 1):
        tail = f"\n\n{footer}" if footer and footer not in part else ""
        out.append(f"({i}/{n}) {part}{tail}")
    return out


def _fit(block: str, room: int) -> list[str]:
    """A paragraph within ``room`` bytes: whole, else its lines, else a line cut at characters."""
    if len(block.encode()) <= room:
        return [block]
    out: list[str] = []
    for line in block.split("\n"):
        while len(line.encode()) > room:
            cut = len(line.encode()[:room].decode(errors="ignore"))
            out.append(line[:cut])
            line = line[cut:]
        out.append(line)
    return out


def envelope(*, kind: str, webhook: str, secret_env: str, notices: list[int], title: str, text: str,
             footer: str) -> bytes:
    """A robot message's stored body: JSON with what the sender needs, the Markdown already split to
    the robot's size (``split_markdown``). Deterministic: the same notice gives the same bytes."""
    parts = split_markdown(text, MAX_BYTES[kind], footer)
    data = {"kind": kind, "webhook": webhook, "secret_env": secret_env, "notices": notices, "title": title,
            "parts": parts}
    return json.dumps(data, ensure_ascii=False, sort_keys=True).encode()


def payload(kind: str, title: str, text: str, secret: str, now: float) -> tuple[dict[str, Any], dict[str, str]]:
    """The JSON a robot is sent for one part, and the query parameters to add to its URL (DingTalk's signature)."""
    if kind == "dingtalk":
        body: dict[str, Any] = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
        if secret:
            ts = int(now * 1000)
            return body, {"timestamp": str(ts), "sign": dingtalk_sign(secret, ts)}
        return body, {}
    if kind == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": text}}, {}
    card = {"config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": title}},
            "elements": [{"tag": "markdown", "content": text}]}
    body = {"msg_type": "interactive", "card": card}
    if secret:
        ts = int(now)
        body = {"timestamp": str(ts), "sign": feishu_sign(secret, ts), **body}
    return body, {}


def _url(webhook: str, query: dict[str, str]) -> str:
    if not query:
        return webhook
    extra = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    return f"{webhook}{'&' if '?' in webhook else '?'}{extra}"


def _answer(kind: str, response: httpx.Response) -> Outcome | None:
    """None when the robot took the message; else what to do about it."""
    status = response.status_code
    if status == 429 or status >= 500:
        return Outcome("retry", f"{kind} robot answered HTTP {status}")
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        if status == 200:
            return Outcome("failed", f"{kind} robot answered HTTP 200 without a JSON result")
        return Outcome("failed", f"{kind} robot answered HTTP {status}")
    code_key, msg_key = ("code", "msg") if kind == "feishu" else ("errcode", "errmsg")
    code = data.get(code_key, data.get("StatusCode", 0 if status == 200 else status))
    try:
        code = int(code)
    except (TypeError, ValueError):
        return Outcome("failed", f"{kind} robot answered {code!r}")
    if code == 0 and status == 200:
        return None
    said = f"{kind} robot answered {code_key} {code}: {str(data.get(msg_key, data.get('StatusMessage', '')))[:200]}"
    return Outcome("retry" if code in RATE_LIMITED[kind] else "failed", said)


class RobotChannel:
    """Every group robot, over one httpx client per connection; each robot paced to its limit."""

    name = "robots"
    label = "group robot"
    address_kind = "robot"
    target = "group robots (DingTalk, WeCom, Feishu)"
    concurrency = 4
    record_batch = 1  # a resend repeats a post in the group: each outcome written as soon as it is known
    reaches_people = True
    claim_batch = 50  # posts are quick, but a robot that answers slowly must not outlast a lease

    def __init__(self, *, limits: dict[str, int] | None = None, timeout: float = TIMEOUT,
                 environ: Mapping[str, str] | None = None, trust_env: bool = True) -> None:
        self.limits = {**LIMITS, **(limits or {})}
        self.timeout = timeout
        self.trust_env = trust_env  # HTTPS_PROXY and the like (an intranet reaching the robots through a proxy)
        self.environ = environ if environ is not None else os.environ
        self._windows: dict[str, deque[float]] = {}
        self._next_post: dict[str, float] = {}

    async def space(self, kind: str, webhook: str) -> None:
        """Wait for this robot's next post slot (``SPACING``): reserved before sleeping, so the
        connections of one loop never post to one robot closer together than that."""
        gap = SPACING.get(kind, 0.0)
        if not gap:
            return
        now = time.monotonic()
        slot = max(now, self._next_post.get(webhook, 0.0))
        self._next_post[webhook] = slot + gap
        if slot > now:
            await asyncio.sleep(slot - now)

    def connect(self) -> RobotConnection:
        return RobotConnection(self)

    def reserve(self, kind: str, webhook: str, parts: int) -> float:
        """Take ``parts`` posts of this robot's minute: 0.0 when they may go now, else the seconds until
        there is room (nothing taken). No await in between: the connections of one loop share it."""
        limit = self.limits.get(kind, 20)
        window = self._windows.setdefault(webhook, deque())
        now = time.monotonic()
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) + parts > max(limit, parts):
            return max(0.1, 60 - (now - window[0])) if window else 0.1
        window.extend([now] * parts)
        return 0.0


class RobotConnection:
    """One httpx client of a RobotChannel (opened at the first post)."""

    def __init__(self, channel: RobotChannel) -> None:
        self.channel = channel
        self._client: httpx.AsyncClient | None = None

    async def send(self, message: Claimed) -> Outcome:
        try:
            data = json.loads(message.body)
            kind, webhook, parts = data["kind"], data["webhook"], list(data["parts"])
            title, secret_env, notices = data.get("title", ""), data.get("secret_env", ""), data.get("notices", [])
        except (ValueError, KeyError, TypeError) as e:
            return Outcome("failed", f"not a robot message ({type(e).__name__}: {e})")
        numbers = "、".join(str(n) for n in notices)
        secret = ""
        if secret_env:
            secret = self.channel.environ.get(secret_env, "")
            if not secret:
                return Outcome("failed", f"{kind} robot {message.address}: its signing secret {secret_env} is not set "
                                         "in the environment (set it, then `duban deliver --retry-failed`)")
        wait = self.channel.reserve(kind, webhook, len(parts))
        if wait:
            return Outcome("defer", f"{kind} robot {message.address}: {self.channel.limits.get(kind)} messages a minute "
                                    "reached; sent in a later run", after=wait)
        client = await self._open()
        for i, text in enumerate(parts, 1):
            await self.channel.space(kind, webhook)
            body, query = payload(kind, title, text, secret, time.time())
            try:
                response = await client.post(_url(webhook, query), json=body)
            except Exception as e:  # noqa: BLE001 - httpx's transport errors and timeouts: try later
                return Outcome("retry", self._said(f"{kind} robot {message.address}: {type(e).__name__}: {e}", i, parts))
            trouble = _answer(kind, response)
            if trouble is not None:
                return Outcome(trouble.status, self._said(f"{trouble.error} (notices {numbers})", i, parts))
        return Outcome("sent", where=f"{message.address} ({len(parts)} part{'s' if len(parts) > 1 else ''})")

    @staticmethod
    def _said(error: str, part: int, parts: list[str]) -> str:
        if len(parts) > 1:
            return f"{error}; part {part} of {len(parts)} (a retry sends every part again)"
        return error

    async def _open(self) -> httpx.AsyncClient:
        if self._client is None:
            try:
                import httpx
            except ImportError:  # pragma: no cover - the duban[im] extra
                raise RuntimeError("group robots need httpx: pip install 'duban[im]'") from None
            self._client = httpx.AsyncClient(timeout=self.channel.timeout, trust_env=self.channel.trust_env,
                                             headers={"Content-Type": "application/json; charset=utf-8"})
        return self._client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
