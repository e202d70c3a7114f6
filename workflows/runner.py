"""`duban run`: the embedded scheduler — APScheduler 3.x in one process, jobs kept in duban's database.

The jobs (sweep, deliver, weekly report) run on the schedule of config/schedule.yaml by calling the
services directly (no Prefect engine on this path). The process's wiring (``workflows.bootstrap.App``:
settings, policies, scoring, schedule, the engine) is built once when `duban run` starts — the schema
brought to the newest revision then — and every job uses it; restart `duban run` after changing them. Jobs are stored in duban's own database
(``apscheduler_jobs``), coalesced and with no limit on how late a missed run may start, so after
downtime each missed job runs once (however long the machine was off), not once per missed slot. One process per database: a second `duban run` refuses to
start instead of double-sending (a file lock beside a SQLite database, an advisory lock on
PostgreSQL). SIGINT and SIGTERM let the running job finish, then exit.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from duban.matrix.errors import Refused

if TYPE_CHECKING:
    from duban.workflows.bootstrap import App
    from duban.workflows.schedule import Schedule

JOBSTORE_TABLE = "apscheduler_jobs"
# misfire_grace_time None: a run missed while the machine was off (a Friday report over a long weekend)
# is late, never dropped.
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
_ADVISORY_KEY = 0x64756261  # "duba"


class _Process:
    """The wiring of this `duban run` (set when it starts); what ``run_job`` hands the jobs."""

    app: App | None = None


def _app() -> App:
    if _Process.app is None:  # a job run outside run_forever/run_once: wire (and migrate) once, now
        from duban.workflows.bootstrap import bootstrap

        _Process.app = bootstrap(open_engine=True)
    return _Process.app


def run_job(name: str) -> dict[str, Any]:
    """What the scheduler calls (by reference, so the job store can keep it): one job, on the wiring
    built when `duban run` started (its engine open, its schema current: nothing is migrated here)."""
    from duban.workflows.jobs import JOBS

    app = _app()
    if name == "sweep":
        return JOBS[name](app, only_working_days=app.schedule.job("sweep").working_days_only)
    return JOBS[name](app)


# --------------------------------------------------------------------------------------------
# One runner per database


class RunnerLock:
    """Held for as long as `duban run` runs; a second holder is refused with who holds it."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self._file = None
        self._conn = None

    def acquire(self) -> None:
        import sqlalchemy as sa

        url = sa.engine.make_url(self.url)
        if url.get_backend_name() == "sqlite":
            import fcntl

            path = Path(f"{url.database}.run.lock")
            path.parent.mkdir(parents=True, exist_ok=True)
            f = open(path, "a+")  # noqa: SIM115 - the lock is held for the life of the process
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                f.close()
                raise Refused(f"another `duban run` is already running on this database ({holder}); "
                              "stop it first — two would send every notice twice") from None
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()} since {dt.datetime.now().astimezone().isoformat(timespec='seconds')}")
            f.flush()
            self._file = f
            return
        from duban.store.db import make_engine

        engine = make_engine(self.url)
        conn = engine.connect()
        got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": _ADVISORY_KEY}).scalar()
        conn.commit()
        if not got:
            conn.close()
            engine.dispose()
            raise Refused("another `duban run` is already running on this database (PostgreSQL advisory lock held); "
                          "stop it first — two would send every notice twice")
        self._conn = (engine, conn)

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._conn is not None:
            engine, conn = self._conn
            conn.close()
            engine.dispose()
            self._conn = None


# --------------------------------------------------------------------------------------------
# The scheduler


@dataclass
class RunnerState:
    """What the live line shows: each job's next run and last result."""

    last: dict[str, str] = field(default_factory=dict)
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, name: str, text: str) -> None:
        with self.lock:
            self.last[name] = text


def summarize(result: Any) -> str:
    if not isinstance(result, dict):
        return "done"
    if result.get("skipped"):
        return f"skipped ({result['skipped']})"
    if result.get("job") == "sweep":
        c = result.get("created", {})
        return f"{sum(c.values())} new notices ({c.get('chase', 0)} chases, {c.get('escalation', 0)} escalations)"
    if result.get("job") == "deliver":
        return f"{result.get('sent', 0)} sent, {result.get('retrying', 0)} retrying, {result.get('failed', 0)} failed"
    if result.get("job") == "weekly_report":
        return f"{len(result.get('files', []))} files"
    return "done"


