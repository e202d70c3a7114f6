"""The scheduled jobs as plain functions: what `duban run` (APScheduler) and the Prefect flows call.

Each job takes the process's wiring (``workflows.bootstrap.App``), runs one service on its engine, and
returns a small JSON-able summary. The engine was opened — and the schema brought to the newest
revision — once, when the process started; a job never opens, checks or migrates the database itself.
``now`` defaults to the real clock in the office's time zone; a replay passes its own.
No Prefect and no APScheduler here: both schedulers are thin shells around these.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from duban.workflows.bootstrap import App


def sweep_job(app: App, *, now: dt.datetime | None = None, only_working_days: bool = True,
              dry_run: bool = False) -> dict[str, Any]:
    """The morning sweep. On a day off (official calendar, 調休 included) it does nothing unless asked.
    ``dry_run``: what it would write (``notices``), written nowhere."""
    from duban.workflows.rules_service import record_for
    from duban.workflows.sweep_service import sweep

    now = app.now(now)
    if only_working_days and not app.calendar.is_working_day(now.date()):
        return {"job": "sweep", "as_of": now.date().isoformat(), "skipped": "not a working day"}
    if not dry_run:
        record_for(app, now.date())  # the policy in force, versioned
    result = sweep(app.engine, now=now, policies=app.policies, calendar=app.calendar, dry_run=dry_run)
    if not dry_run:  # the console's first page of the day reads stored lights
        from duban.workflows.lights_service import refresh_all

        refresh_all(app.engine, now=now, policies=app.policies, calendar=app.calendar)
    return {"job": "sweep", **result.as_dict()}


def delivery_job(app: App, *, now: dt.datetime | None = None) -> dict[str, Any]:
    from duban.workflows.delivery_service import deliver

    result = deliver(app.engine, now=app.now(now), settings=app.settings, renderer=app.renderer,
                     calendar=app.calendar)
    return {"job": "deliver", **result.as_dict()}


def weekly_report_job(app: App, *, now: dt.datetime | None = None, email: bool = True) -> dict[str, Any]:
    """The Friday circulation report: files in the data folder, and an email to the office — or, with the
    policy's ``reports.require_approval``, a draft (``review``) mailed once a supervisor approves it."""
    from duban.workflows import report_service
    from duban.workflows.matrix_service import plan_codes
    from duban.workflows.rules_service import scoring_for_app

    now = app.now(now)
    if not plan_codes(app.engine):
        return {"job": "weekly_report", "as_of": now.date().isoformat(), "skipped": "no plan imported yet"}
    out_dir = app.settings.outbox_dir.parent / "reports"
    scoring, used = scoring_for_app(app, now.date())  # the scoring version in force on the day
    report = report_service.weekly_report(app.engine, now=now, policies=app.policies, settings=app.settings,
                                          formats=("html", "md", "docx"), out_dir=out_dir, scoring=scoring,
                                          calendar=app.calendar, renderer=app.renderer, rules=used)
    mailed, review = None, None
    if app.policies.require_report_approval:  # a draft: mailed once a supervisor approves it
        from duban.workflows.report_review_service import record_draft

        review = record_draft(app.engine, report, now=now, actor="weekly job")
    elif email:
        mailed = report_service.email_report(app.engine, now=now, settings=app.settings, report=report,
                                             scoring=scoring)
    return {"job": "weekly_report", "as_of": now.date().isoformat(), "files": sorted(report["files"].values()),
            "criticised": [c["unit"] for c in report["criticised"]], **({"review": review} if review else {}),
            "email": {k: mailed.get(k) for k in ("status", "to", "target", "error")} if mailed else None}


JOBS = {"sweep": sweep_job, "deliver": delivery_job, "weekly_report": weekly_report_job}
