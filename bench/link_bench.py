"""Benchmark: units' link actions (签收 and 报送进展 through /u/{token}) at a fixed rate on `duban serve` over SQLite.

The synthetic plan (bench/synthetic.py) is imported and swept into SQLite to the day 30 % of its milestones are
overdue, and each of its units gets its signed link for that day (not timed; kept in --work for the next run,
each run acting on a fresh copy). A real `duban serve --as-of DAY` is started in its own process. The load comes
from a second process (asyncio httpx): it opens each acting link's page once (--links, spread over the units:
its form token and items; not timed), then sends an open loop for S seconds: R link actions a second — POST
/u/{token}/ack for an item with a notice to acknowledge and POST /u/{token}/report (done=1, a note) in turn,
links taken in turn — and, interleaved at the same rate, the floor: GET /static/duban.css from the same server.
Each request is timed from the moment the schedule says it is due (a slow answer delays nothing: requests
waiting for the server count against it; at most --connections in flight, the rest wait in the client); one
unanswered after --timeout seconds is an error. Afterwards the database is counted: a ``link.used`` event per
answered action (303), a progress report row per answered report; nothing may be lost (the run fails if an
answered action left no record).

Usage: python bench/link_bench.py [--tasks 20000] [--units 1000] [--links 200] [--rate 200] [--seconds 30] [--workers 1]
                                 [--timeout 30] [--connections 128] [--work DIR]
Target (issue 15, SQLite): 200 link actions a second for 30 s, p95 ≤ 100 ms, events = answered actions.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx

from bench.synthetic import overdue_day, run_child, unit_name, write_synthetic

DUBAN = [sys.executable, "-m", "duban.workflows.cli"]
PLAN = "synthetic"
TARGET_P95_MS = 100
FORM_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')
ITEM = re.compile(r'<section class="card unit-item" id="item-([A-Za-z0-9]+)">')

CHILD_LOAD = r"""
import sys, json
from bench.link_bench import load
print(json.dumps(load(sys.argv[1], sys.argv[2], rate=float(sys.argv[3]), seconds=float(sys.argv[4]),
                     links=int(sys.argv[5]), timeout=float(sys.argv[6]), connections=int(sys.argv[7]))))
