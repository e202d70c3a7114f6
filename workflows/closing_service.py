"""Closing requests (辦結申請): a lead or co-lead unit asks the office to close a milestone or period,
with a note and evidence files; the office reviews it (複核) and closes the item (辦結) or returns the
request (退回) with a reason.

- ``request_closing`` checks every file first (type from its first bytes, size; ``store.evidence``),
  then the unit (the task's lead or a co-lead unit), the item (open; no other request pending for it),
  and only then stores the files (once per content, by SHA-256) and the request, with a
  ``closing.requested`` event listing the files. A refusal stores nothing.
- ``close_request`` closes the item as ``duban progress close`` does (the item's ``closed_at``, a
  ``progress_report`` row of kind ``close``, an ``item.closed`` event), with a ``closing.closed`` event
  naming the office's user; ``return_request`` needs a reason and records ``closing.returned``
  (``duban closing list``, the console's queue and the task's history show it).
  Either refuses a request already decided; closing refuses an item closed meanwhile.
- Either decision tells the unit that asked by a notice (``_tell_unit``): a 辦結申請退回通知 (kind
  ``closing_returned``: the reason, what to do next, by when) or a 辦結確認通知 (``closing_closed``),
  written in the decision's transaction with the key ``closing-returned:<id>`` / ``closing-closed:<id>``
  (inserted once, whatever retries), addressed to the unit as the sweep's notices are (role ``unit``),
  and delivered by ``duban deliver`` (or the server's delivery job) like every notice: its addresses
  from the unit directory (none: the delivery is held, naming why, until the directory has one), not
  while the office holds the task's notices (``notice_service.hold_notices``), and — decided for a
  replayed day (``--as-of`` far from the real date) — held until DUBAN_ALLOW_REPLAY_MAIL=1. The
  decision's event names the notice (``notice_key``), so the task's history shows where it stands.

Events carry the acting person (``actor``): the console passes the logged-in user's name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import Select
from sqlalchemy.orm import Session
from sqlmodel import col

from duban.matrix.errors import NotFound, Refused
from duban.store.db import transaction
from duban.store.evidence import Evidence, EvidenceStore, check, read_files
from duban.store.tables import (
    TASK_UNIT_CO_LEAD,
    ClosingEvidenceRow,
    ClosingRequestRow,
    EventRow,
    EvidenceFileRow,
    MilestoneRow,
    NoticeRow,
    PlanRow,
    ProgressReportRow,
    RecurrenceInstanceRow,
    RecurrenceRow,
    TaskRow,
    TaskUnitRow,
    UnitRow,
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
    _require_open,
    _task,
    _today,
    _unit,
    _unit_name,
)
from duban.workflows.progress_parse import _bad

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from duban.config.settings import Settings

STATUSES = ("pending", "closed", "returned")
FileLike = Evidence | tuple[str, bytes]


def files_on_disk(paths: list[Path], settings: Settings) -> list[Evidence]:
    """The CLI's --file arguments read and checked against the settings' size limit (and type) before
    anything is stored: a missing, too large or refused file stops the command naming it."""
    return read_files(paths, max_bytes=evidence_store(settings).max_bytes)


def evidence_store(settings: Settings) -> EvidenceStore:
    """The evidence folder and size limit the settings name (DUBAN_EVIDENCE_DIR, DUBAN_EVIDENCE_MAX_BYTES)."""
    return EvidenceStore(settings.evidence_dir, settings.evidence_max_bytes)


def _checked(files: Sequence[FileLike], store: EvidenceStore) -> list[Evidence]:
    """Every file checked before anything is stored; the same contents twice in one request listed once."""
    out: list[Evidence] = []
    seen: set[str] = set()
    for f in files:
        ev = f if isinstance(f, Evidence) else check(f[0], f[1], max_bytes=store.max_bytes)
        if ev.size > store.max_bytes:
            ev = check(ev.name, ev.data, max_bytes=store.max_bytes)  # refused, naming the file
        if ev.sha256 not in seen:
            seen.add(ev.sha256)
            out.append(ev)
    return out


def _require_lead_or_co_lead(session: Session, task: TaskRow, unit: UnitRow) -> None:
    if unit.id == task.lead_unit_id:
        return
    co_lead = session.execute(sa.select(col(TaskUnitRow.unit_id)).where(
        col(TaskUnitRow.task_id) == task.id, col(TaskUnitRow.unit_id) == unit.id,
        col(TaskUnitRow.role) == TASK_UNIT_CO_LEAD)).first()
    if co_lead is None:
        lead = _unit_name(session, task.lead_unit_id)
        raise _bad(Refused, "unit", unit.name, f"is not the lead or a co-lead unit of task {task.code}",
                   message=f"only the lead unit ({lead}) or a co-lead unit may request closing task {task.code}; "
                           f"{unit.name} is neither", hint=f"the lead unit is {lead}")


def _require_none_pending(session: Session, task: TaskRow, kind: str, item: Item) -> None:
    column = col(ClosingRequestRow.milestone_id) if kind == "milestone" else col(ClosingRequestRow.instance_id)
    pending = session.execute(sa.select(col(ClosingRequestRow.id)).where(
        column == item.id, col(ClosingRequestRow.status) == "pending")).scalar()
    if pending is not None:
        raise _bad(Refused, "task", task.code, f"already has a pending closing request #{pending}",
                   message=f"task {task.code} already has a pending closing request (#{pending}) for this item; "
                           "the office decides it first")


def _store_files(session: Session, store: EvidenceStore, request_id: int, files: list[Evidence],
                 now: dt.datetime) -> None:
    from duban.store.supervision import _insert_ignore

    for position, ev in enumerate(files):
        store.put(ev)
        session.execute(_insert_ignore(session, EvidenceFileRow.__table__, ("sha256",)).values(
            sha256=ev.sha256, size=ev.size, content_type=ev.content_type, stored_at=now))
        session.add(ClosingEvidenceRow(request_id=request_id, position=position, sha256=ev.sha256, name=ev.name))
    session.flush()


def request_closing(engine: Engine, *, task: str, unit: str, note: str = "", files: Sequence[FileLike] = (),
                    now: dt.datetime, actor: str = "", store: EvidenceStore, plan: str | None = None,
                    milestone: int | None = None, period: dt.date | None = None,
                    beneficiary: str | None = None) -> dict[str, Any]:
    """File a closing request for a task's milestone or period (default: its earliest open one).
    Returns the request (keys of ``list_closing_requests``)."""
    checked = _checked(files, store)
    note = (note or "").strip()
    with transaction(engine) as session:
        plan_row = _plan(session, plan)
        task_row = _task(session, plan_row, task)
        unit_row = _unit(session, unit, plan_row.code)
        _require_lead_or_co_lead(session, task_row, unit_row)
        if not note and not checked:
            raise _bad(Refused, "evidence", "", "is required",
                       message=f"a closing request for task {task_row.code} needs evidence: a file or a note")
        kind, item, number, _rec = _pick(session, task_row, milestone=milestone, period=period,
                                         on=_today(now, plan_row), want=None, beneficiary=beneficiary)
        _require_open(task_row, kind, item, number, "closing request")
        _require_none_pending(session, task_row, kind, item)
        req = ClosingRequestRow(task_id=task_row.id, milestone_id=item.id if kind == "milestone" else None,
                                instance_id=item.id if kind == "instance" else None, unit_id=unit_row.id, note=note,
                                requested_at=now, requested_by=actor or unit_row.name)
        session.add(req)
        session.flush()
        _store_files(session, store, req.id, checked, now)
        data = {**_item_ref(kind, item, number), "closing_id": req.id, "unit": unit_row.name, "note": note,
                "files": [{"name": e.name, "sha256": e.sha256, "size": e.size} for e in checked]}
        session.execute(sa.insert(EventRow), [_event(now, "closing.requested", plan_row.id, task_row.id,
                                                     actor or unit_row.name, data)])
        return _json(session, req)


def _locked_request(session: Session, request_id: int) -> ClosingRequestRow:
    req = session.execute(sa.select(ClosingRequestRow).where(col(ClosingRequestRow.id) == request_id)
                          .with_for_update()).scalar_one_or_none()
    if req is None:
        raise _bad(NotFound, "closing", request_id, "does not exist", message=f"no closing request #{request_id}")
    if req.status != "pending":
        when = f" on {_today(req.decided_at, session.get_one(PlanRow, session.get_one(TaskRow, req.task_id).plan_id))}" \
            if req.decided_at else ""
        by = f" by {req.decided_by}" if req.decided_by else ""
        raise _bad(Refused, "closing", request_id, f"is already {req.status}",
                   message=f"closing request #{request_id} is already {req.status}{when}{by}; it is decided once")
    return req


def _item_of(session: Session, req: ClosingRequestRow, *, lock: bool = False) -> tuple[str, Item, int | None, RecurrenceRow | None]:
    if req.milestone_id is not None:
        q = sa.select(MilestoneRow).where(col(MilestoneRow.id) == req.milestone_id)
        m: MilestoneRow = session.execute(q.with_for_update() if lock else q).scalar_one()
        return "milestone", m, _milestone_number(session, m), None
    q2 = sa.select(RecurrenceInstanceRow).where(col(RecurrenceInstanceRow.id) == req.instance_id)
    inst: RecurrenceInstanceRow = session.execute(q2.with_for_update() if lock else q2).scalar_one()
    return "instance", inst, None, session.get(RecurrenceRow, inst.recurrence_id)


def _files(session: Session, request_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in request_ids}
    if not request_ids:
        return out
    rows = session.execute(
        sa.select(col(ClosingEvidenceRow.request_id), col(ClosingEvidenceRow.name), col(EvidenceFileRow.sha256),
                  col(EvidenceFileRow.size), col(EvidenceFileRow.content_type))
        .join(EvidenceFileRow, col(EvidenceFileRow.sha256) == col(ClosingEvidenceRow.sha256))
        .where(col(ClosingEvidenceRow.request_id).in_(request_ids))
        .order_by(col(ClosingEvidenceRow.request_id), col(ClosingEvidenceRow.position))).all()
    for rid, name, sha, size, ctype in rows:
        out[rid].append({"name": name, "sha256": sha, "size": size, "content_type": ctype})
    return out


def _evidence_text(note: str, files: list[dict[str, Any]], request_id: int) -> str:
    names = "、".join(f["name"] for f in files)
    parts = [p for p in (note, f"closing request #{request_id}" + (f": {names}" if names else "")) if p]
    return "; ".join(parts)


def close_request(engine: Engine, *, request_id: int, now: dt.datetime, actor: str, note: str = "") -> dict[str, Any]:
    """辦結: the office closes the request's item as ``duban progress close`` does. Returns the request."""
    with transaction(engine) as session:
        req = _locked_request(session, request_id)
        task_row = session.get(TaskRow, req.task_id)
        plan_row = session.get(PlanRow, task_row.plan_id)
        kind, item, number, _rec = _item_of(session, req, lock=True)
        _require_open(task_row, kind, item, number, "closing; return the request instead")
        unit_name = _unit_name(session, req.unit_id)
        files = _files(session, [req.id])[req.id]
        evidence = _evidence_text(req.note, files, req.id)
        item.closed_at, item.closed_by, item.evidence = now, unit_name, evidence
        report = ProgressReportRow(
            task_id=task_row.id, milestone_id=req.milestone_id, instance_id=req.instance_id, unit_id=req.unit_id,
            kind="close", evidence=evidence, note=(note or "").strip(), reported_by=actor or "",
            reported_on=_today(now, plan_row), recorded_at=now, source="closing")
        session.add(report)
        req.status, req.decided_at, req.decided_by, req.decision_note = "closed", now, actor or "", (note or "").strip()
        session.flush()
        ref = _item_ref(kind, item, number)
        names = [f["name"] for f in files]
        told = _tell_unit(session, "closing_closed", req, task_row, plan_row, kind, item, unit_name, names, now)
        session.execute(sa.insert(EventRow), [
            _event(now, "closing.closed", plan_row.id, task_row.id, actor or "office",
                   {**ref, "closing_id": req.id, "unit": unit_name, "note": req.decision_note, "files": names,
                    "notice_key": told}),
            _event(now, "item.closed", plan_row.id, task_row.id, actor or "office",
                   {**ref, "reason": "closing request", "evidence": evidence, "unit": unit_name,
                    "report_id": report.id, "closing_id": req.id}),
        ])
        return _json(session, req)


