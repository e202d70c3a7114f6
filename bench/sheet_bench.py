"""Benchmark: a county-layout task sheet of 2,000 rows validated and imported (issue 13: ≤ 3 s).

The sheet is laid out as offices keep it (tests/office_sheets.py, scaled up): a title row merged
across, a 填報單位 / 填報時間 row, category rows merged across the table every 20 rows (一、 … with
（一） … under each), 序號 restarting under each category, one 牽頭領導 merged down over every 5 tasks,
deadlines typed as Excel dates and as text, a 備註 column and a column duban does not know. Times:

    floor     openpyxl read-only iter_rows(values_only=True) over the sheet (merely reading it)
    read      load_task_sheet (headings, merged cells, codes, header facts)
    validate  load_plan with every unit in the directory (the plan is accepted)
    import    validate + import into a fresh SQLite database (one transaction)

each beside the floor (ratio). Best of --repeat runs (import: a fresh database each run).

Usage: python bench/sheet_bench.py [--rows 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = ["序號", "重點任務", "具體措施", "牽頭領導", "牽頭單位", "責任單位", "完成時限", "備註", "責任處室"]
CN = "一二三四五六七八九十"
UNITS = 100


def _chinese(n: int) -> str:
    return CN[n - 1] if n <= 10 else ("十" + CN[n - 11] if n < 20 else CN[n // 10 - 1] + "十" + (CN[n % 10 - 1] if n % 10 else ""))


def write_sheet(path: Path, n: int) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "重點任務"
    ws.append(["XX縣重點任務分解表"])
    ws.merge_cells("A1:I1")
    ws.append(["填報單位:XX縣人民政府辦公室  填報時間:2019年3月1日"])
    ws.append(HEADER)
    row, task, lead_start = 4, 0, None
    while task < n:
        if task % 5 == 0 and lead_start is not None and row - 1 > lead_start:  # one official per 5 tasks
            ws.merge_cells(start_row=lead_start, start_column=4, end_row=row - 1, end_column=4)
        if task % 20 == 0:  # a category every 20 tasks, a sub-category every 10
            if task % 40 == 0:
                ws.append([f"{_chinese(task // 40 % 99 + 1)}、類別{task // 40}"])
                ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=9)
                row += 1
            ws.append([f"（{_chinese(task // 20 % 2 + 1)}）分類{task // 20}"])
            ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=9)
            row += 1
        if task % 5 == 0:
            lead_start = row
        deadline = dt.datetime(2019, 1 + task % 12, 28) if task % 2 else ["2019年底", "2019年6月底前", "每月不少於1次"][task % 3]
        ws.append([task % 20 + 1, f"任務{task}", f"完成第{task}項工作", "張志強(副縣長)" if task % 5 == 0 else None,
                   f"縣單位{task % UNITS:03d}", f"縣單位{(task + 1) % UNITS:03d}", deadline,
                   "按月報送" if task % 7 == 0 else None, "某股"])
        row, task = row + 1, task + 1
    book.save(path)


def write_units(path: Path) -> None:
    units = "\n".join(f"  - {{name: 縣單位{i:03d}, kind: department, emails: [u{i}@example.org]}}" for i in range(UNITS))
    path.write_text(f"office:\n  name: 縣政府辦\n  emails: [o@example.org]\nunits:\n{units}\n", encoding="utf-8")


def best(fn, repeat: int) -> float:
    times = []
    for i in range(repeat):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import openpyxl

    from duban.matrix.loaders import load_plan
    from duban.matrix.sheets import load_task_sheet
    from duban.store.db import open_database
    from duban.workflows.matrix_service import PlanOptions, import_file

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sheet, units = folder / "county.xlsx", folder / "units.yaml"
        write_sheet(sheet, args.rows)
        write_units(units)

        def floor(_i: int) -> None:
            book = openpyxl.load_workbook(sheet, read_only=True, data_only=True)
            for _row in book.worksheets[0].iter_rows(values_only=True):
                pass
            book.close()

        def read(_i: int) -> None:
            assert len(load_task_sheet(sheet).tasks) == args.rows

        def validate(_i: int) -> None:
            plan = load_plan(sheet, directory=units).plan
            assert len(plan.tasks) == args.rows and len({t.code for t in plan.tasks}) == args.rows

        engines = [open_database(f"sqlite:///{folder / f'd{i}.db'}") for i in range(args.repeat)]

        def imported(i: int) -> None:
            _loaded, result = import_file(engines[i], sheet, PlanOptions(directory=units),
                                          now=dt.datetime(2019, 3, 1, 9, tzinfo=dt.UTC))
            assert len(result.added) == args.rows

        print(f"a county sheet of {args.rows:,} task rows (category rows merged across, merged officials, "
              f"Excel dates), best of {args.repeat}\n")
        base = best(floor, args.repeat)
        print(f"{'step':<30} {'time':>8} {'ratio':>7}")
        print(f"{'floor (openpyxl reads it)':<30} {base:>7.2f}s {1:>6.1f}x")
        for label, fn in (("read (load_task_sheet)", read), ("validate (load_plan)", validate),
                          ("validate + import (SQLite)", imported)):
            t = best(fn, args.repeat)
            print(f"{label:<30} {t:>7.2f}s {t / base:>6.1f}x")
        for engine in engines:
            engine.dispose()


if __name__ == "__main__":
    main()
