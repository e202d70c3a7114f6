"""Matrix tables inside a document (.docx tables, tables pasted into text) turned into heading and field lines.

The header row is found with ``DOCUMENT_MATRIX``: the ``DOCUMENT_TABLE`` layout of ``duban.matrix.columns``
and a 類別 column. A row is a list of cells; a cell is its text (a cell's paragraphs separated by
``\\n``) or None where the cell to its left spans this column (Word's gridSpan, or a row pasted with
fewer cells than the header).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from duban.matrix.columns import DOCUMENT_TABLE, Column, Vocabulary, find_header

DOCUMENT_MATRIX = Vocabulary(
    kind=DOCUMENT_TABLE.kind,
    columns=(*DOCUMENT_TABLE.columns, Column("category", ("類別", "任務類別", "分類", "類型", "領域"))),
    one_of=DOCUMENT_TABLE.one_of,
    min_known=DOCUMENT_TABLE.min_known,
    scan_rows=DOCUMENT_TABLE.scan_rows,
)
# The label each column is written back as (read again by the text parser): its first header word.
_COLUMN_AS_LABEL = {c.field: c.written for c in DOCUMENT_MATRIX.columns}
_FIELD_ORDER = ("target", "lead_officials", "lead_unit", "responsible", "supporting_units", "deadline")
_TASK_VALUES = ("lead_unit", "responsible", "deadline", "lead_officials")

Row = list[str | None]


def _table_lines(rows: list[Row]) -> list[str]:
    """A table as lines (see _table_rows); a matrix table ends with a blank line (its last field is closed)."""
    converted = _table_rows(rows)
    if converted is None:
        return [line for cells in rows for c in cells if c is not None for line in c.split("\n")]
    return [line for _row, line in converted] + [""]


def _code_line(code: str, title: str) -> str:
    """The heading line a row's 序號 and 任務 make: 1.交通建設, 三、…, 3.2.1 …, else 任務名稱:…"""
    if re.fullmatch(r"\d{1,2}", code):
        return f"{code}.{title}"
    if re.fullmatch(r"\d{1,2}(?:\.\d{1,2}){1,3}", code):
        return f"{code} {title}"
    if re.fullmatch(r"[一二三四五六七八九十]{1,3}", code):
        return f"{code}、{title}"
    if re.fullmatch(r"[(（][一二三四五六七八九十\d]{1,3}[)）]", code):
        return f"{code}{title}"
    return f"任務名稱:{code}{title}"


def _is_section_row(cells: Row, header: dict[int, str]) -> bool:
    """A row with no unit, official or deadline of its own and one distinct text (一、產業發展 merged across),
    or a number in the 序號 column and the section's name beside it (一 | 產業發展)."""
    if any(cells[i] for i, f in header.items() if f in (*_TASK_VALUES, "target") and i < len(cells)):
        return False
    distinct = {c for c in cells if c}
    if len(distinct) == 1:
        return True
    code = next((cells[i] or "" for i, f in header.items() if f == "code" and i < len(cells)), "")
    return len(distinct) == 2 and bool(re.fullmatch(r"[一二三四五六七八九十]{1,3}[、.．]?|[(（][一二三四五六七八九十]{1,3}[)）]",
                                                   code.strip()))


def _section_text(cells: Row, header: dict[int, str]) -> str:
    """The heading a section row writes: its one text, or its 序號 and name (一、產業發展)."""
    texts = [c.replace("\n", "") for c in dict.fromkeys(c for c in cells if c)]
    if len(texts) == 1:
        return texts[0]
    return _code_line(texts[0].strip().rstrip("、.．"), texts[1])


def _sub_header(header: Row, below: Row) -> list[str | None] | None:
    """A header of two rows (責任單位 over 牽頭單位 | 配合單位): the labels of both, aligned to the lower row, or
    None when ``below`` is not a header row. The upper cell spanning the lower group was pasted as one
    cell (a shorter row) or read as one cell and None (a .docx gridSpan)."""
    labels = [DOCUMENT_MATRIX.field_of(c) if c else None for c in below]
    named = [i for i, c in enumerate(below) if c]
    if not named or any(labels[i] is None for i in named) or len(named) == len([c for c in header if c]):
        return None
    shift = len(below) - len(header)
    first = min(i for i in named if i >= len(header) or below[i] != header[i])
    merged: list[str | None] = []
    for i, cell in enumerate(below):
        if labels[i] is not None and (i >= len(header) or cell != header[i]):
            merged.append(cell)
        else:
            j = i if i < first else i - shift
            merged.append(header[j] if 0 <= j < len(header) else cell)
    return merged


def _codes(rows: list[Row], header: dict[int, str]) -> list[str]:
    at = next((i for i, f in header.items() if f == "code"), None)
    if at is None:
        return []
    return [(r[at] or "").strip().rstrip("、.．") for r in rows if not _is_section_row(r, header) and at < len(r)]