"""


def _env(db_url: str) -> dict[str, str]:
    return {**os.environ, "DUBAN_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT)}


def _cli(args: list[str], *, cwd: Path, db_url: str) -> str:
    proc = subprocess.run([*DUBAN, *args], cwd=cwd, env=_env(db_url), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"duban {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def prepare(work: Path, tasks: int, units: int) -> tuple[Path, dt.date, list[str]]:
    """The synthetic plan imported and swept to its 30 %-overdue day, and every unit's link of that day
    (``links-….json``). Reused when --work already holds them."""
    db = work / f"links-{tasks}-{units}.db"
    tokens = work / f"links-{tasks}-{units}.json"
    if db.exists() and tokens.exists():
        saved = json.loads(tokens.read_text(encoding="utf-8"))
        return db, dt.date.fromisoformat(saved["day"]), saved["tokens"]
    part = Path(str(db) + ".part")
    part.unlink(missing_ok=True)
    url = f"sqlite:///{part}"
    plan = write_synthetic(work / f"matrix-{tasks}-{units}", tasks=tasks, units=units)
    t = time.perf_counter()
    _cli(["matrix", "import", str(plan), "--as-of", "2015-07-01"], cwd=work, db_url=url)
    day = overdue_day(part)
    _cli(["sweep", "--as-of", day.isoformat()], cwd=work, db_url=url)
    from duban.store.db import open_database
    from duban.workflows.link_service import issue

    engine = open_database(url)
    try:
        issued = [issue(engine, plan=PLAN, unit=unit_name(i), on=day)["token"] for i in range(units)]
    finally:
        engine.dispose()
    part.rename(db)
    tokens.write_text(json.dumps({"day": day.isoformat(), "tokens": issued}), encoding="utf-8")
    print(f"prepared {db} in {time.perf_counter() - t:.0f} s (import, sweep to {day}, {units:,} links)", file=sys.stderr)
    return db, day, issued


def start_server(work: Path, db_url: str, day: dt.date, workers: int = 1) -> tuple[subprocess.Popen, str]:
    """`duban serve --as-of DAY` (the links' day), as serve_bench starts it."""
    from bench.serve_bench import start_server as serve

    return serve(work, db_url, workers, extra=("--as-of", day.isoformat()))


def counts(db: Path) -> dict[str, int]:
    """What the link actions leave in the database: link.used events by action, progress reports, notices
    acknowledged."""
    con = sqlite3.connect(db)
    try:
        out = {"acknowledge": 0, "report": 0}
        for data, n in con.execute("SELECT json_extract(data, '$.action'), count(*) FROM event "
                                   "WHERE kind = 'link.used' GROUP BY 1"):
            out[str(data)] = int(n)
        out["progress_report"] = con.execute("SELECT count(*) FROM progress_report").fetchone()[0]
        out["acknowledged"] = con.execute("SELECT count(*) FROM notice WHERE acknowledged_at IS NOT NULL").fetchone()[0]
        return out
    finally:
        con.close()


# --------------------------------------------------------------------------------------------
# The load (its own process)


def _page(text: str) -> tuple[str, list[str], list[str]] | None:
    """The link page's form token, its items with a notice to acknowledge, and its items to report on."""
    token = FORM_TOKEN.search(text)
    if not token:
        return None
    ack, report = [], []
    cards = ITEM.split(text)  # [head, key, card, key, card, …]
    for key, card in zip(cards[1::2], cards[2::2]):
        if "/ack\"" in card:
            ack.append(key)
        if 'name="done"' in card:
            report.append(key)
    return token.group(1), ack, report


def plan_actions(pages: dict[str, tuple[str, list[str], list[str]]], total: int) -> list[tuple[str, str, dict[str, str]]]:
    """``total`` actions (kind, path, form), links taken in turn: each link acknowledges its items with a notice
    (once each) and reports on its items in turn, one then the other (reports only once nothing is left to
    acknowledge)."""
    queues = []
    for token, (csrf, ack, report) in pages.items():
        steps = [("ack", f"/u/{token}/ack", {"csrf": csrf, "confirm": "yes", "item": k}) for k in ack]
        queues.append((token, csrf, report, steps))
    out: list[tuple[str, str, dict[str, str]]] = []
    n = 0
    while len(out) < total:
        progressed = False
        for token, csrf, report, steps in queues:
            if len(out) >= total:
                break
            if steps and (n % 2 == 0 or not report):
                out.append(steps.pop(0))
            elif report:
                item = report[n % len(report)]
                out.append(("report", f"/u/{token}/report",
                            {"csrf": csrf, "confirm": "yes", "item": item, "done": "1", "note": f"第{n + 1}次报送"}))
            else:
                continue
            progressed = True
        n += 1
        if not progressed:
            raise SystemExit("no link has an item to act on")
    return out


def load(base: str, tokens_file: str, *, rate: float, seconds: float, links: int, timeout: float,
         connections: int) -> dict[str, object]:
    """Open each acting link's page, then run the open loop; returns each request's kind, outcome and latency."""
    tokens = json.loads(Path(tokens_file).read_text(encoding="utf-8"))["tokens"]
    step = max(1, len(tokens) // links)  # links spread over the units
    return asyncio.run(_load(base, tokens[::step][:links], rate, seconds, timeout, connections))


async def _load(base: str, tokens: list[str], rate: float, seconds: float, timeout: float,
                connections: int) -> dict[str, object]:
    # At most ``connections`` requests in flight; the others wait their turn in the client (an asyncio queue,
    # not httpx's pool, whose bookkeeping grows with every waiting request), and that wait counts in their time.
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    inflight = asyncio.Semaphore(connections)
    async with httpx.AsyncClient(base_url=base, timeout=timeout, limits=limits, follow_redirects=False) as client:
        # every acting link's page once (its form token and items): not timed, a few at a time
        pages: dict[str, tuple[str, list[str], list[str]]] = {}
        sizes: list[int] = []
        gate = asyncio.Semaphore(4)

        async def open_page(token: str) -> None:
            async with gate:
                r = await client.get(f"/u/{token}")
            found = _page(r.text) if r.status_code == 200 else None
            sizes.append(len(ITEM.findall(r.text)))
            if found and (found[1] or found[2]):
                pages[token] = found

        t = time.perf_counter()
        await asyncio.gather(*(open_page(tok) for tok in tokens))
        opened = time.perf_counter() - t
        total = int(rate * seconds)
        actions = plan_actions(pages, total)

        records: list[tuple[str, str, float]] = []  # kind, outcome, seconds from due to answered
        lag: list[float] = []  # how late the client sent each request after its due time

        async def fire(kind: str, method: str, path: str, form: dict[str, str] | None, due: float) -> None:
            lag.append(time.perf_counter() - due)
            try:
                async with inflight:
                    r = await (client.post(path, data=form) if method == "POST" else client.get(path))
                outcome = str(r.status_code)
            except httpx.HTTPError as e:
                outcome = type(e).__name__
            except asyncio.CancelledError:  # still unanswered --timeout seconds after the last was sent
                records.append((kind, "unanswered", time.perf_counter() - due))
                raise
            records.append((kind, outcome, time.perf_counter() - due))

        running = []
        start = time.perf_counter() + 0.2
        step = 1.0 / rate
        for i, (kind, path, form) in enumerate(actions):
            for j, (k, method, p, f) in enumerate(((kind, "POST", path, form), ("floor", "GET", "/static/duban.css", None))):
                due = start + i * step + j * step / 2  # an action, then a floor request half a step later
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                running.append(asyncio.create_task(fire(k, method, p, f, due)))
        sent = time.perf_counter() - start
        _done, waiting = await asyncio.wait(running, timeout=timeout)
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        elapsed = time.perf_counter() - start
    sizes.sort()
    return {"records": records, "elapsed": elapsed, "sent": sent, "opened": opened, "links": len(pages),
            "items_median": sizes[len(sizes) // 2] if sizes else 0,
            "lag_p99": sorted(lag)[int(0.99 * (len(lag) - 1))] if lag else 0.0, "planned": len(actions)}


# --------------------------------------------------------------------------------------------
# The table


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def report(result: dict, before: dict[str, int], after: dict[str, int], *, tasks: int, units: int, rate: float,
           seconds: float, workers: int, log: Path, load_avg: str) -> bool:
    """Print the table; False when an answered action left no record (latency misses are only marked)."""
    records, elapsed = result["records"], result["elapsed"]
    by_kind: dict[str, list[tuple[str, float]]] = {"ack": [], "report": [], "floor": []}
    for kind, outcome, seconds_taken in records:
        by_kind[kind].append((outcome, seconds_taken))
    ok_status = {"ack": "303", "report": "303", "floor": "200"}
    actions = by_kind["ack"] + by_kind["report"]
    floor95 = _pct([s for _, s in by_kind["floor"]], 0.95)
    print(f"\nlink bench (SQLite, {tasks:,} tasks, {units:,} units, {result['links']:,} links acting, a median "
          f"{result['items_median']} open items on a link's page; {rate:g} actions/s "
          f"+ {rate:g} floor GETs/s for {seconds:g} s, {workers} server process{'es' if workers > 1 else ''}, "
          f"load in its own process; wall {elapsed:.1f} s; load average before: {load_avg})\n")
    print(f"{'requests':<16} {'n':>6} {'errors':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'rate/s':>8} {'p95/floor':>9} "
          f"{'target p95':>10}")
    print("-" * 88)
    rows = [("acknowledge", by_kind["ack"], "303"), ("report", by_kind["report"], "303"),
            ("all actions", actions, "303"), ("floor (css)", by_kind["floor"], "200")]
    for name, got, good in rows:
        times = [s for _, s in got]
        errors = sum(1 for o, _ in got if o != good)
        p95 = _pct(times, 0.95)
        target = f"≤ {TARGET_P95_MS} ms" if name == "all actions" else ""
        mark = ("  ok" if p95 <= TARGET_P95_MS else "  MISSED") if name == "all actions" else ""
        print(f"{name:<16} {len(got):>6} {errors:>6} {_pct(times, 0.5):>6.0f}ms {p95:>6.0f}ms {_pct(times, 0.99):>6.0f}ms "
              f"{(len(got) - errors) / elapsed:>8.1f} {p95 / floor95:>8.1f}× {target:>10}{mark}")
    answered = {k: sum(1 for o, _ in by_kind[k] if o == ok_status[k]) for k in ("ack", "report")}
    events = {"ack": after["acknowledge"] - before["acknowledge"], "report": after["report"] - before["report"]}
    reports = after["progress_report"] - before["progress_report"]
    print("\nnothing lost (the database counted after the run):")
    print(f"  acknowledge: {answered['ack']:>6} answered 303   {events['ack']:>6} link.used events"
          f"   ({after['acknowledged'] - before['acknowledged']:,} notices acknowledged)")
    print(f"  report:      {answered['report']:>6} answered 303   {events['report']:>6} link.used events   "
          f"{reports:>6} progress reports")
    lost = events["ack"] < answered["ack"] or events["report"] < answered["report"] or reports < answered["report"]
    equal = events["ack"] == answered["ack"] and events["report"] == answered["report"] == reports
    sent = {k: len(by_kind[k]) for k in ("ack", "report")}
    print("  " + ("LOST: an answered action left no record" if lost else
                  "equal: every answered action is recorded, and nothing else" if equal else
                  "no answered action lost; the server also recorded actions the client stopped waiting for "
                  f"({sum(events.values()) - sum(answered.values())} of {sum(sent.values()) - sum(answered.values())} unanswered)"))
    failed: dict[str, int] = {}
    for kind, outcome, _ in records:
        if outcome != ok_status[kind]:
            failed[f"{kind} {outcome}"] = failed.get(f"{kind} {outcome}", 0) + 1
    if failed:
        print("  errors: " + ", ".join(f"{k} ×{n}" for k, n in sorted(failed.items())))
    print(f"\nplanned {result['planned']:,} actions; the client sent them over {result['sent']:.1f} s (p99 late "
          f"{result['lag_p99'] * 1000:.0f} ms); the links' pages opened first in {result['opened']:.1f} s (not timed)")
    print(f"(the server's log: {log})")
    print("\nn: requests; errors: not 303 (actions) or 200 (floor); p50/p95/p99 from the time each request was due in the"
          "\nopen loop to its answer (an unanswered one: to when the client gave up, a lower bound); rate/s: answered well"
          "\na second of wall time; floor: the static CSS from the same server at the same rate in the same run (its p95 is"
          "\nthe ratio's base).\n")
    return not lost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=20_000)
    ap.add_argument("--units", type=int, default=1_000)
    ap.add_argument("--rate", type=float, default=200, help="link actions a second (and as many floor GETs)")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--links", type=int, default=200, help="links acting (spread over the units), each page opened once first")
    ap.add_argument("--timeout", type=float, default=30,
                    help="seconds a request may wait for its answer, and the load for its last answers")
    ap.add_argument("--connections", type=int, default=128, help="requests in flight at most (the rest wait in the client)")
    ap.add_argument("--workers", type=int, default=1, help="duban serve --workers")
    ap.add_argument("--work", type=Path, help="folder for the prepared database (kept and reused; each run acts on a copy)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="duban-links-"))
    work.mkdir(parents=True, exist_ok=True)
    prepared, day, tokens = prepare(work, args.tasks, args.units)
    db = work / "run.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copyfile(prepared, db)
    tokens_file = work / f"links-{args.tasks}-{args.units}.json"
    before = counts(db)
    load_avg = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    server, base = start_server(work, f"sqlite:///{db}", day, args.workers)
    try:
        result = run_child(CHILD_LOAD, base, str(tokens_file), str(args.rate), str(args.seconds), str(args.links),
                           str(args.timeout), str(args.connections))
    finally:
        server.terminate()
        server.wait(timeout=60)
    after = counts(db)
    ok = report(result, before, after, tasks=args.tasks, units=args.units, rate=args.rate, seconds=args.seconds,
                workers=args.workers, log=work / "serve.log", load_avg=load_avg)
    sys.exit(0 if ok else 1)  # an answered action without its event fails the run


if __name__ == "__main__":
    main()
