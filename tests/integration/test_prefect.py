"""Server mode on a real Prefect server: ``duban deploy``, process workers, the ``supervise`` flow.

One ``prefect server start`` on a free loopback port per module (temporary PREFECT_HOME, SQLite for
Prefect's own database), real ``prefect worker start`` processes with duban's settings in their
environment, and duban's database read afterwards — never Prefect's results. On PostgreSQL two workers
run four ``supervise`` runs for the same day at once, and a real SMTP server counts what arrives: every
notice exists once and every message is handed over once.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from notifications.sink import free_port
from store.db import open_database, transaction
from store.tables import DeliveryRow, MessageRow, NoticeRow, SweepRow
from tests.conftest import PLANS, ROOT, at
from workflows.deploy import prefect_environment
from workflows.matrix_service import PlanOptions, import_file

pytest.importorskip("prefect", reason="Prefect is not installed (pip install -e '.[server]')")

pytestmark = [pytest.mark.prefect]

AS_OF = "2015-12-04"  # district-2015: 3.1 and 3.5 overdue, 2 chases and 6 escalations (3 levels each)
RUN_TIMEOUT = 120
PREFECT = [sys.executable, "-m", "prefect"]
DUBAN = [sys.executable, "-m", "workflows.cli"]




def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def stop(proc: subprocess.Popen, grace: float = 10) -> None:
    """Stop a process started with its own session, and everything in its group."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    except ProcessLookupError:
        pass


@dataclass
class PrefectServer:
    url: str
    home: Path
    env: dict[str, str]  # for clients and workers: quiet, this PREFECT_HOME, this PREFECT_API_URL
    log: Path


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = prefect_environment(home=home)
    env.pop("PREFECT_API_URL", None)
    env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{home / 'prefect.db'}"
    log = home / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=home)
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            pytest.fail(f"prefect server start exited with {proc.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop(proc)
            pytest.fail(f"prefect server not healthy after 90 s:\n{tail(log)}")
        time.sleep(0.3)
    client_env = {**env, "PREFECT_API_URL": url}
    client_env.pop("PREFECT_SERVER_DATABASE_CONNECTION_URL")
    # This process talks to the server too (deploy, run_deployment): the same quiet settings.
    with pytest.MonkeyPatch.context() as mp:
        for key in ("PREFECT_HOME", "DO_NOT_TRACK", "PREFECT_SERVER_ANALYTICS_ENABLED", "PREFECT_API_URL"):
            mp.setenv(key, client_env[key])
        try:
            yield PrefectServer(url=url, home=home, env=client_env, log=log)
        finally:
            stop(proc)


@contextmanager
def api(server: PrefectServer):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: server.url}):
        yield


