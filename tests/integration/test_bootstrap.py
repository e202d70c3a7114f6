"""One wiring (workflows.bootstrap): built once, and a long-running process migrates once at start, never per job."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.support import PLANS, SHANGHAI


@pytest.fixture
def environment(db_url: str, tmp_path: Path, monkeypatch) -> str:
    monkeypatch.setenv("DUBAN_DATABASE_URL", db_url)
    monkeypatch.setenv("DUBAN_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("DUBAN_OUTBOX_DIR", str(tmp_path / "var" / "outbox"))
    monkeypatch.delenv("DUBAN_SMTP_URL", raising=False)
    return db_url


@pytest.fixture(autouse=True)
def closed_apps(monkeypatch):
    """Every App a test builds with ``bootstrap`` lets its engine go at teardown: a PostgreSQL
    connection left to the garbage collector warns in whichever test runs then."""
    from duban.workflows import bootstrap as wiring

    built = []
    real = wiring.bootstrap

    def recorded(*args, **kwargs):
        built.append(real(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(wiring, "bootstrap", recorded)
    yield built
    for app in built:
        app.close()


@pytest.fixture
def schema_calls(monkeypatch) -> dict[str, int]:
    """How often anything opened a database, read its schema version or ran Alembic's upgrade."""
    from duban.store import db

    calls = {"open_database": 0, "current_revision": 0, "upgrade": 0}

    def counted(name):
        real = getattr(db, name)

        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(db, name, wrapper)

    for name in calls:
        counted(name)
    return calls


def test_the_runner_and_its_jobs_migrate_once_at_start_never_per_job(environment, schema_calls, monkeypatch) -> None:
    from duban.workflows import runner
    from duban.workflows.bootstrap import bootstrap
    from duban.workflows.matrix_service import PlanOptions, import_file

    app = bootstrap(open_engine=True)  # what `duban run` does when it starts
    assert schema_calls["open_database"] == 1 and schema_calls["upgrade"] == 1  # a new database: created once
    import_file(app.engine, PLANS / "district-2015.yaml", PlanOptions(), now=dt.datetime(2015, 7, 1, 8, tzinfo=SHANGHAI))
    at_start = dict(schema_calls)

    monkeypatch.setattr(runner._Process, "app", None)
    lines: list[str] = []
    results = runner.run_once(app, report=lambda name, text: lines.append(f"{name} {text}"),
                              now=dt.datetime(2015, 12, 4, tzinfo=SHANGHAI))
    for name in ("sweep", "deliver", "weekly_report", "sweep"):  # what the scheduler calls, by reference
        runner.run_job(name)
    assert [r["job"] for r in results] == ["sweep", "deliver", "weekly_report"]
    assert results[0]["created"]["escalation"] == 6 and results[2]["files"], lines
    assert schema_calls == at_start  # no job opened, checked or upgraded the database
    assert runner._Process.app is app  # the jobs ran on the wiring built at start


