"""Benchmark: validate + import a synthetic 20,000-task matrix, re-import it, and query it by unit.

Prints a table with each measurement beside a floor measured in the same run:
- validate + import vs. a bare sqlite3 bulk insert of exactly the rows the import wrote;
- peak memory (max RSS of the importing process);
- `duban matrix show --unit U` as a process vs. a bare Python process running the same lookup in sqlite3;
- `duban --help` vs. a bare `python -c pass`.

Usage: python bench/matrix_bench.py [--tasks 20000] [--units 1000] [--keep DIR]
Targets (issue 2): validate + import ≤ 10 s, peak memory ≤ 500 MB, show --unit ≤ 0.5 s, --help ≤ 0.3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.synthetic import run_child, unit_name, write_synthetic

CHILD_IMPORT = r"""
import json, sys, time, datetime as dt, resource
from zoneinfo import ZoneInfo
from pathlib import Path
t0 = time.perf_counter()
from duban.store.db import open_database, transaction
from duban.workflows.matrix_service import PlanOptions, validate_file
from duban.store import plan_import
engine = open_database(sys.argv[1])
t1 = time.perf_counter()
loaded = validate_file(Path(sys.argv[2]), PlanOptions(), engine=engine)
t2 = time.perf_counter()
now = dt.datetime(2015, 7, 1, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
with transaction(engine) as s:
    result = plan_import.import_plan(s, loaded.plan, loaded.directory, now=now, new_units=loaded.new_units)
t3 = time.perf_counter()
print(json.dumps({"startup": t1 - t0, "validate": t2 - t1, "import": t3 - t2, "added": len(result.added),
                  "unchanged": result.unchanged,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

FLOOR_SHOW = r"""
import sqlite3, sys, json
con = sqlite3.connect(sys.argv[1])
uid = con.execute("SELECT id FROM unit WHERE name = ?", (sys.argv[2],)).fetchone()[0]
rows = con.execute(
    "SELECT t.code, t.title, t.deadline_text FROM task t WHERE t.archived_at IS NULL AND "
    "(t.lead_unit_id = ? OR t.id IN (SELECT task_id FROM task_unit WHERE unit_id = ?)) ORDER BY t.position",
    (uid, uid)).fetchall()
ms = con.execute("SELECT task_id, due, quantity FROM milestone WHERE task_id IN (SELECT id FROM task WHERE lead_unit_id = ?)", (uid,)).fetchall()
sys.stdout.write(json.dumps([list(r) for r in rows], ensure_ascii=False))
"""



def timed_process(argv: list[str], env: dict | None = None, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, env={**os.environ, **(env or {})})
        times.append(time.perf_counter() - t)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr.decode())
    return statistics.median(times)


TABLES = ("plan", "unit", "official", "task", "task_official", "task_unit", "milestone", "recurrence", "stage", "event")


def bare_insert_floor(src_db: Path, empty_db: Path) -> tuple[float, int]:
    """Time a plain sqlite3 executemany of every row the import wrote, into the same empty schema."""
    src = sqlite3.connect(src_db)
    data = {t: src.execute(f"SELECT * FROM {t}").fetchall() for t in TABLES}
    src.close()
    con = sqlite3.connect(empty_db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    t = time.perf_counter()
    with con:
        for table, rows in data.items():
            if rows:
                marks = ",".join("?" * len(rows[0]))
                con.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    elapsed = time.perf_counter() - t
    con.close()
    return elapsed, sum(len(r) for r in data.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=20_000)
    ap.add_argument("--units", type=int, default=1_000)
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="duban-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    plan = write_synthetic(work / "matrix", tasks=args.tasks, units=args.units)
    db = work / "bench.db"
    empty = work / "empty.db"
    for p in (db, empty):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{p}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    sys.path.insert(0, str(ROOT))
    from duban.store.db import open_database

    open_database(f"sqlite:///{empty}").dispose()  # the same schema, empty, for the floor

    first = run_child(CHILD_IMPORT, url, str(plan))
    again = run_child(CHILD_IMPORT, url, str(plan))
    floor, rows = bare_insert_floor(db, empty)

    # The console script, as a user runs it (python -m would import the CLI module twice).
    script = Path(sys.executable).parent / "duban"
    duban = [str(script)] if script.exists() else [sys.executable, "-m", "duban.workflows.cli"]
    env = {"DUBAN_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    some_unit = unit_name(17)
    show = timed_process([*duban, "matrix", "show", "--unit", some_unit, "--json"], env)
    show_table = timed_process([*duban, "matrix", "show", "--unit", some_unit], {**env, "COLUMNS": "160"})
    show_floor = timed_process([sys.executable, "-c", FLOOR_SHOW, str(db), some_unit])
    import_floor = timed_process([sys.executable, "-c", "import sqlmodel, sqlalchemy.orm, typer"])
    help_time = timed_process([*duban, "--help"], env)
    bare = timed_process([sys.executable, "-c", "pass"])
    n_rows = len(json.loads(subprocess.run([*duban, "matrix", "show", "--unit", some_unit, "--json"], cwd=ROOT,
                                           capture_output=True, text=True, env={**os.environ, **env}).stdout))

    total = first["validate"] + first["import"]
    lines = [
        ("validate (parse YAML, resolve units, read deadlines)", first["validate"], None, None, ""),
        ("import into SQLite (one transaction)", first["import"], floor, first["import"] / floor, f"floor: bare executemany of the same {rows:,} rows"),
        ("validate + import", total, floor, total / floor, "target ≤ 10 s"),
        ("re-import unchanged (diff of every task)", again["validate"] + again["import"], floor, (again["validate"] + again["import"]) / floor, f"{again['unchanged']:,} unchanged"),
        ("peak memory of the importing process (MB)", first["maxrss_mb"], None, None, "target ≤ 500 MB"),
        (f"duban matrix show --unit … --json ({n_rows} tasks)", show, show_floor, show / show_floor, "floor: python + sqlite3 lookup; target ≤ 0.5 s"),
        ("duban matrix show --unit … (rich table)", show_table, show_floor, show_table / show_floor, ""),
        ("  of which: python importing sqlmodel + typer alone", import_floor, show_floor, import_floor / show_floor, "the part no query can save"),
        ("duban --help", help_time, bare, help_time / bare, "floor: python -c pass; target ≤ 0.3 s"),
    ]
    print(f"\nmatrix bench: {args.tasks:,} tasks × 3 milestones over {args.units:,} units  (SQLite, {work})\n")
    print(f"{'measurement':<55} {'value':>10} {'floor':>10} {'ratio':>7}  note")
    print("-" * 110)
    for name, value, fl, ratio, note in lines:
        unit = "" if "MB" in name else " s"
        v = f"{value:.1f}" if "MB" in name else f"{value:.3f}"
        print(f"{name:<55} {v + unit:>10} {(f'{fl:.3f} s' if fl else ''):>10} {(f'{ratio:.1f}×' if ratio else ''):>7}  {note}")
    print()


if __name__ == "__main__":
    main()
