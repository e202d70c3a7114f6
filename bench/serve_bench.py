"""Benchmark: `duban serve` under 20 concurrent clients, on a synthetic plan of 20,000 tasks and 1,000 units.

The plan is imported and swept into SQLite (not timed; kept in --work for the next run), a user is added
with `duban user add --password-stdin`, and a real `duban serve` is started in its own process. The load
comes from a second process (an asyncio httpx client, so it does not share the server's interpreter):
it logs in, then N clients for S seconds each request in turn the overview `/`, the task list filtered
(`/tasks?plan=synthetic&light=red`), a task page (the first one the list links to) and the floor, a static
file (`/static/duban.css`) served by the same server in the same run. A page the server does not have
yet (404) is left out with a note. Before the load, each page is requested alone a few times (unloaded).

Pages keep what they read until the database changes (web.kept_reads). So that the bench measures
more than answers from memory, ``--commits-per-second R`` has the load process commit R times a second
to the database (a row in the event table, from its own sqlite3 connection, as another process would),
each commit making every page read the database again; ``--no-keep`` turns the keeping off
(DUBAN_SERVE_KEEP_READS=0), so every request reads the database.

``--wrk``: the load comes from Debian's wrk (C, `apt install wrk`) instead of the asyncio client, which
itself takes a good share of a two-core machine: each page in turn gets N connections for S seconds on
its own (the floor too), and wrk's Lua ``done`` hook reports p50/p95/p99 and requests/s per page.

Usage: python bench/serve_bench.py [--tasks 20000] [--units 1000] [--clients 20] [--seconds 30] [--workers 1] [--work DIR]
                                  [--leave-out overview] [--commits-per-second 1] [--no-keep] [--wrk]
Targets (issue 14, 20,000 tasks, SQLite): overview and list p95 ≤ 200 ms, task page p95 ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx

from bench.synthetic import overdue_day, run_child, write_synthetic

DUBAN = [sys.executable, "-m", "duban.workflows.cli"]
USER, PASSWORD = "bench", "bench password 20k"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TASK_LINK = re.compile(r'href="(/tasks/[^"?#]+)"')
TARGETS_MS = {"overview": 200, "list": 200, "task": 100}

CHILD_LOAD = r"""
import sys, json
from bench.serve_bench import load
print(json.dumps(load(sys.argv[1], json.loads(sys.argv[2]), clients=int(sys.argv[3]), seconds=float(sys.argv[4]),
                      db=sys.argv[5], commits_per_second=float(sys.argv[6]))))
"""


def _env(db_url: str) -> dict[str, str]:
    return {**os.environ, "DUBAN_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT)}


def _cli(args: list[str], *, cwd: Path, db_url: str, stdin: str | None = None) -> str:
    proc = subprocess.run([*DUBAN, *args], cwd=cwd, env=_env(db_url), input=stdin, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"duban {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def prepare(work: Path, tasks: int, units: int) -> tuple[Path, str]:
    """The synthetic plan imported and swept to the day 30 % of its milestones are overdue; a user to log
    in with. Reused when --work already holds it."""
    db = work / f"serve-{tasks}-{units}.db"
    url = f"sqlite:///{db}"
    if db.exists():
        return db, url
    plan = write_synthetic(work / f"matrix-{tasks}", tasks=tasks, units=units)
    t = time.perf_counter()
    _cli(["matrix", "import", str(plan), "--as-of", "2015-07-01"], cwd=work, db_url=url + ".part")
    db_part = Path(str(db) + ".part")
    _cli(["sweep", "--as-of", overdue_day(db_part).isoformat()], cwd=work, db_url=url + ".part")
    _cli(["user", "add", USER, "--role", "office", "--password-stdin"], cwd=work, db_url=url + ".part", stdin=PASSWORD + "\n")
    db_part.rename(db)
    print(f"prepared {db} in {time.perf_counter() - t:.0f} s (import, sweep, user add)", file=sys.stderr)
    return db, url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(work: Path, db_url: str, workers: int = 1, *, keep: bool = True,
                 extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    """`duban serve` (with ``extra`` arguments) on a free port, once it answers: the process and its URL."""
    port = _free_port()
    env = {**_env(db_url), **({} if keep else {"DUBAN_SERVE_KEEP_READS": "0"})}
    with (work / "serve.log").open("w") as log:  # the server's errors, kept (a pipe nobody reads would fill)
        proc = subprocess.Popen([*DUBAN, "serve", "--port", str(port), "--workers", str(workers), *extra], cwd=work,
                                env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(base + "/login", timeout=5)
            return proc, base
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"duban serve did not start: {(work / 'serve.log').read_text()}") from None
            time.sleep(0.2)


def login(client: httpx.Client) -> None:
    """A session for ``client`` (the asynchronous clients copy its cookies)."""
    token = CSRF.search(client.get("/login").text)
    assert token, "the login page has a CSRF token"
    r = client.post("/login", data={"name": USER, "password": PASSWORD, "csrf": token.group(1), "next": "/"})
    if r.status_code != 303:
        raise SystemExit(f"login failed: {r.status_code} {r.text[:300]}")


def discover(base: str, plan: str = "synthetic") -> tuple[dict[str, str], list[str], dict[str, float]]:
    """The pages to load (name → path), notes on those left out, and each page's unloaded median (ms)."""
    pages = {"overview": "/", "list": f"/tasks?plan={plan}&light=red", "task": "", "floor": "/static/duban.css"}
    notes: list[str] = []
    alone: dict[str, float] = {}
    with httpx.Client(base_url=base, timeout=600, follow_redirects=False) as client:
        login(client)
        r = client.get(pages["list"])
        if r.status_code != 200:
            notes.append(f"task list {pages['list']} answered {r.status_code}: left out (not on main yet?)")
            del pages["list"]
        else:
            link = TASK_LINK.search(r.text)
            pages["task"] = link.group(1) if link else ""
        if not pages["task"]:
            notes.append("task page: no /tasks/… link found on the task list: left out")
            del pages["task"]
        for name, path in pages.items():
            times = []
            for _ in range(3):
                t = time.perf_counter()
                r = client.get(path)
                times.append((time.perf_counter() - t) * 1000)
                if r.status_code != 200:
                    raise SystemExit(f"{name} {path} answered {r.status_code}: {r.text[:300]}")
            alone[name] = statistics.median(times)
    return pages, notes, alone


