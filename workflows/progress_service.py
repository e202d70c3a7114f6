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
count and amount reach the recurrence's minimums (a recurrence without minimums needs one occurrence;
for a period of ongoing work, 持續推進, a report with a note alone is that occurrence: the period asks
for progress reported) — with the report's note as evidence. ``close_item`` closes explicitly with evidence; only the lead
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

Evidence files (佐證材料): a report may carry files (``files``: (name, bytes) pairs or checked
``store.evidence.Evidence``), checked like closing requests' files — type from the first bytes (PDF,
images, Office documents, text), size up to the store's limit — before the transaction starts: a refused
file (named, with its type or size and the limit) changes nothing. They are kept once per content under
the data folder (``store``: ``closing_service.evidence_store(settings)``), listed under the report
(``progress_evidence``), in its ``progress.reported`` event, on the task page and in the weekly report.
A report with files alone (no quantity, no note) is a note-only report.

Acceptance (配合单位报送，待确认): a supporting unit's report sent through its own signed link
(``from_unit``) is stored ``pending`` and counts only once the lead unit (its link) or the office
(``accept_report``, `duban progress accept`, the console) accepts it; the accepted done quantity is ADDED to
the milestone's cumulative figure, a percent raises it, a period's count/amount add. ``refuse_report`` keeps it
out with a reason. The lead's, a co-lead's and the office's own entries count at once (``progress_acceptance``).

