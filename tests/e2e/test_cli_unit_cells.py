"""How a county's unit cells name their units, through the CLI: units separated by / or spaces, a unit
marked 牽頭 or a 「X牽頭，Y、Z配合」 phrase, and a 責任單位 column whose first unit leads and the others
support (列第一位的為牽頭單位，其他為配合單位) — never a made-up unit that glues several together."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest

from duban.matrix.script import to_simplified
from tests.e2e.test_cli import run

# (code, task, unit cell, deadline) → (lead, co-leads, supporting)
ROWS = [
    ("1", "政務服務提速", "縣發改局/縣財政局", "2026年11月底前", ("縣發改局", [], ["縣財政局"])),
    ("2", "營商環境評價", "縣財政局 縣發改局", "2026年11月底前", ("縣財政局", [], ["縣發改局"])),
    ("3", "農村公路養護", "縣交通運輸局  縣財政局\u3000各鄉鎮", "2026年12月底前",
     ("縣交通運輸局", [], ["縣財政局", "各鄉鎮"])),
    ("4", "河道整治", "縣水利局（牽頭）、縣公安局、各鄉鎮", "2026年10月底前", ("縣水利局", [], ["縣公安局", "各鄉鎮"])),
    ("5", "水費改革", "縣財政局、縣水利局(牽頭)", "2026年10月底前", ("縣水利局", [], ["縣財政局"])),
    ("6", "防汛演練", "縣水利局牽頭，縣公安局、各鄉鎮配合", "2026年9月底前", ("縣水利局", [], ["縣公安局", "各鄉鎮"])),
    ("7", "金融服務", "Bank of China", "2026年9月底前", ("Bank of China", [], [])),
]
MADE_UP = ("縣發改局/縣財政局", "縣財政局縣發改局", "縣水利局（牽頭）", "縣水利局牽頭", "各鄉鎮配合", "縣水利局(牽頭)")


def _sheet(path: Path, header: list[str], rows: list[list[str]], *, simplified: bool) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["某縣2026年重點任務分解表"])
    for row in [header, *rows]:
        ws.append([to_simplified(c) if simplified else c for c in row])
    wb.save(path)
    return path


def _units(tmp_path: Path, sqlite_url: str, path: Path) -> tuple[dict[str, tuple[str, list[str], list[str]]], set[str]]:
    run(["matrix", "validate", str(path), "--allow-new-units"], cwd=tmp_path, db_url=sqlite_url)
    run(["matrix", "import", str(path), "--allow-new-units", "--as-of", "2026-03-01"], cwd=tmp_path, db_url=sqlite_url)
    tasks = json.loads(run(["matrix", "export", "--format", "json"], cwd=tmp_path, db_url=sqlite_url).stdout)["tasks"]
    got = {t["code"]: (t["lead_unit"], t["co_lead_units"], t["supporting_units"]) for t in tasks}
    units = json.loads(run(["units", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    return got, {u["name"] for u in units}


def _expected(fold, lead: str, co: list[str], sup: list[str]) -> tuple[str, list[str], list[str]]:
    return fold(lead), [fold(u) for u in co], [fold(u) for u in sup]


@pytest.mark.parametrize("simplified", [False, True], ids=["traditional", "simplified"])
def test_a_responsible_column_first_unit_leads_others_support(tmp_path: Path, sqlite_url: str, simplified: bool) -> None:
    fold = to_simplified if simplified else (lambda s: s)
    rows = [[c, t, u, d] for c, t, u, d, _ in ROWS]
    path = _sheet(tmp_path / "plan.xlsx", ["序號", "任務", "責任單位", "完成時限"], rows, simplified=simplified)
    got, units = _units(tmp_path, sqlite_url, path)
    for code, *_cells, expected in ROWS:
        assert got[code] == _expected(fold, *expected), code
    assert not units & {fold(u) for u in MADE_UP}, units


@pytest.mark.parametrize("simplified", [False, True], ids=["traditional", "simplified"])
def test_a_lead_column_keeps_co_leads_unless_one_is_marked(tmp_path: Path, sqlite_url: str, simplified: bool) -> None:
    fold = to_simplified if simplified else (lambda s: s)
    rows = [["1", "農村公路", "縣交通運輸局 縣應急管理局", "縣財政局", "2026年4月30日前"],
            ["2", "河道整治", "縣水利局（牽頭）、縣公安局", "各鄉鎮", "2026年5月31日前"],
            ["3", "防汛演練", "縣水利局/縣應急管理局", "縣公安局／縣財政局", "2026年5月31日前"]]
    path = _sheet(tmp_path / "plan.xlsx", ["序號", "任務", "牽頭單位", "配合單位", "時間要求"], rows, simplified=simplified)
    got, units = _units(tmp_path, sqlite_url, path)
    assert got["1"] == _expected(fold, "縣交通運輸局", ["縣應急管理局"], ["縣財政局"])
    assert got["2"] == _expected(fold, "縣水利局", [], ["縣公安局", "各鄉鎮"])
    assert got["3"] == _expected(fold, "縣水利局", ["縣應急管理局"], ["縣公安局", "縣財政局"])
    assert not units & {fold(u) for u in (*MADE_UP, "縣交通運輸局縣應急管理局", "縣公安局／縣財政局")}, units
