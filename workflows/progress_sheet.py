"""Importing the progress sheet units send back (CSV or XLSX), all or nothing: each row is a report and/or a
closing (辦結), checked in order in one transaction; every refused row is listed. The sheet's columns are
the ``PROGRESS_SHEET`` layout of ``duban.matrix.columns``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from duban.matrix.errors import DubanError, Problem, Refused, ValidationFailed
from duban.matrix.script import fold
from duban.store.db import transaction
from duban.workflows.progress_items import _plan
from duban.workflows.progress_parse import _bad, _date, _position
from duban.workflows.progress_record import _close, _report

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from duban.matrix.limits import InputLimits


_YES = {fold(s).lower() for s in ("是", "yes", "y", "true", "1", "✓", "√", "辦結", "已辦結")}


_NO = {fold(s).lower() for s in ("否", "no", "n", "false", "0", "")}


_FIELD_NAMES = {"task": "code"}  # how a problem names the column


def _sheet_records(path: Path, limits: InputLimits | None = None) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """(row number, {field: value}) for each data row, and the header labels not understood."""
    from duban.matrix.columns import PROGRESS_SHEET, find_header
    from duban.matrix.errors import SourceError
    from duban.matrix.limits import DEFAULT_LIMITS
    from duban.matrix.sheets import sheet_rows

    if not path.exists():
        raise SourceError(str(path), "no such file")
    rows = sheet_rows(path, limits=limits or DEFAULT_LIMITS)
    match = find_header(rows, PROGRESS_SHEET)
    if match is None:
        raise PROGRESS_SHEET.no_header(str(path))
    records = [(row_number, cells) for row_number, values in rows if (cells := match.values(values))]
    return records, match.unknown_labels


def _code_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _yes(value: Any) -> bool:
    if value is None or value is False:
        return False
    if value is True:
        return True
    text = fold(str(value)).lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise _bad(Refused, "close", value, "is not 是/否 (yes/no)")


def _import_row(session: Session, cells: dict[str, Any], *, now: dt.datetime, plan: str | None,
                source: str) -> dict[str, Any]:
    code = cells.get("task")
    if code is None:
        raise _bad(Refused, "task", "", "is missing", message="code: the task code is missing")
    if cells.get("unit") is None:
        raise _bad(Refused, "unit", "", "is missing", message="unit: the reporting unit is missing")
    close = _yes(cells.get("close"))
    milestone = _position("milestone", cells.get("milestone"))
    period = _date("period", cells.get("period"), month_ok=True)
    reported_on = _date("reported_on", cells.get("reported_on"))
    note = str(cells.get("note") or "").strip()
    evidence = str(cells.get("evidence") or "").strip()
    by = str(cells.get("reported_by") or "").strip()
    owed = str(cells.get("beneficiary") or "").strip() or None  # the household's series, for a task owed to each
    values = {k: cells.get(k) for k in ("done", "percent", "count", "amount")}
    has_report = any(v is not None for v in values.values()) or (note and not (close and not evidence))
    result: dict[str, Any] = {"report_id": None, "close_id": None}
    if has_report or not close:
        reported = _report(session, now=now, plan=plan, task=_code_text(code), unit=str(cells["unit"]),
                           note=note, reported_by=by, reported_on=reported_on, milestone=milestone,
                           period=period, source=source, beneficiary=owed, **values)
        result.update(reported)
        if reported["item"]["kind"] == "milestone" and milestone is None:
            milestone = reported["item"]["seq"]  # close the item this row just reported on
        elif reported["item"]["kind"] == "instance" and period is None:
            period = dt.date.fromisoformat(reported["item"]["period"])
    if close and not (result.get("item") or {}).get("closed"):
        closed = _close(session, now=now, plan=plan, task=_code_text(code), unit=str(cells["unit"]),
                        evidence=evidence or note, closed_by=by, milestone=milestone, period=period, source=source,
                        beneficiary=owed)
        result.update({k: v for k, v in closed.items() if k != "report_id"})
        result["close_id"] = closed["report_id"]
    return result


def import_progress(engine: Engine, path: Path, *, now: dt.datetime, plan: str | None = None,
                    source_name: str | None = None, limits: InputLimits | None = None) -> list[dict[str, Any]]:
    """Import a sheet of reports (CSV, UTF-8 or GBK, or XLSX), all or nothing.

    Every row is checked in one transaction, in order (a later row sees what an earlier one did); if
    any row is refused nothing is written and ``ValidationFailed`` lists every bad row. Returns one
    dict per row: the keys of ``report_progress`` plus ``row`` and ``close_id`` (the 辦結 record when
    the row's 辦結 column says 是); ``report_id`` is None for a close-only row.
    """
    path = Path(path)
    records, _unknown = _sheet_records(path, limits)
    source = source_name or f"import {path.name}"
    problems: list[Problem] = []
    results: list[dict[str, Any]] = []
    with transaction(engine) as session:
        plan = _plan(session, plan).code  # once, not once per row
        for row_number, cells in records:
            # No savepoint per row (pysqlite would commit at the RELEASE of the first one): a row is checked
            # before it writes, and as soon as one row is refused the whole transaction is rolled back.
            try:
                results.append({"row": row_number, **_import_row(session, cells, now=now, plan=plan, source=source)})
            except DubanError as err:
                field = getattr(err, "field", "")
                problems.append(Problem(
                    file=str(path), line=row_number, field=_FIELD_NAMES.get(field, field),
                    text=getattr(err, "text", ""), message=getattr(err, "reason", "") or str(err),
                    hint=getattr(err, "hint", ""), row_kind="row"))
        if not records:
            problems.append(Problem(file=str(path), line=None, field="", text="", message="the sheet has a header but no rows",
                                    row_kind="row"))
        if problems:
            raise ValidationFailed(problems)  # inside the transaction: it rolls back, nothing is written
    return results
