"""A supporting unit's part (配合单位报送) waits for the lead unit or the office to accept it.

Who counts at once: the lead unit, a co-lead unit (共同牵头), a member of the lead's or a co-lead's group, the
office's own unit, and every entry the office makes itself (CLI, console, sheet, document: the office is the
one that accepts, so what it enters is accepted). A report a supporting unit — or a member of a supporting
group — sends through its own signed link is stored ``pending`` (待确认): it is listed in the task's
progress history, on the lead unit's link page and on the office's task page, but changes no item: the
milestone's quantity, its closing, the lights, chases and the weekly report do not see it. Event
``progress.pending``.

Accepting it (the lead unit or a co-lead unit through its link — never the part's own unit, never a supporting
unit — the office through `duban progress accept` or the console)
makes it count from that day (``counted_on``, the plan's day of the decision):

- a milestone's done quantity: the part is ADDED to the milestone's cumulative figure (the supporting unit
  reports what it did itself; the lead unit's own cumulative figures, reported later, replace the total as
  before and so include the parts it accepted);
- a milestone's percent: the milestone's percent becomes the part's if it is higher (percents do not add);
- a period's count and amount: added, as every report's are.

The item closes when the target is reached then (``item.closed``, the part's note as evidence). Event
``progress.accepted`` naming who accepted (a console user, or the lead unit and its link).

Refusing it needs a reason; the part never counts. Event ``progress.refused`` with the reason, shown in the
task's history and to the supporting unit on its link page. A part is decided once.

A refusal tells the supporting unit by a notice (``_tell_refused``): a 配合单位报送未予采纳通知 (kind
``part_refused``: what it reported, the reason, what to do next, with its signed link when the letter carries
one), written in the decision's transaction with the key ``part-refused:<report id>`` (inserted once, whatever
retries), addressed to the unit as the sweep's notices are (role ``unit``), and delivered by ``duban deliver``
like every notice — held while the office holds the task's notices or the unit has no address, and, decided
for a replayed day, until DUBAN_ALLOW_REPLAY_MAIL=1 — exactly as a closing request's answer
(``workflows.closing_service``). The event names the notice (``notice_key``). Accepting writes none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from duban.matrix.errors import NotFound, Refused
from duban.matrix.script import unit_key
from duban.store.evidence import Evidence, EvidenceStore
from duban.store.tables import (
    TASK_UNIT_CO_LEAD,
    EventRow,
    MilestoneRow,
    PlanRow,
    ProgressReportRow,
    RecurrenceInstanceRow,
    RecurrenceRow,
    TaskRow,
    TaskUnitRow,
    UnitRow,
)
from duban.workflows.progress_items import Item, _event, _item_json, _item_ref, _milestone_number, _today
from duban.workflows.progress_parse import _bad, _json_number

PENDING, ACCEPTED, REFUSED, COUNTED = "pending", "accepted", "refused", "counted"


def needs_acceptance(session: Session, plan: PlanRow, task: TaskRow, unit: UnitRow) -> bool:
    """True for a supporting unit of the task, or a member of a supporting group only (not of the lead's or
    a co-lead's group); False for the lead, a co-lead, their groups' members and the office's own unit."""
    if unit.id == task.lead_unit_id or unit.is_office or (plan.office_unit_id is not None and unit.id == plan.office_unit_id):
        return False
    roles = dict(session.execute(sa.select(TaskUnitRow.unit_id, TaskUnitRow.role).where(
        TaskUnitRow.task_id == task.id)).all())
    if unit.id in roles:
        return roles[unit.id] != TASK_UNIT_CO_LEAD
    groups = {unit_key(g) for g in unit.member_of}
    if not groups:
        return True
    leading = [task.lead_unit_id, *(uid for uid, role in roles.items() if role == TASK_UNIT_CO_LEAD)]
    keys = {k for (k,) in session.execute(sa.select(UnitRow.key).where(UnitRow.id.in_(leading)))}
    return not (groups & keys)


def _pending(session: Session, *, now: dt.datetime, plan_row: PlanRow, task_row: TaskRow, unit_row: UnitRow,
             kind: str, item: Item, number: int | None, rec: RecurrenceRow | None,
             values: tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None], data: dict[str, Any],
             reported_by: str, on: dt.date, source: str, files: Sequence[Evidence],
             store: EvidenceStore | None) -> dict[str, Any]:
    """A supporting unit's part stored ``pending``: the report row and its files, no change to the item."""
    from duban.workflows.progress_evidence import store_files

    done_q, percent_q, count_q, amount_q = values
    report = ProgressReportRow(
        task_id=task_row.id, milestone_id=item.id if kind == "milestone" else None,
        instance_id=item.id if kind == "instance" else None, unit_id=unit_row.id, kind="report",
        done_quantity=done_q, done_percent=percent_q, done_count=None if count_q is None else int(count_q),
        done_amount=amount_q, note=data["note"], reported_by=reported_by or "", reported_on=on, recorded_at=now,
        source=source, state=PENDING)
    session.add(report)
    session.flush()
    for name, value in (("done", done_q), ("percent", percent_q), ("amount", amount_q)):
        if value is not None:
            data[name] = _json_number(value)
    if count_q is not None:
        data["count"] = int(count_q)
    data.update(report_id=report.id, state=PENDING)
    if files:
        if store is None:
            raise ValueError("evidence files need the evidence store to keep them in")
        data["files"] = [ev.name for ev in files]
    session.execute(sa.insert(EventRow), [_event(now, "progress.pending", plan_row.id or 0, task_row.id or 0,
                                                 reported_by or unit_row.name, data)])
    session.flush()
    if files and store is not None:
        store_files(session, store, report.id or 0, list(files), now)
    lead = session.execute(sa.select(UnitRow.name).where(UnitRow.id == task_row.lead_unit_id)).scalar()
    return {"task": task_row.code, "plan": plan_row.code, "unit": unit_row.name,
            "item": _item_json(kind, item, number, rec), "report_id": report.id, "state": PENDING,
            "warnings": [f"待确认：配合单位报送的部分须经牵头单位（{lead}）或督办部门确认后计入 "
                         f"(pending: counts once the lead unit {lead} or the office accepts it)"],
            "files": [{"name": ev.name, "sha256": ev.sha256, "size": ev.size, "content_type": ev.content_type}
                      for ev in files]}