@pytest.fixture(scope="module")
def deployed(prefect_server: PrefectServer, tmp_path_factory) -> dict:
    """``duban deploy --paused --json`` as a process: paused, so no 08:30 or 5-minute run of the real
    clock interferes; triggered runs still run."""
    cfg = tmp_path_factory.mktemp("deploy-cfg")
    proc = subprocess.run([*DUBAN, "deploy", "--paused", "--json"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120,
                          env={**prefect_server.env, "DUBAN_CONFIG_DIR": str(cfg), "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@contextmanager
def workers(server: PrefectServer, folder: Path, duban_env: dict[str, str], count: int = 1, limit: int | None = None):
    """``prefect worker start --pool duban --type process`` × count, polling every second."""
    env = {**server.env, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1",
           **duban_env}
    started: list[tuple[subprocess.Popen, Path]] = []
    try:
        for n in range(1, count + 1):
            log = folder / f"worker{n}.log"
            args = [*PREFECT, "worker", "start", "--pool", "duban", "--type", "process", "--name", f"w{n}"]
            if limit:
                args += ["--limit", str(limit)]
            with open(log, "wb") as out:
                started.append((subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT,
                                                 stdin=subprocess.DEVNULL, start_new_session=True, cwd=folder), log))
        yield [log for _, log in started]
    finally:
        for proc, _ in started:
            stop(proc)


def wait_for(server: PrefectServer, run_ids, logs: list[Path], timeout: float = RUN_TIMEOUT):
    """Poll until every flow run is final; fail with the workers' logs otherwise."""
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    with api(server), get_client(sync_client=True) as client:
        while True:
            runs = [client.read_flow_run(i) for i in run_ids]
            if all(r.state and r.state.is_final() for r in runs):
                break
            if time.monotonic() > deadline:
                pytest.fail("flow runs not finished after %ss: %s\n%s" % (
                    timeout, [r.state_name for r in runs], "\n".join(tail(p) for p in logs)))
            time.sleep(0.5)
    bad = [r for r in runs if not r.state.is_completed()]
    assert not bad, f"{[(r.name, r.state_name, r.state.message) for r in bad]}\n" + "\n".join(tail(p) for p in logs)
    return runs


def trigger(server: PrefectServer, name: str, **parameters) -> str:
    from prefect.deployments import run_deployment

    with api(server):
        return str(run_deployment(name, parameters=parameters, timeout=0).id)


def load_district(url: str) -> None:
    engine = open_database(url)
    try:
        import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    finally:
        engine.dispose()


def duban_env(url: str, folder: Path, **extra: str) -> dict[str, str]:
    return {"DUBAN_DATABASE_URL": url, "DUBAN_OUTBOX_DIR": str(folder / "outbox"), "DUBAN_CONFIG_DIR": str(folder / "cfg"),
            "DUBAN_MAIL_FROM": "督辦系統 <duban@example.org>", "DUBAN_MESSAGES_PER_MINUTE": "0", **extra}


# --------------------------------------------------------------------------------------------


def test_deploy_refuses_without_prefect_api_url(tmp_path: Path) -> None:
    env = prefect_environment(home=tmp_path / "prefect")
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.run([*DUBAN, "deploy"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**env, "PYTHONPATH": str(ROOT), "DUBAN_CONFIG_DIR": str(tmp_path / "cfg")})
    assert proc.returncode == 2
    assert proc.stderr.startswith("duban: error: PREFECT_API_URL is not set") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def test_deploy_registers_schedules_and_a_worker_runs_supervise(prefect_server, deployed, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client

    assert deployed["work_pool"] == "duban" and deployed["pool_created"] is True and deployed["paused"] is True
    assert [d["name"] for d in deployed["deployments"]] == [
        "supervise/supervise-sweep", "supervise/deliver", "weekly-report/weekly-report"]
    with api(prefect_server), get_client(sync_client=True) as client:
        assert client.read_work_pool("duban").type == "process"
        schedules = {}
        for d in deployed["deployments"]:
            dep = client.read_deployment_by_name(d["name"])
            assert str(dep.id) == d["id"] and dep.work_pool_name == "duban"
            assert len(dep.schedules) == 1
            schedules[d["name"]] = (dep.schedules[0].schedule, dep.parameters)
    sweep_cron, sweep_params = schedules["supervise/supervise-sweep"]
    assert (sweep_cron.cron, sweep_cron.timezone) == ("30 8 * * *", "Asia/Shanghai")
    assert sweep_params == {"working_days_only": True}
    every, deliver_params = schedules["supervise/deliver"]
    assert every.interval.total_seconds() == 300 and every.timezone == "Asia/Shanghai" and deliver_params == {"sweep": False}
    weekly, _ = schedules["weekly-report/weekly-report"]
    assert (weekly.cron, weekly.timezone) == ("0 16 * * fri", "Asia/Shanghai")

    url = f"sqlite:///{tmp_path / 'duban.db'}"
    load_district(url)
    with workers(prefect_server, tmp_path, duban_env(url, tmp_path)) as logs:
        runs = wait_for(prefect_server, [trigger(prefect_server, "supervise/supervise-sweep", as_of=AS_OF)], logs)
        engine = open_database(url)
        try:
            with transaction(engine) as s:
                kinds = Counter(s.execute(sa.select(NoticeRow.kind)).scalars())
                assert kinds == {"chase": 2, "escalation": 6}
                assert set(s.execute(sa.select(NoticeRow.status)).scalars()) == {"sent"}
                messages = s.execute(sa.select(MessageRow.status, MessageRow.attempts)).all()
            assert messages and set(messages) == {("sent", 1)}
            emls = sorted((tmp_path / "outbox").glob("*.eml"))
            assert len(emls) == len(messages)
            first = email.message_from_bytes(emls[0].read_bytes(), policy=email.policy.default)
            assert first["From"].addresses[0].addr_spec == "duban@example.org"

            # The weekly report through its own deployment: files, and one message to the office.
            wait_for(prefect_server, [trigger(prefect_server, "weekly-report/weekly-report", as_of=AS_OF)], logs)
            assert (tmp_path / "reports" / f"weekly-{AS_OF}.html").exists()
            with transaction(engine) as s:
                assert s.execute(sa.select(sa.func.count()).select_from(MessageRow)).scalar() == len(messages) + 1
        finally:
            engine.dispose()
    assert runs[0].parameters["as_of"] == AS_OF


def test_two_workers_on_postgresql_send_every_notice_once(prefect_server, deployed, pg_url, tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller
    from prefect.client.orchestration import get_client

    from workflows.deploy import deploy

    # Deploying again updates the same deployments: same ids, still one schedule each.
    again = deploy(api_url=prefect_server.url, config_dir=tmp_path / "cfg", paused=True)
    assert [d["id"] for d in again["deployments"]] == [d["id"] for d in deployed["deployments"]]
    assert again["pool_created"] is False
    with api(prefect_server), get_client(sync_client=True) as client:
        assert [len(client.read_deployment_by_name(d["name"]).schedules) for d in again["deployments"]] == [1, 1, 1]

    class Recorder:
        def __init__(self) -> None:
            self.messages: list[bytes] = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            self.messages.append(envelope.original_content)
            return "250 Message accepted"

    recorder = Recorder()
    port = free_port()
    smtp = Controller(recorder, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        load_district(pg_url)
        env = duban_env(pg_url, tmp_path, DUBAN_SMTP_URL=f"smtp://127.0.0.1:{port}")
        # Two workers taking at most two runs each; four runs of the same day at once, so both work.
        with workers(prefect_server, tmp_path, env, count=2, limit=2) as logs:
            ids = [trigger(prefect_server, "supervise/supervise-sweep", as_of=AS_OF) for _ in range(4)]
            wait_for(prefect_server, ids, logs)
        # A worker logs "View at …/flow-run/<id>" when it executes a run. Both may try to submit the
        # same run; the server aborts the second submission (logged as "Aborted submission").
        ran = [{i for i in ids if f"/flow-run/{i}" in log.read_text(errors="replace")} for log in logs]
        assert all(ran), f"each worker ran a flow run: {ran}"
        assert not (ran[0] & ran[1]) and ran[0] | ran[1] == set(ids), f"each run ran on one worker: {ran}"
    finally:
        smtp.stop()

    engine = open_database(pg_url)
    try:
        with transaction(engine) as s:
            notices = s.execute(sa.select(NoticeRow.key, NoticeRow.kind, NoticeRow.status)).all()
            sweeps = s.execute(sa.select(SweepRow.status, SweepRow.counts)).all()
            deliveries = s.execute(sa.select(DeliveryRow.notice_id, DeliveryRow.address, DeliveryRow.status,
                                             DeliveryRow.message_pk).where(DeliveryRow.address != "")).all()
            messages = s.execute(sa.select(MessageRow.message_id, MessageRow.status, MessageRow.attempts)).all()
    finally:
        engine.dispose()
    assert len(notices) == 8 and len({n.key for n in notices}) == 8
    assert Counter(n.kind for n in notices) == {"chase": 2, "escalation": 6}
    assert {n.status for n in notices} == {"sent"}
    assert len(sweeps) == 4 and {s.status for s in sweeps} == {"done"}
    created = sum(s.counts.get(kind, 0) for s in sweeps for kind in ("reminder", "chase", "escalation"))
    assert created == 8, "the four sweeps wrote the eight notices once in all"
    assert len({(d.notice_id, d.address) for d in deliveries}) == len(deliveries)
    assert {d.status for d in deliveries} == {"sent"} and all(d.message_pk for d in deliveries)
    assert messages and {(m.status, m.attempts) for m in messages} == {("sent", 1)}, "each message claimed once"
    received = [email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"] for raw in recorder.messages]
    assert len(received) == len(set(received)), f"a message arrived twice: {Counter(received).most_common(3)}"
    assert set(received) == {m.message_id for m in messages}
