"""Server mode on a real Prefect server: ``duban deploy``, process workers, the ``supervise`` flow.

One ``prefect server start`` on a free loopback port per module (temporary PREFECT_HOME, SQLite for
Prefect's own database), real ``prefect worker start`` processes with duban's settings in their
environment, and duban's database read afterwards — never Prefect's results. On PostgreSQL two workers
run four ``supervise`` runs for the same day at once, and a real SMTP server counts what arrives: every
notice exists once and every message is handed over once. A worker killed with its flow run leaves a
run that the heartbeat automation marks Crashed. And the README's server-mode steps run as the script
docs/server-mode-steps.sh, on a Prefect server of their own (SQLite in var/prefect).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import os
import re
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

from duban.notifications.sink import free_port, loopback_smtp
from duban.store.db import open_database, transaction
from duban.store.tables import DeliveryRow, MessageRow, NoticeRow, SweepRow
from duban.workflows.deploy import prefect_environment
from duban.workflows.matrix_service import PlanOptions, import_file
from tests.support import PLANS, ROOT, at

pytest.importorskip("prefect", reason="Prefect is not installed (pip install -e '.[server]')")

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

AS_OF = "2015-12-04"  # district-2015: 3.1 and 3.5 overdue past level 3: 6 escalations (3 levels each), no chase
RUN_TIMEOUT = 120
PREFECT = [sys.executable, "-m", "prefect"]
DUBAN = [sys.executable, "-m", "duban.workflows.cli"]
# Prefect's shortest heartbeat, and the tightest crash bound duban accepts for it (1.5 ×): the zombie
# test then takes about 90 s.
HEARTBEAT, CRASH_AFTER = 30, 45

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
    proc = subprocess.run([*DUBAN, "deploy", "--paused", "--heartbeat", str(HEARTBEAT), "--crash-after",
                           str(CRASH_AFTER), "--json"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120,
                          env={**prefect_server.env, "DUBAN_CONFIG_DIR": str(cfg), "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def start_worker(server: PrefectServer, folder: Path, duban_env: dict[str, str], name: str,
                 limit: int | None = None) -> tuple[subprocess.Popen, Path]:
    """``prefect worker start --pool duban --type process``, polling every second, in its own session."""
    env = {**server.env, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1",
           **duban_env}
    log = folder / f"{name}.log"
    args = [*PREFECT, "worker", "start", "--pool", "duban", "--type", "process", "--name", name]
    if limit:
        args += ["--limit", str(limit)]
    with open(log, "wb") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=folder), log


@contextmanager
def workers(server: PrefectServer, folder: Path, duban_env: dict[str, str], count: int = 1, limit: int | None = None):
    """``prefect worker start --pool duban --type process`` × count, polling every second."""
    started: list[tuple[subprocess.Popen, Path]] = []
    try:
        for n in range(1, count + 1):
            started.append(start_worker(server, folder, duban_env, f"w{n}", limit))
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
                pytest.fail(f"flow runs not finished after {timeout}s: {[r.state_name for r in runs]}\n"
                            + "\n".join(tail(p) for p in logs))
            time.sleep(0.5)
    bad = [r for r in runs if not r.state.is_completed()]
    assert not bad, f"{[(r.name, r.state_name, r.state.message) for r in bad]}\n" + "\n".join(tail(p) for p in logs)
    return runs


def trigger(server: PrefectServer, name: str, **parameters) -> str:
    from prefect.deployments import run_deployment

    with api(server):
        return str(run_deployment(name, parameters=parameters, timeout=0).id)


def run_logs(server: PrefectServer, run_id, *expected) -> list[str]:
    """What a flow run logged, as the UI shows it, once a line matches each of the ``expected``
    predicates (log lines reach the server a moment after the run's final state) or after 20 s."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    deadline = time.monotonic() + 20
    with api(server), get_client(sync_client=True) as client:
        while True:
            messages = [entry.message for entry in client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))]
            if all(any(check(m) for m in messages) for check in expected) or time.monotonic() > deadline:
                return messages
            time.sleep(0.5)


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


