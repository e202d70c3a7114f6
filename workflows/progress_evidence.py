"""Evidence files (佐證材料) sent with progress reports (進展報送): stored as closing requests' files are
(``store.evidence``: checked for type and size, kept once by SHA-256 under the data folder, a row in
``evidence_file``), linked to their report by the name they were sent with (``progress_evidence``).

- ``store_files`` runs inside the report's transaction, after every check (``progress_record._report``).
- ``files_by_report`` lists each report's files (the task page); ``evidence_by_task`` the names per task
  for the weekly report, merged there with the closing requests' (``merged_evidence``).
- ``evidence_file`` is the download's answer: ``closing_service.evidence_file`` with the progress reports'
  uses added, so a file is downloadable by whoever sees a plan whose report or request lists it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from duban.store.db import transaction
from duban.store.evidence import Evidence, EvidenceStore
from duban.store.tables import EvidenceFileRow, PlanRow, ProgressEvidenceRow, ProgressReportRow, TaskRow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

Names = dict[tuple[str, str], tuple[str, ...]]


def store_files(session: Session, store: EvidenceStore, report_id: int, files: list[Evidence],
                now: dt.datetime) -> None:
    """The report's (already checked) files written under the data folder, once per content, and listed."""
    from duban.store.supervision import _insert_ignore

    for position, ev in enumerate(files):
        session.execute(_insert_ignore(session, EvidenceFileRow.__table__, ("sha256",)).values(
            sha256=ev.sha256, size=ev.size, content_type=ev.content_type, stored_at=now))
        session.add(ProgressEvidenceRow(report_id=report_id, position=position, sha256=ev.sha256, name=ev.name))
    session.flush()
    for ev in files:  # last: a refusal before this point leaves no file behind
        store.put(ev)


def files_by_report(session: Session, report_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """{report id: [{name, sha256, size, content_type}]} in the order sent; reports without files absent."""
    out: dict[int, list[dict[str, Any]]] = {}
    if not report_ids:
        return out
    rows = session.execute(
        sa.select(ProgressEvidenceRow.report_id, ProgressEvidenceRow.name, EvidenceFileRow.sha256,
                  EvidenceFileRow.size, EvidenceFileRow.content_type)
        .join(EvidenceFileRow, EvidenceFileRow.sha256 == ProgressEvidenceRow.sha256)
        .where(ProgressEvidenceRow.report_id.in_(report_ids))
        .order_by(ProgressEvidenceRow.report_id, ProgressEvidenceRow.position)).all()
    for rid, name, sha, size, ctype in rows:
        out.setdefault(rid, []).append({"name": name, "sha256": sha, "size": size, "content_type": ctype})
    return out


def evidence_by_task(engine: Engine, *, plan: str | None = None, until: dt.datetime) -> Names:
    """{(plan code, task code): evidence file names} of the progress reports recorded before ``until``,
    each name once, in the order reported; a supporting unit's part only once accepted (not pending, not refused)."""
    with transaction(engine) as session:
        q = (sa.select(PlanRow.code, TaskRow.code, ProgressEvidenceRow.name)
             .join(ProgressReportRow, ProgressReportRow.id == ProgressEvidenceRow.report_id)
             .join(TaskRow, TaskRow.id == ProgressReportRow.task_id).join(PlanRow, PlanRow.id == TaskRow.plan_id)
             .where(ProgressReportRow.recorded_at < until,
                    ProgressReportRow.state.in_(("counted", "accepted")))
             .order_by(ProgressReportRow.id, ProgressEvidenceRow.position))
        if plan is not None:
            q = q.where(PlanRow.code == plan)
        out: dict[tuple[str, str], dict[str, None]] = {}
        for plan_code, task_code, name in session.execute(q):
            out.setdefault((plan_code, task_code), {})[name] = None
        return {k: tuple(v) for k, v in out.items()}


def merged_evidence(*found: Mapping[tuple[str, str], tuple[str, ...]]) -> Names:
    """Several {(plan, task): names} merged: per task, each name once, in the order given."""
    out: dict[tuple[str, str], dict[str, None]] = {}
    for one in found:
        for key, names in one.items():
            out.setdefault(key, {}).update(dict.fromkeys(names))
    return {k: tuple(v) for k, v in out.items()}


def evidence_file(engine: Engine, sha256: str) -> dict[str, Any] | None:
    """A stored file as ``closing_service.evidence_file`` gives it (``{sha256, size, content_type, name,
    names, plans}``), the names and plans of the progress reports that list it added; None if unknown."""
    from duban.workflows.closing_service import evidence_file as closing_file

    info = closing_file(engine, sha256)
    if info is None:
        return None
    with transaction(engine) as session:
        uses = session.execute(
            sa.select(ProgressEvidenceRow.name, PlanRow.code)
            .join(ProgressReportRow, ProgressReportRow.id == ProgressEvidenceRow.report_id)
            .join(TaskRow, TaskRow.id == ProgressReportRow.task_id).join(PlanRow, PlanRow.id == TaskRow.plan_id)
            .where(ProgressEvidenceRow.sha256 == info["sha256"])
            .order_by(ProgressEvidenceRow.report_id, ProgressEvidenceRow.position)).all()
    names = list(dict.fromkeys([*info["names"], *(n for n, _ in uses)]))
    return {**info, "name": names[0] if names else info["name"], "names": names,
            "plans": sorted({*info["plans"], *(code for _, code in uses)})}
