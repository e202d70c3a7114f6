"""`duban run`: the embedded scheduler — APScheduler 3.x in one process, jobs kept in duban's database.

The jobs (sweep, deliver, weekly report) run on the schedule of config/schedule.yaml by calling the
services directly (no Prefect engine on this path). The process's wiring (``workflows.bootstrap.App``:
settings, policies, scoring, schedule, the engine) is built once when `duban run` starts — the schema
brought to the newest revision then — and every job uses it; restart `duban run` after changing them. Jobs are stored in duban's own database
(``apscheduler_jobs``), coalesced and with no limit on how late a missed run may start, so after
downtime each missed job runs once (however long the machine was off), not once per missed slot. One process per database: a second `duban run` refuses to
start instead of double-sending (a file lock beside a SQLite database, an advisory lock on
PostgreSQL). SIGINT and SIGTERM let the running job finish, then exit; a second one stops at once, saying
which job did not finish (`run --once` likewise: no job starts after the first Ctrl-C, see ``CtrlC``).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from duban.matrix.errors import Refused
from duban.store.db import release_interrupted

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
    running: Counter[str] = field(default_factory=Counter)  # jobs handed to the pool and not yet done

    def busy(self) -> list[str]:
        with self.lock:
            return sorted(name for name, n in self.running.items() if n > 0)

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
        what = f"{sum(c.values())} new notices ({c.get('chase', 0)} chases, {c.get('escalation', 0)} escalations)"
        return f"dry run: would write {what}; nothing written" if result.get("dry_run") else what
    if result.get("job") == "deliver":
        return str(result.get("summary") or "done")  # sent / held / failed / undeliverable (DeliveryResult.summary)
    if result.get("job") == "weekly_report":
        return f"{len(result.get('files', []))} files"
    return "done"


def build_scheduler(app: App, schedule: Schedule, state: RunnerState):
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_SUBMITTED
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
        with state.lock:  # submitted and done may arrive in either order: a count, not a set
            state.running[event.job_id] += 1 if event.code == EVENT_JOB_SUBMITTED else -1
        if event.code == EVENT_JOB_SUBMITTED:
            return
        if event.exception is not None:
            state.errors += 1
            state.record(event.job_id, f"error: {type(event.exception).__name__}: {event.exception}")
        else:
            state.record(event.job_id, summarize(event.retval))

    scheduler.add_listener(listener, EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
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


class CtrlC:
    """SIGINT (Ctrl-C) and SIGTERM while `duban run --once` works through its jobs: the first lets the job in
    progress finish and starts no other; the second stops at once (a KeyboardInterrupt in that job: a
    sweep is rolled back and recorded failed, a delivery's unsent messages go out next time)."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.signals = 0
        self.job: str | None = None

    def __call__(self, _signum: int, _frame: object) -> None:
        self.signals += 1
        if self.signals > 1:
            raise KeyboardInterrupt
        self.say(f"stopping: {self.job or 'the job in progress'} finishes first, no other job starts "
                 "(Ctrl-C again to stop at once)")

    @contextmanager
    def installed(self) -> Iterator[CtrlC]:
        main = threading.current_thread() is threading.main_thread()
        previous = {sig: signal.signal(sig, self) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class OnceRun(list[dict[str, Any]]):
    """What `duban run --once` did: each job's result, in order, and ``stopped``: when Ctrl-C stopped it,
    a sentence saying what was left."""

    stopped: str | None = None


def run_once(app: App, *, report: Callable[[str, str], None], now: dt.datetime | None = None,
             dry_run: bool = False, say: Callable[[str], None] = lambda _text: None) -> OnceRun:
    """`duban run --once`: every job once, in order, then return — asked for explicitly, so the sweep
    runs on a day off too. ``dry_run``: the sweep only says what it would write; deliver and the weekly
    report are not run. Ctrl-C: see ``CtrlC`` (``say`` tells the user at once what it will do)."""
    from duban.workflows.jobs import JOBS

    lock = RunnerLock(app.settings.database_url)  # not beside a running `duban run` either
    lock.acquire()
    _Process.app = app
    run, names = OnceRun(), [job.name for job in app.schedule.jobs]
    try:
        with CtrlC(say).installed() as ctrl_c:
            for name in names:
                if ctrl_c.signals:
                    run.stopped = f"stopped after {ctrl_c.job} (Ctrl-C); {_left(names, name, started=False)}"
                    break
                if dry_run and name != "sweep":
                    report(name, "not run (dry run)")
                    continue
                ctrl_c.job = name
                kwargs: dict[str, Any] = {"now": now, **({"only_working_days": False, "dry_run": dry_run}
                                                          if name == "sweep" else {})}
                try:
                    result = JOBS[name](app, **kwargs)
                except KeyboardInterrupt as stop:
                    release_interrupted(stop)  # what it held open must not lock out the lock's release
                    run.stopped = f"stopped during {name} (Ctrl-C twice); {_left(names, name, started=True)}"
                    break
                report(name, summarize(result))
                run.append(result)
        return run
    finally:
        lock.release()


def _left(names: list[str], at: str, *, started: bool) -> str:
    """``the sweep finished; deliver did not finish; weekly report not run``."""
    i = names.index(at)
    parts = [f"{_label(n)} finished" for n in names[:i]]
    parts += [f"{_label(at)} did not finish"] if started else []
    parts += [f"{_label(n)} not run" for n in names[i + (1 if started else 0):]]
    return "; ".join(parts)


def _label(name: str) -> str:
    return {"sweep": "the sweep", "weekly_report": "weekly report"}.get(name, name)


def run_forever(app: App, *, live: bool = True, stop: threading.Event | None = None,
                on_started: Callable[[], None] | None = None,
                say: Callable[[str], None] = lambda _text: None) -> RunnerState:
    """Run until SIGINT/SIGTERM (or ``stop``): the running job finishes, then the scheduler stops; a
    second signal while a job still runs stops at once (``_on_signal``). Every job runs on ``app`` (its
    engine opened, and migrated, before this is called)."""
    lock = RunnerLock(app.settings.database_url)
    lock.acquire()
    _Process.app = app
    schedule = app.schedule
    state = RunnerState()
    stop = stop or threading.Event()
    on_signal = _on_signal(stop, state, say)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)} \
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


def _on_signal(stop: threading.Event, state: RunnerState, say: Callable[[str], None]) -> Callable[..., None]:
    """The first SIGINT/SIGTERM asks the scheduler to stop once the jobs in progress finish; another, while
    one still runs, ends the process at once (status 130) saying which job did not finish. The job runs
    in the scheduler's pool, which no exception reaches: the process ends under it, as a power cut would —
    its transaction is rolled back, a sweep is marked interrupted by the next, a message being sent is
    sent again (same Message-ID)."""

    def handler(*_args: object) -> None:
        busy = state.busy()
        if not stop.is_set():
            stop.set()
            say(f"stopping: {', '.join(busy)} finishes first (Ctrl-C again to stop at once)" if busy else "stopping")
            return
        if busy:
            say(f"stopped at once during {', '.join(busy)}: {', '.join(busy)} did not finish")
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)

    return handler


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