def test_deploy_refuses_a_heartbeat_prefect_would_not_send(tmp_path: Path) -> None:
    env = prefect_environment(home=tmp_path / "prefect")
    proc = subprocess.run([*DUBAN, "deploy", "--heartbeat", "5", "--crash-after", "20"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**env, "PYTHONPATH": str(ROOT), "PREFECT_API_URL": "http://127.0.0.1:9/api",
                                                      "DUBAN_CONFIG_DIR": str(tmp_path / "cfg")})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("duban: error: --heartbeat 5: Prefect sends a flow run's heartbeat at most every 30 s")


def test_run_names_and_log_lines_say_job_plan_day_and_counts() -> None:
    from duban.workflows.flows import by_kind, deliver_lines, report_line, run_name, sweep_line

    assert run_name("sweep", AS_OF, timezone="Asia/Shanghai", plans=["district-2015"]) == "sweep district-2015 2015-12-04"
    assert run_name("sweep", AS_OF, timezone="Asia/Shanghai", plans=["a", "b", "c", "d"]) == "sweep a, b +2 plans 2015-12-04"
    assert run_name("weekly-report", AS_OF, timezone="Asia/Shanghai") == "weekly-report 2015-12-04"
    import datetime as dt
    from zoneinfo import ZoneInfo

    clock = dt.datetime(2015, 12, 4, 13, 5, tzinfo=dt.UTC)
    assert run_name("deliver", None, timezone="Asia/Shanghai", clock=clock) == "deliver 2015-12-04 21:05"
    assert run_name("deliver", "2015-12-04T21:05", timezone="Asia/Shanghai") == "deliver 2015-12-04 21:05"
    assert ZoneInfo("Asia/Shanghai")  # the office's zone, not the machine's
    assert by_kind({"escalation": 6, "chase": 2, "reminder": 0}) == "reminder 0, chase 2, escalation 6 (8 in all)"
    line = sweep_line({"sweep": 3, "as_of": AS_OF, "items": 40, "created": {"chase": 2, "escalation": 6}}, ["district-2015"])
    assert line == ("sweep 3 as of 2015-12-04 over 1 plan (district-2015): 40 open items; new notices: "
                    "chase 2, escalation 6 (8 in all)")
    # (Issue 12: the line counts sent / held / failed / undeliverable, as `duban deliver` and `duban run` do;
    # a recipient with no address is held, undeliverable is a recipient refused for good.)
    lines = deliver_lines({"target": "smtp://h:25", "planned_messages": 5, "sent": 3, "retrying": 1, "failed": 1,
                           "recipients_refused": 2, "errors": ["x"], "held": 2,
                           "held_recipients": [{"task": "3.1", "cause": "no address in the directory"},
                                               {"task": "3.5", "cause": "no address in the directory"}],
                           "undeliverable": [{"task": "3.2", "reason": "550 no such user"}]},
                          waiting=1)
    assert lines[0] == ("info", "deliver to smtp://h:25: 5 messages planned, 3 sent, 2 held, 1 failed, 1 undeliverable; "
                                "1 will be retried; 2 recipients refused by the server; "
                                "1 messages waiting in duban's queue")
    assert lines[1:] == [("warning", "held ×2: no address in the directory (tasks 3.1, 3.5)"),
                         ("warning", "undeliverable ×1: 550 no such user (tasks 3.2)"), ("error", "delivery error: x")]
    assert report_line({"as_of": AS_OF, "files": ["/r/weekly-2015-12-04.html", "/r/weekly-2015-12-04.md"], "criticised": ["A"],
                        "email": {"status": "sent", "to": ["o@x"], "target": "smtp://h:25"}}, True) == (
        "weekly report as of 2015-12-04: 2 files in /r (weekly-2015-12-04.html, weekly-2015-12-04.md); "
        "1 units criticised: A; emailed to o@x via smtp://h:25: sent")


