"""Reading sheets (CSV/TSV and XLSX) into located records: task sheets and unit directory sheets.

``sheet_rows`` gives a sheet's rows, each checked against the input limits as it comes (a refused cell
is named by its row and its column's header); the XLSX path streams the sheet and fills merged ranges
down from their top-left cell. The header row is found by ``duban.matrix.columns.find_header`` with
the layout's vocabulary (``TASK_SHEET``, ``DIRECTORY_SHEET``); each data row becomes a ``Record``.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from duban.matrix.columns import DIRECTORY_SHEET, TASK_SHEET, Vocabulary, find_header
from duban.matrix.errors import LimitExceeded, SourceError, shorten
from duban.matrix.limits import DEFAULT_LIMITS, SETTINGS, InputLimits
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
        held = by_row.get(r)
        yield r, ([held.get(c) for c in range(1, max(held) + 1)] if held else [])


def _sheet_values(ws: Any, book: Any, where: str, limits: InputLimits) -> tuple[dict[int, dict[int, Any]], list[str]]:
    """The values of a read-only worksheet by row and column, and its merged ranges (A1:B3 …).

    Streams the sheet's XML once with openpyxl's own parser (values, dates as dates), visiting only
    the cells the sheet holds, never the rectangle up to its last cell: a lone value at XFD1048576
    would make that 17 billion cells. A value beyond the limits is refused; empty cells are ignored."""
    from openpyxl.utils.cell import coordinate_to_tuple, get_column_letter
    from openpyxl.worksheet._reader import INLINE_STRING, WorkSheetParser

    text_tag = INLINE_STRING.replace("}is", "}t")
    run_tag = INLINE_STRING.replace("}is", "}r")

    class _Parser(WorkSheetParser):  # type: ignore[misc]  # openpyxl has no type information
        def parse_cell(self, element: Any) -> dict[str, Any]:
            # An inline string (what openpyxl and duban write) read as its text and runs, without
            # building openpyxl's rich-text objects for it; any other cell as openpyxl reads it.
            if element.get("t") != "inlineStr":
                cell: dict[str, Any] = super().parse_cell(element)
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


_SECTION_ROW = re.compile(r"^[一二三四五六七八九十]+[、.．]|^[(（][一二三四五六七八九十]+[)）]")


def load_task_sheet(path: Path, *, sheet: str | None = None, limits: InputLimits = DEFAULT_LIMITS) -> Source:
    """Read a CSV/XLSX responsibility matrix: one row per task, section rows allowed in between."""
    if not path.exists():
        raise SourceError(str(path), "no such file")
    warnings: list[str] = []
    labels: dict[int, str] = {}
    rows = sheet_rows(path, sheet=sheet, warnings=warnings, limits=limits, labels=labels)
    records, unknown, facts = _rows_to_records(str(path), rows, TASK_SHEET, labels)
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
    records, _unknown, _facts = _rows_to_records(str(path), rows, DIRECTORY_SHEET, labels)
    return Source(path=str(path), kind="row", header=Record(line=None), units=records, warnings=warnings)
