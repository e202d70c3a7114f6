"""Which plan, task, unit and item a report means: resolving codes and names, who may report (lead,
supporting, member of a group), the milestone or period (instances created on demand), and an item as JSON.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from duban.matrix.errors import NotFound, Refused
from duban.matrix.model import Recurrence, named_for
from duban.matrix.script import fold_width, unit_key
from duban.store import repository as repo
from duban.store.tables import (
    MilestoneRow,
    PlanRow,
    RecurrenceInstanceRow,
    RecurrenceRow,
    TaskRow,
    TaskUnitRow,
    UnitRow,
)
from duban.workflows.progress_parse import _bad, _json_number

Item = MilestoneRow | RecurrenceInstanceRow


def _today(now: dt.datetime, plan: PlanRow) -> dt.date:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(ZoneInfo(plan.timezone or "Asia/Shanghai")).date()


def _event(now: dt.datetime, kind: str, plan_id: int, task_id: int, actor: str, data: dict) -> dict[str, Any]:
    return {"at": now, "kind": kind, "plan_id": plan_id, "task_id": task_id, "actor": actor, "data": data}


def _plan(session: Session, plan: str | None) -> PlanRow:
    try:
        return repo.plan_row(session, plan)
    except NotFound as e:
        raise _bad(NotFound, "plan", plan, "", message=str(e)) from None


def _task(session: Session, plan: PlanRow, code: str) -> TaskRow:
    code = fold_width(str(code)).strip()
    row = session.execute(sa.select(TaskRow).where(TaskRow.plan_id == plan.id, TaskRow.code == code)).scalar_one_or_none()
    if row is None:
        raise _bad(NotFound, "task", code, f"is not a task of plan {plan.code}",
                   message=f"no task {code!r} in plan {plan.code}")
    if row.archived_at is not None:
        raise _bad(Refused, "task", code, f"is archived in plan {plan.code}",
                   message=f"task {code} of plan {plan.code} is archived; it takes no reports")
    return row


def _unit(session: Session, name: str, plan_code: str | None = None) -> UnitRow:
    """The unit ``name`` stands for; a group name, the plan's own group (``plan_code``)."""
    name = str(name or "").strip()
    if not name:
        raise _bad(Refused, "unit", name, "is missing", message="unit: no unit given")
    try:
        return repo.find_unit(session, name, plan_code)
    except NotFound as e:
        raise _bad(NotFound, "unit", name, "is not in the unit directory", message=str(e)) from None


def _unit_name(session: Session, unit_id: int) -> str:
    return session.execute(sa.select(UnitRow.name).where(UnitRow.id == unit_id)).scalar_one()


def _role(session: Session, task: TaskRow, unit: UnitRow) -> str | None:
    """"lead", "supporting", "member" (of the lead or a supporting group), or None."""
    if unit.id == task.lead_unit_id:
        return "lead"
    supporting = [uid for (uid,) in session.execute(sa.select(TaskUnitRow.unit_id).where(TaskUnitRow.task_id == task.id))]
    if unit.id in supporting:
        return "supporting"
    groups = {unit_key(g) for g in unit.member_of}
    if groups:
        keys = {k for (k,) in session.execute(sa.select(UnitRow.key).where(UnitRow.id.in_([task.lead_unit_id, *supporting])))}
        if groups & keys:
            return "member"
    return None


def _require_responsible(session: Session, task: TaskRow, unit: UnitRow) -> str:
    role = _role(session, task, unit)
    if role is None:
        lead = _unit_name(session, task.lead_unit_id)
        raise _bad(Refused, "unit", unit.name, f"is not responsible for task {task.code}",
                   message=f"{unit.name} is not responsible for task {task.code}: not its lead unit ({lead}), "
                           "not a supporting unit and not a member of a supporting group",
                   hint=f"the lead unit is {lead}")
    return role


def _require_lead(session: Session, task: TaskRow, unit: UnitRow, what: str) -> None:
    if unit.id != task.lead_unit_id:
        lead = _unit_name(session, task.lead_unit_id)
        raise _bad(Refused, "unit", unit.name, f"is not the lead unit of task {task.code}",
                   message=f"only the lead unit ({lead}) may {what} task {task.code}; {unit.name} is not it",
                   hint=f"the lead unit is {lead}")


def _effective_due(item: Item) -> dt.date:
    return item.extended_due or item.due


def _milestones(session: Session, task: TaskRow, *, lock: bool = False) -> list[MilestoneRow]:
    q = (sa.select(MilestoneRow).where(MilestoneRow.task_id == task.id, MilestoneRow.archived_at.is_(None))
         .order_by(MilestoneRow.seq))
    if lock:
        q = q.with_for_update()
    return list(session.execute(q).scalars())


