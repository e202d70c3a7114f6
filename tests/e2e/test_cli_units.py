"""The unit directory through the CLI: "did you mean …?" for a unit nearly spelled, never a silent second
unit beside one nearly spelled, and the directory skeleton a plan's units give (`duban units template`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from tests.e2e.test_cli import run

# A county office's own directory, as the office writes it (traditional script).
DIRECTORY = """\
office:
  name: 縣鄉村振興領導小組辦公室
  kind: office
  emails: [office@example.org]
units:
  - name: 區交委
    aliases: [區交通委員會]
    emails: [jiaowei@example.org]
  - name: 縣農業農村局
    head: {name: 王建國, title: 局長, email: wang.jianguo@example.org}
    emails: [nongye@example.org]
  - name: 縣財政局
    emails: [caizheng@example.org]
  - name: 縣民政局
    emails: [minzheng@example.org]
  - name: 各鄉鎮人民政府
    kind: group
    emails: [towns@example.org]
"""

HEADER_T = ["序號", "任務", "目標要求", "牽頭單位", "配合單位", "時間要求"]
HEADER_S = ["序号", "任务", "目标要求", "牵头单位", "配合单位", "时间要求"]


def write_sheet(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    """A 任務分解表 as offices lay it out: a title row, then the header, then one row per task."""
    wb = Workbook()
    ws = wb.active
    ws.append(["2026年鄉村振興重點任務分解表"])
    ws.append(header)
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


@pytest.fixture
def county(tmp_path: Path) -> Path:
    (tmp_path / "units.yaml").write_text(DIRECTORY, encoding="utf-8")
    return tmp_path


def validate(tmp: Path, db_url: str, plan: Path, *extra: str):
    return run(["matrix", "validate", str(plan), "--directory", str(tmp / "units.yaml"), "--plan", "county-2026",
                *extra], cwd=tmp, db_url=db_url, check=False)


@pytest.mark.parametrize("header,rows", [
    (HEADER_T, [["1", "農村公路", "新改建農村公路50公里", "區交通委", "縣財政局", "2026年11月底前"],
                ["2", "高標準農田", "建成高標準農田1萬畝", "縣農業農村", "各鄉鎮人民政府", "2026年12月底前"]]),
    (HEADER_S, [["1", "农村公路", "新改建农村公路50公里", "区交通委", "县财政局", "2026年11月底前"],
                ["2", "高标准农田", "建成高标准农田1万亩", "县农业农村", "各乡镇人民政府", "2026年12月底前"]]),
], ids=["traditional", "simplified"])
def test_an_unknown_unit_nearly_spelled_gets_did_you_mean(county: Path, sqlite_url: str, header, rows) -> None:
    plan = write_sheet(county / "plan.xlsx", header, rows)
    proc = validate(county, sqlite_url, plan)
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    # 區交通委 (4 characters) is one edit from 區交委; 縣農業農村 (5) two edits from 縣農業農村局
    assert "row 3" in out and "did you mean 區交委?" in out
    assert "row 4" in out and "did you mean 縣農業農村局?" in out


def test_a_name_far_from_every_unit_gets_no_guess(county: Path, sqlite_url: str) -> None:
    plan = write_sheet(county / "plan.xlsx", HEADER_T, [
        ["1", "氣象服務", "建設自動氣象站10個", "縣氣象局", "", "2026年6月底前"]])
    proc = validate(county, sqlite_url, plan)
    out = proc.stdout + proc.stderr
    assert "縣氣象局" in out and "unknown unit" in out and "did you mean" not in out
    # 縣氣象局 and 縣財政局 are two edits apart: 4 characters allow one
    assert "縣財政局?" not in out


def test_allow_new_units_refuses_a_near_miss_of_a_known_unit_naming_both(county: Path, sqlite_url: str) -> None:
    plan = write_sheet(county / "plan.xlsx", HEADER_S, [
        ["1", "农村公路", "新改建农村公路50公里", "区交通委", "", "2026年11月底前"],
        ["2", "气象服务", "建设自动气象站10个", "县气象局", "", "2026年6月底前"],
    ])
    proc = validate(county, sqlite_url, plan, "--allow-new-units")
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    assert "区交通委" in out and "near miss of 區交委" in out
    assert "县气象局" not in out  # far from every unit: added as asked
    # fixed as the hint says, the plan goes in with the one truly new unit
    plan = write_sheet(county / "plan.xlsx", HEADER_S, [
        ["1", "农村公路", "新改建农村公路50公里", "区交委", "", "2026年11月底前"],
        ["2", "气象服务", "建设自动气象站10个", "县气象局", "", "2026年6月底前"]])
    proc = validate(county, sqlite_url, plan, "--allow-new-units", "--json")
    assert proc.returncode == 0, proc.stdout
    assert json.loads(proc.stdout)["new_units"] == ["县气象局"]


def test_unit_option_nearly_spelled_gets_did_you_mean(county: Path, db_url: str) -> None:
    plan = write_sheet(county / "plan.xlsx", HEADER_T, [
        ["1", "農村公路", "新改建農村公路50公里", "區交委", "縣財政局", "2026年11月底前"]])
    run(["matrix", "import", str(plan), "--directory", str(county / "units.yaml"), "--plan", "county-2026",
         "--as-of", "2026-03-01"], cwd=county, db_url=db_url)
    proc = run(["matrix", "show", "--unit", "区交通委"], cwd=county, db_url=db_url, check=False)
    assert proc.returncode != 0
    assert "did you mean 區交委?" in proc.stdout + proc.stderr
