"""Retention (issue 15): remove a plan's evidence and personal data once ``retention:`` years after its end have passed.

A plan's end is the later of its stored end date (``plan.end``) and its last due date (a milestone's, a
recurring period's or a recurrence's last day, an approved extension's included); a plan with neither never
expires. For each kind — ``evidence`` (the evidence files of its closing requests and progress reports),
``messages`` (the stored bytes and recipients' addresses of its messages) and ``client_addresses`` (in its
events) — the data is kept through ``end + N years`` and removed by ``prune`` on any day after:

- evidence: the rows listing the plan's files (``closing_evidence``, ``progress_evidence``); a stored file
  (``evidence_file`` and its bytes on disk) once no kept record lists it — a file another plan still lists stays;
- messages: a message's bytes and ``address`` become empty, its deliveries' addresses ``pruned:<id>`` and their
  display names empty, when every notice it carried belongs to an expired plan and it is sent or failed (one
  still on its way is left alone); subject, state, counts and dates stay, so reports and letter counts stay true;
- client addresses: ``client`` in the plan's events (``link.used``) becomes "". Logins (``user_login``,
  ``user_locked``: any event of no plan) have no plan's end: their client address goes ``client_addresses``
  years after the event.

The plan, its tasks, items, reports, notices and history are never deleted: the supervision record is the
office's archive. Each plan is pruned in one transaction that also writes one ``retention.pruned`` event with
the counts; files are deleted from disk only after it commits. A crash between the commit and the deletion
leaves files no row lists (orphans): every run also deletes those (when older than an hour, so an upload in
flight — its file written before its row — is never taken). A second run finds nothing and writes nothing.
``dry_run`` counts the same things in a transaction it rolls back, and deletes no file.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from sqlalchemy.orm import Session

from duban.matrix.policy import RETENTION_KINDS, Retention
from duban.store.db import transaction
from duban.store.evidence import HASH, EvidenceStore
from duban.store.tables import (
    ClosingEvidenceRow,
    ClosingRequestRow,
    DeliveryRow,
    EventRow,
    EvidenceFileRow,
    MessageRow,
    MilestoneRow,
    NoticeRow,
    PlanRow,
    ProgressEvidenceRow,
    ProgressReportRow,
    RecurrenceInstanceRow,
    RecurrenceRow,
    TaskRow,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

PRUNED = "retention.pruned"
PRUNED_ADDRESS = "pruned:"  # a pruned delivery's address: this and the delivery's id
FINISHED_MESSAGES = ("sent", "failed")  # a message still pending, sending or held keeps its bytes
ORPHAN_AGE_SECONDS = 3600  # a file no row lists is an orphan once this old (an upload writes the file first)
# Events whose data names a client (checked again in Python): the JSON as text, on SQLite and PostgreSQL alike
HAS_CLIENT = sa.cast(EventRow.data, sa.Text).like('%"client"%')
COUNT_KEYS = ("evidence_links", "evidence_files", "messages", "deliveries", "client_addresses")


@dataclass(slots=True)
class PlanPrune:
    """What prune did (or would do) to one plan."""

    plan: str
    end: dt.date | None
    until: dict[str, dt.date] = field(default_factory=dict)  # kind -> last day it is kept
    expired: list[str] = field(default_factory=list)  # kinds past retention as of the day
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_KEYS, 0))

    @property
    def removed(self) -> int:
        return sum(self.counts.values())

    @property
    def status(self) -> str:
        """no_end | within_retention | pruned (something removed now, or would be) | already_pruned."""
        if self.end is None:
            return "no_end"
        if not self.expired:
            return "within_retention"
        return "pruned" if self.removed else "already_pruned"

    def as_dict(self) -> dict[str, Any]:
        return {"plan": self.plan, "end": self.end.isoformat() if self.end else None, "status": self.status,
                "kept_until": {k: v.isoformat() for k, v in self.until.items()}, "expired": list(self.expired),
                "counts": dict(self.counts)}


class _DryRun(Exception):
    """Raised inside a plan's transaction on a dry run, so that everything it did is rolled back."""


def plan_ends(session: Session) -> dict[int, tuple[str, dt.date | None]]:
    """{plan id: (code, end)}: the later of the stored end and the last due date (extensions included)."""
    ends: dict[int, list[dt.date]] = {}
    codes: dict[int, str] = {}
    for pid, code, end in session.execute(sa.select(PlanRow.id, PlanRow.code, PlanRow.end)):
        codes[pid] = code
        ends[pid] = [end] if end else []
    for row in (MilestoneRow, RecurrenceInstanceRow):
        q = (sa.select(TaskRow.plan_id, sa.func.max(row.due), sa.func.max(row.extended_due))
             .join(TaskRow, TaskRow.id == row.task_id).group_by(TaskRow.plan_id))
        for pid, due, extended in session.execute(q):
            ends[pid].extend(d for d in (due, extended) if d)
    q = sa.select(TaskRow.plan_id, sa.func.max(RecurrenceRow.until)).join(TaskRow, TaskRow.id == RecurrenceRow.task_id)
    for pid, until in session.execute(q.group_by(TaskRow.plan_id)):
        ends[pid].extend([until] if until else [])
    return {pid: (codes[pid], max(ends[pid]) if ends[pid] else None) for pid in codes}


