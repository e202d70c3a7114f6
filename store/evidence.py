"""Evidence files (佐證材料) kept under the data folder by the SHA-256 of their contents.

A file is checked before anything is stored: its name (the last part of the path it was sent with),
its size (not empty, at most ``max_bytes``: ``DUBAN_EVIDENCE_MAX_BYTES``, 20 MB by default) and its type,
from its first bytes as well as its extension — PDF, PNG, JPEG, Office documents (docx, xlsx, pptx;
doc, xls) and plain text (UTF-8 or GB18030). A file whose contents are not what its extension says
(an .exe renamed .pdf) is refused, naming the file. Stored files are written once (the same contents
sent twice are one file), atomically and with duban's private file mode, at ``<root>/ab/abcdef…``.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from duban.matrix.errors import Refused
from duban.store.files import write_file

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
OOXML = {  # extension → (folder inside the package, content type)
    "docx": ("word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "xlsx": ("xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "pptx": ("ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
}
SIMPLE = {  # extension → (first bytes, content type, what it is)
    "pdf": (b"%PDF-", "application/pdf", "a PDF"),
    "png": (b"\x89PNG\r\n\x1a\n", "image/png", "a PNG image"),
    "jpg": (b"\xff\xd8\xff", "image/jpeg", "a JPEG image"),
    "jpeg": (b"\xff\xd8\xff", "image/jpeg", "a JPEG image"),
    "doc": (OLE, "application/msword", "a Word 97–2003 document"),
    "xls": (OLE, "application/vnd.ms-excel", "an Excel 97–2003 workbook"),
}
ACCEPTED = "PDF, PNG, JPEG, DOCX, XLSX, PPTX, DOC, XLS, TXT"
HASH = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Evidence:
    """A checked file, ready to store: the name it is listed under, its bytes, their hash and type."""

    name: str
    data: bytes
    sha256: str
    content_type: str

    @property
    def size(self) -> int:
        return len(self.data)


def clean_name(name: str) -> str:
    """The file's own name: the last part of a path (either slash), control characters and spaces at
    the ends dropped, at most 200 characters (the extension kept)."""
    base = re.split(r"[\\/]", str(name or ""))[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip()
    if len(base) > 200:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: 200 - len(ext) - 1] + "." + ext) if dot and len(ext) <= 10 else base[:200]
    return base


def _size_text(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n} bytes"


def _refuse(name: str, why: str) -> Refused:
    err = Refused(f"evidence file {name}: {why}")
    err.field, err.text, err.reason, err.hint = "evidence", name, why, ""  # type: ignore[attr-defined]
    return err


def too_large(name: str, size: int, max_bytes: int) -> Refused:
    return _refuse(clean_name(name) or name, f"is {_size_text(size)}, more than the {_size_text(max_bytes)} "
                                             "an evidence file may be")


def content_type(name: str, data: bytes) -> str:
    """The content type of ``data`` named ``name``, once its first bytes agree with its extension;
    ``Refused`` (naming the file) otherwise."""
    ext = name.rpartition(".")[2].lower() if "." in name else ""
    if ext in SIMPLE:
        magic, kind, what = SIMPLE[ext]
        if not data.startswith(magic):
            raise _refuse(name, f"its contents are not {what} (a .{ext} file must be one)")
        return kind
    if ext in OOXML:
        folder, kind = OOXML[ext]
        if not data.startswith(b"PK\x03\x04") or not _package_has(data, folder):
            raise _refuse(name, f"its contents are not a .{ext} Office document")
        return kind
    if ext == "txt":
        return _text_type(name, data)
    shown = f"type .{ext}" if ext else "a file without an extension"
    raise _refuse(name, f"{shown} is not accepted; evidence may be {ACCEPTED}")


def _package_has(data: bytes, folder: str) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return False
    return "[Content_Types].xml" in names and any(n.startswith(folder) for n in names)


def _text_type(name: str, data: bytes) -> str:
    for encoding, charset in (("utf-8", "utf-8"), ("gb18030", "gb18030")):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if re.search(r"[\x00-\x08\x0b\x0e-\x1f\x7f]", text):
            break
        return f"text/plain; charset={charset}"
    raise _refuse(name, "its contents are not plain text (UTF-8 or GB18030)")


def check(name: str, data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Evidence:
    """A file checked for name, size and type: ``Refused`` naming the file, or the ``Evidence`` to store."""
    shown = clean_name(name)
    if not shown:
        raise _refuse(repr(name), "has no file name")
    if not data:
        raise _refuse(shown, "is empty")
    if len(data) > max_bytes:
        raise too_large(shown, len(data), max_bytes)
    return Evidence(name=shown, data=data, sha256=hashlib.sha256(data).hexdigest(),
                    content_type=content_type(shown, data))


def check_all(files: Sequence[Evidence | tuple[str, bytes]], *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Evidence]:
    """Every file checked before anything is stored (the first refused one raises, naming it); files already
    checked are held to ``max_bytes`` again; the same contents sent twice listed once, under their first name."""
    out: list[Evidence] = []
    seen: set[str] = set()
    for f in files:
        ev = f if isinstance(f, Evidence) else check(f[0], f[1], max_bytes=max_bytes)
        if ev.size > max_bytes:
            raise too_large(ev.name, ev.size, max_bytes)
        if ev.sha256 not in seen:
            seen.add(ev.sha256)
            out.append(ev)
    return out


def read_files(paths: list[Path], *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Evidence]:
    """Files on disk checked (the CLI's --file): a missing one or one too large is refused before it is read whole."""
    out = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise _refuse(str(path), "no such file")
        size = path.stat().st_size
        if size > max_bytes:
            raise too_large(path.name, size, max_bytes)
        out.append(check(path.name, path.read_bytes(), max_bytes=max_bytes))
    return out


class EvidenceStore:
    """The folder of stored evidence files: ``<root>/<first two hex digits>/<sha256>``."""

    def __init__(self, root: Path | str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    def path(self, sha256: str) -> Path:
        if not HASH.match(sha256 or ""):
            raise ValueError(f"not a SHA-256: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def put(self, evidence: Evidence) -> bool:
        """Store the file unless its contents are stored already; True if it was written now."""
        target = self.path(evidence.sha256)
        if target.is_file() and target.stat().st_size == evidence.size:
            return False
        write_file(target, evidence.data)
        return True

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()
