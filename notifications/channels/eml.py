"""The eml channel: each message written as an .eml file in the outbox folder (no mail server configured).

A resend (a lease that ran out) finds its own file and leaves it: the same name, the same bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from duban.store.outbox import CLAIM_BATCH, Claimed, Outcome


def eml_name(message_pk: int, body: bytes) -> str:
    """``000042-3f9a…``: the message's number (files sort in sending order) and a digest of its bytes,
    so a resend finds its own file while another database's message 42 (a fresh database, or two
    sharing an outbox folder) never takes its place."""
    return f"{message_pk:06d}-{hashlib.sha256(body).hexdigest()[:12]}"


def write_eml(folder: Path, name: str, body: bytes) -> Path:
    """Save a message as ``<name>.eml`` atomically; an existing file (a resend: same name, same
    bytes, see ``eml_name``) is left as it is. Private: the file 0600 in a 0700 folder unless
    DUBAN_FILE_MODE says otherwise (``store.files``)."""
    from duban.store.files import make_dirs, write_file

    make_dirs(folder)
    target = folder / f"{name}.eml"
    if target.exists():
        return target
    return write_file(target, body)


class EmlChannel:
    """Messages as .eml files in ``folder``. Writing a file never fails for a message's own reason,
    so every outcome is "sent" (a full disk raises: the run stops, the claimed messages' lease runs
    out and they are written later)."""

    name = "eml"
    label = "outbox folder"
    address_kind = "email"
    reaches_people = False  # a folder: a replay's notices are written here too
    concurrency = 1
    # A resend is harmless (the file is found and left as it is), so outcomes are written a whole
    # claim at a time: two statements per claim instead of two per message.
    record_batch = CLAIM_BATCH

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.target = str(folder)

    def connect(self) -> EmlChannel:
        return self  # nothing to open: a folder

    async def send(self, message: Claimed) -> Outcome:
        path = write_eml(self.folder, eml_name(message.pk, message.body), message.body)
        return Outcome("sent", where=str(path))

    async def close(self) -> None:
        pass