def test_deploy_registers_schedules_and_a_worker_runs_supervise(prefect_server, deployed, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client

    assert deployed["work_pool"] == "duban" and deployed["pool_created"] is True and deployed["paused"] is True
    assert (deployed["heartbeat"], deployed["crash_after"]) == (HEARTBEAT, CRASH_AFTER)
    assert deployed["automation"]["created"] is True
    assert deployed["automation"]["name"] == "duban: crash flow runs whose heartbeats stopped"
    assert [d["name"] for d in deployed["deployments"]] == [
        "supervise/supervise-sweep", "supervise/deliver", "weekly-report/weekly-report"]
    with api(prefect_server), get_client(sync_client=True) as client:
        assert client.read_work_pool("duban").type == "process"
        schedules = {}
        for d in deployed["deployments"]:
            dep = client.read_deployment_by_name(d["name"])
            assert str(dep.id) == d["id"] and dep.work_pool_name == "duban"
            assert len(dep.schedules) == 1
            assert dep.job_variables["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == str(HEARTBEAT)
            schedules[d["name"]] = (dep.schedules[0].schedule, dep.parameters)
        automation = client.read_automation(deployed["automation"]["id"])
        assert automation.enabled and automation.trigger.within.total_seconds() == CRASH_AFTER
        assert automation.trigger.posture == "Proactive" and automation.actions[0].type == "change-flow-run-state"
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
                assert kinds == {"escalation": 6}  # 3.1 and 3.5 are past level 3: their chase series has ended
                assert set(s.execute(sa.select(NoticeRow.status)).scalars()) == {"sent"}
                messages = s.execute(sa.select(MessageRow.status, MessageRow.attempts)).all()
            assert messages and set(messages) == {("sent", 1)}
            emls = sorted((tmp_path / "outbox").glob("*.eml"))
            assert len(emls) == len(messages)
            first = email.message_from_bytes(emls[0].read_bytes(), policy=email.policy.default)
            assert first["From"].addresses[0].addr_spec == "duban@example.org"

            # The weekly report through its own deployment: files, and one message to the office.
            report_runs = wait_for(prefect_server, [trigger(prefect_server, "weekly-report/weekly-report", as_of=AS_OF)], logs)
            assert (tmp_path / "reports" / f"weekly-{AS_OF}.html").exists()
            with transaction(engine) as s:
                assert s.execute(sa.select(sa.func.count()).select_from(MessageRow)).scalar() == len(messages) + 1
        finally:
            engine.dispose()
        # Named by job, plan and day; the log says the plan, the notices by kind, what delivery did, and
        # where the report's files went. (Read while the worker runs: a flow run's last log lines leave
        # its process as it exits.)
        assert runs[0].name == f"sweep district-2015 {AS_OF}" and report_runs[0].name == f"weekly-report {AS_OF}"

        def swept(m: str) -> bool:
            return (m.startswith(f"sweep 1 as of {AS_OF} over 1 plan (district-2015): ")
                    and "; new notices: reminder 0, chase 0, escalation 6 (6 in all)" in m)  # 3.1, 3.5: past level 3

        def delivered(m: str) -> bool:
            return (m.startswith(f"deliver to {tmp_path / 'outbox'}: {len(messages)} messages planned, {len(messages)} sent, "
                                 "0 held, 0 failed, 0 undeliverable; ")
                    and m.endswith("refused by the server; 0 messages waiting in duban's queue"))

        def reported(m: str) -> bool:
            return (m.startswith(f"weekly report as of {AS_OF}: ") and f"files in {tmp_path / 'reports'} (" in m
                    and f"weekly-{AS_OF}.html" in m and m.endswith(": sent"))

        said = run_logs(prefect_server, runs[0].id, swept, delivered)
        assert any(map(swept, said)) and any(map(delivered, said)), "\n".join(said)
        said = run_logs(prefect_server, report_runs[0].id, reported)
        assert any(map(reported, said)), "\n".join(said)
    assert runs[0].parameters["as_of"] == AS_OF


def test_two_workers_on_postgresql_send_every_notice_once(prefect_server, deployed, pg_url, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client

    from duban.workflows.deploy import deploy

    # Deploying again updates the same deployments: same ids, still one schedule each.
    again = deploy(api_url=prefect_server.url, config_dir=tmp_path / "cfg", paused=True, heartbeat=HEARTBEAT,
                   crash_after=CRASH_AFTER)
    assert [d["id"] for d in again["deployments"]] == [d["id"] for d in deployed["deployments"]]
    assert again["pool_created"] is False
    with api(prefect_server), get_client(sync_client=True) as client:
        assert [len(client.read_deployment_by_name(d["name"]).schedules) for d in again["deployments"]] == [1, 1, 1]
        # ... and the same automation, updated, not a second one.
        assert again["automation"] == {**deployed["automation"], "created": False}
        assert [str(a.id) for a in client.read_automations_by_name(again["automation"]["name"])] == [again["automation"]["id"]]

    class Recorder:
        def __init__(self) -> None:
            self.messages: list[bytes] = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            self.messages.append(envelope.original_content)
            return "250 Message accepted"

    recorder = Recorder()
    smtp = loopback_smtp(recorder)
    port = smtp.port
    try:
        load_district(pg_url)
        env = duban_env(pg_url, tmp_path, DUBAN_SMTP_URL=f"smtp://127.0.0.1:{port}",
                        DUBAN_ALLOW_REPLAY_MAIL="1")  # a replay of 2015, mailed to the test's own server
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
    assert len(notices) == 6 and len({n.key for n in notices}) == 6
    assert Counter(n.kind for n in notices) == {"escalation": 6}
    assert {n.status for n in notices} == {"sent"}
    assert len(sweeps) == 4 and {s.status for s in sweeps} == {"done"}
    created = sum(s.counts.get(kind, 0) for s in sweeps for kind in ("reminder", "chase", "escalation"))
    assert created == 6, "the four sweeps wrote the six notices once in all"
    assert len({(d.notice_id, d.address) for d in deliveries}) == len(deliveries)
    assert {d.status for d in deliveries} == {"sent"} and all(d.message_pk for d in deliveries)
    assert messages and {(m.status, m.attempts) for m in messages} == {("sent", 1)}, "each message claimed once"
    received = [email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"] for raw in recorder.messages]
    assert len(received) == len(set(received)), f"a message arrived twice: {Counter(received).most_common(3)}"
    assert set(received) == {m.message_id for m in messages}


# --------------------------------------------------------------------------------------------
# A worker killed with its flow run: the heartbeat automation marks the run Crashed.


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), children first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def environment(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.decode(errors="replace").partition("=")[::2] for item in raw.split(b"\0") if b"=" in item)


def heartbeats(client, run_id) -> list:
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    page = client.read_events(EventFilter(event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
                                          resource=EventResourceFilter(id=[f"prefect.flow-run.{run_id}"])), limit=50)
    return sorted(e.occurred for e in page.events)


def test_a_run_killed_with_its_worker_is_marked_crashed(prefect_server, deployed, pg_url, tmp_path: Path) -> None:
    """kill -9 of a worker and its flow-run process, mid-run: the run does not stay Running for ever but
    becomes Crashed about --crash-after seconds after its last heartbeat."""
    from prefect.client.orchestration import get_client

    load_district(pg_url)
    holder = sa.create_engine(pg_url)
    conn = holder.connect()
    conn.execute(sa.text("LOCK TABLE notice IN ACCESS EXCLUSIVE MODE"))  # delivery waits here, mid-run
    worker, log = start_worker(prefect_server, tmp_path, duban_env(pg_url, tmp_path), "doomed")
    try:
        run_id = trigger(prefect_server, "supervise/deliver", as_of=AS_OF)
        with api(prefect_server), get_client(sync_client=True) as client:
            deadline = time.monotonic() + RUN_TIMEOUT
            while (run := client.read_flow_run(run_id)).state_name != "Running":
                assert time.monotonic() < deadline, f"run not started: {run.state_name}\n{tail(log)}"
                time.sleep(0.5)
            while not heartbeats(client, run_id):  # the first one, sent as the run starts
                assert time.monotonic() < deadline, f"no heartbeat\n{tail(log)}"
                time.sleep(0.5)
            assert run.name == f"deliver {AS_OF}"
            flow_processes = descendants(worker.pid)
            environments = [environment(pid) for pid in flow_processes]
            # The deployment's heartbeat reached the flow run's process (Prefect's own default is 180 s,
            # which the 45 s bound would take for a dead run).
            assert any(e.get("PREFECT__FLOW_RUN_ID") == run_id and
                       e.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY") == str(HEARTBEAT) for e in environments), environments
            for pid in [worker.pid, *flow_processes]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            worker.wait(10)
            killed = time.monotonic()
            last_beat = heartbeats(client, run_id)[-1]

            while (run := client.read_flow_run(run_id)).state_name != "Crashed":
                assert run.state_name == "Running", (run.state_name, run.state.message)
                assert time.monotonic() - killed < CRASH_AFTER + 40, "the run stayed Running after its worker was killed"
                time.sleep(1)
            crashed_after = (run.state.timestamp - last_beat).total_seconds()
            assert CRASH_AFTER - 1 <= crashed_after <= CRASH_AFTER + 15, crashed_after
            assert f"No heartbeat for {CRASH_AFTER} s" in run.state.message
    finally:
        stop(worker)
        conn.close()
        holder.dispose()


# --------------------------------------------------------------------------------------------
# The README's steps, as docs/server-mode-steps.sh runs them.

STEPS_SCRIPT = ROOT / "docs" / "server-mode-steps.sh"


def test_the_readme_server_mode_steps_run_as_a_script(pg_url, tmp_path: Path) -> None:
    """``bash docs/server-mode-steps.sh`` (steps 2-7 of the README, word for word) in an empty project
    folder: its own Prefect server on SQLite in var/prefect, deploy, a mail sink, two workers, a replay
    of 2015-12-04, deliver, the weekly report, then everything stopped again. Only the ports, the
    database URL, `duban deploy --paused` and `sudo -u postgres create…` (PostgreSQL's superuser is not
    ours) differ."""
    server_port, sink_port = free_port(), free_port()
    script = STEPS_SCRIPT.read_text()
    # --paused: the real clock's schedules (08:30 sweep, deliver every 5 minutes) must not run in the
    # middle of a CI trial and change what it counts (a scheduled deliver stopped at the end of the
    # trial leaves a claimed message behind).
    for old, new in {"4200": str(server_port), "8025": str(sink_port),
                     "postgresql+psycopg://duban:PASSWORD@127.0.0.1:5432/duban": pg_url,
                     "\nduban deploy ": "\nduban deploy --paused "}.items():
        assert old in script, old
        script = script.replace(old, new)
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "steps.sh").write_text(script)
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "sudo").write_text('#!/bin/sh\necho "(not run in the test) sudo $*"\n')
    (shims / "duban").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m duban.workflows.cli "$@"\n')
    for shim in shims.iterdir():
        shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DUBAN_"))}
    env.update(PATH=f"{shims}:{Path(sys.executable).parent}:{os.environ['PATH']}", PYTHONPATH=str(ROOT), COLUMNS="200",
               PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_WORKER_PREFETCH_SECONDS="1")  # workers poll every second
    out_path = tmp_path / "steps.out"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(["bash", str(tmp_path / "steps.sh")], cwd=project, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(240)
    except subprocess.TimeoutExpired:
        pass
    finally:
        output = out_path.read_text(errors="replace")
        groups = [int(g) for g in re.findall(r"\(process group (\d+),", output)]
        for group in [proc.pid, *groups]:  # whatever the script left running
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        proc.wait(10)
    logs = "\n".join(f"--- {p.name}\n{tail(p, 30)}" for p in sorted((project / "var").glob("*.log")))
    assert proc.returncode == 0, f"{output[-6000:]}\n{logs}"
    assert len(groups) == 4, output  # server, mail sink, two workers ...
    for group in groups:  # ... all stopped by the script itself (two signals for a worker)
        with pytest.raises(ProcessLookupError):
            os.killpg(group, 0)

    assert (project / "var" / "prefect" / "prefect.db").is_file(), "Prefect's SQLite database in var/prefect"
    assert "(not run in the test) sudo -u postgres createuser --pwprompt duban" in output
    assert "supervise/supervise-sweep" in output and "automation" in output  # duban deploy's summary
    listed = output[output.index("Flow Runs"):]  # prefect flow-run ls --state Completed
    assert f"sweep district-2015 {AS_OF}" in listed and f"weekly-report {AS_OF}" in listed
    assert (project / "var" / "reports" / f"weekly-{AS_OF}.html").is_file()

    engine = open_database(pg_url)
    try:
        with transaction(engine) as s:
            kinds = Counter(s.execute(sa.select(NoticeRow.kind)).scalars())
            statuses = set(s.execute(sa.select(NoticeRow.status)).scalars())
            messages = s.execute(sa.select(MessageRow.message_id, MessageRow.status, MessageRow.attempts)).all()
    finally:
        engine.dispose()
    assert kinds == {"escalation": 6}, kinds
    assert statuses == {"sent"}, statuses
    assert messages and {(m.status, m.attempts) for m in messages} == {("sent", 1)}
    received = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["Message-ID"]
                for p in (project / "var" / "mail-sink").rglob("*.eml")]
    assert sorted(received) == sorted(m.message_id for m in messages), "the sink got every message once"