The service's rooms: ``progress_parse`` (values), ``progress_items`` (which plan, task, unit and item),
``progress_record`` (a report or closing inside a transaction), ``progress_evidence`` (a report's files),
``progress_sheet`` (``import_progress``), ``progress_acceptance`` (pending parts)
and ``extension_service`` (extension requests, a service of its own). This module is the entry:
``report_progress``, ``close_item`` and ``import_progress``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from duban.store.db import transaction
from duban.store.evidence import Evidence, EvidenceStore, check_all
from duban.workflows.progress_evidence import evidence_by_task, evidence_file, merged_evidence
from duban.workflows.progress_parse import Number
from duban.workflows.progress_record import _close, _report
from duban.workflows.progress_sheet import import_progress

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from duban.config.settings import Settings

__all__ = ["accept_report", "close_item", "evidence_by_task", "evidence_file", "evidence_files", "evidence_store", "import_progress",
           "merged_evidence", "pending_reports", "refuse_report", "report_progress"]


def evidence_store(settings: Settings) -> EvidenceStore:
    """The evidence folder and size limit the settings name (the closing requests' own)."""
    from duban.workflows.closing_service import evidence_store as closing_store

    return closing_store(settings)


def evidence_files(paths: list[Path], settings: Settings) -> list[Evidence]:
    """The CLI's --evidence files read and checked (type, the settings' size limit) before anything is
    stored: a missing, too large or refused file stops the command, naming it."""
    from duban.workflows.closing_service import files_on_disk

    return files_on_disk(paths, settings)


def report_progress(engine: Engine, *, task: str, unit: str, now: dt.datetime, plan: str | None = None,
                    done: Number = None, percent: Number = None, count: Number = None, amount: Number = None,
                    note: str = "", reported_by: str = "", reported_on: dt.date | None = None,
                    milestone: int | None = None, period: dt.date | None = None, source: str = "cli",
                    beneficiary: str | None = None, files: Sequence[Evidence | tuple[str, bytes]] = (),
                    store: EvidenceStore | None = None, from_unit: bool = False) -> dict[str, Any]:
    """Record a unit's report on a task's milestone or period; closes the item when the target is reached.
    ``files``: evidence files, kept in ``store`` (required with files). ``from_unit``: sent by the unit itself
    (its signed link): a supporting unit's report is then stored pending (``state`` ``pending``, no change to
    the item) until the lead unit or the office accepts it; else ``state`` is ``counted``.

    Returns ``{task, plan, unit, item: {kind, id, seq, period, due, planned_due, extended_due, quantity,
    measure, done_quantity, percent, min_count, min_amount, amount_unit, done_count, done_amount, closed,
    closed_at, closed_by, evidence}, report_id, state, warnings, files: [{name, sha256, size, content_type}]}``.
    """
    if files and store is None:
        raise ValueError("evidence files need the evidence store to keep them in")
    checked = check_all(files, max_bytes=store.max_bytes) if files and store is not None else []
    with transaction(engine) as session:
        return _report(session, now=now, plan=plan, task=task, unit=unit, done=done, percent=percent, count=count,
                       amount=amount, note=note, reported_by=reported_by, reported_on=reported_on,
                       milestone=milestone, period=period, source=source, beneficiary=beneficiary,
                       files=checked, store=store, from_unit=from_unit)


def accept_report(engine: Engine, *, report_id: int, now: dt.datetime, actor: str, note: str = "",
                  lead_unit_id: int | None = None) -> dict[str, Any]:
    """Accept a supporting unit's pending part: it counts from today (the plan's day) and may close its item.
    ``actor``: the console user, or the lead unit and its link; ``lead_unit_id``: the deciding link's unit (it
    must lead the task); None: the office. Returns ``{report_id, task, plan, unit, state, decided_by, reason,
    counted_on, item}``; event ``progress.accepted``."""
    from duban.workflows.progress_acceptance import decide

    with transaction(engine) as session:
        return decide(session, report_id=report_id, accept=True, now=now, actor=actor, reason=note,
                      lead_unit_id=lead_unit_id)


def refuse_report(engine: Engine, *, report_id: int, now: dt.datetime, actor: str, reason: str,
                  lead_unit_id: int | None = None) -> dict[str, Any]:
    """Refuse a pending part with a reason (required): it never counts. Event ``progress.refused``."""
    from duban.workflows.progress_acceptance import decide

    with transaction(engine) as session:
        return decide(session, report_id=report_id, accept=False, now=now, actor=actor, reason=reason,
                      lead_unit_id=lead_unit_id)


def pending_part(engine: Engine, report_id: int, *, plans: Sequence[str]) -> dict[str, Any] | None:
    """The waiting part ``report_id`` if it is in one of ``plans`` (a console user's), else None. Reads only."""
    from duban.workflows.progress_acceptance import pending

    with transaction(engine) as session:
        found = pending(session, plans=plans, report_id=report_id)
        session.rollback()
    return found[0] if found else None


def pending_reports(engine: Engine, *, plan: str | None = None, task: str | None = None,
                    lead_unit: str | None = None, states: Sequence[str] = ("pending",)) -> list[dict[str, Any]]:
    """Supporting units' parts waiting (or in ``states``), oldest first; ``task`` needs ``plan`` or a single plan,
    ``lead_unit`` narrows to the tasks that unit leads. Reads only."""
    from duban.workflows.progress_acceptance import pending
    from duban.workflows.progress_items import _plan, _task, _unit

    with transaction(engine) as session:
        task_id = lead_id = None
        if task is not None:
            plan_row = _plan(session, plan)
            task_id, plan = _task(session, plan_row, task).id, plan_row.code
        if lead_unit is not None:
            lead_id = _unit(session, lead_unit, plan).id
        out = pending(session, plan=plan, task_id=task_id, lead_unit_id=lead_id, states=states)
        session.rollback()
        return out


def close_item(engine: Engine, *, task: str, unit: str, now: dt.datetime, evidence: str, closed_by: str = "",
               plan: str | None = None, milestone: int | None = None, period: dt.date | None = None,
               beneficiary: str | None = None) -> dict[str, Any]:
    """辦結: the lead unit closes a milestone or period with evidence. Same keys as ``report_progress``."""
    with transaction(engine) as session:
        return _close(session, now=now, plan=plan, task=task, unit=unit, evidence=evidence, closed_by=closed_by,
                      milestone=milestone, period=period, beneficiary=beneficiary)
