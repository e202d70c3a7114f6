"""What units send back: progress reports (進展報送), closing (辦結) and extension requests (延期申請).

Plain functions over an engine, one transaction per call; ``now`` is always a parameter (aware), and
"today" is ``now``'s date in the plan's time zone. Every change appends an event to the task's history.

An *item* is what is supervised: a milestone (節點) of a task, or one period (instance) of a recurring
obligation (每月…不少於1次). Which one a call means:

- ``milestone=N`` is the 1-based position of the milestone in the task (as ``matrix show`` lists them);
  ``period=D`` is the recurrence instance with ``period_start ≤ D ≤ due`` (the plan's due, not an
  extended one). Giving both is refused.
- Neither given: ``count``/``amount`` mean a recurring obligation, ``done``/``percent`` a milestone;
  a note-only report (or a close) means the earliest milestone not closed (by effective due =
  ``extended_due or due``), or, when the task has no milestones, the instance containing the report
  date. Instances are created on demand (``store.supervision.ensure_instances``), including the one
  whose period contains the date but is not due yet. A task with several recurrences uses the
  instance due first (then the first recurrence).

Quantities:

- A milestone's ``done`` is CUMULATIVE ("18 of 25 村 done so far") and replaces the stored value. A
  value lower than the previous one is allowed (a correction) but recorded as such: the event says
  ``lowered_from`` and the result carries a warning. The same holds for ``percent`` (0–100). When a
  milestone with a quantity is reported without a percent, the stored percent is derived from
  done/quantity (capped at 100).
- An instance's ``count``/``amount`` ACCUMULATE per period ("2 more visits", "300 more 元").
- Text is parsed here (full-width digits allowed, a trailing % on percent), so a bad value is refused
  with its own text quoted: ``done: '十八' is not a number``.

Closing (辦結): a report closes its item when the target is reached — a milestone whose done
quantity reaches its quantity, a milestone without a quantity reported at 100 %, an instance whose
count and amount reach the recurrence's minimums (a recurrence without minimums needs one occurrence)
— with the report's note as evidence. ``close_item`` closes explicitly with evidence; only the lead
unit may. Reporting on, closing or extending a closed item is refused.

Who may report: the lead unit, a supporting unit, or a member (``UnitRow.member_of``) of the lead or
a supporting group (區水務局 reports on tasks supported by 區級各部門). Only the lead unit itself may
close and request extensions.

Extensions: only the lead unit files; the reason is required; the new due date must be after the
current effective due; one pending request per item at a time. A request filed after the effective
due date is recorded as refused ("late") and then raised as ``Refused`` — the refusal is history.
Approval moves ``extended_due`` and clears ``first_overdue_on`` and ``ladder`` (a new overdue cycle
freezes a fresh ladder; notices already sent stay).

Refusals change nothing (the transaction is rolled back); each error carries ``field``, ``text`` and
``reason`` so that ``import_progress`` can list every bad row as a Problem.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from duban.matrix.errors import DubanError, NotFound, Problem, Refused, ValidationFailed
from duban.matrix.model import Recurrence
from duban.matrix.script import fold, fold_width, unit_key
from duban.store import repository as repo
from duban.store.db import transaction
from duban.store.tables import (
    EventRow,
    ExtensionRow,
    MilestoneRow,
    PlanRow,
    ProgressReportRow,
    RecurrenceInstanceRow,
    RecurrenceRow,
    TaskRow,
    TaskUnitRow,
    UnitRow,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from duban.matrix.limits import InputLimits

Item = Union[MilestoneRow, RecurrenceInstanceRow]
Number = Union[str, int, float, Decimal, None]

EXTENSION_STATUSES = ("pending", "approved", "refused")
_LIMIT = Decimal(10) ** 14  # Numeric(18, 4) holds 14 digits before the point


# --------------------------------------------------------------------------------------------
# Errors that know their field (for the rows of an import)


def _bad(cls: type[DubanError], field: str, text: Any, reason: str, *, message: str | None = None,
         hint: str = "") -> DubanError:
    err = cls(message or f"{field}: {str(text)!r} {reason}")
    err.field, err.text, err.reason, err.hint = field, "" if text is None else str(text), reason, hint  # type: ignore[attr-defined]
    return err


# --------------------------------------------------------------------------------------------
# Parsing values (text from the command line or a sheet; numbers and dates from an .xlsx)


def _number(field: str, value: Any, *, whole: bool = False, percent: bool = False) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise _bad(Refused, field, value, "is not a number")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    else:
        text = fold_width(str(value)).strip()
        if not text:
            return None
        if percent and text.endswith("%"):
            text = text[:-1].strip()
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise _bad(Refused, field, value, "is not a number", hint="write digits, e.g. 18") from None
    if not number.is_finite():
        raise _bad(Refused, field, value, "is not a number", hint="write digits, e.g. 18")
    if number < 0:
        raise _bad(Refused, field, value, "is negative")
    if abs(number) >= _LIMIT:
        raise _bad(Refused, field, value, "is too large")
    if whole and number != number.to_integral_value():
        raise _bad(Refused, field, value, "is not a whole number")
    if percent and number > 100:
        raise _bad(Refused, field, value, "is more than 100", hint="a percent is 0–100")
    return number


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d")
_MONTH_FORMATS = ("%Y-%m", "%Y/%m", "%Y年%m月")


def _date(field: str, value: Any, *, month_ok: bool = False) -> dt.date | None:
    """A date from a sheet cell or text; ``month_ok`` lets 2018-03 mean the first of that month."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = fold_width(str(value)).strip()
    if not text:
        return None
    text = re.sub(r"\s+", "", text).removesuffix("號").removesuffix("号")
    for fmt in _DATE_FORMATS + (_MONTH_FORMATS if month_ok else ()):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise _bad(Refused, field, value, "is not a date", hint="write YYYY-MM-DD, e.g. 2015-12-04")


