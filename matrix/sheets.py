"""Reading sheets (CSV/TSV and XLSX) into located records: task sheets and unit directory sheets.

``sheet_rows`` gives a sheet's rows, each checked against the input limits as it comes (a refused cell
is named by its row and its column's header); the XLSX path streams the sheet and fills merged ranges
down from their top-left cell (a merge across most of the table is a heading, kept in its first cell).
The header row is found by ``duban.matrix.columns.find_header`` with the layout's vocabulary
(``TASK_SHEET``, ``DIRECTORY_SHEET``); each data row becomes a ``Record``. ``load_task_sheet`` reads a
workbook's every sheet with a task header as one plan, with the headings between tasks, their codes
and the rows above the header as ``duban.matrix.sheet_layout`` reads them.
"""

from __future__ import annotations

import collections
import csv
import io
import itertools
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from duban.matrix.columns import (
    DIRECTORY_SHEET,
    RESPONSIBLE_UNITS,
    TASK_SHEET,
    HeaderMatch,
    Vocabulary,
    column_index,
    column_letter,
    find_header,
)
from duban.matrix.errors import LimitExceeded, SourceError, shorten
from duban.matrix.limits import DEFAULT_LIMITS, SETTINGS, InputLimits
from duban.matrix.plan_facts import apply_plan_facts, read_plan_facts
from duban.matrix.script import fold
from duban.matrix.sheet_layout import (
    Sections,
    assign_codes,
    date_cell,
    heading_kind,
    heading_of,
    preamble_facts,
    text_of,
)
from duban.matrix.sources import (
    FORBIDDEN_CHARS,
    Cell,
    Record,
    Source,
    _error_text,
    check_archive,
    check_cell,
    decode_text,
    read_input,
)


def _rows_to_records(
    path: str, rows: Iterator[tuple[int, list[Any]]], vocabulary: Vocabulary, labels: dict[int, str] | None = None,
) -> tuple[list[Record], list[str], dict[str, Any]]:
    """Find the header row among the first rows, then make one record per data row.

    Returns the records, the header labels that were not understood, and facts from above the
    header (a title row becomes ``title``). The header's labels are put in ``labels`` (column index
    → label) as soon as it is found, so that ``sheet_rows`` names a refused cell by its column.
    """
    rows = iter(rows)
    match = find_header(rows, vocabulary)
    if match is None:
        raise vocabulary.no_header(path)
    if labels is not None:
        labels.update(match.labels)
    records: list[Record] = []
    for row_number, values in rows:
        cells = {name: Cell(value, row_number) for name, value in match.values(values).items()}
        if cells:
            records.append(Record(line=row_number, cells=cells))
    preamble = [texts[0] for texts in ([str(v).strip() for v in values if v not in (None, "")]
                                       for _number, values in match.above) if texts]
    facts = {"title": preamble[0]} if preamble else {}
    return records, match.unknown_labels, facts


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
    return None if None in bounds else bounds


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


@dataclass(slots=True)
class SheetTable:
    """One worksheet as read: its name (None for a CSV), its rows, and the rows a merge across most of
    the table's width covers (a category row such as 一、基礎設施 merged over A4:H4)."""

    name: str | None
    rows: Iterator[tuple[int, list[Any]]]
    wide: set[int] = field(default_factory=set)
    labels: dict[int, str] = field(default_factory=dict)  # column index → header label, once found
    hidden: bool = False  # a sheet the workbook hides (an old version kept aside): not read unless named
    copies: set[tuple[int, int]] = field(default_factory=set)  # (row, column), 1-based: filled from a merge above
    formulas: list[str] = field(default_factory=list)  # cells (A3 …) holding a formula without a saved value


def _xlsx_rows(path: Path, sheet: str | None, limits: InputLimits) -> Iterator[tuple[int, list[Any]]]:
    yield from _xlsx_sheets(path, sheet, limits, every=False)[0].rows


