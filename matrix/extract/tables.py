"""Matrix tables inside a document (.docx tables, tab-separated lines) turned into heading and field lines."""

from __future__ import annotations

import re
from functools import lru_cache

from duban.matrix.script import fold

# Matrix columns a table may have (simplified or traditional; matched after fold()).
_COLUMN_LABELS: dict[str, tuple[str, ...]] = {
    "code": ("序號", "編號", "序", "code", "no", "no."),
    "title": ("任務", "任務名稱", "工作任務", "重點任務", "事項", "工作事項", "具體事項", "項目", "title", "task"),
    "target": ("目標要求", "目標任務", "工作目標", "工作內容", "具體內容", "主要內容", "工作措施", "具體措施", "target"),
    "lead_officials": ("牽頭領導", "責任領導", "分管領導", "包抓領導", "牽頭縣領導", "牽頭區領導", "責任縣領導", "責任區領導"),
    "lead_unit": ("牽頭單位", "主責單位", "牽頭部門", "主責部門"),
    "responsible": ("責任單位", "責任部門"),
    "supporting_units": ("配合單位", "協辦單位", "配合部門", "協辦部門", "參與單位"),
    "deadline": ("時間要求", "完成時限", "完成時間", "時限", "時限要求", "時間節點"),
}
# The label each column is written back as (read again by the text parser).
_COLUMN_AS_LABEL = {"target": "目標要求", "lead_officials": "牽頭領導", "lead_unit": "牽頭單位",
                    "responsible": "責任單位", "supporting_units": "配合單位", "deadline": "時間要求"}


@lru_cache(maxsize=1)
def _column_index() -> dict[str, str]:
    return {fold(label).lower(): kind for kind, labels in _COLUMN_LABELS.items() for label in labels}


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
    index = _column_index()
    header: dict[int, str] | None = None
    out: list[tuple[int, str]] = []
    for r, cells in enumerate(rows):
        if header is None:
            mapped = {i: index.get(fold(c).lower()) for i, c in enumerate(cells) if c}
            if sum(1 for k in mapped.values() if k) >= 3 and any(k in ("lead_unit", "responsible") for k in mapped.values()):
                header = {i: k for i, k in mapped.items() if k}
                continue
            if r >= 5:
                return None
            out.extend((r, line) for c in cells for line in c.split("\n"))
            continue
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
    return out if header is not None else None
