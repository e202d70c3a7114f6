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

The service's rooms: ``progress_parse`` (values), ``progress_items`` (which plan, task, unit and item),
``progress_record`` (a report or closing inside a transaction), ``progress_sheet`` (``import_progress``)
and ``extension_service`` (extension requests, a service of its own). This module is the entry:
``report_progress``, ``close_item`` and ``import_progress``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from duban.store.db import transaction
from duban.workflows.progress_parse import Number
from duban.workflows.progress_record import _close, _report
from duban.workflows.progress_sheet import import_progress

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["close_item", "import_progress", "report_progress"]


def report_progress(engine: Engine, *, task: str, unit: str, now: dt.datetime, plan: str | None = None,
                    done: Number = None, percent: Number = None, count: Number = None, amount: Number = None,
                    note: str = "", reported_by: str = "", reported_on: dt.date | None = None,
                    milestone: int | None = None, period: dt.date | None = None, source: str = "cli",
                    beneficiary: str | None = None) -> dict[str, Any]:
    """Record a unit's report on a task's milestone or period; closes the item when the target is reached.

    Returns ``{task, plan, unit, item: {kind, id, seq, period, due, planned_due, extended_due, quantity,
    measure, done_quantity, percent, min_count, min_amount, amount_unit, done_count, done_amount, closed,
    closed_at, closed_by, evidence}, report_id, warnings}``.
    """
    with transaction(engine) as session:
        return _report(session, now=now, plan=plan, task=task, unit=unit, done=done, percent=percent, count=count,
                       amount=amount, note=note, reported_by=reported_by, reported_on=reported_on,
                       milestone=milestone, period=period, source=source, beneficiary=beneficiary)


def close_item(engine: Engine, *, task: str, unit: str, now: dt.datetime, evidence: str, closed_by: str = "",
               plan: str | None = None, milestone: int | None = None, period: dt.date | None = None,
               beneficiary: str | None = None) -> dict[str, Any]:
    """辦結: the lead unit closes a milestone or period with evidence. Same keys as ``report_progress``."""
    with transaction(engine) as session:
        return _close(session, now=now, plan=plan, task=task, unit=unit, evidence=evidence, closed_by=closed_by,
                      milestone=milestone, period=period, beneficiary=beneficiary)
