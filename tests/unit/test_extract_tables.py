"""Matrix tables pasted into text, read by the extractor (pure: no files)."""

from __future__ import annotations

import pytest

from duban.matrix.errors import SourceError
from duban.matrix.extract import extract


def test_a_table_header_without_rows_is_a_clear_error() -> None:
    # Found by fuzzing the pasted tables: an IndexError before
    with pytest.raises(SourceError, match="a table header without rows"):
        extract("序號\t任務\t牽頭單位\t完成時限\n", source="plan.txt")


def test_a_last_cell_of_two_paragraphs_stays_in_its_row() -> None:
    text = "\n".join([
        "南坪鎮2023年重點工作任務分解表",
        "序號\t重點任務\t牽頭單位\t配合單位\t完成時限",
        "1\t集鎮污水管網改造\t鎮建設辦\t各村委會\t2023年6月底前啟動",
        "2023年11月底前完成",  # the deadline cell's second paragraph, after the row's last tab
        "2\t農貿市場提升\t鎮市場監管所\t\t2023年9月底前",
        "工作要求",
        "各責任單位要按月報送進展。",
    ])
    ex = extract(text)
    tasks = ex.plan["tasks"]
    assert [(t["code"], t["deadline"]) for t in tasks] == [("1", "2023年6月底前啟動，2023年11月底前完成"),
                                                           ("2", "2023年9月底前")]
    assert tasks[1]["supporting_units"] == []  # a blank 配合單位 is none (a blank 牽頭單位 would be merged down)
    assert {lo.line for lo in ex.leftovers} == {6, 7}  # the 工作要求 after the table: left over, with its lines


def test_an_official_cell_that_cannot_be_read_keeps_its_task_marked_review() -> None:
    text = "\n".join([
        "南坪鎮2023年重點工作任務分解表",
        "序號\t重點任務\t責任領導\t牽頭單位\t完成時限",
        "1\t集鎮污水管網改造\t縣委常委會\t鎮建設辦\t2023年6月底前",
        "2\t農貿市場提升\t張三（副鎮長）\t鎮市場監管所\t2023年9月底前",
    ])
    ex = extract(text)
    first, second = ex.plan["tasks"]
    assert first["lead_unit"] == "鎮建設辦" and first["review"] == "牽頭領導「縣委常委會」cannot be read: write 姓名(職務)"
    assert list(first)[-2:] == ["review", "source_line"]
    assert "review" not in second
    assert [lo.kind for lo in ex.leftovers] == ["official"]  # still listed (exit 1), with its line
    assert ex.leftovers[0].line == 3 and "marked review:" in ex.leftovers[0].reason