def _until(end: dt.date, years: int) -> dt.date:
    return end + relativedelta(years=years)  # 29 February + 1 year is 28 February


def _prune_evidence(session: Session, plan_id: int, counts: dict[str, int]) -> list[str]:
    """Delete the plan's evidence lists and the stored files no kept record lists; the hashes to delete."""
    tasks = sa.select(TaskRow.id).where(TaskRow.plan_id == plan_id)
    requests = sa.select(ClosingRequestRow.id).where(ClosingRequestRow.task_id.in_(tasks))
    reports = sa.select(ProgressReportRow.id).where(ProgressReportRow.task_id.in_(tasks))
    shas: set[str] = set(session.execute(sa.select(ClosingEvidenceRow.sha256)
                                         .where(ClosingEvidenceRow.request_id.in_(requests))).scalars())
    shas |= set(session.execute(sa.select(ProgressEvidenceRow.sha256)
                                .where(ProgressEvidenceRow.report_id.in_(reports))).scalars())
    counts["evidence_links"] += session.execute(
        sa.delete(ClosingEvidenceRow).where(ClosingEvidenceRow.request_id.in_(requests))).rowcount or 0
    counts["evidence_links"] += session.execute(
        sa.delete(ProgressEvidenceRow).where(ProgressEvidenceRow.report_id.in_(reports))).rowcount or 0
    if not shas:
        return []
    still = set(session.execute(sa.select(ClosingEvidenceRow.sha256).where(ClosingEvidenceRow.sha256.in_(shas))).scalars())
    still |= set(session.execute(sa.select(ProgressEvidenceRow.sha256).where(ProgressEvidenceRow.sha256.in_(shas))).scalars())
    gone = sorted(shas - still)
    if gone:
        counts["evidence_files"] += session.execute(
            sa.delete(EvidenceFileRow).where(EvidenceFileRow.sha256.in_(gone))).rowcount or 0
    return gone


def _prune_messages(session: Session, plan_id: int, expired_plans: set[int], counts: dict[str, int]) -> None:
    """Blank the bytes and addresses of the plan's finished messages that carry only expired plans' notices."""
    d, n, m = DeliveryRow, NoticeRow, MessageRow
    mine = (sa.select(d.message_pk).join(n, n.id == d.notice_id)
            .where(n.plan_id == plan_id, d.message_pk.is_not(None)))
    shared_with_kept = (sa.select(d.message_pk).join(n, n.id == d.notice_id)
                        .where(d.message_pk.is_not(None), n.plan_id.not_in(sorted(expired_plans))))
    prunable = sa.select(m.id).where(m.id.in_(mine), m.id.not_in(shared_with_kept), m.status.in_(FINISHED_MESSAGES),
                                     m.address != "")
    # Sub-selects rather than lists of ids (a plan may have tens of thousands of messages); the deliveries first,
    # while their messages still match.
    # A delivery's address is part of its unique key (a unit with two addresses has two deliveries of a notice):
    # it becomes "pruned:<delivery id>", which is no address and unique.
    counts["deliveries"] += session.execute(
        sa.update(d).where(d.message_pk.in_(prunable), d.address.not_like(f"{PRUNED_ADDRESS}%"))
        .values(address=sa.literal(PRUNED_ADDRESS) + sa.cast(d.id, sa.String), display_name="")
        .execution_options(synchronize_session=False)).rowcount or 0
    counts["messages"] += session.execute(
        sa.update(m).where(m.id.in_(prunable)).values(body=b"", address="")
        .execution_options(synchronize_session=False)).rowcount or 0


def _blank_clients(session: Session, events: Any, counts: dict[str, int]) -> None:
    for event in session.execute(events).scalars():
        if isinstance(event.data, dict) and event.data.get("client"):
            event.data = {**event.data, "client": ""}  # a new dict: the JSON column sees the change
            counts["client_addresses"] += 1
    session.flush()


def _delete_files(store: EvidenceStore, engine: Engine, shas: list[str]) -> int:
    """Delete stored files whose row is gone (checked again: an upload may have listed the same bytes since)."""
    if not shas:
        return 0
    with engine.connect() as conn:
        listed = set(conn.execute(sa.select(EvidenceFileRow.sha256).where(EvidenceFileRow.sha256.in_(shas))).scalars())
    deleted = 0
    for sha in shas:
        if sha in listed:
            continue
        path = store.path(sha)
        if path.is_file():
            path.unlink()
            deleted += 1
    return deleted


