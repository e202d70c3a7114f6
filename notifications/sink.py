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
    """A TCP port nobody listens on right now, for a server that must be told its port before it starts
    (`prefect server start --port`). Another process may take it before that server binds it: an SMTP
    server binds port 0 instead (``loopback_smtp``, ``start_sink(host, 0, …)``) and reports the port it got."""
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def loopback_smtp(handler, host: str = "127.0.0.1", port: int = 0, **kwargs):
    """A started aiosmtpd Controller (call .stop()); port 0 binds a free port, and ``.port`` is the one
    it bound (aiosmtpd's Controller would connect to port 0 to check that it runs)."""
    from aiosmtpd.controller import Controller

    class _BoundController(Controller):
        def _create_server(self):
            async def bind():
                server = await Controller._create_server(self)
                self.port = server.sockets[0].getsockname()[1]  # before start() connects to it
                return server

            return bind()

    controller = _BoundController(handler, hostname=host, port=port, **kwargs)
    controller.start()
    return controller


def start_sink(host: str, port: int, folder: Path):
    """Start the sink in a background thread; returns the aiosmtpd Controller (call .stop()). Port 0
    binds a free port; ``controller.port`` is the port it listens on."""
    handler = SaveToFolder(folder)
    controller = loopback_smtp(handler, host, port)
    controller.handler_ref = handler
    return controller