def _the_pending(session: Session, report_id: int) -> tuple[ProgressReportRow, TaskRow, PlanRow, UnitRow]:
    report = session.execute(sa.select(ProgressReportRow).where(ProgressReportRow.id == report_id)
                             .with_for_update()).scalar_one_or_none()
    if report is None:
        raise _bad(NotFound, "report", report_id, "is not a progress report",
                   message=f"no progress report #{report_id} (duban progress pending lists the parts waiting)")
    task = session.get(TaskRow, report.task_id)
    assert task is not None
    plan = session.get(PlanRow, task.plan_id)
    unit = session.get(UnitRow, report.unit_id)
    assert plan is not None and unit is not None
    if report.state != PENDING:
        said = {ACCEPTED: "already accepted", REFUSED: "already refused", COUNTED: "not waiting: it counted at once"}
        raise _bad(Refused, "report", report_id, said.get(report.state, report.state),
                   message=f"progress report #{report_id} ({unit.name}, task {task.code}) is "
                           f"{said.get(report.state, report.state)}"
                           + (f" by {report.decided_by}" if report.decided_by else ""))
    return report, task, plan, unit


def leading_units(session: Session, task: TaskRow) -> set[int]:
    """The task's lead unit and its co-lead units (共同牵头): the units that decide its supporting parts."""
    co = session.execute(sa.select(TaskUnitRow.unit_id).where(
        TaskUnitRow.task_id == task.id, TaskUnitRow.role == TASK_UNIT_CO_LEAD)).scalars()
    return {task.lead_unit_id, *co}


def _require_decider(session: Session, task: TaskRow, report: ProgressReportRow, unit_id: int | None) -> None:
    """A link's unit decides a part only when it leads or co-leads the task, and never its own part."""
    if unit_id is None:
        return  # the office
    if unit_id == report.unit_id:
        raise _bad(Refused, "report", report.id, "is the deciding unit's own part",
                   message=f"a unit may not accept or refuse its own part (progress report #{report.id}, "
                           f"task {task.code})")
    if unit_id not in leading_units(session, task):
        lead = session.execute(sa.select(UnitRow.name).where(UnitRow.id == task.lead_unit_id)).scalar()
        raise _bad(Refused, "report", report.id, f"is for a lead or co-lead unit of task {task.code} to decide",
                   message=f"only the lead unit ({lead}), a co-lead unit or the office may accept or refuse "
                           f"parts of task {task.code}")


