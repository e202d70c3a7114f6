"""Run the benchmarks of two commits back to back and print their ratios to the floor side by side.

Each commit is checked out in a worktree of its own (``git worktree add --detach``) with a venv of its
own: a fresh venv whose ``.pth`` line reaches this interpreter's site-packages (so no dependency is
installed twice) and an editable install of that worktree (``pip install --no-deps -e``), so each side
imports its own code whatever its package layout. For every benchmark the *before* run and the *after*
run follow each other, so a machine that gets busier during the run slows both alike. What carries
between runs is each table's ratio to the floor measured in the same run (``1.4x``); the script pairs
the rows of the two tables by their label and prints both ratios and the change.

Usage:
    python bench/compare.py [--before REV] [--after REV] [--benches sweep,delivery,...] [--quick]
                            [--keep DIR]

Defaults: ``--before HEAD~1``, ``--after HEAD``, every benchmark below, at its issue-sized default;
``--quick`` runs small sizes (a smoke test of this script, not a measurement). The raw output of every
run is written to ``DIR/<bench>-<before|after>.txt`` (default: a temporary folder, printed).
"""

from __future__ import annotations

import argparse
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name -> (script, full arguments, quick arguments)
BENCHES: dict[str, tuple[str, list[str], list[str]]] = {
    "sweep": ("bench/sweep_bench.py", ["--sizes", "20000"], ["--sizes", "2000"]),
    "delivery": ("bench/delivery_bench.py", [], ["--notices", "300"]),  # ratio = throughput / floor's: higher is better
    "report": ("bench/report_bench.py", [], ["--tasks", "2000", "--units", "100"]),
    "matrix": ("bench/matrix_bench.py", [], ["--tasks", "2000", "--units", "100"]),
    "loader": ("bench/loader_bench.py", [], ["--rows", "2000", "--repeat", "1"]),
    "extract": ("bench/extract_bench.py", [], ["--runs", "3"]),
    "sheet": ("bench/sheet_bench.py", [], ["--rows", "500", "--repeat", "1"]),
}
RATIO = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s?[x×](?!\w)")
# Benchmarks whose ratio is a throughput against the floor's (higher is better); the rest are times
# against the floor's (lower is better).
HIGHER_IS_BETTER = {"delivery"}
TOLERANCE = 0.15


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, **kw)


def _src(where: Path) -> Path:
    """The worktree sits beside this checkout: benchmarks read ``../shared`` relative to theirs."""
    return ROOT.parent / f".compare-{where.parent.name}-{where.name}"


def _checkout(rev: str, where: Path) -> Path:
    """A worktree of ``rev`` and a venv that imports it; returns the venv's python."""
    proc = _run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(_src(where)), rev])
    if proc.returncode:
        sys.exit(f"compare: cannot check out {rev}: {proc.stderr.strip()}")
    venv = where / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], check=True)
    purelib = _run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   check=True).stdout.strip()
    ours = [sysconfig.get_paths()["purelib"], *site.getsitepackages()]
    Path(purelib, "_compare_deps.pth").write_text("\n".join(dict.fromkeys(ours)) + "\n")
    proc = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "-e", str(_src(where))])
    if proc.returncode:
        sys.exit(f"compare: cannot install {rev}: {proc.stderr.strip()[-2000:]}")
    return venv / "bin" / "python"


def _ratios(text: str) -> dict[str, list[float]]:
    """Each table row holding ratios, keyed by its label (the text before its first number): ratios
    written ``1.4x``, or else the last column of a table whose header ends in ``ratio``."""
    rows: dict[str, list[float]] = {}
    in_ratio_table = False
    for line in text.splitlines():
        words = line.split()
        found = [float(m.group(1)) for m in RATIO.finditer(line)]
        if words and words[-1] == "ratio":
            in_ratio_table = True  # the header of a table whose last column is the ratio
            continue
        if not words:
            in_ratio_table = False  # a blank line ends the table
        elif in_ratio_table and not found and re.fullmatch(r"\d+(?:\.\d+)?", words[-1]):
            found = [float(words[-1])]
        if not found:
            continue
        label = re.split(r"\s{2,}|\s\d", line.strip(), maxsplit=1)[0].strip() or line.strip()[:30]
        key, n = label, 2
        while key in rows:
            key, n = f"{label} #{n}", n + 1
        rows[key] = found
    return rows


