"""Benchmark: the weekly circulation report for 1,000 units and 20,000 tasks, in every format.

A synthetic matrix (bench/synthetic.py: 20,000 tasks × 3 quantity milestones over 1,000 units) is
imported and swept on the Friday when about 30 % of the milestones are overdue (not timed). Then, in a
fresh process: the scores alone (facts of this week and last, scoring, ranking, criticism and praise),
and the whole weekly report — the same reads and scores, plus HTML, Markdown, the SVG chart, DOCX and a
criticism notice (HTML + DOCX) per criticised unit — written to a folder. Beside them the floor: reading
the same milestones once with sqlite3. Each is run twice in the process; the better time is kept.

Usage: python bench/report_bench.py [--tasks 20000] [--units 1000] [--all-rows]
Target (issue 6): the weekly report in all formats ≤ 5 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.synthetic import overdue_day, run_child, write_synthetic

CHILD_SETUP = r"""
import sys, datetime as dt
from zoneinfo import ZoneInfo
from pathlib import Path
from duban.store.db import open_database
from duban.matrix.policy import load_policy
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.sweep_service import sweep
engine = open_database(sys.argv[1])
import_file(engine, Path(sys.argv[2]), PlanOptions(), now=dt.datetime(2015, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai")))
if len(sys.argv) > 3:
    day = dt.date.fromisoformat(sys.argv[3])
    tz = ZoneInfo("Asia/Shanghai")
    # Last week's sweep too, so that both weeks of the report have their escalations on record.
    for d in (day - dt.timedelta(days=7), day):
        sweep(engine, now=dt.datetime.combine(d, dt.time(8, 30), tz), policies=load_policy(Path("config/policy.yaml")))
print("{}")
"""

CHILD_REPORT = r"""
import sys, time, json, resource, datetime as dt
from zoneinfo import ZoneInfo
from pathlib import Path
from duban.store.db import open_database
from duban.matrix.policy import load_policy
from duban.workflows.bootstrap import load_scoring_config, load_settings
from duban.workflows.report_service import score_period, weekly_report
engine = open_database(sys.argv[1])
out = Path(sys.argv[3])
policy = load_policy(Path("config/policy.yaml"))
settings = load_settings(config_dir=out / "config", outbox_dir=out / "outbox")
scoring = load_scoring_config(settings)
now = dt.datetime.combine(dt.date.fromisoformat(sys.argv[2]), dt.time(18), ZoneInfo("Asia/Shanghai"))
scores, totals = [], []
for run in range(2):
    t = time.perf_counter(); board = score_period(engine, now=now, scoring=scoring); scores.append(time.perf_counter() - t)
    t = time.perf_counter()
    report = weekly_report(engine, now=now, policies=policy, settings=settings, formats=("html", "md", "docx"),
                           out_dir=out / f"run{run}", scoring=scoring)
    totals.append(time.perf_counter() - t)
sizes = {k: Path(p).stat().st_size for k, p in report["files"].items()}
same = all(Path(p).read_bytes() == (out / "run0" / Path(p).name).read_bytes() for p in report["files"].values())
print(json.dumps({"scores": min(scores), "total": min(totals), "units": len(board.units),
                  "ranked": sum(u.rank is not None for u in board.units), "criticised": len(board.criticised),
                  "praised": len(board.praised), "tasks": report["headline"]["tasks"],
                  "overdue": report["headline"]["overdue_open"], "sizes": sizes, "same_bytes": same,
                  "criticism_files": sum(len(v) for v in report["criticism"].values()),
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

FLOOR_SQL = """
SELECT m.id, m.task_id, m.seq, m.due, m.extended_due, m.start, m.quantity, m.measure, m.label, m.closed_at,
       t.code, t.title, t.lead_unit_id, t.veto
FROM milestone m JOIN task t ON t.id = m.task_id
WHERE m.archived_at IS NULL AND t.archived_at IS NULL
"""



def friday_with_overdue(db: Path, share: float = 0.30) -> dt.date:
    """The first Friday on which at least ``share`` of the milestones are past their due date."""
    day = overdue_day(db, share)
    return day + dt.timedelta(days=(4 - day.weekday()) % 7)


def floor(db: Path) -> float:
    con = sqlite3.connect(db)
    best = float("inf")
    for _ in range(2):
        t = time.perf_counter()
        rows = con.execute(FLOOR_SQL).fetchall()
        best = min(best, time.perf_counter() - t)
    con.close()
    assert rows
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=20_000)
    ap.add_argument("--units", type=int, default=1_000)
    ap.add_argument("--work", type=Path)
    ap.add_argument("--all-rows", action="store_true",
                    help="List every task, overdue item, deduction line and fact (report.max_rows and "
                         "report.max_lines_per_unit set to null): the report as long as it gets.")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="duban-report-"))
    plan = write_synthetic(work / "matrix", tasks=args.tasks, units=args.units)
    db = work / "report.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    run_child(CHILD_SETUP, f"sqlite:///{db}", str(plan))
    day = friday_with_overdue(db)
    # Re-create with the sweeps of that Friday and the one before (the import is idempotent; sweeping needs the day).
    run_child(CHILD_SETUP, f"sqlite:///{db}", str(plan), day.isoformat())
    config = work / "out" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "scoring.yaml").write_text("report: {max_rows: null, max_lines_per_unit: null}\n" if args.all_rows else "{}\n",
                                         encoding="utf-8")
    r = run_child(CHILD_REPORT, f"sqlite:///{db}", day.isoformat(), str(work / "out"))
    fl = floor(db)
    print(f"\nweekly report bench (SQLite, {work}){' — every row listed' if args.all_rows else ''}\n")
    print(f"{args.tasks:,} tasks × 3 milestones, {args.units:,} units; as of Friday {day}: {r['overdue']:,} items overdue, "
          f"{r['ranked']:,} units ranked, {r['criticised']:,} criticised ({r['criticism_files']:,} notice files), "
          f"{r['praised']} praised\n")
    print(f"{'what':<44} {'time':>8} {'× floor':>8} {'share':>7}")
    print("-" * 70)
    for label, value in (("floor: read the milestones once (sqlite3)", fl),
                         ("scores alone (this week and last, ranked)", r["scores"]),
                         ("weekly report, all formats, written", r["total"])):
        print(f"{label:<44} {value:>7.2f}s {value / fl:>7.1f}× {value / r['total']:>6.0%}")
    print("\nfiles: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(r["sizes"].items()))
          + f"; identical bytes on the second run: {r['same_bytes']}; peak memory {r['maxrss_mb']:.0f} MB")
    print(f"target: the weekly report in all formats ≤ 5 s — {'met' if r['total'] <= 5 else 'NOT met'}\n")


if __name__ == "__main__":
    main()
