"""Extension requests (延期申請): the lead unit files one before the effective due date, the office approves
(moving ``extended_due``, clearing the overdue cycle) or refuses it; a late request is recorded as refused.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from duban.matrix.errors import NotFound, Refused
from duban.store.db import transaction
from duban.store.tables import (
    EventRow,
    ExtensionRow,
    MilestoneRow,
    PlanRow,
    RecurrenceInstanceRow,
    RecurrenceRow,
    TaskRow,
)
from duban.workflows.progress_items import (
    Item,
    _effective_due,
    _event,
    _item_json,
    _item_ref,
    _milestone_number,
    _pick,
    _plan,
    _require_lead,
    _require_open,
    _task,
    _today,
    _unit,
    _unit_name,
)
from duban.workflows.progress_parse import _bad

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


EXTENSION_STATUSES = ("pending", "approved", "refused")


def _extension_json(session: Session, ext: ExtensionRow) -> dict[str, Any]:
    task = session.get(TaskRow, ext.task_id)
    plan = session.get(PlanRow, task.plan_id)
    if ext.milestone_id is not None:
        item: Item = session.get(MilestoneRow, ext.milestone_id)
        kind, number, rec = "milestone", _milestone_number(session, item), None
    else:
        item = session.get(RecurrenceInstanceRow, ext.instance_id)
        kind, number, rec = "instance", None, session.get(RecurrenceRow, item.recurrence_id)
    return {
        "id": ext.id,
        "plan": plan.code,
        "task": task.code,
        "unit": _unit_name(session, ext.unit_id),
        "item": _item_json(kind, item, number, rec),
        "reason": ext.reason,
        "old_due": ext.old_due.isoformat(),
        "new_due": ext.new_due.isoformat(),
        "requested_on": ext.requested_on.isoformat(),
        "requested_by": ext.requested_by,
        "status": ext.status,
        "decided_on": ext.decided_on.isoformat() if ext.decided_on else None,
        "decided_by": ext.decided_by,
        "decision_note": ext.decision_note,
    }


def request_extension(engine: Engine, *, task: str, unit: str, new_due: dt.date, reason: str, now: dt.datetime,
                      plan: str | None = None, milestone: int | None = None, period: dt.date | None = None,
                      requested_by: str = "", beneficiary: str | None = None) -> dict[str, Any]:
    """The lead unit asks to move an item's due date (``beneficiary``: that household's series). Returns the request (keys of ``list_extensions``).

    Filed after the effective due date, the request is recorded as refused (late) and ``Refused`` is
    raised after that record is committed.
    """
    late: str | None = None
    with transaction(engine) as session:
        reason = (reason or "").strip()
        plan_row = _plan(session, plan)
        today = _today(now, plan_row)
        task_row = _task(session, plan_row, task)
        unit_row = _unit(session, unit, plan_row.code)
        _require_lead(session, task_row, unit_row, "request an extension of")
        if not reason:
            raise _bad(Refused, "reason", "", "is required",
                       message=f"an extension request for task {task_row.code} needs a reason")
        kind, item, number, _rec = _pick(session, task_row, milestone=milestone, period=period, on=today, want=None,
                                         beneficiary=beneficiary)
        _require_open(task_row, kind, item, number, "extension")
        due = _effective_due(item)
        name = f"{task_row.code} " + (f"milestone {number}" if kind == "milestone" else f"period {item.period_start}")
        if new_due <= due:
            raise _bad(Refused, "new_due", new_due.isoformat(), f"is not after the current due date {due.isoformat()}",
                       message=f"new due date {new_due.isoformat()} is not after the current due date {due.isoformat()} of {name}")
        column = ExtensionRow.milestone_id if kind == "milestone" else ExtensionRow.instance_id
        pending = session.execute(sa.select(ExtensionRow.id).where(column == item.id, ExtensionRow.status == "pending")).scalar()
        if pending is not None:
            raise _bad(Refused, "task", task_row.code, f"already has a pending extension request #{pending}",
                       message=f"{name} already has a pending extension request (#{pending}); it must be decided first")
        ext = ExtensionRow(task_id=task_row.id, milestone_id=item.id if kind == "milestone" else None,
                           instance_id=item.id if kind == "instance" else None, unit_id=unit_row.id, reason=reason,
                           old_due=due, new_due=new_due, requested_on=today, requested_by=requested_by or "")
        data = {**_item_ref(kind, item, number), "old_due": due.isoformat(), "new_due": new_due.isoformat(),
                "reason": reason, "unit": unit_row.name}
        actor = requested_by or unit_row.name
        if today > due:
            ext.status, ext.decided_on = "refused", today
            ext.decided_by = "duban"
            ext.decision_note = (f"late: filed after the due date {due.isoformat()} (on {today.isoformat()}); "
                                 "an extension must be requested on or before the due date")
        session.add(ext)
        session.flush()
        data["extension_id"] = ext.id
        if ext.status == "refused":
            data["decision_note"] = ext.decision_note
            session.execute(sa.insert(EventRow), [_event(now, "extension.refused", plan_row.id, task_row.id, actor, data)])
            late = (f"late extension request: {name} was due {due.isoformat()} and the request was filed on "
                    f"{today.isoformat()}; recorded as extension #{ext.id} and refused as such")
        else:
            session.execute(sa.insert(EventRow), [_event(now, "extension.requested", plan_row.id, task_row.id, actor, data)])
        result = _extension_json(session, ext)
    if late:
        raise _bad(Refused, "new_due", new_due.isoformat(), "was requested after the due date", message=late)
    return result


def decide_extension(engine: Engine, *, extension_id: int, approve: bool, now: dt.datetime, decided_by: str = "",
                     note: str = "") -> dict[str, Any]:
    """The office approves or refuses a pending request; returns it (keys of ``list_extensions``).

    Approval sets the item's ``extended_due`` and clears ``first_overdue_on`` and ``ladder``; approving
    an extension of an item closed meanwhile is refused (refusing it is not).
    """
    with transaction(engine) as session:
        ext = session.execute(sa.select(ExtensionRow).where(ExtensionRow.id == extension_id).with_for_update()).scalar_one_or_none()
        if ext is None:
            raise _bad(NotFound, "extension", extension_id, "does not exist", message=f"no extension request #{extension_id}")
        if ext.status != "pending":
            raise _bad(Refused, "extension", extension_id, f"is already {ext.status}",
                       message=f"extension request #{extension_id} is already {ext.status}"
                               + (f" ({ext.decided_on.isoformat()})" if ext.decided_on else "") + "; only pending requests are decided")
        task_row = session.get(TaskRow, ext.task_id)
        plan_row = session.get(PlanRow, task_row.plan_id)
        today = _today(now, plan_row)
        if ext.milestone_id is not None:
            item: Item = session.execute(sa.select(MilestoneRow).where(MilestoneRow.id == ext.milestone_id).with_for_update()).scalar_one()
            kind, number = "milestone", _milestone_number(session, item)
        else:
            item = session.execute(sa.select(RecurrenceInstanceRow).where(RecurrenceInstanceRow.id == ext.instance_id)
                                   .with_for_update()).scalar_one()
            kind, number = "instance", None
        old_due = _effective_due(item)
        if approve:
            _require_open(task_row, kind, item, number, "extension")
            item.extended_due = ext.new_due
            item.first_overdue_on = None
            item.ladder = None
        ext.status = "approved" if approve else "refused"
        ext.decided_on = today
        ext.decided_by = decided_by or ""
        ext.decision_note = (note or "").strip()
        session.flush()
        session.execute(sa.insert(EventRow), [_event(
            now, "extension.approved" if approve else "extension.refused", plan_row.id, task_row.id,
            decided_by or "office",
            {**_item_ref(kind, item, number), "extension_id": ext.id, "old_due": old_due.isoformat(),
             "new_due": ext.new_due.isoformat(), "note": ext.decision_note})])
        return _extension_json(session, ext)


def list_extensions(engine: Engine, *, status: str | None = None, plan: str | None = None) -> list[dict[str, Any]]:
    """Extension requests, oldest first: ``[{id, plan, task, unit, item, reason, old_due, new_due, requested_on,
    requested_by, status, decided_on, decided_by, decision_note}]``."""
    if status is not None and status not in EXTENSION_STATUSES:
        raise _bad(Refused, "status", status, f"is not one of {', '.join(EXTENSION_STATUSES)}")
    with transaction(engine) as session:
        q = sa.select(ExtensionRow).order_by(ExtensionRow.id)
        if status is not None:
            q = q.where(ExtensionRow.status == status)
        if plan is not None:
            plan_id = _plan(session, plan).id
            q = q.where(ExtensionRow.task_id.in_(sa.select(TaskRow.id).where(TaskRow.plan_id == plan_id)))
        return [_extension_json(session, ext) for ext in session.execute(q).scalars()]


def get_extension(engine: Engine, extension_id: int) -> dict[str, Any]:
    """One extension request (keys of ``list_extensions``); ``NotFound`` naming it when there is none."""
    with transaction(engine) as session:
        ext = session.get(ExtensionRow, extension_id)
        if ext is None:
            raise _bad(NotFound, "extension", extension_id, "does not exist", message=f"no extension request #{extension_id}")
        return _extension_json(session, ext)
