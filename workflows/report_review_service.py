"""The weekly reports' archive and their review (審核): drafts, approval, then the mail.

With ``reports.require_approval: true`` in the policy every weekly report written (the weekly job,
`duban report weekly`, the console's 通報 page) is recorded as a draft in ``report_state`` (one row per
report day, in the database: it survives restarts and is shared by every process) and is not mailed.
A supervisor's approval (the console, or `duban report approve DATE|WEEK`) claims the draft with one
conditional UPDATE (two approvals at once: one wins, the other is told), then mails the very files that
were reviewed — through ``report_service.email_report``, the same outbox and delivery pipeline as the
weekly job — and writes a ``report.approved`` event with the approver as its actor. Files changed since
the draft was written refuse the approval (write the report again).

The archive lists the reports in the data folder's ``reports/`` (where the weekly job writes them) and
those the state table knows elsewhere: per day its documents and its criticism notices.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from duban.matrix.errors import NotFound, Refused
from duban.store.db import transaction
from duban.store.tables import EventRow, ReportStateRow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from duban.config.settings import Settings
    from duban.matrix.scoring import ScoringConfig

KINDS = {"html": "text/html; charset=utf-8", "md": "text/markdown; charset=utf-8", "svg": "image/svg+xml",
         "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}
WEEKLY = re.compile(r"^weekly-(\d{4}-\d{2}-\d{2})\.(html|md|svg|docx)$")
WEEK = re.compile(r"^(\d{4})-?W(\d{2})$", re.IGNORECASE)
_C: Any = ReportStateRow.__table__.c  # type: ignore[attr-defined]  # the columns, typed for SQL expressions


def reports_dir(settings: Settings) -> Path:
    """Where the weekly job writes its reports: ``reports/`` beside the outbox folder (var/reports)."""
    return Path(settings.outbox_dir).parent / "reports"


def _utc(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC)


def _digest(files: dict[str, str]) -> str:
    h = hashlib.sha256()
    for kind in ("html", "md", "docx"):
        if files.get(kind):
            h.update(kind.encode() + Path(files[kind]).read_bytes())
    return h.hexdigest()


def record_draft(engine: Engine, report: dict[str, Any], *, now: dt.datetime, actor: str) -> str:
    """Keep a just-written report as a draft awaiting approval; returns its state (``draft``, or
    ``approved`` when the same content was approved already)."""
    as_of = report["model"].as_of
    files = {k: str(Path(v).resolve()) for k, v in report["files"].items()}
    digest = _digest(files)
    with transaction(engine) as s:
        row = s.execute(sa.select(ReportStateRow).where(_C.as_of == as_of)).scalar_one_or_none()
        if row is not None and row.status == "approved" and row.digest == digest:
            return "approved"
        if row is None:
            row = ReportStateRow(as_of=as_of, status="draft", subject="", language="", digest="", created_at=_utc(now))
            s.add(row)
        row.plan, row.status, row.subject, row.language = report.get("plan"), "draft", report["subject"], report["language"]
        row.digest, row.files, row.created_at, row.created_by = digest, files, _utc(now), actor
        row.approved_at = row.approved_by = row.mail_status = None
        s.add(EventRow(at=_utc(now), kind="report.draft", actor=actor, data={"as_of": as_of.isoformat()}))
    return "draft"


def resolve_day(engine: Engine, text: str) -> dt.date:
    """A report's day from ``2016-01-22`` or an ISO week ``2016-W03`` (the report day within that week)."""
    m = WEEK.match(text.strip())
    if m is None:
        try:
            return dt.date.fromisoformat(text.strip())
        except ValueError:
            raise Refused(f"「{text}」 is not a day (YYYY-MM-DD) or a week (YYYY-Www)") from None
    monday = dt.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    with transaction(engine) as s:
        days = s.execute(sa.select(_C.as_of).where(
            _C.as_of.between(monday, monday + dt.timedelta(days=6)))).scalars().all()
    if len(days) != 1:
        raise NotFound(f"week {text}: {'no report' if not days else 'several reports'} "
                       + ("" if not days else "(" + ", ".join(d.isoformat() for d in days) + "); name the day"))
    return days[0]


def state_of(engine: Engine, as_of: dt.date) -> dict[str, Any] | None:
    with transaction(engine) as s:
        row = s.execute(sa.select(ReportStateRow).where(_C.as_of == as_of)).scalar_one_or_none()
        return None if row is None else _state_json(row)


def _state_json(row: ReportStateRow) -> dict[str, Any]:
    return {"as_of": row.as_of.isoformat(), "plan": row.plan, "status": row.status, "subject": row.subject,
            "files": dict(row.files), "created_at": row.created_at.isoformat(), "created_by": row.created_by,
            "approved_at": row.approved_at.isoformat() if row.approved_at else None, "approved_by": row.approved_by,
            "mail_status": row.mail_status}


@dataclass(slots=True)
class _Documents:  # what email_report needs of a rendered report, read back from its files
    html: str
    markdown: str
    docx: bytes
    subject: str


@dataclass(slots=True)
class _Model:
    as_of: dt.date

    @property
    def stem(self) -> str:
        return f"weekly-{self.as_of.isoformat()}"


