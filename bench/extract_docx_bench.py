"""Benchmark: `matrix extract` of a 100-page .docx 任務分工方案 (the matrix as a Word table), and of the same
table pasted into a .txt.

The document is generated (tests/fixtures/table_plans.py, scaled up): a covering notice and preface,
then a table of 25 category rows merged across and 500 task rows (a 類別 cell and a 責任領導 cell merged
down over blocks of tasks, a 牽頭單位 spanning the 責任單位 column every seventh row, a 具體措施 of two
paragraphs in each row), then 工作要求 — about 100 printed pages (a row of two long paragraphs in a
narrow column fills about a sixth of a page).

Prints the median of N runs beside a floor measured in the same run — python-docx opening the file and
iterating every paragraph and every cell of every table (what any reader of the document must do) —
and the ratio. For the .txt, the floor is reading the file and splitting it into lines.

Usage: python bench/extract_docx_bench.py [--runs 5] [--rows 500]
Target (issue 13): a 100-page docx extracted in ≤ 2 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_S = 2.0
_BLOCKS = ("防止返貧監測", "產業幫扶", "就業幫扶", "基礎設施", "人居環境", "鄉風文明")
_UNITS = ("縣農業農村局", "縣交通運輸局", "縣水務局", "縣住房和城鄉建設局", "縣民政局", "縣衛生健康局", "縣教育局")


def rows(tasks: int) -> list:
    """``tasks`` task rows in categories of 20, laid out as tests/fixtures/table_plans.py lays out its 7."""
    out: list = []
    for n in range(1, tasks + 1):
        if n % 20 == 1:
            out.append(f"{'一二三四五六七八九十'[(n // 20) % 10]}、第{n // 20 + 1}類重點任務")
        first = n % 20 == 1
        block = first or n % 5 == 1
        unit = _UNITS[n % len(_UNITS)]
        out.append([
            str(n),
            _BLOCKS[n % len(_BLOCKS)] if block else None,
            f"重點任務{n}",
            f"圍繞第{n}項重點任務，制定工作方案，明確責任分工和時間節點，確保按期完成。\n"
            f"建立工作台賬，每月調度推進情況，發現問題及時整改，年底前開展績效評估。",
            f"副縣長{'甲乙丙丁戊'[n % 5]}某" if first or n % 10 == 1 else None,
            unit,
            "<" if n % 7 == 0 else "各鄉鎮人民政府、縣財政局",
            f"2025年{n % 12 + 1}月底前",
        ])
    return out


def median_s(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def docx_floor(path: Path) -> None:
    import docx

    document = docx.Document(str(path))
    for p in document.paragraphs:
        _ = p.text
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                _ = cell.text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=500)
    args = parser.parse_args()

    from duban.matrix.extract import extract, read_document
    from tests.fixtures.table_plans import pasted_text, write_docx

    table = rows(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        docx_path = write_docx(Path(tmp) / "plan.docx", rows=table)
        txt_path = Path(tmp) / "plan.txt"
        txt_path.write_text(pasted_text(rows=table), encoding="utf-8")
        extract(read_document(txt_path)[0])  # OpenCC dictionaries and label patterns loaded before timing

        def full(path: Path) -> None:
            text, _lines = read_document(path)
            extract(text, source=str(path))

        results = []
        for name, path, floor in (("docx (Word table)", docx_path, docx_floor),
                                  ("txt (pasted table)", txt_path,
                                   lambda p: p.read_bytes().decode("utf-8").split("\n"))):
            floor_s = median_s(lambda floor=floor, path=path: floor(path), args.runs)
            full_s = median_s(lambda path=path: full(path), args.runs)
            ex = extract(read_document(path)[0])
            results.append((name, path.stat().st_size, floor_s, full_s, len(ex.plan["tasks"]), len(ex.leftovers)))

    print(f"extract docx bench — {args.rows} task rows, median of {args.runs} runs (Python {sys.version.split()[0]})")
    print()
    header = f"{'input':<20} {'bytes':>9} {'floor':>10} {'read+extract':>13} {'ratio':>6} {'tasks':>6} {'leftovers':>10} " \
             f"{'target':>12}"
    print(header)
    print("-" * len(header))
    for name, size, floor_s, full_s, tasks, left in results:
        ok = "ok" if full_s <= TARGET_S else "MISSED"
        print(f"{name:<20} {size:>9,} {floor_s:>8.3f} s {full_s:>11.3f} s {full_s / floor_s:>5.1f}× {tasks:>6} "
              f"{left:>10} {'≤' + format(TARGET_S, '.0f') + ' s ' + ok:>12}")
    print()
    print("floor: docx — python-docx opens it and reads every paragraph and table cell; txt — read and split")


if __name__ == "__main__":
    main()
