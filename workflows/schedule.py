"""The job schedule (config/schedule.yaml, overridable in the config folder), for APScheduler and Prefect."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from duban.matrix.errors import ConfigError

JOB_NAMES = ("sweep", "deliver", "weekly_report")


@dataclass(frozen=True, slots=True)
class JobSchedule:
    name: str
    cron: str | None = None
    every_minutes: int | None = None
    working_days_only: bool = False

    def describe(self) -> str:
        return f"cron {self.cron}" if self.cron else f"every {self.every_minutes} min"


@dataclass(frozen=True, slots=True)
class Schedule:
    timezone: str
    jobs: tuple[JobSchedule, ...]

    def job(self, name: str) -> JobSchedule:
        return next(j for j in self.jobs if j.name == name)


def _check_cron(expr: str, where: str) -> str:
    fields = expr.split()
    if len(fields) != 5:
        raise ConfigError(f"{where}: cron {expr!r} needs 5 fields (minute hour day month weekday)")
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(expr)
    except ValueError as e:
        raise ConfigError(f"{where}: cron {expr!r}: {e}") from None
    return expr


def load_schedule(*paths: Path) -> Schedule:
    """Merge schedule files in order (later override earlier, job by job); missing files are skipped."""
    from duban.matrix.sources import config_files

    timezone = "Asia/Shanghai"
    raw_jobs: dict[str, dict] = {}
    for path, data in config_files(paths, what="schedule"):
        if set(data) - {"timezone", "jobs"}:
            raise ConfigError(f"{path}: a schedule has timezone and jobs")
        timezone = str(data.get("timezone") or timezone)
        for name, spec in (data.get("jobs") or {}).items():
            if name not in JOB_NAMES:
                raise ConfigError(f"{path}: unknown job {name!r}; jobs are {', '.join(JOB_NAMES)}")
            if not isinstance(spec, dict) or set(spec) - {"cron", "every_minutes", "working_days_only"}:
                raise ConfigError(f"{path}: job {name}: keys are cron, every_minutes, working_days_only")
            merged = {**raw_jobs.get(name, {}), **spec}
            # An override that sets one kind of trigger replaces the other kind.
            if "cron" in spec and "every_minutes" not in spec:
                merged.pop("every_minutes", None)
            if "every_minutes" in spec and "cron" not in spec:
                merged.pop("cron", None)
            raw_jobs[name] = merged
    jobs = []
    for name in JOB_NAMES:
        spec = raw_jobs.get(name)
        if spec is None:
            raise ConfigError(f"no schedule for the {name} job")
        where = f"schedule job {name}"
        cron = _check_cron(str(spec["cron"]), where) if spec.get("cron") else None
        every = None
        if spec.get("every_minutes") is not None and not cron:
            try:
                every = int(str(spec["every_minutes"]))
            except ValueError:
                raise ConfigError(f"{where}: every_minutes {spec['every_minutes']!r} is not a number") from None
            if every < 1:
                raise ConfigError(f"{where}: every_minutes must be at least 1")
        if not cron and not every:
            raise ConfigError(f"{where}: give cron or every_minutes")
        working = str(spec.get("working_days_only", False)).lower() in ("true", "yes", "1")
        jobs.append(JobSchedule(name=name, cron=cron, every_minutes=every, working_days_only=working))
    return Schedule(timezone=timezone, jobs=tuple(jobs))


def default_schedule(config_dir: Path) -> Schedule:
    from duban.config.settings import PACKAGE_DIR

    return load_schedule(PACKAGE_DIR / "schedule.yaml", config_dir / "schedule.yaml")
