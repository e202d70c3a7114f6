"""Answer by document: a unit sends its progress report (.docx or .txt); duban reads the numbers against
the unit's open milestones and proposes progress entries, which count only once confirmed.

Two calls, for the CLI (`duban progress read`) and for the unit's link page alike:

- ``propose(engine, plan=, unit=, file=)`` reads the document — a path, or ``(file name, bytes)`` from an
  upload — and returns ``{plan, unit, document, cumulative, proposals, unmatched, milestones}``. It reads
  only: nothing is written, no event. ``proposals`` are numbered from 1, each ``{number, task, title,
  role, milestone, due, measure, target, done, quantity, written, approximate, paragraph, sentence,
  shown, confidence, level, why}``: ``quantity`` on milestone ``milestone`` (its position in the task,
  as ``matrix show`` lists them) of ``task``, read from ``sentence`` (``shown``: shortened around the
  number). ``unmatched`` lists every other number with a measure and why (``{written, value, measure,
  paragraph, shown, reason}``).
- ``confirm(engine, plan=, unit=, chosen=, now=, reported_by=, document=)`` records the chosen proposals
  (dicts as ``propose`` returned them; only ``task``, ``milestone``, ``quantity`` and ``sentence`` are
  used) through ``progress_service.report_progress`` with ``source="document"`` and the sentence in the
  note (「…」 from the document's name). Each is checked first against the unit's open milestones
  (a proposal for a closed milestone, another unit's task or an unknown one is refused, one line,
  nothing recorded); then one report per proposal, each its own transaction with its event (a report
  refused only then — another report closed the milestone meanwhile — leaves the earlier ones recorded).
  Returns the reports' results (``report_progress``'s keys).

Quantities are CUMULATIVE: a milestone's done quantity is "so far" and replaces the stored value
(``progress_service``), which is how progress reports give them (截至目前…共…). A proposal lower than
the quantity already reported says so (recorded as a correction); one reaching the milestone's quantity
closes it (辦結) with the sentence as evidence, as any report does.

Which milestones: the open (not closed) milestones with a measure of every live task the unit may
report on — lead, co-lead, supporting, or a member of a lead or supporting group — and, of one task's
milestones in the same measure, the earliest due only (the one a report without ``--milestone`` fills).
Recurring obligations (每月…次) are not read from documents, nor are bare numbers without a measure (a
table cell 160 under a header 人數(名)).

Files: .docx (python-docx; paragraphs and table cells) or .txt (UTF-8, else GB18030/GBK or Big5), at
most ``max_bytes`` (default ``MAX_BYTES``); anything else is refused with one line naming the file.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import col

from duban.matrix.errors import Refused, SourceError
from duban.matrix.limits import InputLimits
from duban.matrix.progress_reading import OpenMilestone, Proposal, read_progress
from duban.store.db import transaction
from duban.store.tables import TASK_UNIT_CO_LEAD, MilestoneRow, TaskRow, TaskUnitRow
from duban.workflows.progress_items import _effective_due, _plan, _role, _unit
from duban.workflows.progress_parse import _json_number, _number, _shown
from duban.workflows.progress_service import report_progress

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

__all__ = ["MAX_BYTES", "SOURCE", "confirm", "propose", "read_paragraphs"]

MAX_BYTES = 10 * 1024 * 1024  # a progress report of a few pages is far below
SOURCE = "document"
_SUFFIXES = (".docx", ".txt")
_NOTE_CHARS = 300  # of the sentence kept in the report's note

File = str | Path | tuple[str, bytes]


# --------------------------------------------------------------------------------------------
# The document


def read_paragraphs(file: File, *, max_bytes: int = MAX_BYTES) -> tuple[str, list[str]]:
    """The document's name and its paragraphs (a .docx's table cells too); ``Refused``/``SourceError``
    with one line naming the file for another type, an oversize, an empty or an unreadable file."""
    if isinstance(file, tuple):
        name, data = Path(file[0]).name or "document", file[1]
        _check(name, len(data), max_bytes)
    else:
        path = Path(file)
        name = str(path)
        _check(name, None, max_bytes)
        if not path.is_file():
            raise SourceError(name, "no such file")
        size = path.stat().st_size
        _check(name, size, max_bytes)
        data = path.read_bytes()
    if not data.strip():
        raise SourceError(name, "the document is empty")
    if Path(name).suffix.lower() == ".txt":
        from duban.matrix.sources import decode_bytes

        text = decode_bytes(data, where=name).text
        paragraphs = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    else:
        paragraphs = _docx_paragraphs(name, data, max_bytes)
    if not any(p.strip() for p in paragraphs):
        raise SourceError(name, "the document has no text")
    return name, paragraphs


def _check(name: str, size: int | None, max_bytes: int) -> None:
    suffix = Path(name).suffix.lower()
    if suffix not in _SUFFIXES:
        raise Refused(f"{name}: a progress report must be a .docx or .txt file, not "
                      f"{suffix or 'a file without a suffix'} (save it as .docx or .txt)")
    if size is not None and size > max_bytes:
        raise Refused(f"{name}: the file is {size:,} bytes, more than the {max_bytes:,} bytes a progress report may have")


def _docx_paragraphs(name: str, data: bytes, max_bytes: int) -> list[str]:
    import docx  # python-docx: only the .docx path pays for it
    from docx.table import Table

    from duban.matrix.sources import check_archive

    check_archive(data, where=name, kind=".docx document", limits=InputLimits(file_bytes=max_bytes * 10))
    try:
        document = docx.Document(io.BytesIO(data))
        out: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                for row in block.rows:
                    out.extend(dict.fromkeys(cell.text for cell in row.cells))  # merged cells repeat
            else:
                out.append(block.text)
        return out
    except Exception as e:  # noqa: BLE001 - python-docx on a damaged file: KeyError, XML errors …
        raise SourceError(name, f"not a readable .docx document ({type(e).__name__})") from None


# --------------------------------------------------------------------------------------------
# The unit's open milestones


def _open_milestones(session: Session, plan_code: str | None, unit_name: str) -> tuple[Any, Any, list[tuple[OpenMilestone, str]]]:
    plan = _plan(session, plan_code)
    unit = _unit(session, unit_name, plan.code)
    co_lead = {tid for (tid,) in session.execute(sa.select(col(TaskUnitRow.task_id)).where(
        col(TaskUnitRow.unit_id) == unit.id, col(TaskUnitRow.role) == TASK_UNIT_CO_LEAD))}
    out: list[tuple[OpenMilestone, str]] = []
    tasks = session.execute(sa.select(TaskRow).where(col(TaskRow.plan_id) == plan.id, col(TaskRow.archived_at).is_(None))
                            .order_by(col(TaskRow.position), col(TaskRow.id))).scalars().all()
    for task in tasks:
        role = _role(session, task, unit)
        if role is None:
            continue
        role = "co_lead" if task.id in co_lead else role
        rows = session.execute(sa.select(MilestoneRow).where(col(MilestoneRow.task_id) == task.id,
                                                            col(MilestoneRow.archived_at).is_(None))
                               .order_by(col(MilestoneRow.seq))).scalars().all()
        numbered = sorted(((n, m) for n, m in enumerate(rows, start=1) if m.closed_at is None and m.measure),
                          key=lambda nm: (_effective_due(nm[1]), nm[0]))
        seen: set[str] = set()
        for number, m in numbered:
            measure = m.measure or ""
            if measure in seen:  # the earliest due of one task in one measure
                continue
            seen.add(measure)
            out.append((OpenMilestone(
                task=task.code, milestone=number, measure=measure,
                quantity=None if m.quantity is None else Decimal(str(m.quantity)), title=task.title,
                target=task.target or "", label=m.label or "",
                done=None if m.done_quantity is None else Decimal(str(m.done_quantity)), due=_effective_due(m)), role))
    return plan, unit, out


def _proposal_json(number: int, p: Proposal, role: str) -> dict[str, Any]:
    m, f = p.milestone, p.found
    return {"number": number, "task": m.task, "title": m.title, "role": role, "milestone": m.milestone,
            "due": m.due.isoformat() if m.due else None, "measure": m.measure, "target": _json_number(m.quantity),
            "done": _json_number(m.done), "quantity": _json_number(p.quantity), "written": f.written,
            "approximate": f.approximate, "paragraph": f.paragraph, "sentence": f.sentence, "shown": f.shown,
            "confidence": p.confidence, "level": p.level, "why": p.why}


def propose(engine: Engine, *, unit: str, file: File, plan: str | None = None,
            max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """Read a progress report and propose entries for the unit's open milestones (see the module
    docstring). Reads only."""
    name, paragraphs = read_paragraphs(file, max_bytes=max_bytes)
    with transaction(engine) as session:
        plan_row, unit_row, milestones = _open_milestones(session, plan, unit)
        plan_code, unit_shown = plan_row.code, unit_row.name
        session.rollback()
    roles = {(m.task, m.milestone): role for m, role in milestones}
    reading = read_progress(paragraphs, [m for m, _ in milestones])
    proposals = [_proposal_json(n, p, roles[(p.milestone.task, p.milestone.milestone)])
                 for n, p in enumerate(reading.proposals, start=1)]
    unmatched = [{"written": u.found.written, "value": _json_number(u.found.value), "measure": u.found.measure,
                  "paragraph": u.found.paragraph, "shown": u.found.shown, "reason": u.reason}
                 for u in reading.unmatched]
    return {"plan": plan_code, "unit": unit_shown, "document": Path(name).name, "cumulative": True,
            "proposals": proposals, "unmatched": unmatched, "milestones": len(milestones)}


def choose(proposals: Sequence[dict[str, Any]], which: str) -> list[dict[str, Any]]:
    """``all`` or numbers such as ``1,3`` (as ``propose`` numbered them); a number not proposed is refused."""
    text = (which or "").strip()
    if text.lower() == "all":
        return list(proposals)
    by_number = {p["number"]: p for p in proposals}
    chosen: list[dict[str, Any]] = []
    for piece in text.replace("，", ",").split(","):
        piece = piece.strip()
        if not piece:
            continue
        if not piece.isdigit() or int(piece) not in by_number:
            numbers = ", ".join(str(n) for n in by_number) or "none"
            raise Refused(f"confirm: {piece!r} is not a proposal number (proposed: {numbers}); write e.g. 1,2 or all")
        if by_number[int(piece)] not in chosen:
            chosen.append(by_number[int(piece)])
    if not chosen:
        raise Refused("confirm: no proposal chosen; write e.g. 1,2 or all")
    return chosen


def _note(proposal: dict[str, Any], document: str) -> str:
    sentence = " ".join(str(proposal.get("sentence") or "").split())
    if len(sentence) > _NOTE_CHARS:
        sentence = sentence[:_NOTE_CHARS] + "…"
    return f"「{sentence}」" + (f"({document})" if document else "")


def confirm(engine: Engine, *, unit: str, chosen: Sequence[dict[str, Any]], now: dt.datetime,
            plan: str | None = None, reported_by: str = "", document: str = "",
            from_unit: bool = False) -> list[dict[str, Any]]:
    """Record the chosen proposals as progress reports (source ``document``, the sentence as the note);
    see the module docstring. Each proposal is checked before anything is written. ``from_unit``: the unit
    sent it itself (its link): a supporting unit's entries then wait for acceptance (``progress_acceptance``)."""
    if not chosen:
        raise Refused("confirm: no proposal chosen")
    with transaction(engine) as session:
        plan_row, unit_row, milestones = _open_milestones(session, plan, unit)
        plan_code, unit_name = plan_row.code, unit_row.name
        session.rollback()
    open_items = {(m.task, m.milestone) for m, _ in milestones}
    checked: list[tuple[dict[str, Any], Decimal]] = []
    for p in chosen:
        where = f"task {p.get('task')} milestone {p.get('milestone')}"
        if (str(p.get("task")), p.get("milestone")) not in open_items:
            raise Refused(f"confirm: {where} is not an open milestone {unit_name} reports on in plan {plan_code}")
        quantity = _number("quantity", p.get("quantity"))
        if quantity is None:
            raise Refused(f"confirm: {where} has no quantity")
        checked.append((p, quantity))
    results = []
    for p, quantity in checked:
        results.append(report_progress(engine, task=str(p["task"]), unit=unit_name,
                                       now=now, plan=plan_code, done=_shown(quantity), note=_note(p, document),
                                       reported_by=reported_by, milestone=int(p["milestone"]), source=SOURCE,
                                       from_unit=from_unit))
    return results
