"""Server mode: register duban's flows as Prefect deployments with their schedules (``duban deploy``).

``deploy(api_url=…, work_pool="duban")`` creates the work pool (type ``process``) if it is missing and
registers, from ``config/schedule.yaml`` (overridden by the config folder's own ``schedule.yaml``):

    supervise/supervise-sweep     the sweep's cron (08:30; the flow skips days off), sweep then deliver
    supervise/deliver             every 5 minutes, deliver only (``sweep=False``)
    weekly-report/weekly-report   the weekly report's cron (Friday 16:00)

all in the schedule's time zone, each flow loaded from the project folder (``flow.from_source``), so
workers started there (``prefect worker start --pool duban --type process``) run them with their own
``DUBAN_*`` environment. Running it again updates the same deployments and their schedules.

Zombie runs: a worker killed together with its flow-run process (kill -9, a lost machine) would leave
the run ``Running`` in Prefect for ever. The deployments make every flow run send a heartbeat event
(``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` in their job variables, every ``heartbeat`` seconds), and
``deploy`` creates, once by name, the automation of Prefect's "detect zombie flows" recipe: a duban
flow run whose heartbeats stop for ``crash_after`` seconds without a final state is marked
``Crashed``. duban's own database stays the record of what was done (a run marked Crashed may have
finished its work; one that really died left its messages claimed, and they are resent after their
lease).

Prefect is only imported inside the functions, after :func:`apply_prefect_environment` has made it
quiet and offline (no analytics, a project ``PREFECT_HOME``). ``PREFECT_API_URL`` is required: without
it Prefect would silently start a temporary server and register the deployments there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from duban.matrix.errors import ConfigError

if TYPE_CHECKING:
    from duban.workflows.schedule import Schedule

PROJECT_DIR = Path(__file__).resolve().parents[1]  # the folder holding workflows/flows.py
FLOWS_FILE = "workflows/flows.py"

# Always set: Prefect never reports anything home from a duban process.
PREFECT_QUIET = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
# Set unless the environment says otherwise.
PREFECT_DEFAULTS = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90"}
DEFAULT_PREFECT_HOME = Path("var/prefect")

DEFAULT_HEARTBEAT = 30      # seconds between a flow run's heartbeats (Prefect's minimum is 30)
DEFAULT_CRASH_AFTER = 90    # seconds without a heartbeat after which a run is marked Crashed
MIN_HEARTBEAT = 30
AUTOMATION_NAME = "duban: crash flow runs whose heartbeats stopped"


def prefect_environment(environ: Mapping[str, str] | None = None, *, home: Path | str | None = None) -> dict[str, str]:
    """The environment for any Prefect process duban starts or configures (server, worker, deploy):
    ``environ`` (default ``os.environ``) with analytics off, a 90 s ephemeral start-up timeout and
    ``PREFECT_HOME`` set (``home``, else the environment's, else ``./var/prefect``, made absolute)."""
    env = dict(os.environ if environ is None else environ)
    env.update(PREFECT_QUIET)
    for key, value in PREFECT_DEFAULTS.items():
        env.setdefault(key, value)
    if home is not None:
        env["PREFECT_HOME"] = str(Path(home).resolve())
    else:
        env["PREFECT_HOME"] = str(Path(env.get("PREFECT_HOME") or DEFAULT_PREFECT_HOME).expanduser().resolve())
    return env


def apply_prefect_environment() -> None:
    """Put :func:`prefect_environment` into this process, before Prefect is imported."""
    env = prefect_environment()
    for key in (*PREFECT_QUIET, *PREFECT_DEFAULTS, "PREFECT_HOME"):
        os.environ[key] = env[key]


def resolve_api_url(api_url: str | None = None) -> str:
    """The Prefect server to register with: ``api_url``, else ``PREFECT_API_URL`` from the environment
    or the active Prefect profile. Refuses when there is none."""
    url = api_url or os.environ.get("PREFECT_API_URL")
    if not url:
        apply_prefect_environment()
        from prefect.settings import PREFECT_API_URL

        url = PREFECT_API_URL.value()
    if not url:
        raise ConfigError("PREFECT_API_URL is not set: point it at the Prefect server to deploy to, "
                          "e.g. export PREFECT_API_URL=http://127.0.0.1:4200/api (without it Prefect "
                          "would register the deployments on a temporary server of its own)")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"PREFECT_API_URL {url!r} is not an http(s) URL, e.g. http://127.0.0.1:4200/api")
    return url.rstrip("/")