def _xlsx_sheets(path: Path, sheet: str | None, limits: InputLimits, *, every: bool) -> list[SheetTable]:
    """The named sheet, else every worksheet (``every``) or the first, each read at once."""
    import openpyxl  # imported here: only the sheet path pays for it

    where = str(path)
    data = read_input(path, limits)
    archive = check_archive(data, where=where, kind=".xlsx workbook", limits=limits)
    with archive:
        _check_sheet_extent(archive, where, limits)
    try:
        # Read-only: the workbook's parts are read, not its sheets; each sheet is streamed below
        # (a full load builds a Cell object per cell, a third of the time of a 20,000-row sheet).
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as e:  # noqa: BLE001 - zlib.error, KeyError, XML and value errors …: the file is not readable
        raise SourceError(where, f"not a readable .xlsx workbook ({_error_text(e)})") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise SourceError(where, f"no sheet named {shorten(sheet)!r}; sheets are {book.sheetnames}")
        chosen = [book[sheet]] if sheet else (book.worksheets if every else book.worksheets[:1])
        if not chosen:
            raise SourceError(where, "the workbook has no worksheet")
        hidden = {str(ws.title) for ws in chosen if not sheet and getattr(ws, "sheet_state", "visible") != "visible"}
        formulas: dict[str, list[str]] = {str(ws.title): [] for ws in chosen}
        read = [(str(ws.title), *(_sheet_values(ws, book, where, limits, formulas[str(ws.title)])
                                  if ws.title not in hidden else ({}, [])))
                for ws in chosen]
    except SourceError:
        raise
    except Exception as e:  # noqa: BLE001 - a damaged sheet: XML, value and key errors …
        raise SourceError(where, f"not a readable .xlsx workbook ({_error_text(e)})") from None
    finally:
        book.close()
    tables = [_filled(name, by_row, merged, limits) for name, by_row, merged in read]
    for table in tables:
        table.hidden = table.name in hidden
        table.formulas = formulas.get(str(table.name), [])
    return tables


def _filled(name: str, by_row: dict[int, dict[int, Any]], merged: list[str], limits: InputLimits) -> SheetTable:
    """The sheet's rows with its merged cells filled from their top-left cell, as the sheet shows them
    (one 牽頭領導 for three rows holds for all three); read-only openpyxl does not, so it is done here
    from the sheet's mergeCell ranges (already checked against the limits by _check_sheet_extent).

    A merge across most of the table's width (at least 3 columns and more than half of them) is a
    heading, not a value of every column it spans: it is kept in its first cell only, and its rows
    are reported as ``wide``."""
    # The table's width: the last column most rows reach (a stray note far to the right does not widen it).
    widths = collections.Counter(max(row) for row in by_row.values() if len(row) > 1)
    width = widths.most_common(1)[0][0] if widths else 0
    wide: set[int] = set()
    copies: set[tuple[int, int]] = set()
    for ref in merged:
        bounds = _cell_range(ref.encode("ascii", "replace"))
        if bounds is None:
            continue
        min_col, min_row, max_col, max_row = bounds
        value = by_row.get(min_row, {}).get(min_col)
        if value is None:
            continue
        span = max_col - min_col + 1
        if span >= 3 and 2 * span > width:
            wide.update(range(min_row, min(max_row, limits.rows) + 1))
            continue
        for r in range(min_row, min(max_row, limits.rows) + 1):
            row = by_row.setdefault(r, {})
            for c in range(min_col, min(max_col, limits.columns) + 1):
                row[c] = value
            if r > min_row:
                copies.add((r, min_col))
    return SheetTable(name, _by_row(by_row), wide, copies=copies)


def _by_row(by_row: dict[int, dict[int, Any]]) -> Iterator[tuple[int, list[Any]]]:
    last = max(by_row, default=0)
    for r in range(1, last + 1):
        held = by_row.get(r)
        yield r, ([held.get(c) for c in range(1, max(held) + 1)] if held else [])


