"""A local SMTP server (aiosmtpd) that saves every message it receives as an .eml file.

For demos and trying duban out without a real mail server: ``duban mail-sink`` runs one on loopback,
and ``DUBAN_SMTP_URL=smtp://127.0.0.1:8025`` sends to it.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path


class SaveToFolder:
    """aiosmtpd handler: one file per message, named by arrival order; envelope recipients kept."""

    def __init__(self, folder: Path) -> None:
        from duban.store.files import make_dirs

        self.folder = folder
        make_dirs(self.folder)  # private: 0700, its files 0600 (DUBAN_FILE_MODE)
        start = len(list(self.folder.glob("*.eml")))
        self._counter = itertools.count(start + 1)
        self._lock = threading.Lock()
        self.received = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self._lock:
            n = next(self._counter)
            self.received += 1
        from duban.store.files import write_file

        header = "".join(f"X-Envelope-To: {rcpt}\r\n" for rcpt in envelope.rcpt_tos).encode()
        write_file(self.folder / f"{n:06d}.eml", header + envelope.original_content)
        return "250 Message accepted for delivery"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now, for a loopback server (the sink, tests, benches)."""
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start_sink(host: str, port: int, folder: Path):
    """Start the sink in a background thread; returns the aiosmtpd Controller (call .stop())."""
    from aiosmtpd.controller import Controller

    handler = SaveToFolder(folder)
    controller = Controller(handler, hostname=host, port=port)
    controller.start()
    controller.handler_ref = handler
    return controller