def _table_rows(rows: list[Row]) -> list[tuple[int, str]] | None:
    """A matrix table (a header row naming ≥ 3 known columns, one of them a unit column) as lines.

    Each row becomes a heading line built from its 序號 and 任務 cells (1.交通建設, 三、…, 3.2.1 …),
    one field line per other cell (牽頭單位:區交委) and a 類別: line for its category: the 類別 column
    and the section row above it. A section row (one distinct text, such as 一、產業發展 merged across)
    is a heading line only when the 序號 restart under each section (the section's number then prefixes
    them); when every 序號 is distinct, the 序號 is the code and the section row the task's category.
    Returns (row index, line) pairs, or None when the table is not a matrix (no such header in its
    first rows).
    """
    numbered: Iterator[tuple[int, list[Any]]] = iter(enumerate(rows, start=1))
    match = find_header(numbered, DOCUMENT_MATRIX)
    if match is None:
        return None
    out: list[tuple[int, str]] = [(n - 1, line) for n, cells in match.above for c in cells if c
                                  for line in c.split("\n")]
    header = match.fields
    body = list(numbered)
    merged = _sub_header(rows[match.row - 1], body[0][1]) if body else None
    if merged is not None:
        header = {i: f for i, c in enumerate(merged) if c and (f := DOCUMENT_MATRIX.field_of(c))}
        body = body[1:]
    codes = [c for c in _codes([cells for _n, cells in body], header) if c]
    distinct_codes = len(set(codes)) == len(codes)
    section = ""
    for number, cells in body:
        r = number - 1
        if not any(cells):
            continue
        if _is_section_row(cells, header):
            text = _section_text(cells, header)
            if distinct_codes:
                section = text
            else:
                out.append((r, text))
            continue
        out.extend((r, line) for line in _task_lines(cells, header, section))
    return out


def _task_lines(cells: Row, header: dict[int, str], section: str) -> list[str]:
    values = {header[i]: c for i, c in enumerate(cells) if i in header and c}
    code = values.pop("code", "").strip().rstrip("、.．")
    lines = [_code_line(code, values.pop("title", "").replace("\n", ""))]
    for category in (section, values.get("category", "").replace("\n", "")):
        if category:
            lines.append(f"{_COLUMN_AS_LABEL['category']}:{category}")
    for kind in _FIELD_ORDER:
        if kind in values:
            joiner = {"target": "", "deadline": "，"}.get(kind, "、")
            value = joiner.join(part.strip() for part in values[kind].split("\n") if part.strip())
            lines.append(f"{_COLUMN_AS_LABEL[kind]}:{value}")
    return lines


# --------------------------------------------------------------------------------------------
# A table pasted from Word into text: tab-separated cells, a cell's further paragraphs breaking the row

_LOOKAHEAD = 8  # lines a cell's paragraphs may run before the row goes on (a tab follows)
# Merged down, pasted blank below: the category, task, official and lead unit columns. A blank 配合單位 (or
# 責任單位 beside a 牽頭單位 column) is as often "none" as merged, and is read as none.
_CARRIED = ("category", "title", "lead_officials", "lead_unit", "responsible")
_SECTION_TEXT = re.compile(r"^(?:[一二三四五六七八九十]{1,3}[、.．]|[(（][一二三四五六七八九十]{1,3}[)）]|第[一二三四五六七八九十]{1,3}[部類类])")
_DATEISH = re.compile(r"\d|[一二三四五六七八九十]月|年底|季度|前|持續|持续|長期|长期|常態|常态|每[年月季周週]")


def _pasted_table(raw: list[str], start: int) -> tuple[list[tuple[int, str]], int] | None:
    """The matrix table whose tab-separated header is line ``start`` (0-based) of ``raw``, rebuilt row by row.

    Word writes a row's cells separated by tabs, a cell's further paragraphs on lines of their own
    (the rest of the row follows the last of them), a row merged across as its text alone, and an
    empty cell under a cell merged down. Returns ((0-based line, text) pairs for the text parser,
    the index after the table), or None when the line is not a matrix header.
    """
    header_cells = [c.strip() for c in raw[start].split("\t")]
    match = find_header(iter([(1, header_cells)]), DOCUMENT_MATRIX)
    if match is None:
        return None
    rows: list[list[str | None]] = [list(header_cells)]
    firsts = [start]
    k = start + 1
    fields = match.fields
    if k < len(raw):
        merged = _sub_header(rows[0], [c.strip() for c in raw[k].split("\t")])
        if merged is not None:  # a header of two rows: read as one
            rows[0] = merged
            fields = {i: f for i, c in enumerate(merged) if c and (f := DOCUMENT_MATRIX.field_of(c))}
            k += 1
    width = len(rows[0])
    while k < len(raw) and (raw[k].strip() or "\t" in raw[k]):
        frags = [c.strip() for c in raw[k].split("\t")]
        if not any(frags):  # an empty row
            k += 1
            continue
        current = rows[-1] if len(rows) > 1 else None
        if len(frags) == 1 and not _rows_ahead(raw, k) and \
                (current is None or not _continues(current, frags[0], fields, width)):
            break
        if current is not None and not _starts_row(current, frags, fields, width):
            current[-1] = f"{current[-1] or ''}\n{frags[0]}".strip("\n")
            current.extend(frags[1:])
        else:
            rows.append(list(frags))
            firsts.append(k)
        k += 1
    body = [_aligned(r, width, fields) for r in rows[1:]]
    _carry_down(body, fields)
    converted = _table_rows([rows[0], *body])
    if converted is None:  # pragma: no cover - the header was matched above
        return None
    return [(firsts[r], line) for r, line in converted], k