def _to_recurrence(row: RecurrenceRow) -> Recurrence:
    return Recurrence(freq=row.freq, rule=row.rule, anchor=row.anchor, min_count=row.min_count,
                      min_amount=None if row.min_amount is None else Decimal(str(row.min_amount)),
                      amount_unit=row.amount_unit, start=row.start, until=row.until, label=row.label,
                      ongoing=row.ongoing, beneficiary=row.beneficiary)


def _ensure_period(session: Session, task: TaskRow, on: dt.date) -> None:
    """Make sure the instances whose period contains ``on`` exist (they may not be due yet)."""
    from duban.matrix.deadlines import instances
    from duban.store.supervision import ensure_instances, office_calendar

    cal = office_calendar(session)  # the calendar the sweep counts working-day dues on
    ensure_instances(session, through=on, task_ids=[task.id], calendar=cal)
    nexts = []
    for rec in session.execute(sa.select(RecurrenceRow).where(RecurrenceRow.task_id == task.id,
                                                              RecurrenceRow.archived_at.is_(None))).scalars():
        upcoming = instances(_to_recurrence(rec), on, on + dt.timedelta(days=370), cal)
        if upcoming:
            nexts.append(upcoming[0])
    if nexts and max(nexts) > on:
        ensure_instances(session, through=max(nexts), task_ids=[task.id], calendar=cal)


def _beneficiary(task: TaskRow, recurrences: list[RecurrenceRow], given: str | None) -> str | None:
    """The stored name of the beneficiary a report means (either script), or None for a task owed once.
    A task owed to each of several beneficiaries needs one named; a task owed once takes none."""
    names = list(dict.fromkeys(r.beneficiary for r in recurrences if r.beneficiary))
    listed = "、".join(names)
    if given is None or not str(given).strip():
        if names:
            raise _bad(Refused, "beneficiary", "", f"is missing: task {task.code} is owed to each of {listed}",
                       message=f"task {task.code} is owed to each of its beneficiaries ({listed}); "
                               "name the one this report is for with --beneficiary",
                       hint=f"e.g. --beneficiary {names[0]}")
        return None
    if not names:
        raise _bad(Refused, "beneficiary", given, f"is given, but task {task.code} is not owed per beneficiary",
                   message=f"task {task.code} lists no beneficiaries; report without --beneficiary")
    found = next((n for n in names if unit_key(n) == unit_key(str(given).strip())), None)
    if found is None:
        raise _bad(NotFound, "beneficiary", given, f"is not a beneficiary of task {task.code}",
                   message=f"{given} is not a beneficiary of task {task.code} ({listed})", hint=f"one of {listed}")
    return found


def _instance(session: Session, task: TaskRow, on: dt.date, *, field: str,
              beneficiary: str | None = None) -> tuple[RecurrenceInstanceRow, RecurrenceRow]:
    recurrences = session.execute(sa.select(RecurrenceRow).where(RecurrenceRow.task_id == task.id,
                                                                 RecurrenceRow.archived_at.is_(None))).scalars().all()
    if not recurrences:
        raise _bad(Refused, field, on.isoformat(), f"names a period, but task {task.code} has no recurring obligation",
                   message=f"task {task.code} has no recurring obligation; report on a milestone (done/percent) instead")
    owed = _beneficiary(task, list(recurrences), beneficiary)
    recurrences = [r for r in recurrences if r.beneficiary == owed]
    _ensure_period(session, task, on)
    found = session.execute(
        sa.select(RecurrenceInstanceRow, RecurrenceRow)
        .join(RecurrenceRow, RecurrenceRow.id == RecurrenceInstanceRow.recurrence_id)
        .where(RecurrenceInstanceRow.task_id == task.id, RecurrenceRow.archived_at.is_(None),
               col(RecurrenceRow.beneficiary).is_not_distinct_from(owed),
               RecurrenceInstanceRow.period_start <= on, RecurrenceInstanceRow.due >= on)
        .order_by(RecurrenceInstanceRow.due, RecurrenceRow.seq).limit(1).with_for_update(of=RecurrenceInstanceRow)
    ).first()
    if found is None:
        spans = "; ".join(f"{named_for(r.label or r.freq, r.beneficiary)} from {r.start or 'the plan start'} "
                          f"to {r.until or 'the plan end'}" for r in recurrences)
        raise _bad(Refused, field, on.isoformat(), f"is in no period of task {task.code} ({spans})",
                   message=f"no period of task {task.code} contains {on.isoformat()} ({spans})")
    return found[0], found[1]