def _item_of(session: Session, report: ProgressReportRow) -> tuple[str, Item, int | None, RecurrenceRow | None]:
    if report.milestone_id is not None:
        m = session.execute(sa.select(MilestoneRow).where(MilestoneRow.id == report.milestone_id)
                            .with_for_update()).scalar_one()
        return "milestone", m, _milestone_number(session, m), None
    inst = session.execute(sa.select(RecurrenceInstanceRow).where(RecurrenceInstanceRow.id == report.instance_id)
                           .with_for_update()).scalar_one()
    return "instance", inst, None, session.get(RecurrenceRow, inst.recurrence_id)


def decide(session: Session, *, report_id: int, accept: bool, now: dt.datetime, actor: str, reason: str = "",
           lead_unit_id: int | None = None) -> dict[str, Any]:
    """Accept or refuse a pending part inside the caller's transaction (``lead_unit_id``: the deciding link's
    unit, which must lead or co-lead the task and may not have sent the part; None: the office). Every check
    comes before the first write."""
    from duban.workflows.progress_record import _apply_instance, _target_reached

    reason = (reason or "").strip()
    report, task, plan, unit = _the_pending(session, report_id)
    _require_decider(session, task, report, lead_unit_id)
    if not accept and not reason:
        raise _bad(Refused, "reason", "", "is required to refuse a part",
                   message=f"refusing progress report #{report_id} needs a reason (--reason), for {unit.name} to read")
    kind, item, number, rec = _item_of(session, report)
    today = _today(now, plan)
    data: dict[str, Any] = {**_item_ref(kind, item, number), "report_id": report.id, "unit": unit.name,
                            "reason": reason}
    events = []
    if accept:
        if kind == "milestone":
            assert isinstance(item, MilestoneRow)
            if report.done_quantity is not None:
                before = Decimal(str(item.done_quantity)) if item.done_quantity is not None else Decimal(0)
                item.done_quantity = before + Decimal(str(report.done_quantity))
                data.update(part=_json_number(report.done_quantity), done=_json_number(item.done_quantity))
                if report.done_percent is None and item.quantity:
                    derived = min(Decimal(100), Decimal(str(item.done_quantity)) * 100 / Decimal(str(item.quantity)))
                    item.done_percent = derived.quantize(Decimal("0.1"))
            if report.done_percent is not None:
                part = Decimal(str(report.done_percent))
                if item.done_percent is None or part > Decimal(str(item.done_percent)):
                    item.done_percent = part
                data.update(percent_part=_json_number(part), percent=_json_number(item.done_percent))
        else:
            _apply_instance(item, None if report.done_count is None else Decimal(report.done_count),
                            None if report.done_amount is None else Decimal(str(report.done_amount)), data)
        item.last_report_at = now
        if item.closed_at is None and _target_reached(kind, item, rec):
            item.closed_at, item.closed_by, item.evidence = now, actor, report.note
            events.append(_event(now, "item.closed", plan.id or 0, task.id or 0, actor,
                                 {**_item_ref(kind, item, number), "reason": "target reached", "evidence": report.note,
                                  "unit": unit.name, "report_id": report.id}))
    report.state = ACCEPTED if accept else REFUSED
    report.decided_at, report.decided_by, report.decision_note = now, actor, reason
    report.counted_on = today if accept else None
    if not accept:
        decider = "" if lead_unit_id is None else session.execute(
            sa.select(UnitRow.name).where(UnitRow.id == lead_unit_id)).scalar() or ""
        data["notice_key"] = _tell_refused(session, report, task, plan, kind, item, rec, unit.name, decider, now)
    events.insert(0, _event(now, "progress.accepted" if accept else "progress.refused", plan.id or 0, task.id or 0,
                            actor, data))
    session.execute(sa.insert(EventRow), events)
    session.flush()
    return {"report_id": report.id, "task": task.code, "plan": plan.code, "unit": unit.name, "state": report.state,
            "decided_by": actor, "reason": reason, "counted_on": today.isoformat() if accept else None,
            "item": _item_json(kind, item, number, rec)}


