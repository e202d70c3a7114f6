"""Recording a report or a closing (辦結) inside the caller's transaction: the checks, the item's new
quantities, the report row and the events. ``progress_service`` and ``progress_sheet`` call it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from duban.matrix.errors import Refused
from duban.store.evidence import Evidence, EvidenceStore
from duban.store.tables import EventRow, ProgressReportRow, RecurrenceRow, TaskRow
from duban.workflows.progress_acceptance import _pending, needs_acceptance
from duban.workflows.progress_evidence import store_files
from duban.workflows.progress_items import (
    Item,
    _event,
    _item_json,
    _item_ref,
    _pick,
    _plan,
    _require_lead,
    _require_open,
    _require_responsible,
    _task,
    _today,
    _unit,
)
from duban.workflows.progress_parse import Number, _bad, _json_number, _number, _shown


def _target_reached(kind: str, item: Item, rec: RecurrenceRow | None) -> bool:
    if kind == "milestone":
        if item.quantity is not None:
            return item.done_quantity is not None and Decimal(str(item.done_quantity)) >= Decimal(str(item.quantity))
        return item.done_percent is not None and Decimal(str(item.done_percent)) >= 100
    min_count = rec.min_count
    min_amount = None if rec.min_amount is None else Decimal(str(rec.min_amount))
    if min_count is None and min_amount is None:
        min_count = 1
    count_ok = min_count is None or item.done_count >= min_count
    amount_ok = min_amount is None or (item.done_amount is not None and Decimal(str(item.done_amount)) >= min_amount)
    return count_ok and amount_ok


def _report(session: Session, *, now: dt.datetime, plan: str | None, task: str, unit: str, done: Number = None,
            percent: Number = None, count: Number = None, amount: Number = None, note: str = "",
            reported_by: str = "", reported_on: dt.date | None = None, milestone: int | None = None,
            period: dt.date | None = None, source: str = "cli", beneficiary: str | None = None,
            files: Sequence[Evidence] = (), store: EvidenceStore | None = None, from_unit: bool = False) -> dict[str, Any]:
    """One report inside the caller's transaction. Every check comes before the first write. ``files``:
    evidence already checked (``store.evidence.check_all``), stored in ``store`` once the report is written.
    ``from_unit``: the unit itself sends it (its signed link), so a supporting unit's part waits (``pending``)
    for the lead unit or the office to accept it (``progress_acceptance``) and changes no item yet."""
    done_q = _number("done", done)
    percent_q = _number("percent", percent, percent=True)
    count_q = _number("count", count, whole=True)
    amount_q = _number("amount", amount)
    note = (note or "").strip()
    plan_row = _plan(session, plan)
    today = _today(now, plan_row)
    on = reported_on or today
    if on > today:
        raise _bad(Refused, "reported_on", on.isoformat(), f"is after --as-of {today.isoformat()}",
                   message=f"reported_on {on.isoformat()} is after --as-of {today.isoformat()}")
    task_row = _task(session, plan_row, task)
    unit_row = _unit(session, unit, plan_row.code)
    _require_responsible(session, task_row, unit_row)
    _require_one_kind(task_row, done_q, percent_q, count_q, amount_q, note or bool(files), count, amount)
    for_milestone = done_q is not None or percent_q is not None
    for_instance = count_q is not None or amount_q is not None
    want = "milestone" if for_milestone else ("instance" if for_instance else None)
    kind, item, number, rec = _pick(session, task_row, milestone=milestone, period=period, on=on, want=want,
                                    beneficiary=beneficiary)
    _require_open(task_row, kind, item, number, "reports")
    if kind == "instance" and rec is not None and rec.ongoing and count_q is None and amount_q is None:
        count_q = Decimal(1)  # ongoing work (持續推進): the period's obligation is a progress report, this one

    data: dict[str, Any] = {**_item_ref(kind, item, number), "unit": unit_row.name, "reported_on": on.isoformat(),
                            "note": note, "source": source}
    if from_unit and needs_acceptance(session, plan_row, task_row, unit_row):
        return _pending(session, now=now, plan_row=plan_row, task_row=task_row, unit_row=unit_row, kind=kind,
                        item=item, number=number, rec=rec, values=(done_q, percent_q, count_q, amount_q), data=data,
                        reported_by=reported_by, on=on, source=source, files=files, store=store)
    if kind == "milestone":
        warnings = _apply_milestone(item, done_q, percent_q, data)
    else:
        warnings = []
        _apply_instance(item, count_q, amount_q, data)
    item.last_report_at = now
    report = ProgressReportRow(
        task_id=task_row.id, milestone_id=item.id if kind == "milestone" else None,
        instance_id=item.id if kind == "instance" else None, unit_id=unit_row.id, kind="report",
        done_quantity=done_q, done_percent=percent_q, done_count=None if count_q is None else int(count_q),
        done_amount=amount_q, note=note, reported_by=reported_by or "", reported_on=on, recorded_at=now, source=source,
        state="counted",
    )
    session.add(report)
    session.flush()
    data["report_id"] = report.id
    if files:
        if store is None:
            raise ValueError("evidence files need the evidence store to keep them in")
        data["files"] = [ev.name for ev in files]
    actor = reported_by or unit_row.name
    events = [_event(now, "progress.reported", plan_row.id, task_row.id, actor, data)]
    if _target_reached(kind, item, rec):
        evidence = "; ".join(p for p in (note, "、".join(ev.name for ev in files)) if p)
        item.closed_at = now
        item.closed_by = reported_by or unit_row.name
        item.evidence = evidence
        events.append(_event(now, "item.closed", plan_row.id, task_row.id, actor,
                             {**_item_ref(kind, item, number), "reason": "target reached", "evidence": evidence,
                              "unit": unit_row.name, "report_id": report.id}))
    session.execute(sa.insert(EventRow), events)
    session.flush()
    if files and store is not None:
        store_files(session, store, report.id, list(files), now)
    return {"task": task_row.code, "plan": plan_row.code, "unit": unit_row.name,
            "item": _item_json(kind, item, number, rec), "report_id": report.id, "warnings": warnings,
            "state": "counted", "files": [{"name": ev.name, "sha256": ev.sha256, "size": ev.size, "content_type": ev.content_type}
                      for ev in files]}


def _require_one_kind(task_row: TaskRow, done_q: Decimal | None, percent_q: Decimal | None, count_q: Decimal | None,
                      amount_q: Decimal | None, note: str | bool, count: Number, amount: Number) -> None:
    """Refuse a report that says nothing, or mixes a milestone's done/percent with a period's count/amount."""
    if all(v is None for v in (done_q, percent_q, count_q, amount_q)) and not note:
        raise _bad(Refused, "done", "", "nothing to report: give done, percent, count, amount or a note",
                   message=f"nothing to report on task {task_row.code}: give done, percent, count, amount or a note")
    for_milestone = done_q is not None or percent_q is not None
    for_instance = count_q is not None or amount_q is not None
    if for_milestone and for_instance:
        raise _bad(Refused, "count" if count_q is not None else "amount", count if count_q is not None else amount,
                   "cannot be reported together with done/percent",
                   message="done/percent (a milestone) and count/amount (a period of a recurring obligation) "
                           "cannot be reported together")


def _apply_milestone(item: Item, done_q: Decimal | None, percent_q: Decimal | None, data: dict[str, Any]) -> list[str]:
    """A milestone's cumulative done/percent replaced (a lower value recorded as a correction); its warnings."""
    warnings: list[str] = []
    previous = None if item.done_quantity is None else Decimal(str(item.done_quantity))
    if done_q is not None:
        if previous is not None and done_q < previous:
            warnings.append(f"done {_shown(done_q)} is below the previous report ({_shown(previous)}); "
                            "recorded as a correction")
            data["lowered_from"] = _json_number(previous)
        item.done_quantity = done_q
        data["done"] = _json_number(done_q)
    previous_pct = None if item.done_percent is None else Decimal(str(item.done_percent))
    if percent_q is not None:
        if previous_pct is not None and percent_q < previous_pct:
            warnings.append(f"percent {_shown(percent_q)} is below the previous report ({_shown(previous_pct)}); "
                            "recorded as a correction")
            data["percent_lowered_from"] = _json_number(previous_pct)
        item.done_percent = percent_q
        data["percent"] = _json_number(percent_q)
    elif done_q is not None and item.quantity:
        derived = min(Decimal(100), done_q * 100 / Decimal(str(item.quantity)))
        item.done_percent = derived.quantize(Decimal("0.1"))
    return warnings


