"""Building RFC 5322 messages: the bytes every mail channel (notifications.channels) hands over.

Message-IDs are derived from a message's key, so a message sent again after a crash carries the
same Message-ID and a receiving system can drop the repeat.
Header injection is impossible by construction: every header value is collapsed to one line and
addresses are validated before they get here (notifications.recipients.clean_address).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from email.headerregistry import Address
from email.utils import format_datetime, formataddr
from functools import lru_cache

from duban.matrix.errors import ConfigError

_LINE_BREAKS = re.compile(r"[\r\n\t\f\v\u2028\u2029\x85]+")


def one_line(text: str) -> str:
    """A header value: control characters and line breaks collapsed, so nothing can add a header."""
    return re.sub(r" {2,}", " ", _LINE_BREAKS.sub(" ", text)).strip()


def message_id_for(key: str, domain: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


def thread_id_for(thread: str, domain: str) -> str:
    """A stable Message-ID-like id per thread (one task), for In-Reply-To/References threading."""
    return f"<thread-{hashlib.sha256(thread.encode()).hexdigest()[:24]}@{domain}>"


# Header lines are folded to at most 78 characters (RFC 5322's recommendation; 998 is the hard limit)
# and encoded words are at most 75 (RFC 2047): a display name of any length becomes as many encoded
# words as it needs, one line each when need be. Only an address longer than a line is left whole.
MAX_LINE = 78
_EW_BYTES = 45  # UTF-8 bytes per encoded word: base64 of 45 bytes is 60 characters, the word 72 (≤ 75)
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,60}")


def encoded_words(text: str, first: int = 75) -> list[str]:
    """``text`` as RFC 2047 encoded words (UTF-8, base64), each at most 75 characters (the first at most
    ``first``, to fit beside its header's name) and made of whole characters; a reader joins adjacent
    encoded words without the space between them."""
    words: list[str] = []
    chunk = bytearray()
    limit = min(_EW_BYTES, max(3, (first - 12) // 4 * 3))
    for ch in text:
        b = ch.encode("utf-8", "replace")  # a lone surrogate (from a converter) becomes "?"
        if len(chunk) + len(b) > (limit if not words else _EW_BYTES) and chunk:
            words.append("=?utf-8?b?" + base64.b64encode(bytes(chunk)).decode("ascii") + "?=")
            chunk.clear()
        chunk += b
    if chunk:
        words.append("=?utf-8?b?" + base64.b64encode(bytes(chunk)).decode("ascii") + "?=")
    return words


def _plain_words(text: str) -> list[str] | None:
    """``text`` as it may stand in a header unencoded (short ASCII atoms separated by spaces), else None."""
    words = text.split(" ")
    if text.isascii() and all(_ATOM.fullmatch(w) and not w.startswith("=?") for w in words):
        return words
    return None


@lru_cache(maxsize=65536)  # the same units and officials appear in thousands of messages
def _mailbox(name: str, addr: str) -> tuple[str, ...]:
    """One mailbox as unbreakable pieces: the display name's words (encoded unless plain atoms), then
    ``<addr>``; a header is folded only between pieces."""
    name = one_line(name)
    if not name:
        return (addr,)
    return (*(_plain_words(name) or encoded_words(name)), f"<{addr}>")


def _fold(name: str, pieces: Iterable[str]) -> str:
    """``Name: piece piece …`` with a line break before any piece that would pass MAX_LINE."""
    lines: list[str] = []
    line = f"{name}:"
    for piece in pieces:
        if len(line) + 1 + len(piece) > MAX_LINE and line.strip() and line != f"{name}:":
            lines.append(line)
            line = " " + piece
        else:
            line += " " + piece
    lines.append(line)
    return "\r\n".join(lines)


def _address_list(people: Iterable[tuple[str, str]]) -> list[str]:
    people = list(people)
    pieces: list[str] = []
    for i, (name, addr) in enumerate(people):
        mailbox = list(_mailbox(name, addr))
        if i < len(people) - 1:
            mailbox[-1] += ","
        pieces += mailbox
    return pieces


def _unstructured(name: str, text: str) -> list[str]:
    text = one_line(text)
    return _plain_words(text) or encoded_words(text, first=MAX_LINE - len(name) - 2)


def build_message(*, sender: str, to: Iterable[tuple[str, str]], cc: Iterable[tuple[str, str]] = (), subject: str,
                  text: str, html: str, message_id: str, date, thread: str | None = None,
                  important: bool = False) -> bytes:
    """An RFC 5322 message (text + HTML alternative, UTF-8, base64), as bytes ready to send or save.
    ``important`` (a level-2 or level-3 escalation) adds the priority headers mail clients flag.

    Written out directly rather than through ``email.message``: every header is encoded (RFC 2047)
    and folded here (see MAX_LINE), the bodies are base64, and the boundary comes from the
    Message-ID, so the same message is always the same bytes — and thousands of notices do not
    pay the email package's generic header machinery (which takes seconds over a long name). Each
    message is read back by the email package before it is stored (``check_message``).
    """
    boundary = "=_duban_" + hashlib.sha256(message_id.encode()).hexdigest()[:32]
    m = re.fullmatch(r"(.*?)\s*<([^<>]+)>", sender)
    headers = [
        _fold("Subject", _unstructured("Subject", subject)),
        _fold("From", _mailbox(_decoded(m.group(1).strip('"')), m.group(2)) if m else (sender,)),
        _fold("To", _address_list(to)),
    ]
    cc = list(cc)
    if cc:
        headers.append(_fold("Cc", _address_list(cc)))
    headers += [f"Date: {format_datetime(date)}", _fold("Message-ID", [message_id])]
    if thread:
        headers += [_fold("In-Reply-To", [thread]), _fold("References", [thread])]
    if important:
        headers += ["Importance: high", "X-Priority: 1 (Highest)"]
    headers += ["Auto-Submitted: auto-generated", _fold("X-Duban-Key", [one_line(message_id.strip("<>"))]),
                "MIME-Version: 1.0", f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"']
    out = list(headers)
    for subtype, content in (("plain", text), ("html", html)):
        out += ["", f"--{boundary}", f'Content-Type: text/{subtype}; charset="utf-8"',
                "Content-Transfer-Encoding: base64", "",
                base64.encodebytes(content.encode("utf-8", "replace")).decode("ascii").replace("\n", "\r\n").rstrip("\r\n")]
    out += [f"--{boundary}--", ""]
    # UTF-8 only where an internationalised address (用户@例子.广告) stands as it is (RFC 6532).
    return "\r\n".join(out).encode("utf-8")


@lru_cache(maxsize=64)
def _decoded(name: str) -> str:
    """A display name as text, whether given plain or already as encoded words (``sender_address``)."""
    if "=?" not in name:
        return name
    from email.header import decode_header, make_header

    try:
        return str(make_header(decode_header(name)))
    except Exception:  # noqa: BLE001 - not an encoded word after all: the text as given
        return name


_STRICT = None
_FROM_DATA = ("subject", "from", "to", "cc")  # the headers made from names and text; the others are fixed forms
_FIELD_NAME = re.compile(r"[!-9;-~]+")


def check_message(body: bytes) -> None:
    """Check a built message before it is stored, cheaply: every header line at most 998 characters,
    well-formed fields and continuation lines, and the headers made from data (Subject, From, To, Cc)
    read back by the email package strictly (``raise_on_defect``, no defect on any header). A failure
    is a DeliveryError naming the message. (The tests read every message whole the same way.)"""
    global _STRICT
    import email.parser
    import email.policy

    from duban.matrix.errors import DeliveryError

    if _STRICT is None:
        _STRICT = email.policy.default.clone(raise_on_defect=True, utf8=True)
    head = body.split(b"\r\n\r\n", 1)[0]
    try:
        lines = head.decode("utf-8").split("\r\n")
        data: list[str] = []
        keep = False
        for i, line in enumerate(lines):
            if len(line) > 998 or "\r" in line or "\n" in line:
                raise ValueError(f"a header line of {len(line)} characters or with a stray line break")
            if line[:1] in (" ", "\t"):
                if i == 0 or not line.strip():
                    raise ValueError("an empty or leading continuation line")
            else:
                name, colon, _ = line.partition(":")
                if not colon or not _FIELD_NAME.fullmatch(name):
                    raise ValueError(f"not a header field: {line[:40]!r}")
                keep = name.lower() in _FROM_DATA
            if keep:
                data.append(line)
        msg = email.parser.HeaderParser(policy=_STRICT).parsestr("\r\n".join(data) + "\r\n\r\n")
        for name, value in msg.items():
            defects = getattr(value, "defects", ())
            if defects:
                raise ValueError(f"{name}: {defects[0]!r}")
    except Exception as e:  # noqa: BLE001 - any failure to read it back is the same error
        raise DeliveryError(f"the message {message_key(head)} cannot be read back: {e}") from None


def message_key(head: bytes) -> str:
    m = re.search(rb"^Message-ID: (\S+)", head, re.M)
    return m.group(1).decode("ascii", "replace") if m else "a message"


def sender_address(mail_from: str) -> str:
    """Validate the configured From (``督辦系統 <duban@example.org>`` or a bare address)."""
    m = re.fullmatch(r"\s*(?:(.*?)\s*<([^<>\s]+)>|([^<>\s]+))\s*", mail_from)
    if not m:
        raise ConfigError(f"DUBAN_MAIL_FROM: {mail_from!r} is not an address")
    name, addr = (m.group(1) or ""), (m.group(2) or m.group(3))
    try:
        Address(addr_spec=addr)
    except Exception:  # noqa: BLE001 - any parse failure is the same user error
        raise ConfigError(f"DUBAN_MAIL_FROM: {addr!r} is not a valid address") from None
    return formataddr((one_line(name), addr)) if name else addr