def _claim(engine: Engine, as_of: dt.date, *, now: dt.datetime, actor: str) -> ReportStateRow:
    """Mark the draft approved (one UPDATE on the draft state: of two approvals one wins)."""
    with transaction(engine) as s:
        row = s.execute(sa.select(ReportStateRow).where(_C.as_of == as_of)).scalar_one_or_none()
        if row is None:
            raise NotFound(f"no report draft for {as_of.isoformat()}: write it first (duban report weekly --as-of "
                           f"{as_of.isoformat()}, or the console's 通報 page)")
        if row.status != "draft":
            raise Refused(f"the report of {as_of.isoformat()} was approved already by {row.approved_by} "
                          f"({row.approved_at:%Y-%m-%d %H:%M} UTC); mail: {row.mail_status or '—'}")
        files = dict(row.files)
        missing = [k for k in ("html", "md", "docx") if not files.get(k) or not Path(files[k]).is_file()]
        if missing or _digest(files) != row.digest:
            raise Refused(f"the report files of {as_of.isoformat()} changed or are missing since the draft was written "
                          f"({', '.join(missing) or 'content differs'}): write the report again, then approve it")
        done = s.execute(sa.update(ReportStateRow).where(_C.id == row.id, _C.status == "draft")
                         .values(status="approved", approved_at=_utc(now), approved_by=actor))
        if getattr(done, "rowcount", 0) != 1:
            raise Refused(f"the report of {as_of.isoformat()} is being approved by someone else")
        s.expunge(row)
        return row


def approve_report(engine: Engine, *, as_of: dt.date, now: dt.datetime, settings: Settings,
                   scoring: ScoringConfig | None, actor: str) -> dict[str, Any]:
    """Approve a draft (審核通過) and mail it as it was reviewed. Returns email_report's dict (status …).
    If it cannot be mailed at all (nobody to send it to), the draft stays a draft."""
    from duban.matrix.errors import DubanError
    from duban.workflows.report_service import email_report

    row = _claim(engine, as_of, now=now, actor=actor)
    files = dict(row.files)
    report = {"documents": _Documents(html=Path(files["html"]).read_text(encoding="utf-8"),
                                      markdown=Path(files["md"]).read_text(encoding="utf-8"),
                                      docx=Path(files["docx"]).read_bytes(), subject=row.subject),
              "model": _Model(as_of), "language": row.language, "plan": row.plan}
    try:
        mailed = email_report(engine, now=now, settings=settings, report=report, scoring=scoring)
    except DubanError:
        with transaction(engine) as s:
            s.execute(sa.update(ReportStateRow).where(_C.id == row.id)
                      .values(status="draft", approved_at=None, approved_by=None))
        raise
    with transaction(engine) as s:
        s.execute(sa.update(ReportStateRow).where(_C.id == row.id).values(mail_status=mailed["status"]))
        s.add(EventRow(at=_utc(now), kind="report.approved", actor=actor,
                       data={"as_of": as_of.isoformat(), "mail": mailed["status"], "to": mailed.get("to", [])}))
    return mailed


# --------------------------------------------------------------------------------------------
# The archive


def archive(engine: Engine, settings: Settings) -> list[dict[str, Any]]:
    """Every report known, newest first: ``{as_of, plan, status, files: {kind: path}, criticism: [...]}``."""
    with transaction(engine) as s:
        rows = {r.as_of: _state_json(r) for r in s.execute(sa.select(ReportStateRow)).scalars()}
    days: dict[dt.date, dict[str, Any]] = {}
    folder = reports_dir(settings)
    if folder.is_dir():
        for path in folder.iterdir():
            m = WEEKLY.match(path.name)
            if m:
                day = dt.date.fromisoformat(m.group(1))
                days.setdefault(day, {"as_of": day.isoformat(), "plan": None, "status": None, "files": {}})["files"][m.group(2)] = str(path)
    for day, state in rows.items():
        days[day] = {**days.get(day, {}), **state, "files": {k: v for k, v in state["files"].items() if Path(v).is_file()}}
    for entry in days.values():
        entry["criticism"] = criticism_files(entry["files"], entry["as_of"])
    return [days[d] for d in sorted(days, reverse=True)]


def report_entry(engine: Engine, settings: Settings, as_of: dt.date) -> dict[str, Any]:
    for entry in archive(engine, settings):
        if entry["as_of"] == as_of.isoformat():
            return entry
    raise NotFound(f"no weekly report of {as_of.isoformat()}")


def criticism_files(files: dict[str, str], as_of: str) -> list[dict[str, Any]]:
    """The criticism notices written beside a report: ``{name, unit, files: {html, docx}}`` each."""
    anchor = files.get("html") or files.get("md") or files.get("docx")
    if not anchor:
        return []
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(anchor).parent.glob(f"criticism-*-{as_of}*.*")):  # …-DATE~hash when two names clash
        stem, _, kind = path.name.rpartition(".")
        if kind in ("html", "docx"):
            unit = stem[len("criticism-"):].rpartition(f"-{as_of}")[0]
            found.setdefault(stem, {"name": stem, "unit": unit, "files": {}})["files"][kind] = str(path)
    return list(found.values())
