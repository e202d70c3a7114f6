"""The plan-facts sheet (方案信息) of a workbook: what a task sheet cannot carry, so that XLSX round-trips.

duban's XLSX export writes, beside the task sheet, a sheet named 方案信息 that mirrors the YAML plan
without its tasks: a ``plan`` block of key/value rows (the YAML ``plan:`` mapping: code, title, issuer,
base_year, start, end, timezone, source, and whatever other header keys the plan has), then one small
table per list (``stages``, ``officials``): a row naming the block, a row of keys, a row per entry.

One rule for every value, so a new header key round-trips without code of its own: a scalar is written
as its text; a list or a mapping (and a text that would read as one: starting with ``[``, ``{`` or a
quote) as YAML flow text, read back with the plan YAML reader (``sources.yaml_text``). What comes back
is the same as the YAML plan gives the loader: records of text values, each located by its row.

Pure: rows in, records out; reading the workbook is ``duban.matrix.sheets``'s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from duban.matrix.errors import SourceError
from duban.matrix.sources import Cell, Record, Source, yaml_text

PLAN_FACTS_SHEET = "方案信息"
PLAN_BLOCK = "plan"
TABLE_BLOCKS = ("stages", "officials")
_FLOW_START = ("[", "{", '"', "'")


def cell_text(value: Any) -> str:
    """A value as the plan-facts sheet writes it: a scalar as its text, a list or mapping as YAML flow."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, int, float)) or (isinstance(value, str) and not value.startswith(_FLOW_START)):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    import yaml

    flow = yaml.safe_dump(_plain(value), allow_unicode=True, default_flow_style=True, width=10**9, sort_keys=False)
    return str(flow).strip().removesuffix("...").strip()


def _plain(value: Any) -> Any:
    """Dates and numbers as text inside a structure: the plan YAML reader reads every scalar as text."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def facts_rows(header: Mapping[str, Any], tables: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[list[str]]:
    """The rows of the plan-facts sheet: the ``plan`` block, then each non-empty table."""
    rows: list[list[str]] = [[PLAN_BLOCK]]
    rows += [[key, cell_text(value)] for key, value in header.items() if value not in (None, "")]
    for name, entries in tables.items():
        if not entries:
            continue
        keys: list[str] = []
        for entry in entries:
            keys += [k for k in entry if k not in keys]
        rows += [[], [name], list(keys)]
        rows += [[cell_text(entry.get(k)) for k in keys] for entry in entries]
    return rows


def _value(text: Any, where: str) -> Any:
    """A cell's value as the plan YAML would give it: text, or a list/mapping written as YAML flow."""
    if isinstance(text, dt.datetime):
        return text.date().isoformat()
    if isinstance(text, dt.date):
        return text.isoformat()
    if text is None:
        return None
    if isinstance(text, float) and text.is_integer():
        return str(int(text))
    value = str(text).strip()
    if value.startswith(_FLOW_START):
        return yaml_text(value, where)
    return value


def read_plan_facts(path: str, rows: Iterable[tuple[int, list[Any]]]) -> tuple[Record, dict[str, list[Record]]] | None:
    """The plan header and the tables (``stages``, ``officials``) of a plan-facts sheet, each value located
    by its row; None when the sheet does not start with a block row (not written by duban). A key twice in
    the plan block is a ``SourceError``."""
    where = f"{path} sheet 「{PLAN_FACTS_SHEET}」"
    header = Record(line=None)
    tables: dict[str, list[Record]] = {}
    block: str | None = None
    keys: list[str] | None = None
    for number, values in rows:
        texts = [v for v in values if v not in (None, "")]
        if not texts:
            continue
        first = str(values[0]).strip() if values and values[0] is not None else ""
        if len(texts) == 1 and first in (PLAN_BLOCK, *TABLE_BLOCKS):
            block, keys = first, None
            if block == PLAN_BLOCK:
                header.line = number
            else:
                tables[block] = []
            continue
        if block == PLAN_BLOCK:
            if first in header.cells:
                raise SourceError(f"{where} row {number}", f"the key {first!r} is given twice")
            if first:
                header.cells[first] = Cell(_value(values[1] if len(values) > 1 else None, f"{where} row {number}"), number)
        elif block is not None and keys is None:
            keys = [str(v).strip() if v is not None else "" for v in values]
        elif block is not None and keys is not None:
            cells = {k: Cell(_value(v, f"{where} row {number}"), number)
                     for k, v in zip(keys, values, strict=False) if k and v not in (None, "")}
            tables[block].append(Record(line=number, cells=cells))
        else:
            return None  # not the layout duban writes: an office's own sheet of that name
    return header, tables


def apply_plan_facts(src: Source, header: Record, tables: Mapping[str, list[Record]]) -> None:
    """Put what the plan-facts sheet says into a task sheet's source: its header keys over those read from
    the title rows, its stages and officials."""
    src.extra["plan_facts"] = header  # its keys are checked as a YAML header's are
    for key, cell in header.cells.items():
        src.header.cells[key] = cell
    if header.line is not None:
        src.header.line = header.line
    src.stages = list(tables.get("stages", ()))
    src.officials = list(tables.get("officials", ()))
