"""The weekly report as one email: text and HTML alternatives, the DOCX attached (RFC 5322 bytes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

__all__ = ["build_report_message"]


def build_report_message(*, sender: str, to: Iterable[tuple[str, str]], subject: str, text: str, html: str,
                         attachments: Iterable[tuple[str, bytes, str]] = (), message_id: str, date: dt.datetime) -> bytes:
    """One RFC 5322 message: text and HTML alternatives, then the attachments (filename, bytes, MIME type)."""
    from duban.notifications.mail import one_line

    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = one_line(subject)
    msg["From"] = sender
    msg["To"] = [Address(display_name=one_line(name), addr_spec=addr) for name, addr in to]
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Duban-Key"] = one_line(message_id.strip("<>"))
    msg.set_content(text, subtype="plain", charset="utf-8", cte="base64")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
    for filename, data, mime in attachments:
        maintype, subtype = mime.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    # The boundary is derived from the message, not random: the same report gives the same bytes.
    import hashlib

    seed = hashlib.sha256(message_id.encode()).hexdigest()[:24]
    for n, part in enumerate(msg.walk()):
        if part.is_multipart():
            part.set_boundary(f"==duban{seed}{n}==")
    return msg.as_bytes()