def _number(value: Any) -> str:
    return format(Decimal(str(value)).normalize(), "f")


def _what(report: ProgressReportRow, item: Item, rec: RecurrenceRow | None) -> str:
    """What a part reported, as a letter says it: 3村, 30%, 2次, 5万元 ("" a note only)."""
    measure = item.measure if isinstance(item, MilestoneRow) else None
    return "，".join(x for x in (
        f"{_number(report.done_quantity)}{measure or ''}" if report.done_quantity is not None else "",
        f"{_number(report.done_percent)}%" if report.done_percent is not None else "",
        f"{report.done_count}次" if report.done_count is not None else "",
        f"{_number(report.done_amount)}{(rec.amount_unit if rec else None) or ''}" if report.done_amount is not None
        else "") if x)


def _tell_refused(session: Session, report: ProgressReportRow, task: TaskRow, plan: PlanRow, kind: str, item: Item,
                  rec: RecurrenceRow | None, unit_name: str, decider: str, now: dt.datetime) -> str:
    """Write the notice that tells the supporting unit its part was refused (kind ``part_refused``), pending for
    delivery; returns its key. The key (``part-refused:<report id>``) is the notice's identity: inserted with ON
    CONFLICT DO NOTHING, a retry never writes a second one. As ``closing_service._tell_unit``: the notice keeps
    what the letter says as it was decided (``data["part"]``) and ``written_at``, the real time it was written,
    by which delivery tells a decision made for a replayed day (``--as-of``)."""
    from duban.store.supervision import _insert_ignore
    from duban.store.tables import NoticeRow
    from duban.workflows.progress_evidence import files_by_report
    from duban.workflows.progress_items import _effective_due

    key = f"part-refused:{report.id}"
    decided_on = _today(now, plan)
    facts = {"report": report.id, "unit": unit_name, "reported_on": report.reported_on.isoformat(),
             "reported_by": report.reported_by, "done": _what(report, item, rec), "note": report.note,
             "files": [f["name"] for f in files_by_report(session, [report.id or 0]).get(report.id or 0, [])], "decided_on": decided_on.isoformat(),
             "decided_by": decider, "reason": report.decision_note}
    session.execute(_insert_ignore(session, NoticeRow.__table__, ("key",)), [{
        "key": key, "series": key, "kind": "part_refused", "level": 0, "plan_id": plan.id, "task_id": task.id,
        "milestone_id": item.id if kind == "milestone" else None, "instance_id": item.id if kind == "instance" else None,
        "due": _effective_due(item), "days": 0, "planned_for": decided_on,
        "recipients": [{"role": "unit", "name": unit_name}], "cc": [], "sweep_id": None, "created_at": now,
        "status": "pending", "attempts": 0, "last_error": "", "acknowledged_by": "",
        "data": {"part": facts, "written_at": dt.datetime.now(dt.UTC).isoformat()}}])
    return key


def _scoped(q: Any, *, plan: str | None, plans: Sequence[str] | None, task_id: int | None, lead_unit_id: int | None,
            unit_id: int | None, decider_unit_id: int | None, states: Sequence[str], report_id: int | None = None) -> Any:
    p = ProgressReportRow
    q = q.where(p.state.in_(list(states)))
    if report_id is not None:
        q = q.where(p.id == report_id)
    if plan is not None:
        q = q.where(PlanRow.code == plan)
    if plans is not None:
        q = q.where(PlanRow.code.in_(list(plans)))
    if task_id is not None:
        q = q.where(p.task_id == task_id)
    if lead_unit_id is not None:
        q = q.where(TaskRow.lead_unit_id == lead_unit_id)
    if unit_id is not None:
        q = q.where(p.unit_id == unit_id)
    if decider_unit_id is not None:
        co_led = sa.select(TaskUnitRow.task_id).where(TaskUnitRow.unit_id == decider_unit_id,
                                                      TaskUnitRow.role == TASK_UNIT_CO_LEAD)
        q = q.where(sa.or_(TaskRow.lead_unit_id == decider_unit_id, p.task_id.in_(co_led)),
                    p.unit_id != decider_unit_id)
    return q