def load(base: str, pages: dict[str, str], *, clients: int, seconds: float, db: str = "",
         commits_per_second: float = 0) -> dict[str, object]:
    """Run in its own process: ``clients`` asyncio clients request the pages in turn for ``seconds``; with
    ``commits_per_second``, a thread commits that often to the database file ``db`` meanwhile."""
    with httpx.Client(base_url=base, timeout=600) as sync:
        login(sync)
        cookies = dict(sync.cookies)
        first = {}
        for name, path in pages.items():  # warm-up after the login (a login is an event: kept lights may be redone)
            t = time.perf_counter()
            sync.get(path)
            first[name] = (time.perf_counter() - t) * 1000
    with committing(db, commits_per_second) as commits:
        result = asyncio.run(_load(base, pages, cookies, clients, seconds))
    return {**result, "first": first, "commits": commits[0]}


@contextmanager
def committing(db: str, per_second: float) -> Iterator[list[int]]:
    """While inside, a thread commits ``per_second`` times a second to ``db`` (none when 0); yields the count so far."""
    stop, commits = threading.Event(), [0]
    writer = threading.Thread(target=_commit_often, args=(db, per_second, stop, commits), daemon=True)
    if per_second > 0:
        writer.start()
    try:
        yield commits
    finally:
        stop.set()
        if writer.is_alive():
            writer.join(10)


def _commit_often(db: str, per_second: float, stop: threading.Event, commits: list[int]) -> None:
    """Commit ``per_second`` times a second to ``db`` (one event row each, its own connection): what a sweep,
    a CLI command or a unit's link action does to the pages' kept reads."""
    import sqlite3

    connection = sqlite3.connect(db, timeout=30)
    try:
        while not stop.wait(1 / per_second):
            connection.execute("INSERT INTO event (at, kind, actor, data) VALUES (CURRENT_TIMESTAMP, 'bench.commit', "
                               "'serve_bench', '{}')")
            connection.commit()
            commits[0] += 1
    finally:
        connection.close()


async def _load(base: str, pages: dict[str, str], cookies: dict[str, str], clients: int, seconds: float) -> dict[str, object]:
    names = list(pages)
    times: dict[str, list[float]] = {n: [] for n in names}
    errors: dict[str, dict[str, int]] = {n: {} for n in names}  # status (or exception) → count
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=600, limits=limits) as client:
        start = time.perf_counter()
        stop = start + seconds

        async def one(k: int) -> None:
            i = k  # each client starts at a different page, so every page is in flight all the time
            while time.perf_counter() < stop:
                name = names[i % len(names)]
                i += 1
                t = time.perf_counter()
                try:
                    r = await client.get(pages[name])
                    outcome = str(r.status_code)
                except httpx.HTTPError as e:
                    outcome = type(e).__name__
                times[name].append(time.perf_counter() - t)
                if outcome != "200":
                    errors[name][outcome] = errors[name].get(outcome, 0) + 1

        await asyncio.gather(*(one(k) for k in range(clients)))
        elapsed = time.perf_counter() - start
    return {"elapsed": elapsed, "times": times, "errors": errors}