def _apply_instance(item: Item, count_q: Decimal | None, amount_q: Decimal | None, data: dict[str, Any]) -> None:
    """A period's count and amount accumulated."""
    if count_q is not None:
        item.done_count = (item.done_count or 0) + int(count_q)
        data["count"] = int(count_q)
    if amount_q is not None:
        item.done_amount = (Decimal(str(item.done_amount)) if item.done_amount is not None else Decimal(0)) + amount_q
        data["amount"] = _json_number(amount_q)


def _close(session: Session, *, now: dt.datetime, plan: str | None, task: str, unit: str, evidence: str,
           closed_by: str = "", milestone: int | None = None, period: dt.date | None = None,
           source: str = "cli", beneficiary: str | None = None) -> dict[str, Any]:
    evidence = (evidence or "").strip()
    plan_row = _plan(session, plan)
    today = _today(now, plan_row)
    task_row = _task(session, plan_row, task)
    unit_row = _unit(session, unit, plan_row.code)
    _require_responsible(session, task_row, unit_row)
    _require_lead(session, task_row, unit_row, "close")
    if not evidence:
        raise _bad(Refused, "evidence", "", "is required", message=f"closing task {task_row.code} needs evidence (佐證)")
    kind, item, number, rec = _pick(session, task_row, milestone=milestone, period=period, on=today, want=None,
                                    beneficiary=beneficiary)
    _require_open(task_row, kind, item, number, "closing")
    item.closed_at = now
    item.closed_by = closed_by or unit_row.name
    item.evidence = evidence
    report = ProgressReportRow(
        task_id=task_row.id, milestone_id=item.id if kind == "milestone" else None,
        instance_id=item.id if kind == "instance" else None, unit_id=unit_row.id, kind="close",
        evidence=evidence, reported_by=closed_by or "", reported_on=today, recorded_at=now, source=source,
    )
    session.add(report)
    session.flush()
    session.execute(sa.insert(EventRow), [_event(now, "item.closed", plan_row.id, task_row.id, closed_by or unit_row.name,
                                                 {**_item_ref(kind, item, number), "reason": "closed",
                                                  "evidence": evidence, "unit": unit_row.name, "report_id": report.id})])
    return {"task": task_row.code, "plan": plan_row.code, "unit": unit_row.name,
            "item": _item_json(kind, item, number, rec), "report_id": report.id, "warnings": [], "state": "counted",
            "files": []}
