"""Benchmark: the ``supervise`` flow through Prefect against calling the services directly, in one run.

A synthetic matrix (default 20,000 tasks × 3 milestones) is imported once into a SQLite file (not
timed) and copied three times, so every path starts from the same database, as of the day on which
30 % of the milestones are overdue (the sweep writes every notice owed, delivery writes every digest
as an .eml file; no SMTP):

- direct: ``workflows.jobs.sweep_job`` then ``delivery_job`` in a fresh process; the jobs are timed
  inside it (``jobs``) and the whole process from the outside (``process``: start-up and imports too).
- deployment: a ``prefect server`` started by this bench (temporary PREFECT_HOME, SQLite; its start
  is not timed), ``duban deploy --paused`` to it, one ``prefect worker start --pool duban --type
  process`` (polling every second); the ``supervise/supervise-sweep`` deployment is triggered and
  timed from the trigger until the server reports the run Completed — what server mode costs end to
  end: the worker's poll, a fresh flow-run process, Prefect's engine, the same jobs. The flow run's
  own start → end on the server is shown beside it.
- in-process: ``workflows.flows.supervise`` called in a fresh process whose PREFECT_API_URL is that
  server (no worker): the flow and task engine alone, timed inside the process and from outside.

The target (issue 5): Prefect adds at most 30 % + 2 s, i.e. deployment ≤ 1.3 × direct + 2 s, where
both are measured from the outside (process wall time; the deployment figure also contains the
worker's polling), and the same for in-process against direct.

Usage: python bench/flow_bench.py [--tasks 20000] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.sweep_bench import CHILD_IMPORT
from bench.synthetic import overdue_day, write_synthetic
from bench.synthetic import run_child as run_json_child
from duban.notifications.sink import free_port
from duban.workflows.deploy import prefect_environment  # (stdlib only at import)

CHILD_DIRECT = r"""
import sys, time, json, datetime as dt
t0 = time.perf_counter()
from zoneinfo import ZoneInfo
from duban.workflows.bootstrap import bootstrap
from duban.workflows.jobs import sweep_job, delivery_job
app = bootstrap()  # the engine opens (and is checked) in the first job, as it did inside each job before
now = dt.datetime.combine(dt.date.fromisoformat(sys.argv[1]), dt.time(), ZoneInfo(app.settings.timezone))
t1 = time.perf_counter()
swept = sweep_job(app, now=now, only_working_days=False)
t2 = time.perf_counter()
delivered = delivery_job(app, now=now)
t3 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "jobs": t3 - t1, "sweep_s": t2 - t1, "deliver_s": t3 - t2,
                  "sweep": swept, "deliver": delivered}, default=str))
