"""Reading plan and directory files into located records: every value keeps its line or row.

Three formats come in: YAML (the canonical, hand-editable one), CSV and XLSX (the sheets offices
circulate). Each is turned into ``Record`` objects — a mapping from field name to ``Cell`` (value and
line/row) — so that validation can point at the exact place of a bad value. Text files may be UTF-8
(with or without BOM), GB18030/GBK (mainland offices, Chinese Excel) or Big5 (traditional-script
offices); ``decode_text`` tells them apart and says which one it used, and refuses a file that none
of them reads cleanly, naming the encodings it tried.

This module holds the records, the checks every input file passes (``read_input``, ``check_archive``,
``check_cell``), text decoding and YAML; ``duban.matrix.sheets`` reads CSV and XLSX sheets, their header
found with the layouts of ``duban.matrix.columns``.
"""

from __future__ import annotations

import io
import os
import re
import stat
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from duban.matrix.errors import ConfigError, LimitExceeded, MatrixError, SourceError, quote, shorten
from duban.matrix.limits import DEFAULT_LIMITS, SETTINGS, InputLimits
from duban.matrix.script import fold


class Cell(NamedTuple):
    """A value and its line (text formats) or row (sheets). A tuple: a large plan makes millions."""

    value: Any
    line: int | None


@dataclass(slots=True)
class Record:
    """One task, stage, official, unit or header: its fields, each located."""

    line: int | None
    cells: dict[str, Cell] = field(default_factory=dict)
    sheet: str | None = None  # the worksheet of a workbook read across several task sheets
    # The lead column is a sheet's 責任單位 (no 牽頭 column): its first unit leads, the others support.
    lead_first: bool = False
    # A sheet's columns as the office sees them, field → letter and header ("C 牽頭單位"); one dict a sheet.
    columns: dict[str, str] | None = None

    def get(self, name: str, default: Any = None) -> Any:
        cell = self.cells.get(name)
        return default if cell is None else cell.value

    def line_of(self, name: str) -> int | None:
        cell = self.cells.get(name)
        return self.line if cell is None or cell.line is None else cell.line


@dataclass(slots=True)
class Source:
    """What a loader read from one file."""

    path: str
    kind: str  # "line" (YAML, text) or "row" (CSV, XLSX)
    header: Record
    tasks: list[Record] = field(default_factory=list)
    stages: list[Record] = field(default_factory=list)
    officials: list[Record] = field(default_factory=list)
    units: list[Record] = field(default_factory=list)
    extra: dict[str, Record] = field(default_factory=dict)  # office, top_leader in directories
    warnings: list[str] = field(default_factory=list)  # e.g. the file was read as Big5, not UTF-8


# --------------------------------------------------------------------------------------------
# Text decoding


class DecodedText(NamedTuple):
    """A text file's content and the encoding it was read in ("UTF-8", "GB18030" or "Big5")."""

    text: str
    encoding: str
    where: str

    @property
    def warning(self) -> str | None:
        """What to tell the user when the file was not UTF-8, else None."""
        if self.encoding == "UTF-8":
            return None
        return f"{self.where}: not UTF-8; read as {_ENCODING_NAMES[self.encoding]} (save it as UTF-8 to be sure)"


