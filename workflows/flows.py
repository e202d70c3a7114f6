"""Prefect flows for server mode: ``supervise`` (sweep, then deliver) and ``weekly-report``.

Thin shells over ``workflows.jobs``, which stay callable without Prefect (``duban run`` calls the same
functions): one coarse task per step — never one per task, notice or message — because each task
costs tens of milliseconds of server work. Only this module, ``workflows.deploy`` and the workers
import Prefect; ``duban --help`` and every other command never do.

Flows take plain parameters and nothing secret: ``as_of`` (a day, ``YYYY-MM-DD``, to replay a plan; default the
real clock in the office's time zone) and switches. The wiring (``workflows.bootstrap``: settings from
the worker's environment — ``DUBAN_DATABASE_URL``, ``DUBAN_SMTP_URL``, ``DUBAN_OUTBOX_DIR`` … — policies,
scoring, the engine) is built once per process, when its first flow run starts; the schema is brought
to the newest revision then, never by a task. duban's own
database is the system of record: the flows return a small summary for the run page, and nothing
reads it back (results are not persisted).

Runs are named by job, plan(s) and day — ``sweep district-2015 2015-12-04``, ``deliver 2015-12-04
21:05``, ``weekly-report 2015-12-04`` — and each logs, in words an operator reads, which plans it
covered, the notices it wrote by kind, what delivery handed over, held back or could not deliver, and
where the report's files went.

Several workers may run these at once. That is safe because the services are: notices have unique
keys (a second sweep of the same day writes nothing) and messages are claimed before they are sent
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so no notice is sent twice.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from duban.matrix.errors import ConfigError
from duban.matrix.vocabulary import NOTICE_KINDS, parse_day
from duban.workflows import jobs

if TYPE_CHECKING:
    from duban.workflows.bootstrap import App

# Delivery is retried by Prefect when it raises (database unreachable, disk full); SMTP failures are
# not exceptions: the service records them per message and a later run retries them itself.
DELIVERY_RETRY_DELAYS = [10, 60, 300]


class _Process:
    app: App | None = None


def _app() -> App:
    """This process's wiring, built by its first flow run and kept; its engine is opened (and the
    schema migrated) once, when the run's name or the flow first needs it, never by a task."""
    if _Process.app is None:
        from duban.workflows.bootstrap import bootstrap

        _Process.app = bootstrap()
    return _Process.app


def moment(as_of: str | None, timezone: str) -> dt.datetime | None:
    """``None`` → the real clock (decided by the job); a day → the start of that local day, read as
    ``duban … --as-of`` reads it (``YYYY-MM-DD``, or ``YYYYMMDD`` as that date, never a Unix timestamp);
    a full ISO date-time (``2015-12-04T21:05``) is taken as is (local time if it has no zone)."""
    if as_of is None or not str(as_of).strip():
        return None
    text = str(as_of).strip()
    if _is_day(text):
        try:
            day = parse_day(text)
        except ValueError as err:
            raise ConfigError(f"as_of: {err}") from None
        return dt.datetime.combine(day, dt.time(), ZoneInfo(timezone))
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f'as_of: "{text[:40]}" is not a date; use YYYY-MM-DD (or a date-time YYYY-MM-DDTHH:MM)') from None
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(timezone))


def _is_day(text: str) -> bool:
    """A day, not a date-time: no time part (``T`` or a space before one)."""
    return "T" not in text and " " not in text


# --------------------------------------------------------------------------------------------
# Run names and log lines


def plan_codes(app: App) -> list[str]:
    """The codes of the plans in duban's database (what a sweep or a report covers), sorted."""
    from duban.workflows.matrix_service import plan_codes as stored_plan_codes

    return stored_plan_codes(app.engine)


def plans_label(codes: list[str], most: int = 3) -> str:
    """``district-2015``; ``a, b``; ``a, b +3 plans``; ``no plan``."""
    if not codes:
        return "no plan"
    if len(codes) <= most:
        return ", ".join(codes)
    return f"{', '.join(codes[:most - 1])} +{len(codes) - most + 1} plans"


def run_name(job: str, as_of: str | None, *, timezone: str, plans: list[str] | None = None,
             clock: dt.datetime | None = None) -> str:
    """``sweep district-2015 2015-12-04`` · ``deliver 2015-12-04 21:05`` · ``weekly-report 2015-12-04``.

    The day is ``as_of`` (a replay) or today on the real clock in the office's ``timezone``; a deliver
    on the real clock also shows the minute (it runs every 5 minutes)."""
    when = moment(as_of, timezone)
    if when is None:
        when = (clock or dt.datetime.now(ZoneInfo(timezone))).astimezone(ZoneInfo(timezone))
        day = when.strftime("%Y-%m-%d %H:%M") if job == "deliver" else when.date().isoformat()
    else:
        text = str(as_of).strip()
        day = when.date().isoformat() if _is_day(text) else when.strftime("%Y-%m-%d %H:%M")
    return " ".join(part for part in (job, plans_label(plans) if plans is not None else None, day) if part)