def _position(field: str, value: Any) -> int | None:
    number = _number(field, value, whole=True)
    if number is None:
        return None
    if number < 1:
        raise _bad(Refused, field, value, "is not a milestone number", hint="milestones are numbered from 1")
    return int(number)


def _json_number(value: Any) -> int | float | None:
    if value is None:
        return None
    d = Decimal(str(value))
    return int(d) if d == d.to_integral_value() else float(d.normalize())


def _shown(value: Any) -> str:
    if value is None:
        return ""
    d = Decimal(str(value))
    return format(d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize(), "f")


def _today(now: dt.datetime, plan: PlanRow) -> dt.date:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(ZoneInfo(plan.timezone or "Asia/Shanghai")).date()


def _event(now: dt.datetime, kind: str, plan_id: int, task_id: int, actor: str, data: dict) -> dict[str, Any]:
    return {"at": now, "kind": kind, "plan_id": plan_id, "task_id": task_id, "actor": actor, "data": data}


# --------------------------------------------------------------------------------------------
# Resolving plan, task, unit and item


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


def _unit(session: Session, name: str) -> UnitRow:
    name = str(name or "").strip()
    if not name:
        raise _bad(Refused, "unit", name, "is missing", message="unit: no unit given")
    try:
        return repo.find_unit(session, name)
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
                      amount_unit=row.amount_unit, start=row.start, until=row.until, label=row.label)


def _ensure_period(session: Session, task: TaskRow, on: dt.date) -> None:
    """Make sure the instances whose period contains ``on`` exist (they may not be due yet)."""
    from duban.matrix.deadlines import instances
    from duban.store.supervision import ensure_instances

    ensure_instances(session, through=on, task_ids=[task.id])
    nexts = []
    for rec in session.execute(sa.select(RecurrenceRow).where(RecurrenceRow.task_id == task.id,
                                                              RecurrenceRow.archived_at.is_(None))).scalars():
        upcoming = instances(_to_recurrence(rec), on, on + dt.timedelta(days=370))
        if upcoming:
            nexts.append(upcoming[0])
    if nexts and max(nexts) > on:
        ensure_instances(session, through=max(nexts), task_ids=[task.id])


def _instance(session: Session, task: TaskRow, on: dt.date, *, field: str) -> tuple[RecurrenceInstanceRow, RecurrenceRow]:
    recurrences = session.execute(sa.select(RecurrenceRow).where(RecurrenceRow.task_id == task.id,
                                                                 RecurrenceRow.archived_at.is_(None))).scalars().all()
    if not recurrences:
        raise _bad(Refused, field, on.isoformat(), f"names a period, but task {task.code} has no recurring obligation",
                   message=f"task {task.code} has no recurring obligation; report on a milestone (done/percent) instead")
    _ensure_period(session, task, on)
    found = session.execute(
        sa.select(RecurrenceInstanceRow, RecurrenceRow)
        .join(RecurrenceRow, RecurrenceRow.id == RecurrenceInstanceRow.recurrence_id)
        .where(RecurrenceInstanceRow.task_id == task.id, RecurrenceRow.archived_at.is_(None),
               RecurrenceInstanceRow.period_start <= on, RecurrenceInstanceRow.due >= on)
        .order_by(RecurrenceInstanceRow.due, RecurrenceRow.seq).limit(1).with_for_update(of=RecurrenceInstanceRow)
    ).first()
    if found is None:
        spans = "; ".join(f"{r.label or r.freq} from {r.start or 'the plan start'} to {r.until or 'the plan end'}"
                          for r in recurrences)
        raise _bad(Refused, field, on.isoformat(), f"is in no period of task {task.code} ({spans})",
                   message=f"no period of task {task.code} contains {on.isoformat()} ({spans})")
    return found[0], found[1]


