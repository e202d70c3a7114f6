"""The scheduled jobs as plain functions: what `duban run` (APScheduler) and the Prefect flows call.

Each job builds what it needs from the settings, runs one service, and returns a small JSON-able
summary. ``now`` defaults to the real clock in the office's time zone; a replay passes its own.
No Prefect and no APScheduler here: both schedulers are thin shells around these.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from duban.config.settings import Settings


def _now(settings: "Settings", now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(ZoneInfo(settings.timezone))


def _engine(settings: "Settings"):
    from duban.store.db import open_database

    settings.apply_file_mode()  # the job's files (database, .eml, reports) are private unless configured
    return open_database(settings.database_url)


def policies(settings: "Settings"):
    from duban.config.settings import PACKAGE_DIR
    from duban.matrix.policy import load_policy

    return load_policy(PACKAGE_DIR / "policy.yaml", settings.config_dir / "policy.yaml")


def sweep_job(settings: "Settings", *, now: dt.datetime | None = None, only_working_days: bool = True) -> dict[str, Any]:
    """The morning sweep. On a day off (official calendar, 調休 included) it does nothing unless asked."""
    from duban.matrix.calendar import WorkCalendar
    from duban.workflows.sweep_service import sweep

    now = _now(settings, now)
    if only_working_days and not WorkCalendar().is_working_day(now.date()):
        return {"job": "sweep", "as_of": now.date().isoformat(), "skipped": "not a working day"}
    engine = _engine(settings)
    try:
        result = sweep(engine, now=now, policies=policies(settings))
    finally:
        engine.dispose()
    return {"job": "sweep", **result.as_dict()}


def delivery_job(settings: "Settings", *, now: dt.datetime | None = None) -> dict[str, Any]:
    from duban.workflows.delivery_service import deliver

    engine = _engine(settings)
    try:
        result = deliver(engine, now=_now(settings, now), settings=settings)
    finally:
        engine.dispose()
    return {"job": "deliver", **result.as_dict()}


def weekly_report_job(settings: "Settings", *, now: dt.datetime | None = None, email: bool = True) -> dict[str, Any]:
    """The Friday circulation report: files in the data folder, and an email to the office."""
    import sqlalchemy as sa

    from duban.store.tables import PlanRow
    from duban.workflows import report_service

    now = _now(settings, now)
    engine = _engine(settings)
    with engine.connect() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(PlanRow)).scalar() == 0:
            engine.dispose()
            return {"job": "weekly_report", "as_of": now.date().isoformat(), "skipped": "no plan imported yet"}
    try:
        out_dir = settings.outbox_dir.parent / "reports"
        report = report_service.weekly_report(engine, now=now, policies=policies(settings), settings=settings,
                                              formats=("html", "md", "docx"), out_dir=out_dir)
        mailed = None
        if email:
            mailed = report_service.email_report(engine, now=now, settings=settings, report=report)
    finally:
        engine.dispose()
    return {"job": "weekly_report", "as_of": now.date().isoformat(), "files": sorted(report["files"].values()),
            "criticised": [c["unit"] for c in report["criticised"]],
            "email": {k: mailed.get(k) for k in ("status", "to", "target", "error")} if mailed else None}


JOBS = {"sweep": sweep_job, "deliver": delivery_job, "weekly_report": weekly_report_job}