def _sheet_values(ws: Any, book: Any, where: str, limits: InputLimits,
                  formulas: list[str]) -> tuple[dict[int, dict[int, Any]], list[str]]:
    """The values of a read-only worksheet by row and column, and its merged ranges (A1:B3 …).

    Streams the sheet's XML once with openpyxl's own parser (values, dates as dates), visiting only
    the cells the sheet holds, never the rectangle up to its last cell: a lone value at XFD1048576
    would make that 17 billion cells. A value beyond the limits is refused; empty cells are ignored. A
    formula whose value was never saved (a workbook written by a program, never opened in Excel) is
    put in ``formulas`` (A3 …): it reads as empty."""
    from openpyxl.utils.cell import coordinate_to_tuple, get_column_letter
    from openpyxl.worksheet._reader import INLINE_STRING, WorkSheetParser

    text_tag = INLINE_STRING.replace("}is", "}t")
    run_tag = INLINE_STRING.replace("}is", "}r")
    formula_tag = INLINE_STRING.replace("}is", "}f")

    class _Parser(WorkSheetParser):  # type: ignore[misc]  # openpyxl has no type information
        def parse_cell(self, element: Any) -> dict[str, Any]:
            # An inline string (what openpyxl and duban write) read as its text and runs, without
            # building openpyxl's rich-text objects for it; any other cell as openpyxl reads it.
            if element.get("t") != "inlineStr":
                cell: dict[str, Any] = super().parse_cell(element)
                if cell["value"] is None and element.find(formula_tag) is not None and len(formulas) < 1000:
                    formulas.append(f"{get_column_letter(cell['column'])}{cell['row']}")
                return cell
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


# The sheet of plan facts duban writes beside the tasks (issuer, dates, stages …): never a task sheet.
PLAN_FACTS_SHEETS = ("方案信息", "方案資訊")

# A task row, its sections, their numbers, its place among the rows one merged 序號 spans (0: none), and
# how many of its sections are heading rows (the rest are its 類別 cell's).
_Placed = tuple[Record, list[str], tuple[int, ...], int, int]


def task_sheets(path: Path, *, sheet: str | None, warnings: list[str], limits: InputLimits) -> list[SheetTable]:
    """Every sheet of a workbook (only ``sheet`` when named), or a CSV's one, its rows checked as they come."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        tables = [SheetTable(None, _csv_rows(path, warnings, limits))]
    elif suffix in (".xlsx", ".xlsm"):
        tables = _xlsx_sheets(path, sheet, limits, every=True)
    else:
        raise SourceError(str(path), f"unknown sheet format {suffix!r}; use .csv or .xlsx")
    for table in tables:
        table.rows = _bounded_rows(str(path), table.rows, limits, table.labels)
    return tables


def load_task_sheet(path: Path, *, sheet: str | None = None, limits: InputLimits = DEFAULT_LIMITS) -> Source:
    """Read a CSV/XLSX responsibility matrix: one row per task, headings in between, one plan across
    every sheet with a task header (a sheet's name is then its tasks' outermost section)."""
    if not path.exists():
        raise SourceError(str(path), "no such file")
    warnings: list[str] = []
    tables = task_sheets(path, sheet=sheet, warnings=warnings, limits=limits)
    read: list[tuple[str | None, list[_Placed]]] = []
    facts: dict[str, Any] = {}
    plan_facts: list[tuple[int, list[Any]]] | None = None
    for table in tables:
        if sheet is None and table.name in PLAN_FACTS_SHEETS:
            plan_facts = list(table.rows)  # read by duban.matrix.plan_facts below
            continue
        if table.hidden:
            warnings.append(f"{path}: sheet 「{table.name}」 is hidden, skipped (name it with --sheet to read it)")
            continue
        if table.formulas:
            _formula_warning(path if len(tables) == 1 else f"{path} sheet 「{table.name}」", table.formulas, warnings)
        found = _task_table(str(path), table, warnings)
        if isinstance(found, dict):  # no task header: a cover sheet's title, issuer and date
            if len(tables) == 1:
                no_header = TASK_SHEET.no_header(str(path), _SCAN_ROWS)
                raise SourceError(no_header.path, f"{no_header.reason}; if the tasks are on another sheet, name it "
                                                  "with --sheet")
            warnings.append(f"{path}: sheet 「{table.name}」 has no task header (序號, 任務, 牽頭單位 …), skipped")
            if not read:
                facts = _cover_facts(found) | facts
            continue
        read.append((table.name, found[0]))
        facts = _with_cover(facts, found[1], first=not read[:-1])  # the first sheet's title row wins
    if not read:
        raise SourceError(str(path), "no sheet has a task header row; expected columns such as " + TASK_SHEET.expected)
    tasks, derived = _sheet_codes(read)
    if len(read) > 1:  # a problem then names its row's sheet: county.xlsx [任務分解表] row 5
        for name, placed in read:
            for rec, *_rest in placed:
                rec.sheet = name
    if derived:
        warnings.append(f"{path}: {derived} task{'s' if derived != 1 else ''} without 序號 numbered by their place "
                        "under their headings (the second task under 二、 is 2.2)")
    if not tasks:
        raise SourceError(str(path), "the sheet has a header but no task rows")
    header = Record(line=None, cells={k: Cell(v, None) for k, v in facts.items()})
    src = Source(path=str(path), kind="row", header=header, tasks=tasks, warnings=warnings)
    read_facts = read_plan_facts(str(path), plan_facts) if plan_facts is not None else None
    if read_facts is not None:  # duban's own 方案信息 (else another layout of that name: left alone)
        apply_plan_facts(src, *read_facts)
    return src


_SCAN_ROWS = 50  # a covering notice pasted above the table: its header is looked for this far down
_PLAN_TITLE = re.compile(r"表|方案|計劃|计划|清單|清单|要點|要点")
_YEAR = re.compile(r"\d{4}")


def _with_cover(facts: dict[str, Any], sheet: dict[str, Any], *, first: bool) -> dict[str, Any]:
    """The facts so far (a cover sheet's, an earlier task sheet's) over a task sheet's; the first task
    sheet's own title wins over a cover's when it reads as a plan's (it names a year), not a caption."""
    out = sheet | facts
    if first and _YEAR.search(sheet.get("title", "")):
        out["title"] = sheet["title"]
    return out