# Tried in this order; on a tie (a text that reads equally well both ways) the earlier one wins:
# UTF-8 first (a non-UTF-8 Chinese text practically never decodes as UTF-8), then GB18030 (a superset
# of GBK and GB2312, the mainland default), then Big5 as Windows writes it (cp950, a superset of Big5).
_CANDIDATES: tuple[tuple[str, str], ...] = (("UTF-8", "utf-8-sig"), ("GB18030", "gb18030"), ("Big5", "cp950"))
_ENCODING_NAMES = {"UTF-8": "UTF-8", "GB18030": "GB18030 (GBK)", "Big5": "Big5"}
# A reading with more unusual characters than this share of its non-ASCII ones is not clean. Plans
# read in their own encoding measured under 1%; read in the other one (Big5 as GBK, GBK as Big5) 50-85%.
_UNUSUAL_SHARE = 0.2
_UNUSUAL_ALLOWED = 2  # a short file may have a rare character or two (names) and still be clean
# Blocks a Chinese plan hardly uses but a text read in the wrong encoding is full of: Greek, Cyrillic,
# Hangul jamo, radicals, kana, bopomofo, CJK extension A, compatibility and vertical/small forms.
# (Box drawing, ㈠ and ㎡ are left out: plans typed as text use them.)
_UNUSUAL_BLOCKS = (
    (0x0370, 0x052F), (0x1100, 0x11FF), (0x2E80, 0x2FDF), (0x3040, 0x30FF), (0x3100, 0x31EF),
    (0x3400, 0x4DBF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF), (0xFE10, 0xFE1F), (0xFE30, 0xFE6F),
)  # fmt: skip


@lru_cache(maxsize=65536)
def _unusual(char: str) -> bool:
    """True for a character that a Chinese plan hardly ever contains.

    A Han character is usual when it is among the frequent ones of either script: GB2312 level 1
    (the 3,755 most frequent simplified characters) or Big5 level 1 (5,401 frequent traditional
    ones); the codecs that ship with Python hold both tables, so no word list is needed.
    """
    code = ord(char)
    if code < 0x80:
        return not (char.isprintable() or char in "\t\n\r\f")
    if 0x4E00 <= code <= 0x9FFF:
        try:
            if 0xB0 <= char.encode("gb2312")[0] <= 0xD7:
                return False
        except UnicodeEncodeError:
            pass
        try:
            return not 0xA440 <= int.from_bytes(char.encode("big5"), "big") <= 0xC67E
        except UnicodeEncodeError:
            return True
    if unicodedata.category(char) in ("Co", "Cn", "Cc", "Cs"):  # private use, unassigned, control
        return True
    return any(low <= code <= high for low, high in _UNUSUAL_BLOCKS)


_SCORED_CHARS = 300_000  # a longer text is scored on its start, middle and end (100,000 characters each)


