"""Prefect flows for server mode: ``supervise`` (sweep, then deliver) and ``weekly-report``.

Thin shells over ``workflows.jobs``, which stay callable without Prefect (``duban run`` calls the same
functions): one coarse task per step — never one per task, notice or message — because each task
costs tens of milliseconds of server work. Only this module, ``workflows.deploy`` and the workers
import Prefect; ``duban --help`` and every other command never do.

Flows take plain parameters and nothing secret: ``as_of`` (an ISO date, to replay a plan; default the
real clock in the office's time zone) and switches. Settings are built inside the flow from the
worker's environment (``DUBAN_DATABASE_URL``, ``DUBAN_SMTP_URL``, ``DUBAN_OUTBOX_DIR`` …). duban's own
database is the system of record: the flows return a small summary for the run page, and nothing
reads it back (results are not persisted).

Several workers may run these at once. That is safe because the services are: notices have unique
keys (a second sweep of the same day writes nothing) and messages are claimed before they are sent
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so no notice is sent twice.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from matrix.errors import ConfigError
from workflows import jobs

if TYPE_CHECKING:
    from config.settings import Settings

# Delivery is retried by Prefect when it raises (database unreachable, disk full); SMTP failures are
# not exceptions: the service records them per message and a later run retries them itself.
DELIVERY_RETRY_DELAYS = [10, 60, 300]


def _settings() -> "Settings":
    from config.settings import Settings

    return Settings()


def moment(as_of: str | None, timezone: str) -> dt.datetime | None:
    """``None`` → the real clock (decided by the job); ``YYYY-MM-DD`` → the start of that local day, as
    ``duban … --as-of`` means it; a full ISO date-time is taken as is (local time if it has no zone)."""
    if as_of is None or not str(as_of).strip():
        return None
    text = str(as_of).strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time(), ZoneInfo(timezone))
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"as_of {as_of!r} is not an ISO date (YYYY-MM-DD) or date-time") from None
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(timezone))


def _working_days_only(settings: "Settings", given: bool | None) -> bool:
    if given is not None:
        return given
    from workflows.schedule import default_schedule

    return default_schedule(settings.config_dir).job("sweep").working_days_only


@task(name="sweep", cache_policy=NO_CACHE, persist_result=False)
def sweep_step(settings: "Settings", now: dt.datetime | None, working_days_only: bool) -> dict[str, Any]:
    """Every open milestone and period of every plan, in one transaction (idempotent by notice key)."""
    return jobs.sweep_job(settings, now=now, only_working_days=working_days_only)


@task(name="deliver", cache_policy=NO_CACHE, persist_result=False,
      retries=len(DELIVERY_RETRY_DELAYS), retry_delay_seconds=DELIVERY_RETRY_DELAYS)
def deliver_step(settings: "Settings", now: dt.datetime | None) -> dict[str, Any]:
    """Every pending notice into messages, and every due message handed over (claimed first)."""
    return jobs.delivery_job(settings, now=now)


@task(name="weekly-report", cache_policy=NO_CACHE, persist_result=False)
def weekly_report_step(settings: "Settings", now: dt.datetime | None, email: bool) -> dict[str, Any]:
    """The 周通報 files, and one message to the office (sent at once, or queued for delivery)."""
    return jobs.weekly_report_job(settings, now=now, email=email)


@flow(name="supervise", persist_result=False, log_prints=False, validate_parameters=True)
def supervise(as_of: str | None = None, sweep: bool = True, deliver: bool = True,
              working_days_only: bool | None = None) -> dict[str, Any]:
    """Sweep (plan today's reminders, chases and escalations), then deliver what is pending.

    as_of: act as if today were this date (YYYY-MM-DD), to replay a plan; default: now.
    sweep / deliver: run that step (the 5-minute deployment runs deliver only).
    working_days_only: skip the sweep on days off (official calendar); default: the schedule's setting.
    """
    settings = _settings()
    now = moment(as_of, settings.timezone)
    logger = get_run_logger()
    summary: dict[str, Any] = {"as_of": as_of}
    if sweep:
        summary["sweep"] = sweep_step(settings, now, _working_days_only(settings, working_days_only))
        done = summary["sweep"]
        if "skipped" in done:
            logger.info("sweep %s skipped: %s", done["as_of"], done["skipped"])
        else:
            logger.info("sweep %s as of %s: %s items, created %s", done.get("sweep"), done.get("as_of"),
                        done.get("items"), done.get("created"))
    if deliver:
        summary["deliver"] = sent = deliver_step(settings, now)
        logger.info("deliver to %s: %s messages planned, %s sent, %s retrying, %s failed", sent.get("target"),
                    sent.get("planned_messages"), sent.get("sent"), sent.get("retrying"), sent.get("failed"))
    return summary


@flow(name="weekly-report", persist_result=False, log_prints=False, validate_parameters=True)
def weekly_report(as_of: str | None = None, email: bool = True) -> dict[str, Any]:
    """The weekly circulation report (周通報) as of a day (default: today), emailed to the office.

    as_of: the report's day (YYYY-MM-DD); default: today.
    email: also send it to the office (otherwise only the files are written).
    """
    settings = _settings()
    summary = weekly_report_step(settings, moment(as_of, settings.timezone), email)
    get_run_logger().info("weekly report as of %s: %d files", summary.get("as_of"), len(summary.get("files") or []))
    return summary