@dataclass(frozen=True, slots=True)
class DeploymentSpec:
    """One deployment duban registers: which flow, under which name, on which schedule."""

    flow: str          # the flow's name in Prefect (and its function in workflows/flows.py)
    function: str
    name: str          # the deployment's name; Prefect shows flow/name
    job: str           # the schedule job it follows
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.flow}/{self.name}"


DEPLOYMENTS = (
    DeploymentSpec("supervise", "supervise", "supervise-sweep", "sweep",
                   "Morning sweep (reminders, chases, escalations), then delivery of what it planned."),
    DeploymentSpec("supervise", "supervise", "deliver", "deliver",
                   "Delivery of pending notices and retries of deferred messages.", {"sweep": False}),
    DeploymentSpec("weekly-report", "weekly_report", "weekly-report", "weekly_report",
                   "The weekly circulation report (周通報), emailed to the office."),
)


def _schedule_for(job, timezone: str):
    from zoneinfo import ZoneInfo

    from prefect.schedules import Cron, Interval

    if job.cron:
        return Cron(job.cron, timezone=timezone, slug=job.name)
    # Offset by half a period from the round hour (every 5 min: :02:30, :07:30 …), so that an interval
    # run never starts at the same moment as a cron job (08:30, 16:00) and competes with it.
    every = dt.timedelta(minutes=job.every_minutes)
    anchor = dt.datetime(2020, 1, 1, tzinfo=ZoneInfo(timezone)) + every / 2
    return Interval(every, anchor_date=anchor, timezone=timezone, slug=job.name)