def return_request(engine: Engine, *, request_id: int, reason: str, now: dt.datetime, actor: str) -> dict[str, Any]:
    """退回: the office returns the request to its unit with a reason; the item stays open. Returns the request."""
    reason = (reason or "").strip()
    with transaction(engine) as session:
        req = _locked_request(session, request_id)
        if not reason:
            raise _bad(Refused, "reason", "", "is required",
                       message=f"returning closing request #{request_id} needs a reason (退回理由)")
        task_row = session.get(TaskRow, req.task_id)
        plan_row = session.get(PlanRow, task_row.plan_id)
        kind, item, number, _rec = _item_of(session, req)
        unit_name = _unit_name(session, req.unit_id)
        req.status, req.decided_at, req.decided_by, req.decision_note = "returned", now, actor or "", reason
        session.flush()
        names = [f["name"] for f in _files(session, [req.id])[req.id]]
        told = _tell_unit(session, "closing_returned", req, task_row, plan_row, kind, item, unit_name, names, now)
        session.execute(sa.insert(EventRow), [_event(
            now, "closing.returned", task_row.plan_id, task_row.id, actor or "office",
            {**_item_ref(kind, item, number), "closing_id": req.id, "unit": unit_name, "reason": reason,
             "files": names, "notice_key": told})])
        return _json(session, req)


