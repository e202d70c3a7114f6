"""One wiring for every entry point: settings, engine, policies, scoring, schedule, renderer, calendar, clock.

The CLI, `duban run` and its jobs, the Prefect flows, the demo and (next) the web app each build one
:class:`App` with :func:`bootstrap` and take what they need from it; nothing else builds ``Settings``,
loads the policy or scoring files, or opens an engine. The parts are built on first use and kept, so
``duban matrix validate --offline`` never touches a database and ``duban --help`` imports none of it
(only the standard library is imported at module level here).

Where migrations run (a decision of issue 11): a command of the CLI brings the database to the newest
revision when it first uses the engine (``bootstrap()``, lazy), as the README says. A long-running
process — `duban run`, a Prefect worker's flow run, the web server — calls ``bootstrap(open_engine=True)``
once at start: the schema is brought up to date there, and every job or request after it uses that
open engine, never checking or upgrading the schema again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.engine import Engine

    from duban.config.settings import Settings
    from duban.matrix.calendar import WorkCalendar
    from duban.matrix.policy import PolicySet
    from duban.matrix.scoring import ScoringConfig
    from duban.notifications.render import Renderer
    from duban.workflows.schedule import Schedule


def private_files_from_environment() -> None:
    """Before the settings are read: files this process creates are private from the first one on, as
    ``DUBAN_FILE_MODE`` in the environment says (the settings confirm it, ``.env`` included)."""
    from duban.store.files import configure_from_environment

    configure_from_environment()


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment (``DUBAN_*``) and ``.env``, ``overrides`` winning: the one place
    ``Settings`` is built. A bad value is one ``ConfigError`` line naming the variable, never a traceback."""
    from pydantic import ValidationError

    from duban.config.settings import Settings
    from duban.matrix.errors import ConfigError

    try:
        return Settings(**overrides)
    except ValidationError as e:
        first = e.errors()[0]
        name = "DUBAN_" + "_".join(str(p) for p in first["loc"]).upper()
        text = str(first.get("input", ""))
        text = text if len(text) <= 80 else f"{text[:80]}… ({len(text)} characters)"
        raise ConfigError(f"setting {name}={text!r}: {first['msg'].removeprefix('Value error, ')}") from None


def load_policies(settings: Settings) -> PolicySet:
    """The packaged default policy overridden by the office's own (config folder) policy.yaml."""
    from duban.config.settings import PACKAGE_DIR
    from duban.matrix.policy import load_policy

    return load_policy(PACKAGE_DIR / "policy.yaml", Path(settings.config_dir) / "policy.yaml")


def load_scoring_config(settings: Settings) -> ScoringConfig:
    """The packaged config/scoring.yaml, overridden by the office's own (config folder) scoring.yaml."""
    from duban.config.settings import PACKAGE_DIR
    from duban.matrix.scoring import load_scoring

    return load_scoring(PACKAGE_DIR / "scoring.yaml", Path(settings.config_dir) / "scoring.yaml")


def load_schedule(settings: Settings) -> Schedule:
    """The packaged config/schedule.yaml, overridden by the office's own (config folder) schedule.yaml."""
    from duban.workflows.schedule import default_schedule

    return default_schedule(Path(settings.config_dir))


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def safe_url(url: str) -> str:
    """A database URL without its password, for messages and banners."""
    from duban.store.db import _safe

    return _safe(url)