def count_pending(session: Session, *, plans: Sequence[str] | None = None, states: Sequence[str] = (PENDING,)) -> int:
    """How many parts in ``states`` (default: waiting) the plans ``plans`` hold (None: every plan)."""
    q = (sa.select(sa.func.count()).select_from(ProgressReportRow)
         .join(TaskRow, TaskRow.id == ProgressReportRow.task_id).join(PlanRow, PlanRow.id == TaskRow.plan_id))
    q = _scoped(q, plan=None, plans=plans, task_id=None, lead_unit_id=None, unit_id=None, decider_unit_id=None,
                states=states)
    return int(session.execute(q).scalar() or 0)


def pending_page(engine: Any, *, plans: Sequence[str], limit: int, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """The parts waiting in ``plans`` (a console user's visible plans), oldest first: ``(how many in all, the
    ``limit`` from ``offset``)``, each as ``pending`` lists them. Reads only (the console's /parts)."""
    from duban.store.db import transaction

    with transaction(engine) as session:
        total = count_pending(session, plans=plans)
        rows = pending(session, plans=plans, limit=limit, offset=offset)
        session.rollback()
        return total, rows


def pending(session: Session, *, plan: str | None = None, task_id: int | None = None,
            lead_unit_id: int | None = None, unit_id: int | None = None, decider_unit_id: int | None = None,
            states: Sequence[str] = (PENDING,), plans: Sequence[str] | None = None, limit: int | None = None,
            offset: int = 0, report_id: int | None = None) -> list[dict[str, Any]]:
    """Parts in ``states`` (default: waiting), oldest first, narrowed to a plan code (or ``plans``), a task, the
    tasks a unit leads, the parts a unit sent, or the parts a unit may decide (``decider_unit_id``: of the tasks it leads or
    co-leads, not its own): ``[{report_id, plan, task, title, lead_unit, unit, item (#N or the period's
    due), milestone, period, done, percent, count, amount, measure, note, reported_on, reported_by, source, state,
    decided_by, decided_at, reason, files}]``; ``limit`` and ``offset`` page them; ``report_id``: that part only."""
    from duban.workflows.progress_evidence import files_by_report

    p, m, i = ProgressReportRow, MilestoneRow, RecurrenceInstanceRow
    lead = aliased(UnitRow)
    q = (sa.select(p, TaskRow.code, TaskRow.title, PlanRow.code, UnitRow.name, lead.name, m, i.period_start, i.due)
         .join(TaskRow, TaskRow.id == p.task_id).join(PlanRow, PlanRow.id == TaskRow.plan_id)
         .join(UnitRow, UnitRow.id == p.unit_id).join(lead, lead.id == TaskRow.lead_unit_id)
         .outerjoin(m, m.id == p.milestone_id).outerjoin(i, i.id == p.instance_id)
         .order_by(p.recorded_at, p.id))
    q = _scoped(q, plan=plan, plans=plans, task_id=task_id, lead_unit_id=lead_unit_id, unit_id=unit_id,
                decider_unit_id=decider_unit_id, states=states, report_id=report_id)
    if limit is not None:
        q = q.limit(limit).offset(offset)
    rows = session.execute(q).all()
    files = files_by_report(session, [r.id for r, *_ in rows])
    out = []
    for r, code, title, plan_code, unit, lead_name, ms, period, due in rows:
        number = _milestone_number(session, ms) if ms is not None else None
        out.append({
            "report_id": r.id, "plan": plan_code, "task": code, "title": title, "lead_unit": lead_name, "unit": unit,
            "item": f"#{number}" if number is not None else (due.isoformat() if due else ""), "milestone": number,
            "period": period.isoformat() if period else None, "measure": ms.measure if ms is not None else None,
            "done": _json_number(r.done_quantity), "percent": _json_number(r.done_percent), "count": r.done_count,
            "amount": _json_number(r.done_amount), "note": r.note, "reported_on": r.reported_on.isoformat(),
            "reported_by": r.reported_by, "source": r.source, "state": r.state, "decided_by": r.decided_by,
            "decided_at": r.decided_at.astimezone(dt.UTC).isoformat() if r.decided_at else None,
            "reason": r.decision_note, "files": files.get(r.id, [])})
    return out
