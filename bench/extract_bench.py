"""Benchmark: extracting the matrix from the seed file (all five parts, 53 KB) and from part 5 alone.

Prints a table: the median of N runs of ``extract`` beside a floor measured in the same run (reading
the file and splitting it into lines, which every extraction must do), the ratio between them, and
the target. ``extract`` on the whole file parses every part (to choose the one with the most tasks);
the OpenCC dictionaries and the label patterns are loaded once before timing, as in a long-lived
process (a fresh ``duban matrix extract`` also pays for them: shown as "first call").

Usage: python bench/extract_bench.py [--runs 20]
Target (issue 7): the whole seed file in ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED = ROOT.parent / "shared" / "seeds" / "000_60fd9141b206e91e.txt"
PART5 = ROOT / "tests" / "fixtures" / "seeds" / "part5.txt"
TARGET_MS = 100.0


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    t0 = time.perf_counter()
    from duban.matrix.extract import extract, read_document

    text, _lines = read_document(SEED)
    first = extract(text)
    first_ms = (time.perf_counter() - t0) * 1000

    rows = []
    for name, path in (("seed file, all 5 parts", SEED), ("part 5 alone", PART5)):
        size = path.stat().st_size

        def floor(path: Path = path) -> None:
            path.read_bytes().decode("utf-8").split("\n")

        def full(path: Path = path) -> None:
            text, _lines = read_document(path)
            extract(text, source=str(path))

        floor_ms = median_ms(floor, args.runs)
        full_ms = median_ms(full, args.runs)
        text, _lines = read_document(path)
        result = extract(text)
        rows.append((name, size, floor_ms, full_ms, len(result.plan["tasks"]), len(result.plan["stages"]),
                     len(result.leftovers)))

    print(f"extract bench — median of {args.runs} runs (Python {sys.version.split()[0]})")
    print()
    header = f"{'input':<24} {'bytes':>7} {'floor: read+split':>18} {'read+extract':>13} {'ratio':>7} {'tasks':>6} " \
             f"{'stages':>7} {'leftovers':>10} {'target':>9}"
    print(header)
    print("-" * len(header))
    for name, size, floor_ms, full_ms, tasks, stages, left in rows:
        ok = "ok" if full_ms <= TARGET_MS else "MISSED"
        print(f"{name:<24} {size:>7,} {floor_ms:>15.3f} ms {full_ms:>10.2f} ms {full_ms / floor_ms:>6.0f}× {tasks:>6} "
              f"{stages:>7} {left:>10} {'≤' + format(TARGET_MS, '.0f') + ' ms ' + ok:>9}")
    print()
    print(f"first call in a fresh process (imports, OpenCC dictionaries, label patterns, then extract): "
          f"{first_ms:.1f} ms; part chosen: {first.part}")


if __name__ == "__main__":
    main()