def _score(text: str) -> tuple[int, int]:
    """(unusual, non-ASCII) characters of ``text`` (of a 300,000-character sample when longer): counted
    per distinct character (collections.Counter, in C), so a 12 MB plan costs a fraction of a second,
    not a Python step per character."""
    if len(text) > _SCORED_CHARS:
        third, middle = _SCORED_CHARS // 3, len(text) // 2
        text = text[:third] + text[middle - third // 2 : middle + third // 2] + text[-third:]
    unusual = non_ascii = 0
    for char, count in Counter(text).items():
        if ord(char) >= 0x80:
            non_ascii += count
        if _unusual(char):
            unusual += count
    return unusual, non_ascii


def decode_bytes(data: bytes, *, where: str) -> DecodedText:
    """Decode a text file's bytes as UTF-8, GB18030/GBK or Big5, whichever reads as a Chinese text.

    UTF-8 (BOM allowed) is taken when the bytes are valid UTF-8. Otherwise each of GB18030 and Big5
    that decodes without error is scored by how many unusual characters its text has
    (``_unusual``; a long text on a sample of its start, middle and end); the fewest wins. Big5 bytes also decode as GB18030, into kana, Cyrillic,
    private-use and rare characters, which is how the two are told apart. If no candidate decodes,
    or the best still reads as nonsense, a ``SourceError`` names ``where`` and the encodings tried.
    """
    tried: list[str] = []
    best: tuple[int, DecodedText] | None = None
    for name, codec in _CANDIDATES:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError as error:
            snippet = data[max(0, error.start - 8) : error.start + 8]
            tried.append(f"{_ENCODING_NAMES[name]}: undecodable bytes at offset {error.start} ({snippet!r})")
            continue
        if name == "UTF-8":
            return DecodedText(text, name, where)  # Chinese text in GBK or Big5 is practically never valid UTF-8
        unusual, non_ascii = _score(text)
        if unusual > max(_UNUSUAL_ALLOWED, _UNUSUAL_SHARE * non_ascii):
            tried.append(f"{_ENCODING_NAMES[name]}: decodes, but {unusual} of its {non_ascii} non-ASCII characters are unusual")
            continue
        if best is None or unusual < best[0]:
            best = (unusual, DecodedText(text, name, where))
    if best is None:
        raise SourceError(
            where,
            "the text encoding could not be determined; tried " + ", ".join(_ENCODING_NAMES[n] for n, _ in _CANDIDATES)
            + " (" + "; ".join(tried) + "); save the file as UTF-8",
        )
    return best[1]


def read_input(path: Path, limits: InputLimits = DEFAULT_LIMITS) -> bytes:
    """The bytes of an input file (plan, directory, sheet, document), refused cleanly when it is not
    a regular file (a folder, a device such as /dev/zero, a pipe) or is larger than the file limit.

    The file is opened without blocking (a pipe would wait for a writer) and checked on the open
    descriptor; at most the limit plus one byte is ever read, so a file that grows meanwhile cannot
    make it read more.
    """
    where = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise SourceError(where, "no such file") from None
    except IsADirectoryError:
        raise SourceError(where, "is a folder, not a file") from None
    except PermissionError:
        raise SourceError(where, "cannot be read (permission denied)") from None
    except (OSError, ValueError) as e:  # a name too long, a loop of links, a NUL in the name …
        raise SourceError(where, f"cannot be opened ({getattr(e, 'strerror', None) or e})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise SourceError(where, "is a folder, not a file")
        raise SourceError(where, "is not a regular file (a device, pipe or socket); give the path of a file")
    if info.st_size > limits.file_bytes:
        os.close(fd)
        raise limits.refuse(where, "file_bytes", f"a file of {info.st_size:,} bytes")
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(limits.file_bytes + 1)
        except OSError as e:
            raise SourceError(where, f"cannot be read ({e.strerror or e})") from None
    if len(data) > limits.file_bytes:
        raise limits.refuse(where, "file_bytes", f"a file of more than {limits.file_bytes:,} bytes")
    return data


def check_archive(data: bytes, *, where: str, kind: str, limits: InputLimits = DEFAULT_LIMITS) -> zipfile.ZipFile:
    """The zip archive of an .xlsx or .docx, refused when it is not one or unpacks to more than the
    file limit (a zip bomb): checked on the sizes its directory declares, which reading it never
    exceeds (Python's zipfile stops at the declared size and then checks the CRC)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except Exception as e:  # noqa: BLE001 - BadZipFile, zlib.error, ValueError, OverflowError …: not readable
        raise SourceError(where, f"not a readable {kind} ({_error_text(e)})") from None
    unpacked = sum(m.file_size for m in members)
    if unpacked > limits.file_bytes:
        raise limits.refuse(where, "file_bytes", f"an archive that unpacks to {unpacked:,} bytes")
    return archive


def _error_text(error: BaseException) -> str:
    """A library's error as one short line for a refusal: its type and at most 80 characters of its text."""
    text = str(error)
    return f"{type(error).__name__}: {shorten(text)}" if text else type(error).__name__


def decode_text(path: Path, limits: InputLimits = DEFAULT_LIMITS) -> DecodedText:
    """Read a text file and decode it (``decode_bytes``); SourceError if missing, empty, not a regular
    file, over the file limit or undecodable."""
    data = read_input(path, limits)
    if not data.strip():
        raise SourceError(str(path), "the file is empty")
    return decode_bytes(data, where=str(path))


def read_text(path: Path, limits: InputLimits = DEFAULT_LIMITS) -> str:
    """The text of a file in UTF-8 (BOM allowed), GB18030/GBK or Big5; see ``decode_text``."""
    return decode_text(path, limits).text


# --------------------------------------------------------------------------------------------
# YAML with line numbers


class Located(dict[str, Any]):
    """A mapping read from YAML that remembers its own line and the line of each key's value."""

    __slots__ = ("line", "lines")
    line: int | None
    lines: dict[str, int]


# What the aliases of one file may stand for in all, per alias the limit allows: a plan naming an
# official or a list of units once and using it again stays far below; an alias bomb (billion laughs:
# nine aliases of nine aliases …) is refused when its count passes this, without being expanded.
_ALIAS_VALUES_PER_ALIAS = 1_000


def _build(events: Iterator[yaml.Event], path: str, limits: InputLimits = DEFAULT_LIMITS) -> Any:
    """Build Python values straight from parser events, mappings carrying their lines.

    Working from events (not composed nodes) skips PyYAML's node objects and type resolver, which
    makes reading a 20,000-task plan much cheaper. Scalars stay text (no implicit typing): a code
    written 3.10 stays "3.10", not the float 3.1; numbers, dates and flags are converted where read.

    The limits are checked as the events come, before anything is expanded: nesting depth, list
    length, value length, alias uses and how many values the aliases stand for in all (an alias
    shares its anchor's value, and a reader walking it would meet every value again). An alias to
    a mapping or list that is still open (a recursive structure) is refused.
    """
    builder = _EventBuilder(path, limits)
    # Bound once: the loop runs once per event (millions for a large plan).
    scalar, open_container, close_container = builder.scalar, builder.open_container, builder.close_container
    scalar_event, mapping_start, sequence_start = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    mapping_end, sequence_end = yaml.MappingEndEvent, yaml.SequenceEndEvent
    documents = 0
    event: Any  # each kind of event has its own attributes (value, anchor, style): dispatched on its type
    for event in events:
        kind = type(event)
        line = event.start_mark.line + 1
        if kind is scalar_event:
            scalar(event, line)
        elif kind is mapping_start:
            mapping = Located()
            mapping.line = line
            mapping.lines = {}
            open_container(mapping, event.anchor, line)
        elif kind is sequence_start:
            open_container([], event.anchor, line)
        elif kind is mapping_end or kind is sequence_end:
            close_container()
        elif kind is yaml.AliasEvent:
            builder.alias(event.anchor, line)
        elif kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise SourceError(f"{path}:{line}", "more than one YAML document in the file")
    return builder.root


class _EventBuilder:
    """The state of ``_build``: the containers still open, the anchors seen and what the aliases cost."""

    __slots__ = ("path", "limits", "root", "stack", "anchors", "weights", "open_anchors", "alias_uses",
                 "alias_values", "alias_values_limit")

    def __init__(self, path: str, limits: InputLimits) -> None:
        self.path = path
        self.limits = limits
        self.root: Any = None
        # [container, key waiting for its value (maps) or None, anchor, values in it (weight)]
        self.stack: list[list[Any]] = []
        self.anchors: dict[str, Any] = {}
        self.weights: dict[str, int] = {}  # anchor → how many values it stands for
        self.open_anchors: set[str] = set()
        self.alias_uses = 0
        self.alias_values = 0
        self.alias_values_limit = max(1, limits.yaml_aliases) * _ALIAS_VALUES_PER_ALIAS

    def field_at(self, line: int) -> str:
        stack = self.stack
        key = stack[-1][1] if stack and isinstance(stack[-1][0], dict) else None
        return f"{self.path}:{line}" + (f", field {shorten(key, 40)}" if isinstance(key, str) else "")

    def add(self, value: Any, line: int, weight: int) -> None:
        stack = self.stack
        if not stack:
            self.root = value
            return
        frame = stack[-1]
        frame[3] += weight
        container = frame[0]
        if isinstance(container, list):
            container.append(value)
            if len(container) > self.limits.rows:
                raise self.limits.refuse(f"{self.path}:{line}", "rows", f"a list of more than {self.limits.rows:,} entries")
        elif frame[1] is None:
            if not isinstance(value, str):
                raise SourceError(f"{self.path}:{line}", f"a key must be plain text, got a {type(value).__name__}")
            if value == "<<":
                raise SourceError(f"{self.path}:{line}", "YAML merge keys (<<) are not supported")
            if value in container:
                raise SourceError(f"{self.path}:{line}", f"the key {shorten(value)!r} appears twice")
            frame[1] = value
        else:
            container[frame[1]] = value
            container.lines[frame[1]] = line
            frame[1] = None

    def scalar(self, event: Any, line: int) -> None:
        text = event.value
        if len(text) > self.limits.cell_chars:
            raise self.limits.refuse(self.field_at(line), "cell_chars", f"a value of {len(text):,} characters", text)
        bad = FORBIDDEN_CHARS.search(text)
        if bad:  # written as an escape ("\u0000") in a quoted scalar: the file itself passed _check_text
            raise SourceError(self.field_at(line), f"control character U+{ord(bad.group()):04X} in {quote(text)}; "
                              "a plan's text holds none")
        value = None if event.style in (None, "") and text in _NULLS else text
        if event.anchor:
            self.anchors[event.anchor] = value
            self.weights[event.anchor] = 1
            self.open_anchors.discard(event.anchor)
        self.add(value, line, 1)

    def open_container(self, container: Any, anchor: str | None, line: int) -> None:
        if len(self.stack) >= self.limits.yaml_depth:
            raise self.limits.refuse(f"{self.path}:{line}", "yaml_depth", f"nesting {len(self.stack) + 1} levels deep")
        if anchor:
            self.anchors[anchor] = container
            self.open_anchors.add(anchor)
        self.add(container, line, 0)  # its weight is added to its parent when it closes
        self.stack.append([container, None, anchor, 1])

    def close_container(self) -> None:
        _container, _key, anchor, weight = self.stack.pop()
        if anchor:
            self.weights[anchor] = weight
            self.open_anchors.discard(anchor)
        if self.stack:
            self.stack[-1][3] += weight

    def alias(self, anchor: str, line: int) -> None:
        path, limits = self.path, self.limits
        if anchor not in self.anchors:
            raise SourceError(f"{path}:{line}", f"unknown alias *{shorten(anchor, 40)}")
        if anchor in self.open_anchors:
            raise SourceError(f"{path}:{line}", f"the alias *{shorten(anchor, 40)} is used inside its own "
                              "anchor (a structure that contains itself)")
        self.alias_uses += 1
        if self.alias_uses > limits.yaml_aliases:
            raise limits.refuse(f"{path}:{line}", "yaml_aliases",
                                f"using aliases {self.alias_uses:,} times (here *{shorten(anchor, 40)})")
        weight = self.weights.get(anchor, 1)
        self.alias_values += weight
        if self.alias_values > self.alias_values_limit:
            raise LimitExceeded(
                f"{path}:{line}", f"aliases standing for {self.alias_values:,} values in all (here *{shorten(anchor, 40)}) "
                f"exceed the {self.alias_values_limit:,} allowed by the limit of {limits.yaml_aliases:,} aliases "
                f"({_ALIAS_VALUES_PER_ALIAS:,} values each, {SETTINGS['yaml_aliases']})",
                setting=SETTINGS["yaml_aliases"])
        self.add(self.anchors[anchor], line, weight)


_NULLS = frozenset(("", "~", "null", "Null", "NULL"))


def _check_text(text: str, where: str) -> None:
    """Refuse a text file holding a character no plan text has (``FORBIDDEN_CHARS``), at its line."""
    bad = FORBIDDEN_CHARS.search(text)
    if bad is None:
        return
    line_start = text.rfind("\n", 0, bad.start()) + 1
    line_end = text.find("\n", bad.start())
    line_text = text[line_start : line_end if line_end >= 0 else len(text)]
    number = text.count("\n", 0, bad.start()) + 1
    raise SourceError(f"{where}:{number}", f"control character U+{ord(bad.group()):04X} in {quote(line_text)}; "
                      "a text file holds none (was it saved as text, in UTF-8?)")


def load_yaml(path: Path, *, warnings: list[str] | None = None, limits: InputLimits = DEFAULT_LIMITS) -> Any:
    """Parse a YAML file; mappings come back as dicts with ``.line`` and ``.lines``.

    When the file is not UTF-8, a line saying which encoding was used is added to ``warnings``.
    The file, its values, nesting and aliases are checked against ``limits`` (a ``LimitExceeded``
    names the line and the setting that raises the limit); a control character is refused at its line.
    """
    decoded = decode_text(path, limits)
    if warnings is not None and decoded.warning:
        warnings.append(decoded.warning)
    return yaml_text(decoded.text, str(path), limits)


def yaml_text(text: str, path: str, limits: InputLimits = DEFAULT_LIMITS) -> Any:
    """Parse YAML text read from ``path`` (or stored under that name) as ``load_yaml`` does."""
    _check_text(text, str(path))
    loader_cls = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
    try:
        root = _build(yaml.parse(text, Loader=loader_cls), str(path), limits)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise SourceError(where, f"not valid YAML: {shorten(e.problem or e, 200)}") from None
    except yaml.YAMLError as e:  # e.g. a ReaderError (a character YAML does not allow), which has no mark
        raise SourceError(str(path), f"not valid YAML: {shorten(e, 200)}") from None
    if root is None:
        raise SourceError(str(path), "the file is empty")
    return root


def config_files(paths: Iterable[Path | str], *, what: str) -> Iterator[tuple[Path, Any]]:
    """Each existing file of ``paths``, in order, as a located mapping (policy, schedule, scoring).

    A missing file is skipped (defaults apply); an unreadable one, or one that is not a mapping,
    is a ``ConfigError`` naming the file.
    """
    for path in map(Path, paths):
        if not path.exists():
            continue
        try:
            data = load_yaml(path)
        except MatrixError as e:
            raise ConfigError(str(e)) from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a {what} file is a mapping")
        yield path, data


def yaml_record(mapping: Any, *, path: str, what: str, labels: dict[str, str] | None = None) -> Record:
    """A YAML mapping as a Record; with ``labels``, Chinese field labels (牽頭單位, 时间要求 …, in either
    script) stand for the English keys, as sheet headers do. A field given twice is an error."""
    if not isinstance(mapping, dict):
        raise SourceError(path, f"{what} must be a mapping of fields, got {type(mapping).__name__}")
    line = getattr(mapping, "line", None)
    lines = getattr(mapping, "lines", {})
    cells: dict[str, Cell] = {}
    for k, v in mapping.items():
        key: str = k
        if labels:
            key = labels.get(fold(str(k)).lower(), key)
        if key in cells:
            raise SourceError(f"{path}:{lines.get(k, line)}", f"{what}: field {shorten(key)!r} is given twice (as {quote(k)})")
        cells[key] = Cell(v, lines.get(k, line))
    return Record(line=line, cells=cells)


def yaml_records(items: Any, *, path: str, what: str, line: int | None, labels: dict[str, str] | None = None) -> list[Record]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise SourceError(f"{path}:{line}" if line else path, f"{what} must be a list")
    return [yaml_record(item, path=path, what=f"each entry of {what}", labels=labels) for item in items]


# Characters no plan text holds and YAML does not allow: C0 controls but tab, line feed and carriage
# return; DEL; C1 controls (NEL included); lone surrogates; U+FFFE and U+FFFF. A NUL cannot even be
# stored in PostgreSQL.
FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def check_cell(value: str, where: str, limits: InputLimits) -> None:
    """Refuse a cell or value over the cell limit or holding a control character, naming ``where``."""
    if len(value) > limits.cell_chars:
        raise limits.refuse(where, "cell_chars", f"a cell of {len(value):,} characters", value)
    bad = FORBIDDEN_CHARS.search(value)
    if bad:
        raise SourceError(where, f"control character U+{ord(bad.group()):04X} at character {bad.start() + 1:,} of "
                          f"{quote(value)}; remove it (was the file saved as text by a program that pads it?)")