def build_scheduler(app: App, schedule: Schedule, state: RunnerState):
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    scheduler = BackgroundScheduler(
        timezone=schedule.timezone,
        jobstores={"default": SQLAlchemyJobStore(url=app.settings.database_url, tablename=JOBSTORE_TABLE)},
        job_defaults=JOB_DEFAULTS,
    )
    triggers = {job.name: (CronTrigger.from_crontab(job.cron, timezone=schedule.timezone) if job.cron
                           else IntervalTrigger(minutes=job.every_minutes, timezone=schedule.timezone))
                for job in schedule.jobs}

    def listener(event) -> None:
        if event.exception is not None:
            state.errors += 1
            state.record(event.job_id, f"error: {type(event.exception).__name__}: {event.exception}")
        else:
            state.record(event.job_id, summarize(event.retval))

    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    return scheduler, triggers


def install_jobs(scheduler, triggers) -> list[str]:
    """Put the jobs in the (started, paused) scheduler. A stored job whose trigger is unchanged keeps
    its stored next run time, so a run missed while nothing ran fires once on resume (coalesced);
    a changed trigger replaces the job. Returns the names of jobs that were overdue on start."""
    overdue = []
    now = dt.datetime.now(dt.UTC)
    for name, trigger in triggers.items():
        existing = scheduler.get_job(name)
        if existing is not None and str(existing.trigger) == str(trigger):
            if existing.next_run_time is not None and existing.next_run_time < now:
                overdue.append(name)
            # Whatever stored it, a missed run is caught up once (not dropped, not repeated).
            existing.modify(misfire_grace_time=JOB_DEFAULTS["misfire_grace_time"], coalesce=True, max_instances=1)
            continue
        scheduler.add_job(run_job, trigger, args=[name], id=name, name=name, replace_existing=True)
    return overdue


def run_once(app: App, *, report: Callable[[str, str], None],
             now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """`duban run --once`: every job once, in order, then return — asked for explicitly, so the sweep
    runs on a day off too."""
    from duban.workflows.jobs import JOBS

    lock = RunnerLock(app.settings.database_url)  # not beside a running `duban run` either
    lock.acquire()
    _Process.app = app
    try:
        results = []
        for job in app.schedule.jobs:
            kwargs: dict[str, Any] = {"now": now}
            if job.name == "sweep":
                kwargs["only_working_days"] = False
            result = JOBS[job.name](app, **kwargs)
            report(job.name, summarize(result))
            results.append(result)
        return results
    finally:
        lock.release()


def run_forever(app: App, *, live: bool = True, stop: threading.Event | None = None,
                on_started: Callable[[], None] | None = None) -> RunnerState:
    """Run until SIGINT/SIGTERM (or ``stop``): the running job finishes, then the scheduler stops.
    Every job runs on ``app`` (its engine opened, and migrated, before this is called)."""
    lock = RunnerLock(app.settings.database_url)
    lock.acquire()
    _Process.app = app
    schedule = app.schedule
    state = RunnerState()
    stop = stop or threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)} \
        if threading.current_thread() is threading.main_thread() else {}
    scheduler, triggers = build_scheduler(app, schedule, state)
    try:
        scheduler.start(paused=True)
        for name in install_jobs(scheduler, triggers):
            state.record(name, "missed while stopped: runs once now")
        scheduler.resume()
        if on_started:
            on_started()
        if live:
            _live(scheduler, state, stop)
        else:
            while not stop.wait(0.5):
                pass
    finally:
        scheduler.shutdown(wait=True)  # the job in progress finishes
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lock.release()
    return state


def _live(scheduler, state: RunnerState, stop: threading.Event) -> None:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    def view() -> Table:
        table = Table(title=f"duban run — {dt.datetime.now().strftime('%Y-%m-%d %H:%M:%S')} (Ctrl-C to stop)",
                      header_style="bold", expand=False)
        for col in ("job", "next run", "last result"):
            table.add_column(col)
        for job in scheduler.get_jobs():
            nxt = job.next_run_time.strftime("%Y-%m-%d %H:%M") if job.next_run_time else "—"
            table.add_row(job.id, nxt, state.last.get(job.id, "—"))
        return table

    with Live(view(), console=Console(markup=False), refresh_per_second=1, transient=False) as live:
        while not stop.wait(1.0):
            live.update(view())