WRK_SCRIPT = """
wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE")
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status
    + summary.errors.timeout
  io.write(string.format("BENCH %d %d %d %.3f %.3f %.3f %.3f\\n", summary.requests, errors, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.mean / 1000))
end
"""


def wrk_load(base: str, pages: dict[str, str], *, clients: int, seconds: float, work: Path, db: str = "",
             commits_per_second: float = 0) -> dict[str, dict[str, float]]:
    """Each page on its own under ``clients`` wrk connections for ``seconds`` (the floor last): {page: {n,
    errors, rps, p50, p95, p99 (ms)}}; with ``commits_per_second``, this process commits meanwhile."""
    import shutil

    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("--wrk: wrk is not installed (Debian: apt install wrk)")
    with httpx.Client(base_url=base, timeout=600) as sync:
        login(sync)
        cookie = "; ".join(f"{k}={v}" for k, v in sync.cookies.items())
    script = work / "bench.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    out: dict[str, dict[str, float]] = {}
    with committing(db, commits_per_second) as commits:
        for name, path in pages.items():
            proc = subprocess.run([wrk, "-t", "2", "-c", str(clients), "-d", f"{seconds:.0f}s", "--timeout", "60s",
                                   "-s", str(script), base + path], capture_output=True, text=True,
                                  env={**os.environ, "BENCH_COOKIE": cookie})
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH ")), None)
            if proc.returncode != 0 or line is None:
                raise SystemExit(f"wrk {path} failed: {proc.stdout}\n{proc.stderr}")
            n, errors, micros, p50, p95, p99, _mean = line.split()[1:]
            out[name] = {"n": int(n), "errors": int(errors), "rps": int(n) / (int(micros) / 1e6),
                         "p50": float(p50), "p95": float(p95), "p99": float(p99)}
    out["_"] = {"commits": commits[0]}
    return out


def wrk_report(result: dict[str, dict[str, float]], pages: dict[str, str], alone: dict[str, float], *, tasks: int,
               units: int, clients: int, seconds: float, workers: int, keep: bool) -> None:
    commits = result.pop("_")["commits"]
    floor95 = result["floor"]["p95"]
    reads = _reads(keep, f", {commits:.0f} commits to the database during the loads" if commits else
                   ", no commit during the loads")
    print(f"\nserve bench, wrk (SQLite, {tasks:,} tasks, {units:,} units; each page alone under {clients} connections for "
          f"{seconds:.0f} s, {workers} server process{'es' if workers > 1 else ''})\n{reads}\n")
    print(f"{'page':<9} {'path':<34} {'alone':>8} {'n':>7} {'err':>4} {'p50':>9} {'p95':>9} {'p99':>9} {'req/s':>7} "
          f"{'p95/floor':>9} {'target p95':>10}")
    print("-" * 121)
    for name, path in pages.items():
        r = result[name]
        target, mark = _verdict(name, r["p95"])
        print(f"{name:<9} {path[:34]:<34} {alone[name]:>6.0f}ms {r['n']:>7.0f} {r['errors']:>4.0f} {r['p50']:>7.1f}ms "
              f"{r['p95']:>7.1f}ms {r['p99']:>7.1f}ms {r['rps']:>7.0f} {r['p95'] / floor95:>8.1f}× {target:>10}{mark}")
    print("\nalone: median of 3 requests before the load; each page then loaded on its own by wrk (C) with the same"
          "\nconnections and time; floor: the static CSS from the same server in the same run (the ratio's base).\n")


def _reads(keep: bool, commits: str) -> str:
    """The table's second heading line: whether pages kept their reads, and the commits during the load."""
    return ("pages keep their reads" if keep else "pages read the database every request (--no-keep)") + commits


