"""Reading plan and directory files into located records: every value keeps its line or row.

Three formats come in: YAML (the canonical, hand-editable one), CSV and XLSX (the sheets offices
circulate). Each is turned into ``Record`` objects — a mapping from field name to ``Cell`` (value and
line/row) — so that validation can point at the exact place of a bad value. Text files may be UTF-8
(with or without BOM), GB18030/GBK (mainland offices, Chinese Excel) or Big5 (traditional-script
offices); ``decode_text`` tells them apart and says which one it used, and refuses a file that none
of them reads cleanly, naming the encodings it tried.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from functools import lru_cache
from typing import Any, Iterable, Iterator, NamedTuple

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


class _Located(dict):
    """A mapping that remembers the line of each key's value."""

    __slots__ = ("line", "lines")


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
    root: Any = None
    documents = 0
    # [container, key waiting for its value (maps) or None, anchor, values in it (weight)]
    stack: list[list[Any]] = []
    anchors: dict[str, Any] = {}
    weights: dict[str, int] = {}  # anchor → how many values it stands for
    open_anchors: set[str] = set()
    alias_uses = 0
    alias_values = 0
    alias_values_limit = max(1, limits.yaml_aliases) * _ALIAS_VALUES_PER_ALIAS

    def field_at(line: int) -> str:
        key = stack[-1][1] if stack and isinstance(stack[-1][0], dict) else None
        return f"{path}:{line}" + (f", field {shorten(key, 40)}" if isinstance(key, str) else "")

    def add(value: Any, line: int, weight: int) -> None:
        nonlocal root
        if not stack:
            root = value
            return
        frame = stack[-1]
        frame[3] += weight
        container = frame[0]
        if isinstance(container, list):
            container.append(value)
            if len(container) > limits.rows:
                raise limits.refuse(f"{path}:{line}", "rows", f"a list of more than {limits.rows:,} entries")
        elif frame[1] is None:
            if not isinstance(value, str):
                raise SourceError(f"{path}:{line}", f"a key must be plain text, got a {type(value).__name__}")
            if value == "<<":
                raise SourceError(f"{path}:{line}", "YAML merge keys (<<) are not supported")
            if value in container:
                raise SourceError(f"{path}:{line}", f"the key {shorten(value)!r} appears twice")
            frame[1] = value
        else:
            container[frame[1]] = value
            container.lines[frame[1]] = line
            frame[1] = None

    def open_container(container: Any, anchor: str | None, line: int) -> None:
        if len(stack) >= limits.yaml_depth:
            raise limits.refuse(f"{path}:{line}", "yaml_depth", f"nesting {len(stack) + 1} levels deep")
        if anchor:
            anchors[anchor] = container
            open_anchors.add(anchor)
        add(container, line, 0)  # its weight is added to its parent when it closes
        stack.append([container, None, anchor, 1])

    for event in events:
        kind = type(event)
        line = event.start_mark.line + 1
        if kind is yaml.ScalarEvent:
            text = event.value
            if len(text) > limits.cell_chars:
                raise limits.refuse(field_at(line), "cell_chars", f"a value of {len(text):,} characters", text)
            bad = FORBIDDEN_CHARS.search(text)
            if bad:  # written as an escape ("\u0000") in a quoted scalar: the file itself passed _check_text
                raise SourceError(field_at(line), f"control character U+{ord(bad.group()):04X} in {quote(text)}; "
                                  "a plan's text holds none")
            value = None if event.style in (None, "") and text in _NULLS else text
            if event.anchor:
                anchors[event.anchor] = value
                weights[event.anchor] = 1
                open_anchors.discard(event.anchor)
            add(value, line, 1)
        elif kind is yaml.MappingStartEvent:
            mapping = _Located()
            mapping.line = line
            mapping.lines = {}
            open_container(mapping, event.anchor, line)
        elif kind is yaml.SequenceStartEvent:
            open_container([], event.anchor, line)
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            _container, _key, anchor, weight = stack.pop()
            if anchor:
                weights[anchor] = weight
                open_anchors.discard(anchor)
            if stack:
                stack[-1][3] += weight
        elif kind is yaml.AliasEvent:
            anchor = event.anchor
            if anchor not in anchors:
                raise SourceError(f"{path}:{line}", f"unknown alias *{shorten(anchor, 40)}")
            if anchor in open_anchors:
                raise SourceError(f"{path}:{line}", f"the alias *{shorten(anchor, 40)} is used inside its own "
                                  "anchor (a structure that contains itself)")
            alias_uses += 1
            if alias_uses > limits.yaml_aliases:
                raise limits.refuse(f"{path}:{line}", "yaml_aliases",
                                    f"using aliases {alias_uses:,} times (here *{shorten(anchor, 40)})")
            weight = weights.get(anchor, 1)
            alias_values += weight
            if alias_values > alias_values_limit:
                raise LimitExceeded(
                    f"{path}:{line}", f"aliases standing for {alias_values:,} values in all (here *{shorten(anchor, 40)}) "
                    f"exceed the {alias_values_limit:,} allowed by the limit of {limits.yaml_aliases:,} aliases "
                    f"({_ALIAS_VALUES_PER_ALIAS:,} values each, {SETTINGS['yaml_aliases']})",
                    setting=SETTINGS["yaml_aliases"])
            add(anchors[anchor], line, weight)
        elif kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise SourceError(f"{path}:{line}", "more than one YAML document in the file")
    return root


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
    text = decoded.text
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
        key = labels.get(fold(str(k)).lower(), k) if labels else k
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