def _bench(python: Path, src: Path, script: str, args: list[str], out: Path) -> tuple[str, float]:
    started = time.perf_counter()
    proc = _run([str(python), str(src / script), *args], cwd=src, timeout=3600)
    took = time.perf_counter() - started
    text = proc.stdout + (f"\n[exit {proc.returncode}]\n{proc.stderr[-3000:]}" if proc.returncode else "")
    out.write_text(text, encoding="utf-8")
    return text, took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="HEAD~1")
    ap.add_argument("--after", default="HEAD")
    ap.add_argument("--benches", default=",".join(BENCHES))
    ap.add_argument("--quick", action="store_true", help="small sizes: checks this script, measures nothing")
    ap.add_argument("--keep", type=Path, help="write the raw outputs here (default: a temporary folder)")
    a = ap.parse_args()
    names = [n.strip() for n in a.benches.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        sys.exit(f"compare: unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHES)}")
    work = Path(tempfile.mkdtemp(prefix="duban-compare-"))
    out = a.keep or work / "out"
    out.mkdir(parents=True, exist_ok=True)
    sides = {}
    try:
        for side, rev in (("before", a.before), ("after", a.after)):
            sha = _run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], check=True).stdout.strip()
            sides[side] = (sha, _checkout(rev, work / side))
        print(f"before {a.before} ({sides['before'][0]})   after {a.after} ({sides['after'][0]})"
              f"{'   QUICK: smoke sizes, not a measurement' if a.quick else ''}\n")
        worst = 0.0
        for name in names:
            script, full, quick = BENCHES[name]
            args = quick if a.quick else full
            texts = {}
            for side in ("before", "after"):
                python = sides[side][1]
                src = _src(work / side)
                if not (src / script).exists():
                    texts[side] = ""
                    print(f"  {name:<9} {side:<6} (no {script} at this commit)")
                    continue
                texts[side], took = _bench(python, src, script, args, out / f"{name}-{side}.txt")
                failed = "   FAILED: see " + str(out / f"{name}-{side}.txt") if "[exit " in texts[side] else ""
                print(f"  {name:<9} {side:<6} {took:7.1f} s{failed}")
            before, after = _ratios(texts["before"]), _ratios(texts["after"])
            better = "higher" if name in HIGHER_IS_BETTER else "lower"
            print(f"\n{name}: ratio to its floor (before → after; {better} is better; change > 0 is slower)")
            print(f"  {'row':<34} {'before':>16} {'after':>16} {'change':>8}")
            for label in dict.fromkeys([*before, *after]):
                b, f = before.get(label, []), after.get(label, [])
                if name in HIGHER_IS_BETTER:  # a slowdown is a smaller ratio
                    changes = [(x - y) / x for x, y in zip(b, f) if x > 0]
                else:
                    changes = [(y - x) / x for x, y in zip(b, f) if x > 0]
                change = max(changes, key=abs) if changes else None
                if change is not None:
                    worst = max(worst, change)
                flag = "" if change is None or change <= TOLERANCE else "  > 15 %"
                print(f"  {label[:34]:<34} {' '.join(f'{x:g}x' for x in b):>16} {' '.join(f'{x:g}x' for x in f):>16} "
                      f"{'' if change is None else f'{change:+.0%}':>8}{flag}")
            print()
        print(f"worst slowdown of a ratio: {worst:+.0%} (tolerance +{TOLERANCE:.0%}); raw outputs in {out}")
        return 0
    finally:
        for side in ("before", "after"):
            _run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(_src(work / side))])
        if a.keep is None:
            print(f"(raw outputs kept in {out})")
        shutil.rmtree(work / "before", ignore_errors=True)
        shutil.rmtree(work / "after", ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