def _tell_unit(session: Session, kind: str, req: ClosingRequestRow, task_row: TaskRow, plan_row: PlanRow,
               item_kind: str, item: Item, unit_name: str, files: list[str], now: dt.datetime) -> str:
    """Write the notice that tells the requesting unit of the office's decision (``kind``: closing_returned
    or closing_closed), pending for delivery; returns its key. The key (``closing-returned:<id>``) is the
    notice's identity: inserted with ON CONFLICT DO NOTHING, a retry never writes a second one.

    The notice keeps what the letter says as it was decided (``data["closing"]``: the request's day,
    note and files, the decision's day, person and reason or note), and ``written_at``, the real time
    it was written, by which delivery tells a decision made for a replayed day (``--as-of``)."""
    from duban.store.supervision import _insert_ignore

    key = f"{kind.replace('_', '-')}:{req.id}"
    decided_on = _today(now, plan_row)
    facts = {"request": req.id, "unit": unit_name, "requested_on": _today(req.requested_at, plan_row).isoformat(),
             "requested_by": req.requested_by, "note": req.note, "files": files, "decided_on": decided_on.isoformat(),
             "decided_by": req.decided_by, "decision": req.decision_note}
    session.execute(_insert_ignore(session, NoticeRow.__table__, ("key",)), [{  # type: ignore[attr-defined]
        "key": key, "series": key, "kind": kind, "level": 0, "plan_id": plan_row.id, "task_id": task_row.id,
        "milestone_id": item.id if item_kind == "milestone" else None,
        "instance_id": item.id if item_kind == "instance" else None,
        "due": _effective_due(item), "days": 0, "planned_for": decided_on,
        "recipients": [{"role": "unit", "name": unit_name}], "cc": [], "sweep_id": None, "created_at": now,
        "status": "pending", "attempts": 0, "last_error": "", "acknowledged_by": "",
        "data": {"closing": facts, "written_at": dt.datetime.now(dt.UTC).isoformat()}}])
    return key


