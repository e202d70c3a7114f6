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
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from functools import lru_cache
from typing import Any, Iterable, Iterator, NamedTuple

import yaml

from matrix.errors import ConfigError, SourceError, quote, shorten
from matrix.script import fold


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


def decode_bytes(data: bytes, *, where: str) -> DecodedText:
    """Decode a text file's bytes as UTF-8, GB18030/GBK or Big5, whichever reads as a Chinese text.

    UTF-8 (BOM allowed) is taken when the bytes are valid UTF-8. Otherwise each of GB18030 and Big5
    that decodes without error is scored by how many unusual characters its text has
    (``_unusual``); the fewest wins. Big5 bytes also decode as GB18030, into kana, Cyrillic,
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
        unusual = sum(1 for char in text if _unusual(char))
        non_ascii = sum(1 for char in text if ord(char) >= 0x80)
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


def decode_text(path: Path) -> DecodedText:
    """Read a text file and decode it (``decode_bytes``); SourceError if missing, empty or undecodable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SourceError(str(path), "no such file") from None
    except IsADirectoryError:
        raise SourceError(str(path), "is a folder, not a file") from None
    if not data.strip():
        raise SourceError(str(path), "the file is empty")
    return decode_bytes(data, where=str(path))


def read_text(path: Path) -> str:
    """The text of a file in UTF-8 (BOM allowed), GB18030/GBK or Big5; see ``decode_text``."""
    return decode_text(path).text


# --------------------------------------------------------------------------------------------
# YAML with line numbers


class _Located(dict):
    """A mapping that remembers the line of each key's value."""

    __slots__ = ("line", "lines")


def _build(events: Iterator[yaml.Event], path: str) -> Any:
    """Build Python values straight from parser events, mappings carrying their lines.

    Working from events (not composed nodes) skips PyYAML's node objects and type resolver, which
    makes reading a 20,000-task plan much cheaper. Scalars stay text (no implicit typing): a code
    written 3.10 stays "3.10", not the float 3.1; numbers, dates and flags are converted where read.
    """
    root: Any = None
    documents = 0
    stack: list[list[Any]] = []  # [container, key waiting for its value (maps) or None]
    anchors: dict[str, Any] = {}

    def add(value: Any, line: int) -> None:
        nonlocal root
        if not stack:
            root = value
            return
        frame = stack[-1]
        container = frame[0]
        if isinstance(container, list):
            container.append(value)
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

    for event in events:
        kind = type(event)
        line = event.start_mark.line + 1
        if kind is yaml.ScalarEvent:
            value = None if event.style in (None, "") and event.value in _NULLS else event.value
            if event.anchor:
                anchors[event.anchor] = value
            add(value, line)
        elif kind is yaml.MappingStartEvent:
            mapping = _Located()
            mapping.line = line
            mapping.lines = {}
            if event.anchor:
                anchors[event.anchor] = mapping
            add(mapping, line)
            stack.append([mapping, None])
        elif kind is yaml.SequenceStartEvent:
            seq: list[Any] = []
            if event.anchor:
                anchors[event.anchor] = seq
            add(seq, line)
            stack.append([seq, None])
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            stack.pop()
        elif kind is yaml.AliasEvent:
            if event.anchor not in anchors:
                raise SourceError(f"{path}:{line}", f"unknown alias *{event.anchor}")
            add(anchors[event.anchor], line)
        elif kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise SourceError(f"{path}:{line}", "more than one YAML document in the file")
    return root


_NULLS = frozenset(("", "~", "null", "Null", "NULL"))