def _pick(session: Session, task: TaskRow, *, milestone: int | None, period: dt.date | None, on: dt.date,
          want: str | None) -> tuple[str, Item, int | None, RecurrenceRow | None]:
    """The item a call means: (kind, row, 1-based milestone number, recurrence)."""
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
        inst, rec = _instance(session, task, period, field="period")
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
    inst, rec = _instance(session, task, on, field="reported_on")
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
        "min_count": None if milestone else rec.min_count,
        "min_amount": None if milestone else _json_number(rec.min_amount),
        "amount_unit": None if milestone else rec.amount_unit,
        "done_count": None if milestone else item.done_count,
        "done_amount": None if milestone else _json_number(item.done_amount),
        "closed": item.closed_at is not None,
        "closed_at": item.closed_at.astimezone(dt.timezone.utc).isoformat() if item.closed_at else None,  # as history shows it
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


# --------------------------------------------------------------------------------------------
# Reports and closing


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
            period: dt.date | None = None, source: str = "cli") -> dict[str, Any]:
    """One report inside the caller's transaction. Every check comes before the first write."""
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
    unit_row = _unit(session, unit)
    _require_responsible(session, task_row, unit_row)
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
    want = "milestone" if for_milestone else ("instance" if for_instance else None)
    kind, item, number, rec = _pick(session, task_row, milestone=milestone, period=period, on=on, want=want)
    _require_open(task_row, kind, item, number, "reports")

    warnings: list[str] = []
    data: dict[str, Any] = {**_item_ref(kind, item, number), "unit": unit_row.name, "reported_on": on.isoformat(),
                            "note": note, "source": source}
    if kind == "milestone":
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
    else:
        if count_q is not None:
            item.done_count = (item.done_count or 0) + int(count_q)
            data["count"] = int(count_q)
        if amount_q is not None:
            item.done_amount = (Decimal(str(item.done_amount)) if item.done_amount is not None else Decimal(0)) + amount_q
            data["amount"] = _json_number(amount_q)
    item.last_report_at = now
    report = ProgressReportRow(
        task_id=task_row.id, milestone_id=item.id if kind == "milestone" else None,
        instance_id=item.id if kind == "instance" else None, unit_id=unit_row.id, kind="report",
        done_quantity=done_q, done_percent=percent_q, done_count=None if count_q is None else int(count_q),
        done_amount=amount_q, note=note, reported_by=reported_by or "", reported_on=on, recorded_at=now, source=source,
    )
    session.add(report)
    session.flush()
    data["report_id"] = report.id
    actor = reported_by or unit_row.name
    events = [_event(now, "progress.reported", plan_row.id, task_row.id, actor, data)]
    if _target_reached(kind, item, rec):
        item.closed_at = now
        item.closed_by = reported_by or unit_row.name
        item.evidence = note
        events.append(_event(now, "item.closed", plan_row.id, task_row.id, actor,
                             {**_item_ref(kind, item, number), "reason": "target reached", "evidence": note,
                              "unit": unit_row.name, "report_id": report.id}))
    session.execute(sa.insert(EventRow), events)
    session.flush()
    return {"task": task_row.code, "plan": plan_row.code, "unit": unit_row.name,
            "item": _item_json(kind, item, number, rec), "report_id": report.id, "warnings": warnings}


def _close(session: Session, *, now: dt.datetime, plan: str | None, task: str, unit: str, evidence: str,
           closed_by: str = "", milestone: int | None = None, period: dt.date | None = None,
           source: str = "cli") -> dict[str, Any]:
    evidence = (evidence or "").strip()
    plan_row = _plan(session, plan)
    today = _today(now, plan_row)
    task_row = _task(session, plan_row, task)
    unit_row = _unit(session, unit)
    _require_responsible(session, task_row, unit_row)
    _require_lead(session, task_row, unit_row, "close")
    if not evidence:
        raise _bad(Refused, "evidence", "", "is required", message=f"closing task {task_row.code} needs evidence (佐證)")
    kind, item, number, rec = _pick(session, task_row, milestone=milestone, period=period, on=today, want=None)
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
            "item": _item_json(kind, item, number, rec), "report_id": report.id, "warnings": []}