def task_labels() -> dict[str, str]:
    """Folded field label → the task field it names (the sheet headers' table, for YAML keys too)."""
    return _TASK_INDEX


# --------------------------------------------------------------------------------------------
# Sheets (CSV and XLSX)

# Column labels offices use, simplified or traditional alike (matched after fold()), and English.
TASK_COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("序號", "序号", "編號", "编号", "code", "no", "no.", "id"),
    "section": ("所屬部分", "所属部分", "類別", "类别", "section"),
    "title": ("任務", "任务", "任務名稱", "任务名称", "工作任務", "工作任务", "事項", "事项", "title", "task"),
    "target": ("目標要求", "目标要求", "目標任務", "目标任务", "target"),
    "lead_officials": ("牽頭領導", "牵头领导", "責任領導", "责任领导", "lead_officials", "lead officials"),
    "lead_unit": ("牽頭單位", "牵头单位", "責任單位", "责任单位", "lead_unit", "lead unit"),
    "supporting_units": ("配合單位", "配合单位", "協辦單位", "协办单位", "supporting_units", "supporting units"),
    "deadline": ("時間要求", "时间要求", "完成時限", "完成时限", "時限", "时限", "deadline"),
    "veto": ("一票否決", "一票否决", "veto"),
}
DIRECTORY_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("單位", "单位", "單位名稱", "单位名称", "unit", "name"),
    "aliases": ("別名", "别名", "簡稱", "简称", "aliases"),
    "kind": ("類型", "类型", "kind"),
    "head": ("負責人", "负责人", "head"),
    "head_title": ("職務", "职务", "head_title"),
    "head_email": ("負責人郵箱", "负责人邮箱", "head_email"),
    "emails": ("郵箱", "邮箱", "emails", "email"),
    "member_of": ("所屬", "所属", "上級", "上级", "member_of", "member of"),
}


def _column_index(labels: dict[str, tuple[str, ...]]) -> dict[str, str]:
    index: dict[str, str] = {}
    for name, spellings in labels.items():
        for s in spellings:
            index[fold(s).lower()] = name
    return index


_TASK_INDEX = _column_index(TASK_COLUMNS)
_DIRECTORY_INDEX = _column_index(DIRECTORY_COLUMNS)
_HEADER_SCAN_ROWS = 10  # offices put a title row or two above the header