def load_yaml(path: Path, *, warnings: list[str] | None = None) -> Any:
    """Parse a YAML file; mappings come back as dicts with ``.line`` and ``.lines``.

    When the file is not UTF-8, a line saying which encoding was used is added to ``warnings``.
    """
    decoded = decode_text(path)
    if warnings is not None and decoded.warning:
        warnings.append(decoded.warning)
    text = decoded.text
    loader_cls = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
    try:
        root = _build(yaml.parse(text, Loader=loader_cls), str(path))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise SourceError(where, f"not valid YAML: {e.problem or e}") from None
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
        except SourceError as e:
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
    path: str, rows: Iterator[tuple[int, list[Any]]], columns: dict[str, str], required: tuple[str, ...]
) -> tuple[list[Record], list[str], dict[str, Any]]:
    """Find the header row among the first rows, then make one record per data row.

    Returns the records, the header labels that were not understood, and facts from above the
    header (a title row becomes ``title``).
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


def _csv_rows(path: Path, warnings: list[str] | None) -> Iterator[tuple[int, list[Any]]]:
    decoded = decode_text(path)  # now, not on the first row: the caller's warnings are complete at once
    if warnings is not None and decoded.warning:
        warnings.append(decoded.warning)
    return _csv_records(decoded.text)


def _csv_records(text: str) -> Iterator[tuple[int, list[Any]]]:
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;，")
    except csv.Error:
        dialect = csv.excel
    for i, row in enumerate(csv.reader(io.StringIO(text), dialect), start=1):
        yield i, row


def _xlsx_rows(path: Path, sheet: str | None) -> Iterator[tuple[int, list[Any]]]:
    import openpyxl  # imported here: only the sheet path pays for it
    from openpyxl.utils.exceptions import InvalidFileException
    import zipfile

    try:
        # Not read-only: merged cells (a lead official spanning several rows) must be filled down.
        book = openpyxl.load_workbook(path, data_only=True)
    except FileNotFoundError:
        raise SourceError(str(path), "no such file") from None
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as e:
        raise SourceError(str(path), f"not a readable .xlsx workbook ({e})") from None
    if sheet is not None and sheet not in book.sheetnames:
        raise SourceError(str(path), f"no sheet named {sheet!r}; sheets are {book.sheetnames}")
    ws = book[sheet] if sheet else book.worksheets[0]
    fill: dict[tuple[int, int], Any] = {}
    for merged in ws.merged_cells.ranges:
        top_left = ws.cell(merged.min_row, merged.min_col).value
        for r in range(merged.min_row, merged.max_row + 1):
            for c in range(merged.min_col, merged.max_col + 1):
                fill[(r, c)] = top_left
    for r, row in enumerate(ws.iter_rows(values_only=True), start=1):
        values = list(row)
        if fill:
            for c in range(len(values)):
                if (r, c + 1) in fill:
                    values[c] = fill[(r, c + 1)]
        yield r, values
    book.close()


def sheet_rows(path: Path, *, sheet: str | None = None, warnings: list[str] | None = None) -> Iterator[tuple[int, list[Any]]]:
    """(row number, cell values) of a CSV/TSV or XLSX sheet; a CSV's encoding note goes to ``warnings``."""
    suffix = path.suffix.lower()
    if suffix == ".csv" or suffix == ".tsv":
        return _csv_rows(path, warnings)
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_rows(path, sheet)
    raise SourceError(str(path), f"unknown sheet format {suffix!r}; use .csv or .xlsx")


_SECTION_ROW = re.compile(r"^[一二三四五六七八九十]+[、.．]|^[(（][一二三四五六七八九十]+[)）]")


def load_task_sheet(path: Path, *, sheet: str | None = None) -> Source:
    """Read a CSV/XLSX responsibility matrix: one row per task, section rows allowed in between."""
    if not path.exists():
        raise SourceError(str(path), "no such file")
    warnings: list[str] = []
    records, unknown, facts = _rows_to_records(str(path), sheet_rows(path, sheet=sheet, warnings=warnings), _TASK_INDEX, ("lead_unit",))
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


def load_directory_sheet(path: Path) -> Source:
    warnings: list[str] = []
    records, _unknown, _facts = _rows_to_records(str(path), sheet_rows(path, warnings=warnings), _DIRECTORY_INDEX, ("name",))
    return Source(path=str(path), kind="row", header=Record(line=None), units=records, warnings=warnings)