def orphan_files(store: EvidenceStore, engine: Engine, *, older_than: float = ORPHAN_AGE_SECONDS) -> list[str]:
    """Stored files no ``evidence_file`` row lists, older than ``older_than`` seconds (by their mtime)."""
    if not store.root.is_dir():
        return []
    on_disk = {p.name: p for p in store.root.glob("??/*") if p.is_file() and HASH.match(p.name)}
    if not on_disk:
        return []
    with engine.connect() as conn:
        listed = set(conn.execute(sa.select(EvidenceFileRow.sha256)).scalars())
    limit = time.time() - older_than
    return sorted(sha for sha, p in on_disk.items() if sha not in listed and p.stat().st_mtime < limit)


def prune(engine: Engine, *, retention: Retention, store: EvidenceStore, as_of: dt.date, now: dt.datetime,
          dry_run: bool = False, actor: str = "") -> dict[str, Any]:
    """Remove what retention no longer keeps, as of ``as_of`` (see the module's docstring). Returns
    ``{as_of, dry_run, plans: [PlanPrune.as_dict()], logins: {client_addresses}, files_deleted, orphans, removed}``."""
    with transaction(engine) as s:
        ends = plan_ends(s)
    by_id: dict[int, PlanPrune] = {}
    for pid, (code, end) in sorted(ends.items(), key=lambda kv: kv[1][0]):
        r = by_id[pid] = PlanPrune(plan=code, end=end)
        if end is not None:
            r.until = {kind: _until(end, retention.of(kind)) for kind in RETENTION_KINDS}
            r.expired = [kind for kind in RETENTION_KINDS if as_of > r.until[kind]]
    results = list(by_id.values())
    message_expired = {pid for pid, r in by_id.items() if "messages" in r.expired}

    files_deleted = 0
    to_delete_total: list[str] = []
    for pid, r in by_id.items():
        if not r.expired:
            continue
        gone: list[str] = []
        try:
            with transaction(engine) as s:
                if "evidence" in r.expired:
                    gone = _prune_evidence(s, pid, r.counts)
                if "messages" in r.expired:
                    _prune_messages(s, pid, message_expired, r.counts)
                if "client_addresses" in r.expired:
                    _blank_clients(s, sa.select(EventRow).where(EventRow.plan_id == pid, EventRow.kind != PRUNED, HAS_CLIENT)
                                   .order_by(EventRow.id), r.counts)
                if dry_run:
                    raise _DryRun
                if r.removed:
                    s.add(EventRow(at=now, kind=PRUNED, plan_id=pid, actor=actor, data={
                        "as_of": as_of.isoformat(), "end": r.end.isoformat() if r.end else None,
                        "kept_until": {k: v.isoformat() for k, v in r.until.items()},
                        "kinds": list(r.expired), **r.counts}))
        except _DryRun:
            to_delete_total.extend(gone)
            continue
        files_deleted += _delete_files(store, engine, gone)  # after the commit: a crash leaves only orphans

    logins = {"client_addresses": 0}
    cutoff = dt.datetime.combine(as_of - relativedelta(years=retention.client_addresses), dt.time())
    try:
        with transaction(engine) as s:
            _blank_clients(s, sa.select(EventRow).where(EventRow.plan_id.is_(None), EventRow.kind != PRUNED, HAS_CLIENT,
                                                        EventRow.at < _aware(cutoff, now)).order_by(EventRow.id), logins)
            if dry_run:
                raise _DryRun
            if logins["client_addresses"]:
                s.add(EventRow(at=now, kind=PRUNED, actor=actor, data={
                    "as_of": as_of.isoformat(), "logins_before": cutoff.date().isoformat(), **logins}))
    except _DryRun:
        pass

    orphans = [sha for sha in orphan_files(store, engine) if sha not in to_delete_total]
    if not dry_run:
        for sha in orphans:
            store.path(sha).unlink(missing_ok=True)
    removed = sum(r.removed for r in results) + logins["client_addresses"] + len(orphans)
    return {"as_of": as_of.isoformat(), "dry_run": dry_run, "plans": [r.as_dict() for r in results],
            "logins": logins, "files_deleted": len(to_delete_total) if dry_run else files_deleted,
            "orphans": len(orphans), "removed": removed}


def _aware(moment: dt.datetime, now: dt.datetime) -> dt.datetime:
    """``moment`` in ``now``'s zone when ``now`` has one (events' times are stored as the clock gives them)."""
    return moment.replace(tzinfo=now.tzinfo) if now.tzinfo and moment.tzinfo is None else moment
