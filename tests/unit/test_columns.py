"""The one header finder and the layouts of every sheet and table duban reads (duban.matrix.columns)."""

from __future__ import annotations

import pytest

from duban.matrix.columns import (
    DIRECTORY_SHEET,
    DOCUMENT_TABLE,
    PROGRESS_SHEET,
    TASK_SHEET,
    UnknownColumn,
    Vocabulary,
    column_letter,
    find_header,
)
from duban.matrix.errors import SourceError


def numbered(rows: list[list[object]]):
    return iter(enumerate(rows, start=1))


def test_the_header_is_found_below_a_title_and_the_iterator_is_left_at_the_first_data_row() -> None:
    rows = numbered([["2015年扶貧攻堅責任分解表"], [], ["序號", "任務", "牵头单位", "聯繫電話", "時間要求"],
                     ["1", "交通建設", "區交委", "123", "2015年底"]])
    match = find_header(rows, TASK_SHEET)
    assert match is not None and match.row == 3
    assert match.fields == {0: "code", 1: "title", 2: "lead_unit", 4: "deadline"}
    assert match.labels[2] == "牵头单位"
    assert match.unknown == [UnknownColumn("D", "聯繫電話")] and match.unknown_labels == ["聯繫電話"]
    assert [n for n, _ in match.above] == [1, 2]
    number, values = next(rows)
    assert number == 4 and match.values(values) == {"code": "1", "title": "交通建設", "lead_unit": "區交委",
                                                     "deadline": "2015年底"}


def test_a_header_must_name_the_required_columns_within_the_scanned_rows() -> None:
    assert find_header(numbered([["序號", "任務", "時間要求"]]), TASK_SHEET) is None  # no 牽頭單位
    late = [["x"]] * 10 + [["序號", "牽頭單位"]]
    assert find_header(numbered(late), TASK_SHEET) is None  # row 11: past the 10 rows looked at
    assert find_header(numbered(late[1:]), TASK_SHEET) is not None
    assert find_header(numbered([["編號", "單位"]]), PROGRESS_SHEET) is not None
    assert find_header(numbered([["編號", "完成"]]), PROGRESS_SHEET) is None  # no unit
    assert find_header(numbered([["單位", "郵箱"]]), DIRECTORY_SHEET) is not None


def test_a_document_table_needs_three_known_columns_one_of_them_a_unit_column() -> None:
    assert find_header(numbered([["序號", "責任單位", "完成時限"]]), DOCUMENT_TABLE) is not None
    assert find_header(numbered([["序號", "任務", "完成時限"]]), DOCUMENT_TABLE) is None
    assert find_header(numbered([["序號", "責任單位"]]), DOCUMENT_TABLE) is None


def test_values_strip_text_and_leave_out_empty_cells() -> None:
    match = find_header(numbered([["編號", "單位", "完成"]]), PROGRESS_SHEET)
    assert match is not None
    assert match.values([" 1.1 ", "區交委", "  "]) == {"task": "1.1", "unit": "區交委"}
    assert match.values(["1.1"]) == {"task": "1.1"}  # a short row
    assert match.values([2, "區交委", 18.0]) == {"task": 2, "unit": "區交委", "done": 18.0}


def test_header_words_match_in_either_script_full_width_and_any_case() -> None:
    for word in ("牽頭單位", "牵头单位", "牽頭 單位", "Lead_Unit", "LEAD UNIT"):
        assert TASK_SHEET.field_of(word) == "lead_unit", word
    assert TASK_SHEET.field_of("ｃｏｄｅ") == "code"
    assert TASK_SHEET.field_of("聯繫電話") is None


def test_every_layout_has_each_field_once_and_each_word_in_one_column() -> None:
    from duban.matrix.script import fold

    for layout in (TASK_SHEET, DIRECTORY_SHEET, PROGRESS_SHEET, DOCUMENT_TABLE):
        fields = [c.field for c in layout.columns]
        assert len(fields) == len(set(fields)), layout.kind
        owner: dict[str, str] = {}
        for c in layout.columns:
            for word in c.headers:
                key = fold(word).lower()
                assert owner.setdefault(key, c.field) == c.field, (layout.kind, word)
        assert set(layout.required) | set(layout.one_of) <= set(fields)


def test_the_exported_sheet_header_reads_back_as_the_task_sheet() -> None:
    from duban.workflows.matrix_service import XLSX_HEADERS

    match = find_header(numbered([list(XLSX_HEADERS)]), TASK_SHEET)
    assert match is not None and not match.unknown and len(match.fields) == len(XLSX_HEADERS)


def test_no_header_names_the_rows_looked_at_and_the_columns_expected() -> None:
    error = PROGRESS_SHEET.no_header("report.csv")
    assert isinstance(error, SourceError)
    assert str(error) == "report.csv: no header row found in the first 10 rows; expected columns such as 編號/code and 單位/unit"
    custom = Vocabulary(kind="test", columns=(), expected="A")
    assert "first 3 rows" in str(custom.no_header("x", scan_rows=3))


@pytest.mark.parametrize(("index", "letter"), [(0, "A"), (25, "Z"), (26, "AA"), (51, "AZ"), (52, "BA"), (701, "ZZ"),
                                                (702, "AAA"), (16383, "XFD")])
def test_column_letters(index: int, letter: str) -> None:
    assert column_letter(index) == letter