def _ensure_pool(client, name: str) -> bool:
    """Create the process work pool unless it exists; True if it was created."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.process import ProcessWorker

    try:
        pool = client.read_work_pool(name)
    except ObjectNotFound:
        try:
            client.create_work_pool(WorkPoolCreate(name=name, type="process",
                                                   base_job_template=ProcessWorker.get_default_base_job_template(),
                                                   description="duban: supervise and weekly-report flows"))
            return True
        except ObjectAlreadyExists:  # another deploy created it a moment ago
            return False
    if pool.type != "process":
        raise ConfigError(f"work pool {name!r} exists with type {pool.type!r}; duban needs a pool of type "
                          "process: choose another name with --pool")
    return False


def check_heartbeat(heartbeat: int, crash_after: int) -> None:
    """Refuse a heartbeat Prefect would not honour, or a crash bound a late heartbeat could trip."""
    if heartbeat < MIN_HEARTBEAT:
        raise ConfigError(f"--heartbeat {heartbeat}: Prefect sends a flow run's heartbeat at most every "
                          f"{MIN_HEARTBEAT} s; give {MIN_HEARTBEAT} or more")
    if crash_after * 2 < heartbeat * 3:
        raise ConfigError(f"--crash-after {crash_after}: give at least 1.5 × --heartbeat ({(heartbeat * 3 + 1) // 2} s "
                          f"for --heartbeat {heartbeat}), so that one late heartbeat does not mark a live run "
                          "Crashed; 3 × is usual")


def heartbeat_environment(heartbeat: int) -> dict[str, str]:
    """What the deployments put in their flow runs' environment: a heartbeat every ``heartbeat`` s
    (the second name is the one Prefect releases before 3.4.x read)."""
    return {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(heartbeat), "PREFECT_RUNNER_HEARTBEAT_FREQUENCY": str(heartbeat)}


def zombie_automation(crash_after: int, heartbeat: int):
    """Prefect's "detect zombie flows" recipe, limited to duban's flow runs (tag ``duban``): after a
    heartbeat, expect another heartbeat or a final state within ``crash_after`` seconds; otherwise
    mark the run Crashed."""
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    return AutomationCore(
        name=AUTOMATION_NAME,
        description=(f"Created by `duban deploy`: a duban flow run that sent no heartbeat for {crash_after} s "
                     f"(one every {heartbeat} s) and reached no final state lost its process; mark it Crashed. "
                     "duban's own database (duban sweeps, outbox, messages) says what was done."),
        tags=["duban"],
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
                    "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed"},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            match_related=ResourceSpecification({"prefect.resource.role": "tag",
                                                 "prefect.resource.id": "prefect.tag.duban"}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=dt.timedelta(seconds=crash_after),
        ),
        actions=[ChangeFlowRunState(state=StateType.CRASHED,
                                    message=f"No heartbeat for {crash_after} s: the flow run's process is gone. "
                                            "Check duban's outbox and messages for what it did.")],
    )


def _ensure_automation(client, automation) -> dict[str, Any]:
    """Create the automation unless one of that name exists (then update it to this definition, and
    remove any twin a concurrent deploy made). Returns ``{name, id, created}``."""
    existing = sorted(client.read_automations_by_name(automation.name), key=lambda a: str(a.id))
    if not existing:
        return {"name": automation.name, "id": str(client.create_automation(automation)), "created": True}
    keep, *twins = existing
    client.update_automation(keep.id, automation)
    for twin in twins:
        client.delete_automation(twin.id)
    return {"name": automation.name, "id": str(keep.id), "created": False}


def deploy(*, api_url: str | None = None, work_pool: str = "duban", source_dir: Path | None = None,
           schedule: Schedule | None = None, config_dir: Path | None = None, paused: bool = False,
           heartbeat: int = DEFAULT_HEARTBEAT, crash_after: int = DEFAULT_CRASH_AFTER) -> dict[str, Any]:
    """Register duban's deployments on the Prefect server at ``api_url`` (default ``PREFECT_API_URL``).

    ``source_dir`` is the folder workers load ``workflows/flows.py`` from (default: this project);
    ``schedule`` defaults to the packaged schedule overridden by ``config_dir``'s ``schedule.yaml``;
    ``paused`` registers the deployments with their schedules switched off (runs only when triggered).
    Flow runs send a heartbeat every ``heartbeat`` seconds, and the automation :data:`AUTOMATION_NAME`
    marks one Crashed after ``crash_after`` seconds without one.
    Returns ``{api_url, work_pool, pool_created, source, timezone, paused, heartbeat, crash_after,
    automation: {name, id, created}, deployments: [{name, id, flow, schedule, parameters}]}``.
    Idempotent: re-running updates the deployments and the automation in place.
    """
    check_heartbeat(heartbeat, crash_after)
    url = resolve_api_url(api_url)
    source = Path(source_dir or PROJECT_DIR).resolve()
    if not (source / FLOWS_FILE).is_file():
        raise ConfigError(f"{source}: no {FLOWS_FILE} there; give the duban project folder as the source")
    if schedule is None:
        from duban.workflows.bootstrap import load_settings
        from duban.workflows.schedule import default_schedule

        schedule = default_schedule(config_dir if config_dir is not None else load_settings().config_dir)

    apply_prefect_environment()
    from prefect.client.orchestration import get_client
    from prefect.flows import Flow
    from prefect.settings import PREFECT_API_URL, temporary_settings

    deployed = []
    # Prefect prints progress and next steps on stdout; duban prints its own summary.
    with temporary_settings(updates={PREFECT_API_URL: url}), contextlib.redirect_stdout(io.StringIO()):
        with get_client(sync_client=True) as client:
            problem = client.api_healthcheck()
            if problem is not None:
                raise ConfigError(f"cannot reach the Prefect server at {url} ({problem.__class__.__name__}: "
                                  f"{str(problem).splitlines()[0] if str(problem) else 'no answer'}); "
                                  "is `prefect server start` running?")
            created = _ensure_pool(client, work_pool)
            automation = _ensure_automation(client, zombie_automation(crash_after, heartbeat))
        for spec in DEPLOYMENTS:
            job = schedule.job(spec.job)
            parameters = dict(spec.parameters)
            if spec.job == "sweep":
                parameters["working_days_only"] = job.working_days_only
            flow = Flow.from_source(source=str(source), entrypoint=f"{FLOWS_FILE}:{spec.function}")
            deployment_id = flow.deploy(
                name=spec.name, work_pool_name=work_pool, schedule=_schedule_for(job, schedule.timezone),
                parameters=parameters, description=spec.description, tags=["duban"], paused=paused,
                job_variables={"env": heartbeat_environment(heartbeat)},
                build=False, push=False, print_next_steps=False)
            described = f"{job.describe()} {schedule.timezone}"
            if spec.job == "sweep" and job.working_days_only:
                described += ", working days only"
            deployed.append({"name": spec.full_name, "id": str(deployment_id), "flow": spec.flow,
                             "schedule": described, "parameters": parameters})
    return {"api_url": url, "work_pool": work_pool, "pool_created": created, "source": str(source),
            "timezone": schedule.timezone, "paused": paused, "heartbeat": heartbeat, "crash_after": crash_after,
            "automation": automation, "deployments": deployed}
