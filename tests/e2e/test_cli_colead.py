"""A county's own task sheet as offices type it: lead officials written every way one cell holds them, and
several lead units in one cell (the first leads, the others are co-leads, 共同牽頭), through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest

from duban.matrix.script import to_simplified
from tests.e2e.test_cli import run

HEADER = ["序號", "任務", "牽頭領導", "牽頭單位", "配合單位", "時間要求"]
# (code, task, lead officials cell, lead unit cell, supporting, deadline) → the officials expected.
OFFICIAL_ROWS = [
    ("1", "新改建農村公路", "張志強\n(區人民政府副區長)", "區交通局", "區財政局", "2026年11月底前",
     [("張志強", "區人民政府副區長")]),
    ("2", "農村危房改造", "張志強（副區長）", "區住建局", "", "2026年12月底前", [("張志強", "副區長")]),
    ("3", "飲水安全鞏固", "副區長 張志強", "區水利局", "", "2026年10月底前", [("張志強", "副區長")]),
    ("4", "產業項目落地", "副區長：張志強", "區農業農村局", "", "2026年9月底前", [("張志強", "副區長")]),
    ("5", "就業培訓", "張志強(副區長)\n李明(區委常委、副區長)", "區人社局", "", "2026年8月底前",
     [("張志強", "副區長"), ("李明", "區委常委、副區長")]),
    ("6", "醫療救助", "張志強、李明", "區衛健局", "", "2026年7月底前", [("張志強", ""), ("李明", "")]),
    ("7", "教育資助", "副區長 張志強；副區長 李明", "區教育局", "", "2026年6月底前",
     [("張志強", "副區長"), ("李明", "副區長")]),
    ("8", "兜底保障", "張志強（副區長），李明（副區長）", "區民政局", "", "2026年5月底前",
     [("張志強", "副區長"), ("李明", "副區長")]),
    ("9", "應急演練", "張志強\n副區長", "區應急管理局", "", "2026年4月底前", [("張志強", "副區長")]),
]


def _sheet(path: Path, rows: list[list[str]], *, simplified: bool) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "任務分解表"
    ws.append(["某區2026年重點任務分解表"])  # a title row above the header, as offices print it
    for row in [HEADER, *rows]:
        ws.append([to_simplified(c) if simplified and isinstance(c, str) else c for c in row])
    wb.save(path)
    return path


@pytest.mark.parametrize("simplified", [False, True], ids=["traditional", "simplified"])
def test_officials_every_way_a_cell_holds_them(tmp_path: Path, sqlite_url: str, simplified: bool) -> None:
    fold = to_simplified if simplified else (lambda s: s)
    path = _sheet(tmp_path / "plan.xlsx", [list(r[:6]) for r in OFFICIAL_ROWS], simplified=simplified)
    run(["matrix", "import", str(path), "--allow-new-units", "--as-of", "2026-03-01"], cwd=tmp_path, db_url=sqlite_url)
    rows = {r["code"]: r for r in json.loads(run(["matrix", "show", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)}
    for code, *_cells, expected in OFFICIAL_ROWS:
        got = [(o["name"], o["title"]) for o in rows[code]["lead_officials"]]
        assert got == [(fold(n), fold(t)) for n, t in expected], code
    shown = run(["matrix", "show", "--official", fold("李明")], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "4 tasks" in shown


@pytest.mark.parametrize("simplified", [False, True], ids=["traditional", "simplified"])
def test_an_unreadable_officials_cell_is_a_problem_naming_row_field_and_text(tmp_path: Path, sqlite_url: str,
                                                                            simplified: bool) -> None:
    rows = [list(r[:6]) for r in OFFICIAL_ROWS[:2]]
    rows[1][2] = "張志強（副區長）\n李明（副區長"  # the second official's parenthesis never closes
    path = _sheet(tmp_path / "plan.xlsx", rows, simplified=simplified)
    proc = run(["matrix", "validate", str(path), "--allow-new-units"], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "row 4" in out and "lead_officials" in out and "cannot read the official" in out, out
    assert (to_simplified("李明（副區長") if simplified else "李明（副區長") in out, out
    assert "Traceback" not in out
