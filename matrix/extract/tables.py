"""Matrix tables inside a document (.docx tables, tab-separated lines) turned into heading and field lines.

The header row is found with the ``DOCUMENT_TABLE`` layout of ``duban.matrix.columns``.
"""

from __future__ import annotations

import re

from duban.matrix.columns import DOCUMENT_TABLE, find_header

# The label each column is written back as (read again by the text parser): its first header word.
_COLUMN_AS_LABEL = {c.field: c.written for c in DOCUMENT_TABLE.columns}


def _table_lines(rows: list[list[str]]) -> list[str]:
    """A table as lines (see _table_rows)."""
    converted = _table_rows(rows)
    if converted is None:
        return [line for cells in rows for c in cells for line in c.split("\n")]
    return [line for _row, line in converted]


def _table_rows(rows: list[list[str]]) -> list[tuple[int, str]] | None:
    """A matrix table (a header row naming ≥ 3 known columns, one of them a unit column) as lines.

    Each row becomes a heading line built from its 序號 and 任務 cells (1.交通建設, 三、…, 3.2.1 …)
    and one field line per other cell (牽頭單位:區交委); a row with one distinct text (a merged
    section row such as (二)項目安排精準) stays one line. Returns (row index, line) pairs, or None
    when the table is not a matrix (no such header in its first rows).
    """
    numbered = iter(enumerate(rows, start=1))
    match = find_header(numbered, DOCUMENT_TABLE)
    if match is None:
        return None
    out: list[tuple[int, str]] = [(n - 1, line) for n, cells in match.above for c in cells for line in c.split("\n")]
    header = match.fields
    for number, cells in numbered:
        r = number - 1
        values = {header[i]: c for i, c in enumerate(cells) if i in header and c}
        distinct = {c for c in cells if c}
        if not distinct:
            continue
        if len(distinct) == 1 and not any(k in values for k in ("lead_unit", "responsible", "deadline", "lead_officials")):
            out.append((r, distinct.pop().replace("\n", "")))  # a section row spanning the table
            continue
        code = values.pop("code", "").strip().rstrip("、.．")
        title = values.pop("title", "").replace("\n", "")
        if re.fullmatch(r"\d{1,2}", code):
            out.append((r, f"{code}.{title}"))
        elif re.fullmatch(r"\d{1,2}(?:\.\d{1,2}){1,3}", code):
            out.append((r, f"{code} {title}"))
        elif re.fullmatch(r"[一二三四五六七八九十]{1,3}", code):
            out.append((r, f"{code}、{title}"))
        elif re.fullmatch(r"[(（][一二三四五六七八九十\d]{1,3}[)）]", code):
            out.append((r, f"{code}{title}"))
        else:
            out.append((r, f"任務名稱:{code}{title}"))
        for kind in ("target", "lead_officials", "lead_unit", "responsible", "supporting_units", "deadline"):
            if kind in values:
                joiner = "" if kind == "target" else "、"
                value = joiner.join(part.strip() for part in values[kind].split("\n") if part.strip())
                out.append((r, f"{_COLUMN_AS_LABEL[kind]}:{value}"))
    return out