def _rows_ahead(raw: list[str], k: int) -> bool:
    """A tab-separated line follows within a few lines (before a blank one): the table goes on."""
    for line in raw[k + 1 : k + 1 + _LOOKAHEAD]:
        if not line.strip():
            return False
        if "\t" in line:
            return True
    return False


def _continues(row: list[str | None], text: str, header: dict[int, str], width: int) -> bool:
    """A line without a tab after a row: a further paragraph of the row's last cell (not a new row)?"""
    if len(row) < width - 1:
        return True
    if _SECTION_TEXT.match(text) or len(text) > 40:
        return False
    last = header.get(len(row) - 1, "")
    if last == "deadline":
        return bool(_DATEISH.search(text))
    return last in ("lead_unit", "responsible", "supporting_units", "lead_officials") and "。" not in text


def _starts_row(row: list[str | None], frags: list[str], header: dict[int, str], width: int) -> bool:
    if len(row) == 1 and _SECTION_TEXT.match(row[0] or ""):
        return True  # a section row (merged across) is whole
    if len(frags) > 1:
        return len(row) >= width or len(row) + len(frags) - 1 > width
    if len(row) >= width:
        return not _continues(row, frags[0], header, width)
    # a row short of cells (merged across) followed by a section row: 二、…, short, no sentence
    return len(row) >= width - 1 and bool(_SECTION_TEXT.match(frags[0])) and len(frags[0]) <= 30 \
        and "。" not in frags[0]


def _aligned(row: list[str | None], width: int, header: dict[int, str]) -> list[str | None]:
    """A rebuilt row with the header's width: a row of one cell is a section row (merged across); a row
    short of cells had cells merged across: None (spanned) before its last cell when that is the deadline."""
    if len([c for c in row if c is not None]) == 1 and len(row) == 1:
        return row + [None] * (width - 1)
    if len(row) >= width:
        return row[:width] if not any(row[width:]) else [*row[: width - 1], "\n".join(c or "" for c in row[width - 1 :])]
    missing = [None] * (width - len(row))
    if header.get(width - 1) == "deadline" and _DATEISH.search(row[-1] or ""):
        return [*row[:-1], *missing, row[-1]]
    return [*row, *missing]


def _carry_down(rows: list[list[str | None]], header: dict[int, str]) -> None:
    """Blank cells of the category, task, official and lead unit columns under a task row: merged down in
    Word, pasted empty; they hold the value above (up to the next section row)."""
    above: list[str | None] | None = None
    leads = "lead_unit" in header.values()
    columns = [i for i, f in header.items() if f in _CARRIED and not (f == "responsible" and leads)]
    code = next((i for i, f in header.items() if f == "code"), None)
    title = next((i for i, f in header.items() if f == "title"), None)
    for row in rows:
        if _is_section_row(row, header):
            above = None
            continue
        if above is not None:
            if code is not None and title is not None and row[code] == row[title] == "":
                row[code] = above[code]  # 序號 and 任務 merged down together over several measures
            for i in columns:
                if i < len(row) and row[i] == "" and above[i]:
                    row[i] = above[i]
        above = row


# --------------------------------------------------------------------------------------------
# A table pasted with runs of spaces between its cells (a copy from a PDF, some editors): read as tabs

# Two or more spaces (half- or full-width) between cells; a single space stays inside its cell. A header
# of single full-width spaces (序號　重點任務　…) uses them as its separator.
_SPACED_SEPARATORS = (re.compile(r"[ \u3000]{2,}"), re.compile(r"[ \u3000]*\u3000[ \u3000]*"))


def _spaced_table(raw: list[str], start: int) -> tuple[list[tuple[int, str]], int] | None:
    """The matrix table whose header is line ``start`` (0-based) of ``raw`` with its cells separated by
    runs of spaces (see _SPACED_SEPARATORS): its lines up to the next blank one are read with the same
    separator as tab-separated cells (_pasted_table), or None when the line is not such a header."""
    line = raw[start].strip()
    for separator in _SPACED_SEPARATORS:
        cells = separator.split(line)
        if len(cells) < DOCUMENT_MATRIX.min_known or any(len(c) > 12 for c in cells):
            continue
        if find_header(iter([(1, cells)]), DOCUMENT_MATRIX) is None:
            continue
        end = start
        while end < len(raw) and raw[end].strip():
            end += 1
        tabbed = [separator.sub("\t", text.strip()) for text in raw[start:end]]
        return _pasted_table([*raw[:start], *tabbed, *raw[end:]], start)
    return None