def _parameters() -> dict[str, Any]:
    from prefect.runtime import flow_run

    return dict(flow_run.parameters or {})


def _safe_name(job: str, with_plans: bool) -> str:
    """Called by Prefect when a run starts (``flow_run_name``); never fails the run over its name."""
    params = _parameters()
    try:
        app = _app()
        timezone = app.settings.timezone
    except Exception:  # noqa: BLE001 - the flow itself reports bad settings or an unreachable database
        app, timezone = None, "Asia/Shanghai"
    plans = None
    if with_plans and app is not None:
        try:
            plans = plan_codes(app)
        except Exception:  # noqa: BLE001 - database unreachable: the flow will say so
            plans = None
    try:
        return run_name(job, params.get("as_of"), timezone=timezone, plans=plans)
    except Exception:  # noqa: BLE001 - a bad as_of: the flow refuses it with a clear error
        return f"{job} as_of={params.get('as_of')}"


def supervise_run_name() -> str:
    params = _parameters()
    if params.get("sweep", True):
        return _safe_name("sweep", with_plans=True)
    return _safe_name("deliver", with_plans=False)


def weekly_report_run_name() -> str:
    return _safe_name("weekly-report", with_plans=False)


KIND_ORDER = NOTICE_KINDS


def by_kind(counts: dict[str, int]) -> str:
    """``reminder 0, chase 2, escalation 6 (8 in all)``: every kind, the usual three first."""
    kinds = [k for k in KIND_ORDER if k in counts] + sorted(k for k in counts if k not in KIND_ORDER)
    if not kinds:
        return "none"
    return ", ".join(f"{k} {counts[k]}" for k in kinds) + f" ({sum(counts.values())} in all)"


def sweep_line(done: dict[str, Any], plans: list[str]) -> str:
    if "skipped" in done:
        return f"sweep as of {done.get('as_of')} skipped: {done['skipped']} (plans: {plans_label(plans)})"
    line = (f"sweep {done.get('sweep')} as of {done.get('as_of')} over {len(plans)} plan{'s' if len(plans) != 1 else ''} "
            f"({', '.join(plans) or 'none'}): {done.get('items')} open items; new notices: {by_kind(done.get('created') or {})}")
    if done.get("newly_overdue"):
        line += f"; {done['newly_overdue']} newly overdue"
    if done.get("instances_created"):
        line += f"; {done['instances_created']} new periods"
    return line


def deliver_lines(sent: dict[str, Any], waiting: int | None) -> list[tuple[str, str]]:
    """(level, text) pairs: one summary line (sent / held / failed / undeliverable, as `duban deliver`
    says it), then held and undeliverable recipients per reason, and errors."""
    from duban.workflows.delivery_service import summarize

    summary = (f"deliver to {sent.get('target')}: {sent.get('planned_messages', 0)} messages planned, {summarize(sent)}; "
               f"{sent.get('recipients_refused', 0)} recipients refused by the server")
    if sent.get("superseded"):
        summary += f"; {sent['superseded']} older repeats superseded"
    if waiting is not None:
        summary += f"; {waiting} messages waiting in duban's queue"
    lines = [("info", summary)]
    for what, people in (("held", sent.get("held_recipients") or []), ("undeliverable", sent.get("undeliverable") or [])):
        causes = Counter(u.get("cause") or u.get("reason") or "no address" for u in people)
        for reason, n in causes.most_common():
            tasks = sorted({str(u.get("task")) for u in people if (u.get("cause") or u.get("reason") or "no address") == reason})
            lines.append(("warning", f"{what} ×{n}: {reason} (tasks {', '.join(tasks[:10])}{' …' if len(tasks) > 10 else ''})"))
    errors = sent.get("errors") or []
    for e in errors[:10]:
        lines.append(("error", f"delivery error: {e}"))
    if len(errors) > 10:
        lines.append(("error", f"… and {len(errors) - 10} more delivery errors (duban messages --status failed)"))
    return lines