def _cover_facts(found: dict[str, Any]) -> dict[str, Any]:
    """A cover sheet's facts; its first text is the plan's title only when it reads as one (not 填表說明：…)."""
    title = found.get("title", "")
    if not _PLAN_TITLE.search(title) or ":" in fold(title):
        found = {k: v for k, v in found.items() if k != "title"}
    return found


def _formula_warning(where: Path | str, cells: list[str], warnings: list[str]) -> None:
    shown = ", ".join(cells[:8]) + (f" … ({len(cells)} cells)" if len(cells) > 8 else "")
    warnings.append(f"{where}: cells {shown} hold formulas without saved values (written by a program, never "
                    "opened in Excel): they read as empty; open and save it in Excel/WPS first")


def _recorded(rows: Iterator[tuple[int, list[Any]]], seen: list[list[Any]]) -> Iterator[tuple[int, list[Any]]]:
    for number, values in rows:
        seen.append(values)
        yield number, values


def _task_table(path: str, table: SheetTable, warnings: list[str]) -> tuple[list[_Placed], dict[str, Any]] | dict[str, Any]:
    """A sheet's task rows with their headings, and the facts above its header; without a header, the
    facts its rows hold (a cover sheet's title, issuer, date)."""
    seen: list[list[Any]] = []
    rows = _recorded(iter(table.rows), seen)
    match = find_header(rows, TASK_SHEET, _SCAN_ROWS)
    if match is None:
        return preamble_facts(seen)[0]
    table.labels.update(match.labels)  # before the next row is read: a refused cell is named by its column
    match, rows = _header_rows(match, rows)
    table.labels.update(match.labels)
    _column_warnings(path if table.name is None else f"{path} sheet 「{table.name}」", match, warnings)
    facts, above = preamble_facts(values for _number, values in match.above)
    lead = next((i for i, f in match.fields.items() if f == "lead_unit"), None)
    # 列第一位的為牽頭單位，其他為配合單位: a 責任單位 column that leads names one lead and its supporters.
    lead_first = lead is not None and fold(match.labels.get(lead, "")).startswith(fold(RESPONSIBLE_UNITS[0])[:2])
    columns = _columns_shown(match)
    sections = Sections()
    placed: list[_Placed] = []
    for number, values in rows:
        cells = match.values(values)
        if not cells or (lead is not None and _is_header_word(values, lead, match.labels[lead])):
            continue  # an empty row, or the header repeated on a printed page
        if "deadline" in cells:
            cells["deadline"] = date_cell(cells["deadline"])
        rec = Record(line=number, cells={name: Cell(value, number) for name, value in cells.items()},
                     lead_first=lead_first, columns=columns)
        heading = heading_of(rec, wide=number in table.wide)
        if heading is not None:
            if (heading,) not in above:  # the title row repeated on a printed page is no heading
                sections.enter(heading)
            continue
        names, numbers = sections.of_task(text_of(rec.get("section")))
        placed.append((rec, names, numbers, 0, sections.depth))
    return _merged_code_parts(placed, table, match), facts