def report_progress(engine: "Engine", *, task: str, unit: str, now: dt.datetime, plan: str | None = None,
                    done: Number = None, percent: Number = None, count: Number = None, amount: Number = None,
                    note: str = "", reported_by: str = "", reported_on: dt.date | None = None,
                    milestone: int | None = None, period: dt.date | None = None, source: str = "cli") -> dict[str, Any]:
    """Record a unit's report on a task's milestone or period; closes the item when the target is reached.

    Returns ``{task, plan, unit, item: {kind, id, seq, period, due, planned_due, extended_due, quantity,
    measure, done_quantity, percent, min_count, min_amount, amount_unit, done_count, done_amount, closed,
    closed_at, closed_by, evidence}, report_id, warnings}``.
    """
    with transaction(engine) as session:
        return _report(session, now=now, plan=plan, task=task, unit=unit, done=done, percent=percent, count=count,
                       amount=amount, note=note, reported_by=reported_by, reported_on=reported_on,
                       milestone=milestone, period=period, source=source)


def close_item(engine: "Engine", *, task: str, unit: str, now: dt.datetime, evidence: str, closed_by: str = "",
               plan: str | None = None, milestone: int | None = None, period: dt.date | None = None) -> dict[str, Any]:
    """辦結: the lead unit closes a milestone or period with evidence. Same keys as ``report_progress``."""
    with transaction(engine) as session:
        return _close(session, now=now, plan=plan, task=task, unit=unit, evidence=evidence, closed_by=closed_by,
                      milestone=milestone, period=period)


# --------------------------------------------------------------------------------------------
# Bulk import of the sheet units send back

_YES = {fold(s).lower() for s in ("是", "yes", "y", "true", "1", "✓", "√", "辦結", "已辦結")}
_NO = {fold(s).lower() for s in ("否", "no", "n", "false", "0", "")}
_FIELD_NAMES = {"task": "code"}  # how a problem names the column


def _sheet_records(path: Path, limits: "InputLimits | None" = None) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
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
    values = {k: cells.get(k) for k in ("done", "percent", "count", "amount")}
    has_report = any(v is not None for v in values.values()) or (note and not (close and not evidence))
    result: dict[str, Any] = {"report_id": None, "close_id": None}
    if has_report or not close:
        reported = _report(session, now=now, plan=plan, task=_code_text(code), unit=str(cells["unit"]),
                           note=note, reported_by=by, reported_on=reported_on, milestone=milestone,
                           period=period, source=source, **values)
        result.update(reported)
        if reported["item"]["kind"] == "milestone" and milestone is None:
            milestone = reported["item"]["seq"]  # close the item this row just reported on
        elif reported["item"]["kind"] == "instance" and period is None:
            period = dt.date.fromisoformat(reported["item"]["period"])
    if close and not (result.get("item") or {}).get("closed"):
        closed = _close(session, now=now, plan=plan, task=_code_text(code), unit=str(cells["unit"]),
                        evidence=evidence or note, closed_by=by, milestone=milestone, period=period, source=source)
        result.update({k: v for k, v in closed.items() if k != "report_id"})
        result["close_id"] = closed["report_id"]
    return result


def import_progress(engine: "Engine", path: Path, *, now: dt.datetime, plan: str | None = None,
                    source_name: str | None = None, limits: "InputLimits | None" = None) -> list[dict[str, Any]]:
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


# --------------------------------------------------------------------------------------------
# Extension requests (延期申請)


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


def request_extension(engine: "Engine", *, task: str, unit: str, new_due: dt.date, reason: str, now: dt.datetime,
                      plan: str | None = None, milestone: int | None = None, period: dt.date | None = None,
                      requested_by: str = "") -> dict[str, Any]:
    """The lead unit asks to move an item's due date. Returns the request (keys of ``list_extensions``).

    Filed after the effective due date, the request is recorded as refused (late) and ``Refused`` is
    raised after that record is committed.
    """
    late: str | None = None
    with transaction(engine) as session:
        reason = (reason or "").strip()
        plan_row = _plan(session, plan)
        today = _today(now, plan_row)
        task_row = _task(session, plan_row, task)
        unit_row = _unit(session, unit)
        _require_lead(session, task_row, unit_row, "request an extension of")
        if not reason:
            raise _bad(Refused, "reason", "", "is required",
                       message=f"an extension request for task {task_row.code} needs a reason")
        kind, item, number, _rec = _pick(session, task_row, milestone=milestone, period=period, on=today, want=None)
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


def decide_extension(engine: "Engine", *, extension_id: int, approve: bool, now: dt.datetime, decided_by: str = "",
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


def list_extensions(engine: "Engine", *, status: str | None = None, plan: str | None = None) -> list[dict[str, Any]]:
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
