"""The 方案信息 sheet's rows: written by the XLSX export, read back as the YAML plan would give them."""

from __future__ import annotations

import datetime as dt

from duban.matrix.plan_facts import cell_text, facts_rows, read_plan_facts


def _numbered(rows: list[list[str]]) -> list[tuple[int, list[str]]]:
    return list(enumerate(rows, 1))


def test_header_and_tables_read_back_as_the_yaml_plan_gives_them() -> None:
    header = {"code": "county-2026", "title": "[急]縣鄉村振興方案", "base_year": 2026, "start": dt.date(2026, 3, 1),
              "reporting": {"every": "monthly", "due": "每月5日前"}, "beneficiaries": ["張三戶", "李四戶"]}
    tables = {"stages": [{"code": "S1", "title": "動員部署", "units": ["縣農業農村局", "縣財政局"]}],
              "officials": [{"name": "張志強", "title": "副縣長", "email": "zhang@example.org"}, {"name": "李明"}]}
    rows = facts_rows(header, tables)
    assert rows[:4] == [["plan"], ["code", "county-2026"], ["title", "'[急]縣鄉村振興方案'"], ["base_year", "2026"]]
    read = read_plan_facts("x.xlsx", _numbered(rows))
    assert read is not None
    got, lists = read
    assert {k: c.value for k, c in got.cells.items()} == {
        "code": "county-2026", "title": "[急]縣鄉村振興方案", "base_year": "2026", "start": "2026-03-01",
        "reporting": {"every": "monthly", "due": "每月5日前"}, "beneficiaries": ["張三戶", "李四戶"]}
    assert got.line_of("start") == 5
    assert [{k: c.value for k, c in r.cells.items()} for r in lists["stages"]] == [
        {"code": "S1", "title": "動員部署", "units": ["縣農業農村局", "縣財政局"]}]
    assert [r.get("name") for r in lists["officials"]] == ["張志強", "李明"]
    assert lists["officials"][1].get("email") is None


def test_a_sheet_of_that_name_in_another_layout_is_not_read() -> None:
    assert read_plan_facts("x.xlsx", _numbered([["項目", "內容"], ["牽頭單位", "縣政府辦"]])) is None


def test_scalars_are_written_as_text() -> None:
    assert cell_text(dt.date(2015, 7, 1)) == "2015-07-01"
    assert cell_text(2015) == "2015" and cell_text(True) == "true" and cell_text(None) == ""
    assert cell_text("全區扶貧攻堅工作方案: 第一階段") == "全區扶貧攻堅工作方案: 第一階段"