def _columns_shown(match: HeaderMatch) -> dict[str, str]:
    """Each field's column as the sheet shows it, letter and header: lead_unit → "C 牽頭單位" (a field two
    columns fill, such as 配合單位 beside 責任單位, names both)."""
    shown: dict[str, list[str]] = {}
    for index, name in sorted(match.fields.items()):
        shown.setdefault(name, []).append(f"{column_letter(index)} {shorten(match.labels.get(index, ''), 40)}".strip())
    return {name: "、".join(places) for name, places in shown.items()}


def _merged_code_parts(placed: list[_Placed], table: SheetTable, match: HeaderMatch) -> list[_Placed]:
    """Number the rows one 序號 merged down spans (a task whose measures, units and deadlines take a
    row each): each is a task of its own, 1, 2 … after that 序號, not a duplicate of it."""
    column = next((i + 1 for i, name in match.fields.items() if name == "code"), None)
    if column is None or not table.copies:
        return placed
    out: list[_Placed] = []
    start = 0
    for rec, names, numbers, _part, depth in placed:
        if rec.line is not None and (rec.line, column) in table.copies and out:
            if start == len(out) - 1:  # the merge's first row becomes part 1
                first = out[start]
                out[start] = (first[0], first[1], first[2], 1, first[4])
            out.append((rec, names, numbers, len(out) - start + 1, depth))
        else:
            start = len(out)
            out.append((rec, names, numbers, 0, depth))
    return out


# The words a repeated header has in the lead unit's column (looked up as written: one set lookup a row).
_UNIT_HEADER_WORDS = frozenset(word.lower() for column in TASK_SHEET.columns
                               if column.field in ("lead_unit", "supporting_units") for word in column.headers)


def _is_header_word(values: list[Any], index: int, label: str) -> bool:
    value = values[index] if index < len(values) else None
    return isinstance(value, str) and (value == label or value.strip().lower() in _UNIT_HEADER_WORDS)


_RESPONSIBLE = frozenset(fold(word) for word in RESPONSIBLE_UNITS)


def _header_rows(match: HeaderMatch, rows: Iterator[tuple[int, list[Any]]]) -> tuple[HeaderMatch, Iterator[tuple[int, list[Any]]]]:
    """The header as read from one row or two: 責任單位 over 牽頭單位 | 配合單位 on the row below is a
    two-row header, whose lower row names the columns it spans. 責任單位 beside another lead column
    names the supporting units."""
    first = next(rows, None)
    if first is not None:
        number, values = first
        below = {i: TASK_SHEET.field_of(v) for i, v in enumerate(values) if v not in (None, "")}
        if TASK_SHEET.is_header(list(below.values())):
            for i, name in below.items():
                if name:
                    match.fields[i] = name
                    match.labels[i] = str(values[i]).strip()
            match.unknown = [u for u in match.unknown if column_index(u.letter) not in match.fields]
        elif not _group_labels(match, values):
            rows = itertools.chain([first], rows)
    leads = [i for i, name in match.fields.items() if name == "lead_unit"]
    if len(leads) > 1:
        for i in leads:
            if fold(match.labels.get(i, "")) in _RESPONSIBLE:
                match.fields[i] = "supporting_units"
    for i in [i for i, name in match.fields.items() if name == "returns"]:
        del match.fields[i]  # the returns' column (完成情況): known, not stored
    return match, rows