def _cell_text(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _rows_to_records(
    path: str, rows: Iterator[tuple[int, list[Any]]], columns: dict[str, str], required: tuple[str, ...],
    labels: dict[int, str] | None = None,
) -> tuple[list[Record], list[str], dict[str, Any]]:
    """Find the header row among the first rows, then make one record per data row.

    Returns the records, the header labels that were not understood, and facts from above the
    header (a title row becomes ``title``). The header's labels are put in ``labels`` (column index
    → label) as soon as it is found, so that ``sheet_rows`` names a refused cell by its column.
    """
    preamble: list[str] = []
    header: dict[int, str] | None = None
    unknown: list[str] = []
    records: list[Record] = []
    for row_number, values in rows:
        if header is None:
            mapped = {i: columns.get(fold(str(v)).lower()) for i, v in enumerate(values) if v not in (None, "")}
            if sum(1 for m in mapped.values() if m) >= 2 and all(r in mapped.values() for r in required):
                header = {i: m for i, m in mapped.items() if m}
                unknown = [str(values[i]) for i, m in mapped.items() if not m]
                if labels is not None:
                    labels.update((i, str(values[i]).strip()) for i in mapped)
                continue
            texts = [str(v).strip() for v in values if v not in (None, "")]
            if texts:
                preamble.append(texts[0])
            if row_number >= _HEADER_SCAN_ROWS:
                break
            continue
        cells = {}
        for i, name in header.items():
            value = _cell_text(values[i]) if i < len(values) else None
            if value is not None:
                cells[name] = Cell(value, row_number)
        if cells:
            records.append(Record(line=row_number, cells=cells))
    if header is None:
        wanted = "、".join(columns_spelled(required))
        raise SourceError(path, f"no header row found in the first {_HEADER_SCAN_ROWS} rows; expected columns such as {wanted}")
    facts = {"title": preamble[0]} if preamble else {}
    return records, unknown, facts


def columns_spelled(names: tuple[str, ...]) -> list[str]:
    labels = {**TASK_COLUMNS, **DIRECTORY_COLUMNS}
    return [f"{labels[n][1]}/{labels[n][0]}" for n in names]


def _csv_rows(path: Path, warnings: list[str] | None, limits: InputLimits) -> Iterator[tuple[int, list[Any]]]:
    decoded = decode_text(path, limits)  # now, not on the first row: the caller's warnings are complete at once
    if warnings is not None and decoded.warning:
        warnings.append(decoded.warning)
    return _csv_records(decoded.text)


def _csv_records(text: str) -> Iterator[tuple[int, list[Any]]]:
    # The csv module refuses a field over its own limit (131,072 characters) with a bare error; the
    # text is already within the file limit, so let it read any field and check cells against the
    # cell limit where the row and the column are known (_bounded_rows).
    if csv.field_size_limit() < len(text) + 1:
        csv.field_size_limit(len(text) + 1)
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;，")
    except csv.Error:
        dialect = csv.excel
    row_number = 0
    try:
        for row in csv.reader(io.StringIO(text), dialect):
            row_number += 1
            yield row_number, row
    except csv.Error as e:  # e.g. what a strict dialect refuses
        raise SourceError(f"row {row_number + 1}", f"not a readable CSV row ({shorten(e)})") from None


# Merged ranges make one object per covered cell when a workbook is loaded (read-only mode, which would
# not, loses them): their cells in all may be at most this many per row of the row limit.
_MERGED_CELLS_PER_ROW = 10
_DIMENSION = re.compile(rb'<(?:[\w.-]+:)?dimension\b[^>]*?\bref="([^"]{1,64})"')
_ROW_ELEMENT = re.compile(rb"<(?:[\w.-]+:)?row[\s>/]")
_MERGE_CELL = re.compile(rb'<(?:[\w.-]+:)?mergeCell\b[^>]*?\bref="([^"]{1,64})"')


def _cell_range(ref: bytes) -> tuple[int, int, int, int] | None:
    """(min_col, min_row, max_col, max_row) of an A1:B2 reference; None if it is not one."""
    from openpyxl.utils.cell import range_boundaries

    try:
        bounds = range_boundaries(ref.decode("ascii"))
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    return None if None in bounds else bounds  # type: ignore[return-value]


def _check_sheet_extent(archive: zipfile.ZipFile, where: str, limits: InputLimits) -> None:
    """Refuse a workbook whose sheets declare more rows or columns than the limits (the dimension
    element, e.g. A1:XFD1048576), or whose merged ranges go beyond them or cover too many cells,
    before openpyxl builds anything: it would make an object for every merged cell."""
    from openpyxl.utils.cell import get_column_letter

    merged = 0
    merged_limit = limits.rows * _MERGED_CELLS_PER_ROW
    for member in archive.infolist():
        if not member.filename.lower().endswith(".xml") or member.is_dir():
            continue
        try:
            xml = archive.read(member)
        except Exception as e:  # noqa: BLE001 - a damaged member: zlib.error, BadZipFile (CRC) …
            raise SourceError(where, f"not a readable .xlsx workbook ({member.filename}: {_error_text(e)})") from None
        rows = len(_ROW_ELEMENT.findall(xml))
        if rows > limits.rows:  # a sheet whose dimension says less than it holds: refused before it is built
            raise limits.refuse(where, "rows", f"a sheet of {rows:,} rows in {member.filename}")
        for pattern, what in ((_DIMENSION, "a declared sheet"), (_MERGE_CELL, "a merged range")):
            for match in pattern.finditer(xml):
                bounds = _cell_range(match.group(1))
                if bounds is None:
                    continue
                min_col, min_row, max_col, max_row = bounds
                ref = match.group(1).decode("ascii")
                if max_row > limits.rows:
                    raise limits.refuse(where, "rows", f"{what} of {max_row:,} rows ({ref}) in {member.filename}")
                if max_col > limits.columns:
                    raise limits.refuse(where, "columns", f"{what} of {max_col:,} columns ({ref}, up to column "
                                        f"{get_column_letter(max_col)}) in {member.filename}")
                if pattern is _MERGE_CELL:
                    merged += (max_row - min_row + 1) * (max_col - min_col + 1)
                    if merged > merged_limit:
                        raise LimitExceeded(
                            where, f"merged ranges covering more than {merged_limit:,} cells (up to {ref} in "
                            f"{member.filename}) exceed the limit of {_MERGED_CELLS_PER_ROW} per row allowed by "
                            f"the row limit of {limits.rows:,} ({SETTINGS['rows']})", setting=SETTINGS["rows"])


def _xlsx_rows(path: Path, sheet: str | None, limits: InputLimits) -> Iterator[tuple[int, list[Any]]]:
    import openpyxl  # imported here: only the sheet path pays for it

    where = str(path)
    data = read_input(path, limits)
    archive = check_archive(data, where=where, kind=".xlsx workbook", limits=limits)
    with archive:
        _check_sheet_extent(archive, where, limits)
    try:
        # Read-only: the workbook's parts are read, not its sheets; the chosen sheet is streamed below
        # (a full load builds a Cell object per cell, a third of the time of a 20,000-row sheet).
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as e:  # noqa: BLE001 - zlib.error, KeyError, XML and value errors …: the file is not readable
        raise SourceError(where, f"not a readable .xlsx workbook ({_error_text(e)})") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise SourceError(where, f"no sheet named {shorten(sheet)!r}; sheets are {book.sheetnames}")
        try:
            ws = book[sheet] if sheet else book.worksheets[0]
        except IndexError:
            raise SourceError(where, "the workbook has no worksheet") from None
        by_row, merged = _sheet_values(ws, book, where, limits)
    except SourceError:
        raise
    except Exception as e:  # noqa: BLE001 - a damaged sheet: XML, value and key errors …
        raise SourceError(where, f"not a readable .xlsx workbook ({_error_text(e)})") from None
    finally:
        book.close()
    # Merged cells (a lead official spanning several rows) are filled down and across from their
    # top-left cell, as the sheet shows them; read-only openpyxl does not, so it is done here from
    # the sheet's mergeCell ranges (already checked against the limits by _check_sheet_extent).
    for ref in merged:
        bounds = _cell_range(ref.encode("ascii", "replace"))
        if bounds is None:
            continue
        min_col, min_row, max_col, max_row = bounds
        value = by_row.get(min_row, {}).get(min_col)
        if value is None:
            continue
        for r in range(min_row, min(max_row, limits.rows) + 1):
            row = by_row.setdefault(r, {})
            for c in range(min_col, min(max_col, limits.columns) + 1):
                row[c] = value
    last = max(by_row, default=0)
    for r in range(1, last + 1):
        row = by_row.get(r)
        yield r, ([row.get(c) for c in range(1, max(row) + 1)] if row else [])


def _sheet_values(ws: Any, book: Any, where: str, limits: InputLimits) -> tuple[dict[int, dict[int, Any]], list[str]]:
    """The values of a read-only worksheet by row and column, and its merged ranges (A1:B3 …).

    Streams the sheet's XML once with openpyxl's own parser (values, dates as dates), visiting only
    the cells the sheet holds, never the rectangle up to its last cell: a lone value at XFD1048576
    would make that 17 billion cells. A value beyond the limits is refused; empty cells are ignored."""
    from openpyxl.utils.cell import coordinate_to_tuple, get_column_letter
    from openpyxl.worksheet._reader import INLINE_STRING, WorkSheetParser

    text_tag = INLINE_STRING.replace("}is", "}t")
    run_tag = INLINE_STRING.replace("}is", "}r")

    class _Parser(WorkSheetParser):
        def parse_cell(self, element: Any) -> dict:
            # An inline string (what openpyxl and duban write) read as its text and runs, without
            # building openpyxl's rich-text objects for it; any other cell as openpyxl reads it.
            if element.get("t") != "inlineStr":
                return super().parse_cell(element)
            coordinate = element.get("r")
            if coordinate:
                row, column = coordinate_to_tuple(coordinate)
                self.col_counter = column
            else:
                self.col_counter += 1
                row, column = self.row_counter, self.col_counter
            value = None
            child = element.find(INLINE_STRING)
            if child is not None:
                pieces = [child.findtext(text_tag) or ""]
                pieces += [run.findtext(text_tag) or "" for run in child.iterfind(run_tag)]
                value = "".join(pieces)
            return {"row": row, "column": column, "value": value, "data_type": "s", "style_id": 0}

    by_row: dict[int, dict[int, Any]] = {}
    with ws._get_source() as source:
        parser = _Parser(source, ws._shared_strings, data_only=True, epoch=book.epoch,
                         date_formats=book._date_formats, timedelta_formats=book._timedelta_formats)
        for _index, cells in parser.parse():
            for cell in cells:
                value = cell["value"]
                if value is None:
                    continue
                r, c = cell["row"], cell["column"]
                if r > limits.rows or c > limits.columns:
                    at = f"{where} cell {get_column_letter(min(c, 18278))}{r}"
                    if r > limits.rows:
                        raise limits.refuse(at, "rows", f"a value in row {r:,}")
                    raise limits.refuse(at, "columns", f"a value in column {c:,}")
                by_row.setdefault(r, {})[c] = value
        merged = [m.ref for m in getattr(parser.merged_cells, "mergeCell", None) or ()]
    return by_row, [str(ref) for ref in merged if ref]


def sheet_rows(path: Path, *, sheet: str | None = None, warnings: list[str] | None = None,
               limits: InputLimits = DEFAULT_LIMITS, labels: dict[int, str] | None = None) -> Iterator[tuple[int, list[Any]]]:
    """(row number, cell values) of a CSV/TSV or XLSX sheet; a CSV's encoding note goes to ``warnings``.

    Rows, columns and cells are checked against ``limits`` as they come (a refusal names the row and
    the column, by its header label once the caller has put it in ``labels``: column index → label).
    """
    suffix = path.suffix.lower()
    if suffix == ".csv" or suffix == ".tsv":
        rows = _csv_rows(path, warnings, limits)
    elif suffix in (".xlsx", ".xlsm"):
        rows = _xlsx_rows(path, sheet, limits)
    else:
        raise SourceError(str(path), f"unknown sheet format {suffix!r}; use .csv or .xlsx")
    return _bounded_rows(str(path), rows, limits, {} if labels is None else labels)


def _column_name(index: int, labels: dict[int, str]) -> str:
    from openpyxl.utils.cell import get_column_letter

    label = labels.get(index)
    return f"field {shorten(label, 40)}" if label else f"column {get_column_letter(min(index + 1, 18278))}"


def _bounded_rows(path: str, rows: Iterator[tuple[int, list[Any]]], limits: InputLimits,
                  labels: dict[int, str]) -> Iterator[tuple[int, list[Any]]]:
    """The rows, each checked: its number, its width, each text cell's length and characters."""
    try:
        for row_number, values in rows:
            if row_number > limits.rows:
                raise limits.refuse(f"{path} row {row_number:,}", "rows", f"a sheet of more than {limits.rows:,} rows")
            while values and values[-1] in (None, ""):  # trailing empty cells (a row of commas) are no columns
                values.pop()
            if len(values) > limits.columns:
                raise limits.refuse(f"{path} row {row_number:,}", "columns", f"a row of {len(values):,} columns")
            for index, value in enumerate(values):
                # The place is spelled only for a cell that is refused (not 8 strings per row).
                if isinstance(value, str) and (len(value) > limits.cell_chars or FORBIDDEN_CHARS.search(value)):
                    check_cell(value, f"{path} row {row_number:,}, {_column_name(index, labels)}", limits)
            yield row_number, values
    except SourceError as e:
        if e.path.startswith("row "):  # from _csv_records, which does not know the file
            raise SourceError(f"{path} {e.path}", e.reason) from None
        raise


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


_SECTION_ROW = re.compile(r"^[一二三四五六七八九十]+[、.．]|^[(（][一二三四五六七八九十]+[)）]")


def load_task_sheet(path: Path, *, sheet: str | None = None, limits: InputLimits = DEFAULT_LIMITS) -> Source:
    """Read a CSV/XLSX responsibility matrix: one row per task, section rows allowed in between."""
    if not path.exists():
        raise SourceError(str(path), "no such file")
    warnings: list[str] = []
    labels: dict[int, str] = {}
    rows = sheet_rows(path, sheet=sheet, warnings=warnings, limits=limits, labels=labels)
    records, unknown, facts = _rows_to_records(str(path), rows, _TASK_INDEX, ("lead_unit",), labels)
    tasks: list[Record] = []
    section: list[str] = []
    for rec in records:
        # A row with a heading such as "(二)項目安排精準" and no unit is a section row.
        heading = rec.get("title") or rec.get("code")
        if "lead_unit" not in rec.cells and len(rec.cells) <= 2 and isinstance(heading, str) and _SECTION_ROW.match(heading):
            level = 0 if re.match(r"^[一二三四五六七八九十]+[、.．]", heading) else 1
            section = section[:level] + [heading]
            continue
        if section and "section" not in rec.cells:
            rec.cells["section"] = Cell(list(section), rec.line)
        tasks.append(rec)
    if not tasks:
        raise SourceError(str(path), "the sheet has a header but no task rows")
    header = Record(line=None, cells={k: Cell(v, None) for k, v in facts.items()})
    src = Source(path=str(path), kind="row", header=header, tasks=tasks, warnings=warnings)
    if unknown:
        src.extra["unknown_columns"] = Record(line=1, cells={"labels": Cell(unknown, 1)})
    return src


def load_directory_sheet(path: Path, limits: InputLimits = DEFAULT_LIMITS) -> Source:
    warnings: list[str] = []
    labels: dict[int, str] = {}
    rows = sheet_rows(path, warnings=warnings, limits=limits, labels=labels)
    records, _unknown, _facts = _rows_to_records(str(path), rows, _DIRECTORY_INDEX, ("name",), labels)
    return Source(path=str(path), kind="row", header=Record(line=None), units=records, warnings=warnings)