def _verdict(name: str, p95: float) -> tuple[str, str]:
    """A page's target column and mark (ok / MISSED); the floor's is "(floor)" and none."""
    if name not in TARGETS_MS:
        return "(floor)", ""
    return f"≤ {TARGETS_MS[name]} ms", "  ok" if p95 <= TARGETS_MS[name] else "  MISSED"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def report(result: dict, pages: dict[str, str], alone: dict[str, float], notes: list[str], log: Path, *,
           tasks: int, units: int, clients: int, seconds: float, workers: int = 1, keep: bool = True) -> None:
    times, errors, elapsed = result["times"], result["errors"], result["elapsed"]
    floor95 = _pct(times["floor"], 0.95)
    reads = _reads(keep, f", {result['commits']} commits to the database during the load ({result['commits'] / elapsed:.1f}/s)"
                   if result.get("commits") else ", no commit during the load")
    print(f"\nserve bench (SQLite, {tasks:,} tasks, {units:,} units; {clients} clients for {seconds:.0f} s, "
          f"{workers} server process{'es' if workers > 1 else ''}, "
          f"load in its own process; wall {elapsed:.1f} s)\n{reads}\n")
    print(f"{'page':<9} {'path':<34} {'alone':>8} {'1st':>8} {'n':>6} {'err':>4} {'p50':>9} {'p95':>9} {'req/s':>7} "
          f"{'p95/floor':>9} {'target p95':>10}")
    print("-" * 121)
    for name, path in pages.items():
        t = times[name]
        target, mark = _verdict(name, _pct(t, 0.95))
        print(f"{name:<9} {path[:34]:<34} {alone[name]:>6.0f}ms {result['first'][name]:>6.0f}ms {len(t):>6} {sum(errors[name].values()):>4} {_pct(t, 0.5):>7.0f}ms "
              f"{_pct(t, 0.95):>7.0f}ms {len(t) / elapsed:>7.1f} {_pct(t, 0.95) / floor95:>8.0f}× {target:>10}{mark}")
    for name, failed in errors.items():
        if failed:
            notes.append(f"{name}: not 200 — " + ", ".join(f"{k} ×{n}" for k, n in sorted(failed.items())))
    for note in notes:
        print(f"note: {note}")
    print(f"(the server's log: {log})")
    print("\nalone: median of 3 requests before the load, one at a time; 1st: the load process's first request after its"
          "\nlogin (not counted in n); p50/p95 under load, every client requesting the pages in turn; floor: the static CSS"
          "\nfrom the same server in the same run (its p95 is the ratio's base).\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=20_000)
    ap.add_argument("--units", type=int, default=1_000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--workers", type=int, default=1, help="duban serve --workers")
    ap.add_argument("--work", type=Path, help="folder for the database (kept and reused)")
    ap.add_argument("--leave-out", default="", help="pages not to load, e.g. overview (a slow page slows the others' turns)")
    ap.add_argument("--commits-per-second", type=float, default=0,
                    help="commits to the database during the load (each makes the pages read it again)")
    ap.add_argument("--no-keep", action="store_true", help="pages read the database on every request (DUBAN_SERVE_KEEP_READS=0)")
    ap.add_argument("--wrk", action="store_true", help="load each page on its own with Debian's wrk instead of the asyncio client")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="duban-serve-"))
    work.mkdir(parents=True, exist_ok=True)
    _db, url = prepare(work, args.tasks, args.units)
    server, base = start_server(work, url, args.workers, keep=not args.no_keep)
    try:
        pages, notes, alone = discover(base)
        for name in filter(None, args.leave_out.split(",")):
            if name != "floor" and pages.pop(name, None):
                notes.append(f"{name}: left out of the load (--leave-out); alone {alone[name]:.0f} ms")
        if args.wrk:
            wrk_result = wrk_load(base, {**{k: v for k, v in pages.items() if k != "floor"}, "floor": pages["floor"]},
                                  clients=args.clients, seconds=args.seconds, work=work, db=str(_db),
                                  commits_per_second=args.commits_per_second)
        else:
            result = run_child(CHILD_LOAD, base, json.dumps(pages), str(args.clients), str(args.seconds), str(_db),
                               str(args.commits_per_second))
    finally:
        server.terminate()
        server.wait(timeout=30)
    if args.wrk:
        wrk_report(wrk_result, pages, alone, tasks=args.tasks, units=args.units, clients=args.clients,
                   seconds=args.seconds, workers=args.workers, keep=not args.no_keep)
        return
    report(result, pages, alone, notes, work / "serve.log", tasks=args.tasks, units=args.units, clients=args.clients, seconds=args.seconds,
           workers=args.workers, keep=not args.no_keep)


if __name__ == "__main__":
    main()
