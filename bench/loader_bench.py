"""Benchmark: validating a 20,000-row task sheet (.xlsx and .csv), against the cost of merely reading it.

Writes a synthetic matrix of N rows (a lead official merged over every 5 rows, a date cell, a few
distinct deadlines and units), as an .xlsx written by openpyxl (inline strings, as duban's own export
writes them), the same with a shared string table (as Excel saves it) and a .csv, then times:

    floor   openpyxl read-only iter_rows(values_only=True) over the sheet / csv.reader over the file
    accept  load_plan with every unit in the directory (the plan is accepted)
    refuse  load_plan with a directory that knows none of the units (N problems, refused)

and prints each beside its floor (ratio). Best of --repeat runs.

Usage: python bench/loader_bench.py [--rows 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import re
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = ["序號", "任務", "目標要求", "牽頭領導", "牽頭單位", "配合單位", "時間要求", "填表日期"]
DEADLINES = ["2015年底", "2016年6月底前", "每月不少於1次", "2015年底完成25個村、2016年底完成40個村", "每季度末"]


def rows(n: int) -> list[list]:
    out = []
    for i in range(n):
        unit = f"區單位{i % 200:03d}"
        out.append([str(i + 1), f"任務{i}", f"完成第{i}項工作目標", "林光(區人民政府副區長)" if i % 5 == 0 else None,
                    unit, f"區單位{(i + 1) % 200:03d}、區單位{(i + 2) % 200:03d}", DEADLINES[i % len(DEADLINES)],
                    dt.datetime(2015, 7, 1) + dt.timedelta(days=i % 300)])
    return out


def write_files(folder: Path, n: int) -> dict[str, Path]:
    import openpyxl

    data = rows(n)
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["扶貧攻堅任務分解表"])
    ws.append(HEADER)
    for row in data:
        ws.append(row)
    for start in range(3, n + 3, 5):  # the lead official cell spans 5 rows
        ws.merge_cells(start_row=start, start_column=4, end_row=min(start + 4, n + 2), end_column=4)
    xlsx = folder / "plan.xlsx"
    book.save(xlsx)
    shared = folder / "plan-shared.xlsx"
    _to_shared_strings(xlsx, shared)
    csv_path = folder / "plan.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["扶貧攻堅任務分解表"])
        w.writerow(HEADER)
        for i, row in enumerate(data):
            lead = data[i - i % 5][3]
            w.writerow([*row[:3], lead, *row[4:7], row[7].date().isoformat()])
    units = "\n".join(f"  - name: 區單位{i:03d}\n    emails: [u{i}@example.org]" for i in range(200))
    (folder / "units.yaml").write_text(f"office:\n  name: 區扶貧辦\n  emails: [o@example.org]\nunits:\n{units}\n",
                                       encoding="utf-8")
    (folder / "none.yaml").write_text("office:\n  name: 區扶貧辦\n  emails: [o@example.org]\nunits:\n"
                                      "  - name: 區別的局\n    emails: [x@example.org]\n", encoding="utf-8")
    return {"xlsx": xlsx, "xlsx-shared": shared, "csv": csv_path}


def _to_shared_strings(src: Path, dst: Path) -> None:
    """The same workbook with every inline string (what openpyxl and duban write) in a shared string
    table instead, as Excel saves it."""
    table: dict[str, int] = {}

    def shared(m: re.Match) -> str:
        index = table.setdefault(m.group(3), len(table))
        return f'<c r="{m.group(1)}"{m.group(2) or ""} t="s"><v>{index}</v></c>'

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item).decode("utf-8") if item.filename.endswith((".xml", ".rels")) else zin.read(item)
            if item.filename.startswith("xl/worksheets/sheet"):
                data = re.sub(r'<c r="([A-Z]+\d+)"( s="\d+")? t="inlineStr"><is><t>(.*?)</t></is></c>', shared, data)
            elif item.filename == "[Content_Types].xml":
                data = data.replace("</Types>", '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                                    'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
            elif item.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace("</Relationships>", '<Relationship Id="rIdShared" Type="http://schemas.openxmlformats'
                                    '.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
                                    "</Relationships>")
            zout.writestr(item, data)
        sst = "".join(f"<si><t>{text}</t></si>" for text in table)
        zout.writestr("xl/sharedStrings.xml", '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.'
                      f'openxmlformats.org/spreadsheetml/2006/main" count="{len(table)}" uniqueCount="{len(table)}">'
                      f"{sst}</sst>")


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import openpyxl

    from duban.matrix.errors import ValidationFailed
    from duban.matrix.loaders import load_plan

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = write_files(folder, args.rows)

        def floor_xlsx(path: Path) -> None:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
            for _row in book.worksheets[0].iter_rows(values_only=True):
                pass
            book.close()

        def floor_csv(path: Path) -> None:
            with open(path, newline="", encoding="utf-8") as f:
                for _row in csv.reader(f):
                    pass

        def accept(path: Path) -> None:
            loaded = load_plan(path, directory=folder / "units.yaml", base_year=2015)
            assert len(loaded.plan.tasks) == args.rows

        def refuse(path: Path) -> None:
            try:
                load_plan(path, directory=folder / "none.yaml", base_year=2015)
            except ValidationFailed as e:
                assert len(e.problems) >= args.rows
            else:
                raise AssertionError("accepted")

        print(f"{args.rows:,} task rows, best of {args.repeat}\n")
        print(f"{'file':<13} {'floor (read only)':>18} {'accept':>9} {'ratio':>6} {'refuse':>9} {'ratio':>6}")
        for kind, path in files.items():
            floor = best(lambda kind=kind, path=path: (floor_csv if kind == "csv" else floor_xlsx)(path), args.repeat)
            a = best(lambda path=path: accept(path), args.repeat)
            r = best(lambda path=path: refuse(path), args.repeat)
            print(f"{kind:<13} {floor:>17.2f}s {a:>8.2f}s {a / floor:>5.1f}x {r:>8.2f}s {r / floor:>5.1f}x")


if __name__ == "__main__":
    main()