@dataclass(frozen=True, eq=False)
class App:
    """What an entry point needs, built once from the settings; each part on first use, then kept.

    ``migrate``: whether opening the engine brings the schema to the newest revision (otherwise an old
    schema is refused). Frozen: an entry point never swaps a part; it builds another ``App``."""

    settings: Settings
    migrate: bool = True
    as_of_day: dt.date | None = None  # `duban serve --as-of D`: the console's day is D (a replay's), at today's time

    @cached_property
    def engine(self) -> Engine:
        """duban's database, its schema checked (and migrated when ``migrate``) once, when first used."""
        from duban.store.db import open_database

        return open_database(self.settings.database_url, migrate=self.migrate)

    # The office edits policy.yaml and scoring.yaml while `duban run` keeps running (as before issue 11,
    # when each job read them): they are read again when either file (packaged or the office's) changes,
    # and otherwise kept — a stat per job, not a YAML parse.
    _files: dict[str, tuple[tuple[int | None, ...], Any]] = field(default_factory=dict, init=False, repr=False)

    def _read_when_changed(self, name: str, load: Any) -> Any:
        from duban.config.settings import PACKAGE_DIR

        stamp = tuple(_mtime(p) for p in (PACKAGE_DIR / name, Path(self.settings.config_dir) / name))
        kept = self._files.get(name)
        if kept is None or kept[0] != stamp:
            kept = (stamp, load(self.settings))
            self._files[name] = kept
        return kept[1]

    @property
    def policies(self) -> PolicySet:
        """The escalation policies: config/policy.yaml under the office's own; read again when either changes."""
        return self._read_when_changed("policy.yaml", load_policies)

    @property
    def scoring(self) -> ScoringConfig:
        """The weekly scoring: config/scoring.yaml under the office's own; read again when either changes."""
        return self._read_when_changed("scoring.yaml", load_scoring_config)

    @cached_property
    def schedule(self) -> Schedule:
        return load_schedule(self.settings)

    @cached_property
    def renderer(self) -> Renderer:
        """Notices and reports in the settings' language, the office's templates (config folder) first."""
        from duban.notifications.render import Renderer

        return Renderer(language=self.settings.language, override_dir=Path(self.settings.config_dir) / "templates")

    @property
    def calendar(self) -> WorkCalendar:
        """The working-day calendar: the official package's years and those the office imported (``duban
        calendar import``; an imported year wins). Built once and kept (its per-year tables too); built again
        when the stored days changed — one aggregate query per use, so `duban run` counts with a newly
        imported year from its next job on."""
        from duban.workflows.calendar_service import calendar_stamp, work_calendar

        stamp = calendar_stamp(self.engine)
        kept = self._files.get("calendar")
        if kept is None or kept[0] != stamp:
            kept = self._files["calendar"] = (stamp, work_calendar(self.engine))
        return kept[1]

    @cached_property
    def timezone(self) -> dt.tzinfo:
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.settings.timezone)

    def clock(self) -> dt.datetime:
        """The real time in the office's zone; with ``as_of_day``, that day at the real time of day (a console
        opened on a replayed database acts and shows as of the replay's day, as the CLI's ``--as-of`` does)."""
        real = dt.datetime.now(self.timezone)
        return real if self.as_of_day is None else dt.datetime.combine(self.as_of_day, real.timetz())

    def now(self, as_of: dt.datetime | None = None) -> dt.datetime:
        """``as_of`` (a replay: a naive date-time is the office's local time, a date its start) or the clock."""
        if as_of is None:
            return self.clock()
        return as_of.replace(tzinfo=self.timezone) if as_of.tzinfo is None else as_of

    @property
    def engine_opened(self) -> bool:
        return "engine" in self.__dict__

    def close(self) -> None:
        """Let the engine's connections go (the parts stay usable; the engine reconnects if used again)."""
        if self.engine_opened:
            self.engine.dispose()


def bootstrap(*, open_engine: bool = False, migrate: bool = True, **overrides: Any) -> App:
    """The one wiring of a process: its settings (``overrides`` winning over the environment) and the
    parts built from them. This process then creates files with the settings' ``file_mode``.

    ``open_engine=True`` is for long-running processes: the database is opened, and its schema brought
    to the newest revision, now, once; jobs and requests then use ``app.engine`` as it is."""
    from duban.store.files import configure

    settings = load_settings(**overrides)
    configure(settings.file_mode)  # what this process creates: files 0600, folders 0700 unless configured
    app = App(settings=settings, migrate=migrate)
    if open_engine:
        app.engine  # noqa: B018 - opened (and migrated) here, at start, not by the first job
    return app
