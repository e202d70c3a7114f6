"""Task sheets as offices lay them out, read by load_task_sheet: headings, codes, header rows, sheets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from duban.matrix.errors import ValidationFailed
from duban.matrix.loaders import load_plan
from duban.matrix.sheet_layout import heading_kind
from duban.matrix.sheets import load_task_sheet
from tests.office_sheets import COUNTY_UNITS


def _book(path: Path, sheets: dict[str, list[list]], merges: dict[str, list[str]] | None = None) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        for ref in (merges or {}).get(name, []):
            ws.merge_cells(ref)
    wb.save(path)
    return path


@pytest.mark.parametrize("text, kind, number", [
    ("一、基礎設施", "chapter", 1), ("十二、其他", "chapter", 12), ("二十一．其他", "chapter", 21),
    ("（三）產業扶貧", "paren", 3), ("(十)就業", "paren", 10), ("第二部分 保障措施", "part", 2),
    ("3、農村公路", "arabic", 3), ("（4）飲水", "arabic_paren", 4), ("基礎設施", "plain", None),
    ("3.2 農村公路", "plain", None),
])
def test_heading_kinds_and_numbers(text: str, kind: str, number: int | None) -> None:
    assert heading_kind(text) == (kind, number)


def test_a_two_row_header_reads_the_lower_row_under_a_spanning_cell(tmp_path: Path) -> None:
    # 責任單位 over 牽頭單位 | 配合單位, the other header cells merged down over both rows.
    path = _book(tmp_path / "two.xlsx", {"表": [
        ["序號", "重點任務", "責任單位", None, "完成時限"],
        [None, None, "牽頭單位", "配合單位", None],
        [1, "農村公路", "縣交通運輸局", "縣財政局", "2019年底"],
    ]}, {"表": ["A1:A2", "B1:B2", "C1:D1", "E1:E2"]})
    (task,) = load_task_sheet(path).tasks
    assert {k: c.value for k, c in task.cells.items()} == {
        "code": 1, "title": "農村公路", "lead_unit": "縣交通運輸局", "supporting_units": "縣財政局", "deadline": "2019年底"}


def test_responsible_units_lead_alone_and_support_beside_a_lead_column(tmp_path: Path) -> None:
    alone = _book(tmp_path / "a.xlsx", {"表": [["序号", "任务", "责任单位", "时间要求"], [1, "公路", "县交通运输局", "2019年底"]]})
    assert load_task_sheet(alone).tasks[0].get("lead_unit") == "县交通运输局"
    beside = _book(tmp_path / "b.xlsx", {"表": [
        ["序號", "任務", "牽頭單位", "責任單位", "配合單位", "時間要求"],
        [1, "公路", "縣交通運輸局", "各鄉鎮人民政府", "縣財政局", "2019年底"]]})
    rec = load_task_sheet(beside).tasks[0]
    assert rec.get("lead_unit") == "縣交通運輸局" and rec.get("supporting_units") == "各鄉鎮人民政府、縣財政局"


def test_a_bare_numeral_in_the_code_column_beside_a_name_is_one_heading(tmp_path: Path) -> None:
    path = _book(tmp_path / "h.xlsx", {"表": [
        ["序號", "任務", "牽頭單位", "時間要求"],
        ["一", "基礎設施"],
        [1, "公路", "縣交通運輸局", "2019年底"],
        ["二", "產業發展"],
        [1, "產業", "縣農業農村局", "2019年底"],
    ]})
    tasks = load_task_sheet(path).tasks
    assert [(t.get("code"), t.get("section")) for t in tasks] == [("1.1", ["一、基礎設施"]), ("2.1", ["二、產業發展"])]


def test_codes_that_run_on_across_categories_are_kept(tmp_path: Path) -> None:
    path = _book(tmp_path / "c.xlsx", {"表": [
        ["序號", "任務", "牽頭單位", "時間要求"], ["一、基礎設施"], [1, "公路", "縣交通運輸局", "2019年底"],
        [2, "飲水", "縣水利局", "2019年底"], ["二、產業發展"], [3, "產業", "縣農業農村局", "2019年底"]]},
        {"表": ["A2:D2", "A5:D5"]})
    assert [t.get("code") for t in load_task_sheet(path).tasks] == [1, 2, 3]


def test_sheets_whose_codes_meet_take_their_numbers_and_facts_sheets_are_left_alone(tmp_path: Path) -> None:
    header = ["序號", "任務", "牽頭單位", "時間要求"]
    path = _book(tmp_path / "s.xlsx", {
        "基礎設施": [header, [1, "公路", "縣交通運輸局", "2019年底"], [2, "飲水", "縣水利局", "2019年底"]],
        "方案信息": [["項目", "內容"], ["牽頭單位", "縣政府辦"]],  # read by the round trip, never as tasks
        "Sheet3": [header, [1, "產業", "縣農業農村局", "2019年底"]],
    })
    src = load_task_sheet(path)
    assert [(t.get("code"), t.get("section")) for t in src.tasks] == [
        ("1.1", ["基礎設施"]), ("1.2", ["基礎設施"]), ("2.1", None)]  # Excel's own sheet name is no section
    assert not any("方案信息" in w for w in src.warnings)


def test_a_derived_code_meeting_a_written_one_is_a_duplicate_not_silent(tmp_path: Path) -> None:
    (tmp_path / "units.yaml").write_text(COUNTY_UNITS, encoding="utf-8")
    path = _book(tmp_path / "d.xlsx", {"表": [
        ["序號", "任務", "牽頭單位", "時間要求"], ["一、基礎設施"],
        ["1.2", "公路", "縣交通運輸局", "2019年底"], [None, "飲水", "縣水利局", "2019年底"]]}, {"表": ["A2:D2"]})
    with pytest.raises(ValidationFailed) as info:
        load_plan(path, directory=tmp_path / "units.yaml")
    assert [(p.line, p.field, p.text) for p in info.value.problems] == [(4, "code", "1.2")]
    assert any("without 序號 numbered by their place" in w for w in info.value.warnings)


def test_the_title_and_filing_rows_and_an_attachment_line(tmp_path: Path) -> None:
    path = _book(tmp_path / "t.xlsx", {"表": [
        ["附件2"], ["XX縣重點任務分工方案"], ["填報單位：XX縣發展和改革局", None, "填報日期：", dt.datetime(2020, 4, 15)],
        ["序號", "任務", "牽頭單位", "時間要求"], [1, "公路", "縣交通運輸局", "2020年底"],
        [], ["XX縣重點任務分工方案"], ["序號", "任務", "牽頭單位", "時間要求"],  # a printed page's title and header
        [2, "飲水", "縣水利局", "2020年底"]]})
    src = load_task_sheet(path)
    assert {k: c.value for k, c in src.header.cells.items()} == {
        "title": "XX縣重點任務分工方案", "issuer": "XX縣發展和改革局", "start": dt.date(2020, 4, 15)}
    assert [(t.get("code"), t.get("section")) for t in src.tasks] == [(1, None), (2, None)]


def test_a_sheet_without_a_title_column_says_where_titles_come_from(tmp_path: Path) -> None:
    path = _book(tmp_path / "n.xlsx", {"表": [["序號", "具體措施", "牽頭單位", "時間要求"], [1, "新改建農村公路", "縣交通運輸局", "2019年底"]]})
    assert any("each task's title is the start of its 「具體措施」" in w for w in load_task_sheet(path).warnings)


def test_a_hidden_sheet_is_skipped_with_a_note_and_a_title_naming_time_is_still_the_title(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    header = ["序號", "任務", "牽頭單位", "時間要求"]
    path = _book(tmp_path / "h.xlsx", {
        "任務": [["全縣重點工作時間節點安排表"], header, [1, "公路", "縣交通運輸局", "2019年底"]],
        "舊版": [header, [1, "舊任務", "縣水利局", "2018年底"]],
    })
    wb = load_workbook(path)
    wb["舊版"].sheet_state = "hidden"
    wb.save(path)
    src = load_task_sheet(path)
    assert [t.get("title") for t in src.tasks] == ["公路"] and src.tasks[0].get("section") is None
    assert src.header.get("title") == "全縣重點工作時間節點安排表"
    assert any("sheet 「舊版」 is hidden, skipped" in w for w in src.warnings)
    assert [t.get("title") for t in load_task_sheet(path, sheet="舊版").tasks] == ["舊任務"]


def test_a_date_saved_as_text_with_its_midnight_is_that_day_and_a_stray_cell_does_not_widen_the_table(tmp_path: Path) -> None:
    (tmp_path / "units.yaml").write_text(COUNTY_UNITS, encoding="utf-8")
    csv = tmp_path / "d.csv"
    csv.write_text("序号,任务,牵头单位,完成时限\n1,公路,县交通运输局,2019-09-30 00:00:00\n", encoding="utf-8")
    (task,) = load_plan(csv, directory=tmp_path / "units.yaml").plan.tasks
    assert task.deadline_text == "2019年9月30日" and task.milestones[0].due == dt.date(2019, 9, 30)
    # A note far to the right (column L) on one row: 一、基礎設施 merged over A2:E2 is still a heading.
    path = _book(tmp_path / "w.xlsx", {"表": [
        ["序號", "任務", "牽頭單位", "配合單位", "時間要求"], ["一、基礎設施"],
        [1, "公路", "縣交通運輸局", "縣財政局", "2019年底"], [2, "飲水", "縣水利局", None, "2019年底", *[None] * 6, "注"]]},
        {"表": ["A2:E2"]})
    assert [(t.get("code"), t.get("section")) for t in load_task_sheet(path).tasks] == [
        (1, ["一、基礎設施"]), (2, ["一、基礎設施"])]


def test_one_serial_number_merged_down_over_several_measures_numbers_each_row(tmp_path: Path) -> None:
    # 序號 and 重點任務 merged down over two rows, each row its own measure, lead unit and deadline.
    path = _book(tmp_path / "m.xlsx", {"表": [
        ["序號", "重點任務", "具體措施", "牽頭單位", "完成時限"], ["一、基礎設施"],
        [1, "農村公路", "新建20公里", "縣交通運輸局", "2019年6月底前"],
        [None, None, "改建30公里", "縣交通運輸局", "2019年底"],
        [2, "飲水", "鞏固提升", "縣水利局", "2019年底"], ["二、產業"],
        [1, "產業", "培育主導產業", "縣農業農村局", "2019年底"]]},
        {"表": ["A2:E2", "A3:A4", "B3:B4", "A6:E6"]})
    tasks = load_task_sheet(path).tasks
    assert [(t.get("code"), t.get("title"), t.get("target")) for t in tasks] == [
        ("1.1.1", "農村公路", "新建20公里"), ("1.1.2", "農村公路", "改建30公里"), ("1.2", "飲水", "鞏固提升"),
        ("2.1", "產業", "培育主導產業")]


def test_header_words_with_a_note_in_brackets_or_a_required_mark(tmp_path: Path) -> None:
    path = _book(tmp_path / "b.xlsx", {"表": [
        ["序號", "重點任務", "*牽頭單位", "完成時限（截止日期）", "責任人（聯繫電話）"], [1, "公路", "縣交通運輸局", "2019年底", "張三"]]})
    src = load_task_sheet(path)
    assert {k: c.value for k, c in src.tasks[0].cells.items()} == {
        "code": 1, "title": "公路", "lead_unit": "縣交通運輸局", "deadline": "2019年底", "lead_officials": "張三"}
    assert not any("not understood" in w for w in src.warnings)  # 責任人 names the lead officials