"""

CHILD_FLOW = r"""
import sys, time, json
t0 = time.perf_counter()
from duban.workflows.flows import supervise
t1 = time.perf_counter()
summary = supervise(as_of=sys.argv[1], working_days_only=False)
t2 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "flow": t2 - t1, "summary": summary}, default=str))
"""





def copy_db(src: Path, dst: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{dst}{suffix}").unlink(missing_ok=True)
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return f"sqlite:///{dst}"


def duban_env(url: str, folder: Path) -> dict[str, str]:
    return {"DUBAN_DATABASE_URL": url, "DUBAN_OUTBOX_DIR": str(folder / "outbox"),
            "DUBAN_CONFIG_DIR": str(folder / "cfg"), "DUBAN_MESSAGES_PER_MINUTE": "0", "PYTHONPATH": str(ROOT)}


def run_child(code: str, args: list[str], env: dict[str, str]) -> tuple[dict, float]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-4000:])
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def counts(db: Path, outbox: Path) -> dict[str, int]:
    with sqlite3.connect(db) as con:
        notices = con.execute("SELECT count(*) FROM notice").fetchone()[0]
        sent = con.execute("SELECT count(*) FROM message WHERE status = 'sent'").fetchone()[0]
        messages = con.execute("SELECT count(*) FROM message").fetchone()[0]
    return {"notices": notices, "messages": messages, "sent": sent, "eml": len(list(outbox.glob("*.eml")))}


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        except ProcessLookupError:
            pass


def start_server(home: Path) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = prefect_environment(home=home)
    env.pop("PREFECT_API_URL", None)
    env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{home / 'prefect.db'}"
    log = open(home / "server.log", "wb")  # noqa: SIM115 - the server writes to it until stop()
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
                             str(port), "--no-ui"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True, cwd=home)
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"prefect server exited:\n{(home / 'server.log').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return proc, url, time.perf_counter() - t
        except OSError:
            if time.perf_counter() - t > 90:
                stop(proc)
                raise SystemExit("prefect server not healthy after 90 s") from None
            time.sleep(0.2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=20_000)
    ap.add_argument("--work", type=Path)
    args = ap.parse_args()
    work = (args.work or Path(tempfile.mkdtemp(prefix="duban-flow-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)

    plan = write_synthetic(work / "matrix", tasks=args.tasks, units=max(1000, args.tasks // 20))
    base = work / "base.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{base}{suffix}").unlink(missing_ok=True)
    run_json_child(CHILD_IMPORT, f"sqlite:///{base}", str(plan))
    day = overdue_day(base)
    with sqlite3.connect(base) as con:
        total = con.execute("SELECT count(*) FROM milestone").fetchone()[0]
        overdue = con.execute("SELECT count(*) FROM milestone WHERE due < ?", (day.isoformat(),)).fetchone()[0]
    paths = {name: work / name for name in ("direct", "deployment", "inprocess")}
    for folder in paths.values():
        folder.mkdir(exist_ok=True)
        for f in (folder / "outbox").glob("*.eml") if (folder / "outbox").exists() else ():
            f.unlink()

    # (a) direct
    url = copy_db(base, paths["direct"] / "duban.db")
    direct, direct_wall = run_child(CHILD_DIRECT, [day.isoformat()], {**os.environ, **duban_env(url, paths["direct"])})

    # (b) and (c): a Prefect server of our own
    home = work / "prefect-home"
    home.mkdir(exist_ok=True)
    server, api_url, server_start = start_server(home)
    worker = None
    try:
        client_env = {**prefect_environment(home=home), "PREFECT_API_URL": api_url}
        client_env.pop("PREFECT_SERVER_DATABASE_CONNECTION_URL", None)
        deploy = subprocess.run([sys.executable, "-m", "duban.workflows.cli", "deploy", "--paused", "--json"], cwd=ROOT,
                                capture_output=True, text=True,
                                env={**client_env, **duban_env("sqlite://", work / "deploy")})
        if deploy.returncode != 0:
            raise SystemExit(deploy.stderr)

        url = copy_db(base, paths["deployment"] / "duban.db")
        wlog = open(work / "worker.log", "wb")  # noqa: SIM115 - the worker writes to it while it runs
        worker = subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", "duban", "--type",
                                   "process", "--name", "bench"],
                                  env={**client_env, "PREFECT_WORKER_QUERY_SECONDS": "1",
                                       "PREFECT_WORKER_PREFETCH_SECONDS": "1", **duban_env(url, paths["deployment"])},
                                  stdout=wlog, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  start_new_session=True, cwd=work)
        os.environ.update({k: client_env[k] for k in ("PREFECT_HOME", "DO_NOT_TRACK", "PREFECT_SERVER_ANALYTICS_ENABLED",
                                                      "PREFECT_API_URL")})
        from prefect.client.orchestration import get_client
        from prefect.deployments import run_deployment

        time.sleep(3)  # the worker is up and polling (its start is not part of a run)
        t = time.perf_counter()
        run = run_deployment("supervise/supervise-sweep", parameters={"as_of": day.isoformat(), "working_days_only": False},
                             timeout=0)
        with get_client(sync_client=True) as client:
            while True:
                run = client.read_flow_run(run.id)
                if run.state and run.state.is_final():
                    break
                if time.perf_counter() - t > 900:
                    raise SystemExit("the flow run did not finish in 15 minutes")
                time.sleep(0.05)
            deployment_wall = time.perf_counter() - t
            if not run.state.is_completed():
                raise SystemExit(f"flow run {run.name}: {run.state_name} {run.state.message}\n"
                                 + (work / "worker.log").read_text()[-4000:])
            tasks = client.read_task_runs()
        run_span = (run.end_time - run.start_time).total_seconds()
        task_time = {t.name.rsplit("-", 1)[0]: t.total_run_time.total_seconds() for t in tasks if t.flow_run_id == run.id}
        stop(worker)
        worker = None

        url = copy_db(base, paths["inprocess"] / "duban.db")
        inproc, inproc_wall = run_child(CHILD_FLOW, [day.isoformat()],
                                        {**client_env, **duban_env(url, paths["inprocess"])})
    finally:
        if worker is not None:
            stop(worker)
        stop(server)

    results = {name: counts(folder / "duban.db", folder / "outbox") for name, folder in paths.items()}
    same = len({tuple(r.values()) for r in results.values()}) == 1
    r = results["direct"]
    floor = direct_wall
    budget = 1.3 * floor + 2.0

    print(f"\nflow bench: {args.tasks:,} tasks × 3 milestones, as of {day} ({overdue / total:.0%} of {total:,} milestones"
          f" overdue), SQLite, .eml outbox ({work})")
    print(f"notices {r['notices']:,}, messages {r['messages']:,} (sent {r['sent']:,}, .eml {r['eml']:,}) — "
          f"{'identical on every path' if same else 'DIFFERENT: ' + json.dumps(results)}")
    print(f"prefect server start (not timed below): {server_start:.1f} s\n")
    print(f"{'path':<58} {'seconds':>8} {'× direct':>9} {'added':>7}")
    print("-" * 86)

    def row(label: str, seconds: float, base_s: float | None = floor) -> None:
        extra = f"{seconds / base_s:>8.2f}× {seconds - base_s:>+6.1f}s" if base_s else ""
        print(f"{label:<58} {seconds:>7.2f}s {extra}")

    row("direct: sweep_job + delivery_job, in the process", direct["jobs"], None)
    row("  of which sweep_job", direct["sweep_s"], None)
    row("  of which delivery_job", direct["deliver_s"], None)
    row("direct: the same, whole process (start-up + imports)", direct_wall, None)
    row("deployment: trigger → Completed (worker, fresh process)", deployment_wall)
    row("  of which the flow run on the server (start → end)", run_span)
    for name in ("sweep", "deliver"):
        if name in task_time:
            row(f"  of which task {name}", task_time[name], None)
    row("in-process: supervise() against the server", inproc["flow"], direct["jobs"])
    row("in-process: the same, whole process (start-up + imports)", inproc_wall)
    print()
    for label, seconds in (("deployment", deployment_wall), ("in-process", inproc_wall)):
        verdict = "met" if seconds <= budget else "NOT met"
        print(f"target {label}: ≤ 1.3 × {floor:.2f} s + 2 s = {budget:.2f} s → {seconds:.2f} s, {verdict} "
              f"(Prefect adds {seconds - floor:+.2f} s, {(seconds - floor) / floor:+.0%})")
    print("\nrows marked × direct compare with the direct process (outside view); the in-process flow row compares"
          "\nwith the jobs timed inside their process. Every path starts from a copy of the same database.\n")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