def _json(session: Session, req: ClosingRequestRow, files: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    task = session.get_one(TaskRow, req.task_id)  # a request's task and plan exist (foreign keys)
    plan = session.get_one(PlanRow, task.plan_id)
    kind, item, number, rec = _item_of(session, req)
    if files is None:
        files = _files(session, [req.id])[req.id] if req.id is not None else []
    return {
        "id": req.id, "plan": plan.code, "task": task.code, "title": task.title,
        "unit": _unit_name(session, req.unit_id), "item": _item_json(kind, item, number, rec), "note": req.note,
        "requested_at": req.requested_at.astimezone(dt.UTC).isoformat(), "requested_by": req.requested_by,
        "requested_on": _today(req.requested_at, plan).isoformat(), "status": req.status,
        "decided_at": req.decided_at.astimezone(dt.UTC).isoformat() if req.decided_at else None,
        "decided_on": _today(req.decided_at, plan).isoformat() if req.decided_at else None,
        "decided_by": req.decided_by, "decision_note": req.decision_note,
        "files": files,
    }


def _requests_query(session: Session, *, status: str | None, plan: str | None, plans: Sequence[str] | None,
                    task: str | None) -> Select[ClosingRequestRow]:
    """The closing requests the filters select (``list_closing_requests`` and ``count_closing_requests``)."""
    if status is not None and status not in STATUSES:
        raise _bad(Refused, "status", status, f"is not one of {', '.join(STATUSES)}")
    q = sa.select(ClosingRequestRow).join(TaskRow, col(TaskRow.id) == col(ClosingRequestRow.task_id))
    if status is not None:
        q = q.where(col(ClosingRequestRow.status) == status)
    if plan is not None:
        q = q.where(col(TaskRow.plan_id) == _plan(session, plan).id)
    if plans is not None:
        q = q.where(col(TaskRow.plan_id).in_(sa.select(col(PlanRow.id)).where(col(PlanRow.code).in_(list(plans)))))
    if task is not None:
        q = q.where(col(TaskRow.code) == task)
    return q


def list_closing_requests(engine: Engine, *, status: str | None = None, plan: str | None = None,
                          plans: Sequence[str] | None = None, task: str | None = None, limit: int | None = None,
                          offset: int = 0) -> list[dict[str, Any]]:
    """Closing requests, pending first (oldest first), then decided ones (latest first): ``[{id, plan,
    task, title, unit, item, note, requested_at, requested_by, status, decided_at, decided_by,
    decision_note, files: [{name, sha256, size, content_type}]}]``. ``plans`` limits them to those plans;
    ``limit`` and ``offset`` take one page of them (in that order; ``count_closing_requests`` counts all)."""
    with transaction(engine) as session:
        q = _requests_query(session, status=status, plan=plan, plans=plans, task=task)
        request_id, pending = col(ClosingRequestRow.id), col(ClosingRequestRow.status) == "pending"
        q = q.order_by(sa.case((pending, 0), else_=1), sa.case((pending, request_id), else_=-request_id))
        if limit is not None:
            q = q.limit(limit)
        rows = list(session.execute(q.offset(offset or None)).scalars())
        ids = [r.id for r in rows if r.id is not None]
        files = _files(session, ids)
        return [_json(session, r, files[r.id]) for r in rows if r.id is not None]


def count_closing_requests(engine: Engine, *, status: str | None = None, plan: str | None = None,
                           plans: Sequence[str] | None = None, task: str | None = None) -> int:
    """How many closing requests ``list_closing_requests`` would list with the same filters, all pages."""
    with transaction(engine) as session:
        q = _requests_query(session, status=status, plan=plan, plans=plans, task=task)
        return int(session.execute(sa.select(sa.func.count()).select_from(q.subquery())).scalar_one())


def evidence_by_task(engine: Engine, *, plan: str | None = None,
                     until: dt.datetime) -> dict[tuple[str, str], tuple[str, ...]]:
    """{(plan code, task code): evidence file names} of the closing requests filed before ``until`` and
    not returned before it (the weekly report lists them), each name once, in filing order."""
    with transaction(engine) as session:
        q = (sa.select(col(PlanRow.code), col(TaskRow.code), col(ClosingEvidenceRow.name))
             .join(ClosingRequestRow, col(ClosingRequestRow.id) == col(ClosingEvidenceRow.request_id))
             .join(TaskRow, col(TaskRow.id) == col(ClosingRequestRow.task_id))
             .join(PlanRow, col(PlanRow.id) == col(TaskRow.plan_id))
             .where(col(ClosingRequestRow.requested_at) < until,
                    sa.not_(sa.and_(col(ClosingRequestRow.status) == "returned", col(ClosingRequestRow.decided_at) < until)))
             .order_by(col(ClosingRequestRow.id), col(ClosingEvidenceRow.position)))
        if plan is not None:
            q = q.where(col(PlanRow.id) == _plan(session, plan).id)
        out: dict[tuple[str, str], dict[str, None]] = {}
        for plan_code, task_code, name in session.execute(q):
            out.setdefault((plan_code, task_code), {})[name] = None
        return {k: tuple(v) for k, v in out.items()}


def get_closing_request(engine: Engine, request_id: int) -> dict[str, Any]:
    """One request (keys of ``list_closing_requests``); ``NotFound`` if there is none."""
    with transaction(engine) as session:
        req = session.get(ClosingRequestRow, request_id)
        if req is None:
            raise _bad(NotFound, "closing", request_id, "does not exist", message=f"no closing request #{request_id}")
        return _json(session, req)


def evidence_file(engine: Engine, sha256: str) -> dict[str, Any] | None:
    """A stored file: ``{sha256, size, content_type, name, names, plans}`` — the name it was first sent with
    (``names``: every name) and
    the plans whose requests list it (who may download it) — or None."""
    with transaction(engine) as session:
        row = session.get(EvidenceFileRow, sha256)
        if row is None:
            return None
        uses = session.execute(
            sa.select(col(ClosingEvidenceRow.name), col(PlanRow.code))
            .join(ClosingRequestRow, col(ClosingRequestRow.id) == col(ClosingEvidenceRow.request_id))
            .join(TaskRow, col(TaskRow.id) == col(ClosingRequestRow.task_id))
            .join(PlanRow, col(PlanRow.id) == col(TaskRow.plan_id))
            .where(col(ClosingEvidenceRow.sha256) == sha256).order_by(col(ClosingEvidenceRow.request_id))).all()
        return {"sha256": row.sha256, "size": row.size, "content_type": row.content_type,
                "name": uses[0][0] if uses else row.sha256, "names": list(dict.fromkeys(n for n, _ in uses)),
                "plans": sorted({code for _, code in uses})}