def test_the_jobs_use_the_wiring_s_calendar_and_renderer(environment, monkeypatch) -> None:
    """A day of `duban run` (sweep, deliver, weekly report) builds no working calendar and no renderer of
    its own: the services are handed the App's, built once."""
    from duban.matrix import calendar as calendar_module
    from duban.notifications import render
    from duban.workflows import runner
    from duban.workflows.bootstrap import bootstrap
    from duban.workflows.matrix_service import PlanOptions, import_file

    built = {"calendar": 0, "renderer": 0}
    for cls, key in ((calendar_module.WorkCalendar, "calendar"), (render.Renderer, "renderer")):
        real_init = cls.__init__

        def counted(self, *args, _real=real_init, _key=key, **kwargs):
            built[_key] += 1
            _real(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", counted)

    app = bootstrap(open_engine=True)
    import_file(app.engine, PLANS / "district-2015.yaml", PlanOptions(), now=dt.datetime(2015, 7, 1, 8, tzinfo=SHANGHAI))
    monkeypatch.setattr(runner._Process, "app", None)
    results = runner.run_once(app, report=lambda name, text: None, now=dt.datetime(2015, 12, 4, tzinfo=SHANGHAI))
    assert [r["job"] for r in results] == ["sweep", "deliver", "weekly_report"] and results[1]["sent"] > 0
    assert built["calendar"] == 1, built  # the App's
    built.update(calendar=0, renderer=0)
    monkeypatch.setattr(runner._Process, "app", app)
    for name in ("sweep", "deliver", "weekly_report"):  # the next days' jobs, as the scheduler calls them
        runner.run_job(name)
    assert built == {"calendar": 0, "renderer": 0}, built  # nothing built per job


def test_a_command_brings_the_database_to_the_newest_revision_when_it_first_needs_it(environment, schema_calls) -> None:
    from duban.store.db import HEAD_REVISION
    from duban.workflows.bootstrap import bootstrap

    app = bootstrap()  # the CLI's: nothing opened yet (`matrix validate --offline` needs no database)
    assert schema_calls == {"open_database": 0, "current_revision": 0, "upgrade": 0} and not app.engine_opened
    with app.engine.connect() as conn:
        import sqlalchemy as sa

        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD_REVISION
    assert app.engine is app.engine and schema_calls["open_database"] == 1 and schema_calls["upgrade"] == 1
    app.close()


def test_the_wiring_is_built_once_and_frozen(environment, tmp_path: Path) -> None:
    import dataclasses

    from duban.matrix.errors import ConfigError
    from duban.workflows.bootstrap import bootstrap

    app = bootstrap(language="en")
    assert app.settings.language == "en" and app.renderer.language == "en"
    assert app.policies is app.policies and app.scoring is app.scoring and app.calendar is app.calendar
    assert [j.name for j in app.schedule.jobs] == ["sweep", "deliver", "weekly_report"]
    assert app.now(dt.datetime(2015, 12, 4)) == dt.datetime(2015, 12, 4, tzinfo=SHANGHAI)
    assert app.now().tzinfo is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        app.settings = None  # type: ignore[misc]
    with pytest.raises(ConfigError, match="DUBAN_SMTP_CONCURRENCY"):
        bootstrap(smtp_concurrency=0)


def test_a_running_process_reads_the_policy_and_scoring_again_after_the_office_edits_them(environment, tmp_path: Path) -> None:
    """`duban run` keeps its App for days; an edited policy.yaml or scoring.yaml reaches the next job
    (as when each job read them), and an unchanged one is not parsed again."""
    import os

    from duban.workflows.bootstrap import bootstrap

    app = bootstrap()
    first_policies, first_scoring = app.policies, app.scoring
    assert app.policies is first_policies and app.scoring is first_scoring  # unchanged files: kept
    config = tmp_path / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "policy.yaml").write_text("chase:\n  every_working_days: 7\n", encoding="utf-8")
    edited = app.policies
    assert edited is not first_policies and app.policies is edited
    assert edited != first_policies
    (config / "scoring.yaml").write_text("period_days: 14\n", encoding="utf-8")
    os.utime(config / "scoring.yaml", ns=(1, 1))  # any change of the file's time counts, even backwards
    assert app.scoring is not first_scoring and app.scoring.period_days == 14


@pytest.mark.prefect
def test_a_flow_run_process_migrates_once_and_its_tasks_never(environment, schema_calls, monkeypatch) -> None:
    """A worker's flow-run process: the wiring is built once (by the run's name or the flow), the tasks
    and the log lines use its open engine."""
    pytest.importorskip("prefect", reason="Prefect is not installed (pip install -e '.[server]')")
    from duban.workflows import flows
    from duban.workflows.matrix_service import PlanOptions, import_file

    monkeypatch.setattr(flows._Process, "app", None)
    app = flows._app()
    assert schema_calls["open_database"] == 0  # lazily: nothing opened by building the wiring
    import_file(app.engine, PLANS / "district-2015.yaml", PlanOptions(), now=dt.datetime(2015, 7, 1, 8, tzinfo=SHANGHAI))
    at_start = dict(schema_calls)
    assert at_start["open_database"] == 1 and at_start["upgrade"] == 1
    now = flows.moment("2015-12-04", app.settings.timezone)
    swept = flows.sweep_step.fn(now, False)
    sent = flows.deliver_step.fn(now)
    report = flows.weekly_report_step.fn(now, False)
    assert swept["created"]["escalation"] == 6 and sent["job"] == "deliver" and report["files"]
    assert flows.plan_codes(app) == ["district-2015"] and flows.waiting_messages(app) == 0
    assert flows._app() is app and schema_calls == at_start