# The short labels under a 責任單位 group: 牽頭 | 配合.
_GROUP_SHORT = {fold(word): name for name, words in (("lead_unit", ("牽頭", "主責", "牽頭單位")),
                                                     ("supporting_units", ("配合", "協辦", "參與", "配合單位")))
                for word in words}


def _group_labels(match: HeaderMatch, values: list[Any]) -> bool:
    """Read the row below the header as short labels under a 責任單位 group merged across (牽頭 | 配合):
    True (and the columns renamed) when every label in it is one, under such a group."""
    cells = {i: fold(str(v)) for i, v in enumerate(values)  # a header cell merged down is no label below it
             if v not in (None, "") and str(v).strip() != match.labels.get(i)}
    if not cells or any(_GROUP_SHORT.get(word) is None or fold(match.labels.get(i, "")) not in _RESPONSIBLE
                        for i, word in cells.items()):
        return False
    for i, word in cells.items():
        match.fields[i] = _GROUP_SHORT[word]
        match.labels[i] = str(values[i]).strip()
    return True


def _column_warnings(where: str, match: HeaderMatch, warnings: list[str]) -> None:
    """Each column not understood, by its letter, and a title taken from another column, said at once."""
    for unknown in match.unknown:
        warnings.append(f"{where}: column {unknown.letter} 「{shorten(unknown.label, 40)}」 not understood, ignored")
    named = set(match.fields.values())
    if "title" not in named and "target" in named:
        label = next(match.labels[i] for i, name in match.fields.items() if name == "target")
        warnings.append(f"{where}: no task column (任務, 重點任務 …): each task's title is the start of its 「{label}」")


_DEFAULT_SHEET_NAME = re.compile(r"^(?:sheet|工作表)\s*\d*$", re.I)


def _sheet_codes(read: list[tuple[str | None, list[_Placed]]]) -> tuple[list[Record], int]:
    """The tasks of every sheet with their sections and codes set, and how many codes were derived.

    With several task sheets, a sheet's name (unless Excel's own: Sheet1, 工作表1) is its tasks'
    outermost heading; codes are made per sheet, and only when two sheets' codes meet does each
    sheet's number (一、 in its name, else its place) go in front of its codes."""
    several = len(read) > 1
    derived = 0
    by_sheet: list[tuple[int, list[Record]]] = []
    for place, (name, placed) in enumerate(read, 1):
        top = [name] if several and name and not _DEFAULT_SHEET_NAME.match(name) else []
        for rec, names, *_rest in placed:
            if top or names:
                rec.cells["section"] = Cell(top + names, rec.line)
        derived += assign_codes([(p[0], p[2]) for p in placed], [p[3] for p in placed], [p[4] for p in placed])
        by_sheet.append((heading_kind(name)[1] or place if name else place, [p[0] for p in placed]))
    codes = [{text_of(rec.get("code")) for rec in recs} for _number, recs in by_sheet] if several else []
    if several and len(set().union(*codes)) < sum(len(c) for c in codes):
        for number, recs in by_sheet:
            for rec in recs:
                rec.cells["code"] = Cell(f"{number}.{text_of(rec.get('code'))}", rec.line_of("code"))
    return [rec for _number, recs in by_sheet for rec in recs], derived


def load_directory_sheet(path: Path, limits: InputLimits = DEFAULT_LIMITS) -> Source:
    warnings: list[str] = []
    labels: dict[int, str] = {}
    rows = sheet_rows(path, warnings=warnings, limits=limits, labels=labels)
    records, _unknown, _facts = _rows_to_records(str(path), rows, DIRECTORY_SHEET, labels)
    return Source(path=str(path), kind="row", header=Record(line=None), units=records, warnings=warnings)
