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


def test_a_docx_table_whose_numbers_are_words_list_numbering(tmp_path) -> None:
    docx = pytest.importorskip("docx")
    from docx.oxml import parse_xml

    from duban.matrix.extract import read_document
    from tests.unit.test_extract import _numbering

    document = docx.Document()
    document.add_paragraph("東林縣2020年防汛重點任務分工方案")
    num_id = _numbering(document, [("decimal", "%1")])
    ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    for text in ("預案修訂", "隊伍組建"):  # tasks 1 and 2 elsewhere: the table's rows continue the list (3, 4)
        p = document.add_paragraph(text)
        p._p.get_or_add_pPr().append(parse_xml(
            f'<w:numPr {ns}><w:ilvl w:val="0"/><w:numId w:val="{num_id}"/></w:numPr>'))
    table = document.add_table(rows=3, cols=4)
    grid = [list(row.cells) for row in table.rows]
    for c, label in enumerate(["序號", "重點任務", "牽頭單位", "完成時限"]):
        grid[0][c].text = label
    for r, values in enumerate([["物資儲備", "縣應急局", "2020年5月底前"], ["巡堤查險", "縣水利局", "2020年9月底前"]], 1):
        # the 序號 cell holds no text: Word numbers it (1, 2) with an automatic list
        grid[r][0].paragraphs[0]._p.get_or_add_pPr().append(parse_xml(
            f'<w:numPr {ns}><w:ilvl w:val="0"/><w:numId w:val="{num_id}"/></w:numPr>'))
        for c, value in enumerate(values, 1):
            grid[r][c].text = value
    path = tmp_path / "plan.docx"
    document.save(str(path))
    ex = extract(read_document(path)[0])
    assert [(t["code"], t["title"]) for t in ex.plan["tasks"]] == [("3", "物資儲備"), ("4", "巡堤查險")]