def _pick(session: Session, task: TaskRow, *, milestone: int | None, period: dt.date | None, on: dt.date,
          want: str | None, beneficiary: str | None = None) -> tuple[str, Item, int | None, RecurrenceRow | None]:
    """The item a call means: (kind, row, 1-based milestone number, recurrence); ``beneficiary`` picks
    that household's (or village's) series of a task owed to each."""
    if beneficiary is not None and str(beneficiary).strip():
        if milestone is not None or want == "milestone":
            raise _bad(Refused, "beneficiary", beneficiary, "names a recurring obligation's series, not a milestone",
                       message="--beneficiary picks a period of a recurring obligation (count/amount); "
                               "milestones are not owed per beneficiary")
        inst, rec = _instance(session, task, period or on, field="period" if period else "reported_on", beneficiary=beneficiary)
        return "instance", inst, None, rec
    if milestone is not None and period is not None:
        raise _bad(Refused, "milestone", milestone, "and a period were both given",
                   message=f"give either a milestone ({milestone}) or a period ({period.isoformat()}), not both")
    if milestone is not None:
        if want == "instance":
            raise _bad(Refused, "milestone", milestone, "takes done/percent, not count/amount",
                       message=f"count and amount are for a recurring obligation's period; milestone {milestone} takes done/percent")
        rows = _milestones(session, task, lock=True)
        if milestone < 1 or milestone > len(rows):
            raise _bad(Refused, "milestone", milestone, f"does not exist: task {task.code} has {len(rows)} milestone(s)",
                       message=f"milestone {milestone} does not exist: task {task.code} has {len(rows)} milestone(s)")
        return "milestone", rows[milestone - 1], milestone, None
    if period is not None:
        if want == "milestone":
            raise _bad(Refused, "period", period.isoformat(), "takes count/amount, not done/percent",
                       message="done and percent are for a milestone; a period takes count/amount")
        inst, rec = _instance(session, task, period, field="period", beneficiary=beneficiary)
        return "instance", inst, None, rec
    rows = _milestones(session, task, lock=True) if want != "instance" else []
    if want == "milestone" or (want is None and rows):
        if not rows:
            raise _bad(Refused, "task", task.code, "has no milestones",
                       message=f"task {task.code} has no milestones; report --count/--amount for a period instead")
        open_rows = [(i, r) for i, r in enumerate(rows, start=1) if r.closed_at is None]
        if not open_rows:
            raise _bad(Refused, "milestone", "", f"every milestone of task {task.code} is closed",
                       message=f"every milestone of task {task.code} is closed")
        number, row = min(open_rows, key=lambda p: (_effective_due(p[1]), p[0]))
        return "milestone", row, number, None
    inst, rec = _instance(session, task, on, field="reported_on", beneficiary=beneficiary)
    return "instance", inst, None, rec


def _item_json(kind: str, item: Item, number: int | None, rec: RecurrenceRow | None) -> dict[str, Any]:
    milestone = kind == "milestone"
    return {
        "kind": kind,
        "id": item.id,
        "seq": number if milestone else None,
        "period": None if milestone else item.period_start.isoformat(),
        "due": _effective_due(item).isoformat(),
        "planned_due": item.due.isoformat(),
        "extended_due": item.extended_due.isoformat() if item.extended_due else None,
        "quantity": _json_number(item.quantity) if milestone else None,
        "measure": item.measure if milestone else None,
        "done_quantity": _json_number(item.done_quantity) if milestone else None,
        "percent": _json_number(item.done_percent) if milestone else None,
        "beneficiary": getattr(rec, "beneficiary", None),
        "min_count": None if milestone else rec.min_count,
        "min_amount": None if milestone else _json_number(rec.min_amount),
        "amount_unit": None if milestone else rec.amount_unit,
        "done_count": None if milestone else item.done_count,
        "done_amount": None if milestone else _json_number(item.done_amount),
        "closed": item.closed_at is not None,
        "closed_at": item.closed_at.astimezone(dt.UTC).isoformat() if item.closed_at else None,  # as history shows it
        "closed_by": item.closed_by,
        "evidence": item.evidence,
    }


def _item_ref(kind: str, item: Item, number: int | None) -> dict[str, Any]:
    """How events name an item."""
    if kind == "milestone":
        return {"item": "milestone", "milestone_id": item.id, "milestone": number, "due": item.due.isoformat()}
    return {"item": "instance", "instance_id": item.id, "period": item.period_start.isoformat(), "due": item.due.isoformat()}


def _milestone_number(session: Session, row: MilestoneRow) -> int:
    seqs = [s for (s,) in session.execute(sa.select(MilestoneRow.seq).where(
        MilestoneRow.task_id == row.task_id, MilestoneRow.archived_at.is_(None)).order_by(MilestoneRow.seq))]
    return seqs.index(row.seq) + 1 if row.seq in seqs else row.seq + 1


def _require_open(task: TaskRow, kind: str, item: Item, number: int | None, what: str) -> None:
    if item.closed_at is not None:
        name = f"milestone {number}" if kind == "milestone" else f"the period {item.period_start}–{item.due}"
        raise _bad(Refused, "milestone" if kind == "milestone" else "period", number if kind == "milestone" else item.period_start,
                   "is already closed",
                   message=f"{name} of task {task.code} is already closed (辦結 {item.closed_at.date().isoformat()}"
                           + (f" by {item.closed_by}" if item.closed_by else "") + f"); it takes no {what}")