def report_line(summary: dict[str, Any], emailed: bool) -> str:
    if "skipped" in summary:
        return f"weekly report as of {summary.get('as_of')} skipped: {summary['skipped']}"
    files = [str(f) for f in summary.get("files") or []]
    folders = sorted({str(Path(f).parent) for f in files})
    criticised = summary.get("criticised") or []
    return (f"weekly report as of {summary.get('as_of')}: {len(files)} files in {', '.join(folders) or '(none)'} "
            f"({', '.join(Path(f).name for f in files)}); {len(criticised)} units criticised"
            f"{': ' + ', '.join(criticised) if criticised else ''}; "
            f"{_mailed(summary.get('email')) if emailed else 'not emailed (email=false)'}")


def _mailed(email: dict[str, Any] | None) -> str:
    if not email:
        return "emailed: no answer from the report service"
    to = ", ".join(email.get("to") or []) or "nobody"
    if email.get("status") == "already":
        return f"already emailed to {to} before (the same report)"
    via = f" via {email['target']}" if email.get("target") else ""
    error = f" ({email['error']})" if email.get("error") else ""
    return f"emailed to {to}{via}: {email.get('status')}{error}"


def waiting_messages(app: App) -> int | None:
    """Messages still pending or being sent in duban's queue, or None if the database cannot say."""
    try:
        from duban.store.outbox import waiting

        return waiting(app.engine)
    except Exception:  # noqa: BLE001 - only a log line
        return None


def _log(logger, lines: list[tuple[str, str]]) -> None:
    for level, text in lines:
        getattr(logger, level)("%s", text)


def _working_days_only(app: App, given: bool | None) -> bool:
    if given is not None:
        return given
    return app.schedule.job("sweep").working_days_only


@task(name="sweep", cache_policy=NO_CACHE, persist_result=False)
def sweep_step(now: dt.datetime | None, working_days_only: bool) -> dict[str, Any]:
    """Every open milestone and period of every plan, in one transaction (idempotent by notice key)."""
    return jobs.sweep_job(_app(), now=now, only_working_days=working_days_only)


@task(name="deliver", cache_policy=NO_CACHE, persist_result=False,
      retries=len(DELIVERY_RETRY_DELAYS), retry_delay_seconds=DELIVERY_RETRY_DELAYS)
def deliver_step(now: dt.datetime | None) -> dict[str, Any]:
    """Every pending notice into messages, and every due message handed over (claimed first)."""
    return jobs.delivery_job(_app(), now=now)


@task(name="weekly-report", cache_policy=NO_CACHE, persist_result=False)
def weekly_report_step(now: dt.datetime | None, email: bool) -> dict[str, Any]:
    """The 周通報 files, and one message to the office (sent at once, or queued for delivery)."""
    return jobs.weekly_report_job(_app(), now=now, email=email)


@flow(name="supervise", flow_run_name=supervise_run_name, persist_result=False, log_prints=False,
      validate_parameters=True)
def supervise(as_of: str | None = None, sweep: bool = True, deliver: bool = True,
              working_days_only: bool | None = None) -> dict[str, Any]:
    """Sweep (plan today's reminders, chases and escalations), then deliver what is pending.

    as_of: act as if today were this date (YYYY-MM-DD), to replay a plan; default: now.
    sweep / deliver: run that step (the 5-minute deployment runs deliver only).
    working_days_only: skip the sweep on days off (official calendar); default: the schedule's setting.
    """
    app = _app()
    settings = app.settings
    now = moment(as_of, settings.timezone)
    app.engine  # noqa: B018 - opened and migrated once per process, before any task runs
    logger = get_run_logger()
    logger.info("as of %s", f"{as_of} (replay)" if now is not None else
                f"now ({dt.datetime.now(ZoneInfo(settings.timezone)):%Y-%m-%d %H:%M} {settings.timezone})")
    summary: dict[str, Any] = {"as_of": as_of}
    if sweep:
        summary["sweep"] = sweep_step(now, _working_days_only(app, working_days_only))
        summary["plans"] = plans = plan_codes(app)
        logger.info("%s", sweep_line(summary["sweep"], plans))
    if deliver:
        summary["deliver"] = sent = deliver_step(now)
        _log(logger, deliver_lines(sent, waiting_messages(app)))
    return summary


@flow(name="weekly-report", flow_run_name=weekly_report_run_name, persist_result=False, log_prints=False,
      validate_parameters=True)
def weekly_report(as_of: str | None = None, email: bool = True) -> dict[str, Any]:
    """The weekly circulation report (周通報) as of a day (default: today), emailed to the office.

    as_of: the report's day (YYYY-MM-DD); default: today.
    email: also send it to the office (otherwise only the files are written).
    """
    app = _app()
    now = moment(as_of, app.settings.timezone)
    app.engine  # noqa: B018 - opened and migrated once per process, before any task runs
    summary = weekly_report_step(now, email)
    get_run_logger().info("%s", report_line(summary, email))
    return summary
