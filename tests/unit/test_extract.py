"""Extracting the matrix from plan documents: the seeds field by field against the hand-encoded plans,
other scripts, encodings and formats, the noise real documents carry, and plans unlike the seeds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from duban.matrix.errors import SourceError
from duban.matrix.extract import Extraction, extract, read_document
from duban.matrix.loaders import load_plan
from duban.matrix.model import Plan, Task
from duban.matrix.script import fold, to_simplified
from tests.support import FIXTURES, PLANS

SEEDS = FIXTURES / "seeds"
SEED_FILE = "seeds/000_60fd9141b206e91e.txt"  # in ../shared, through the ``shared`` fixture
PART5_OFFSET = 91  # part5.txt is lines 92–271 of the seed file
PART3_OFFSET = 33  # part3.txt is lines 34–59


def loaded(ex: Extraction, tmp_path: Path, units: str) -> Plan:
    """The extraction as load_plan reads it, with the hand-encoded plan's unit directory."""
    shutil.copy(PLANS / units, tmp_path / units)
    path = tmp_path / "extracted.yaml"
    path.write_text(ex.to_yaml(directory=units), encoding="utf-8")
    return load_plan(path).plan


def officials(task: Task) -> list[tuple[str, str]]:
    return [(fold(o.name), fold(o.title)) for o in task.lead_officials]


def milestones(items) -> list[tuple]:
    return [(m.due, m.start, m.quantity, m.measure) for m in items]


def assert_same_tasks(got: Plan, hand: Plan, *, codes: list[str] | None = None, line_offset: int = 0) -> None:
    """Every field of every task, after both went through load_plan."""
    wanted = [t for t in hand.tasks if codes is None or t.code in codes]
    got_tasks = [t for t in got.tasks if codes is None or t.code in codes]
    assert [t.code for t in got_tasks] == [t.code for t in wanted]
    for g, h in zip(got_tasks, wanted):
        where = f"task {h.code}"
        assert fold(g.title) == fold(h.title), where
        assert [fold(s) for s in g.section] == [fold(s) for s in h.section], where
        assert fold(g.target) == fold(h.target), where
        assert officials(g) == officials(h), where
        assert g.lead_unit == h.lead_unit, where
        assert list(g.supporting_units) == list(h.supporting_units), where
        assert fold(g.deadline_text) == fold(h.deadline_text), where
        assert milestones(g.milestones) == milestones(h.milestones), where
        assert g.recurrences == h.recurrences, where
        assert g.source.line + line_offset == h.source.line, where


# --------------------------------------------------------------------------------------------
# The seeds against the hand-encoded plans


@pytest.fixture(scope="module")
def part5() -> Extraction:
    text, _lines = read_document(SEEDS / "part5.txt")
    return extract(text, source="part5.txt")


def test_part5_every_task_equals_the_hand_encoded_plan(part5: Extraction, tmp_path: Path) -> None:
    got = loaded(part5, tmp_path, "district-2015.units.yaml")
    hand = load_plan(PLANS / "district-2015.yaml").plan
    assert len(got.tasks) == 23
    assert_same_tasks(got, hand, line_offset=PART5_OFFSET)
    assert got.base_year == hand.base_year == 2015
    assert got.title == hand.title
    # 3.2.7 has no lead official; 3.6 has two, 徐江's title broken over two lines
    assert got.task("3.2.7").lead_officials == ()
    assert officials(got.task("3.6")) == [(fold("楊宏偉"), fold("區委書記")), (fold("徐江"), fold("區委副書記、區長"))]
    assert got.task("3.3").supporting_units[0] == "區紀委(監察局)"


def test_part5_stages_and_current_work_equal_the_hand_encoded_plan(part5: Extraction, tmp_path: Path) -> None:
    got = loaded(part5, tmp_path, "district-2015.units.yaml")
    hand = load_plan(PLANS / "district-2015.yaml").plan
    # a stage's source_line is the line of its heading or item (the loader keeps the YAML line instead)
    hand_lines = [s["source_line"] for s in yaml.safe_load((PLANS / "district-2015.yaml").read_text("utf-8"))["stages"]]
    assert [s["source_line"] + PART5_OFFSET for s in part5.plan["stages"]] == hand_lines
    for kind in ("stage", "current_work"):
        g = [s for s in got.stages if s.kind == kind]
        h = [s for s in hand.stages if s.kind == kind]
        assert len(g) == len(h), kind
        for gs, hs in zip(g, h):
            assert milestones(gs.milestones) == milestones(hs.milestones), hs.code
            assert fold(gs.text) == fold(hs.text), hs.code
            if kind == "stage":  # current-work titles in the hand encoding are summaries, not the text's words
                assert gs.title == hs.title, hs.code
    assert [s.deadline_text for s in got.stages if s.kind == "stage"] == [
        "2015年7月17日前", "2015年7月31日前", "2015年12月前、2016年10月前", "2015年12月前、2016年11月前"]
    assert got.stages[4].title == hand.stages[4].title == "召開全區扶貧攻堅動員大會"


def test_part5_leaves_over_only_the_prose_and_says_where(part5: Extraction) -> None:
    lines = {lo.line for lo in part5.leftovers}
    # preamble (95), 一、總體思路 (96–97), 二、主要目標 (98–99), 五、保障措施 (258–264); nothing inside 三、四、六、
    assert lines == {n - PART5_OFFSET for n in (95, 96, 97, 98, 99, 258, 259, 260, 261, 262, 263, 264)}
    broken = [lo for lo in part5.leftovers if lo.kind == "encoding"]
    assert len(broken) == 1 and broken[0].line == 264 - PART5_OFFSET and "?yún" in broken[0].text
    assert not part5.ok


def test_part3_measures_and_their_responsible_units(tmp_path: Path) -> None:
    text, _lines = read_document(SEEDS / "part3.txt")
    ex = extract(text, source="part3.txt")
    got = loaded(ex, tmp_path, "village-2018.units.yaml")
    hand = load_plan(PLANS / "village-2018.yaml").plan
    codes = ["3.1", "3.2", "3.3", "3.4", "3.5", "3.6"]
    # the six 主要任務 and the monthly 入村指導 name no (責任單位:…): each takes the unit its text names as
    # its subject (局駐XXX村工作組要…, 局屬各單位(部門)要…), as the hand-encoded plan does (issue 13)
    measures = ["2.1", "2.2", "2.3", "2.4", "2.5", "2.6"]
    assert [t.code for t in got.tasks] == [*measures, *codes, "4.1"]
    assert_same_tasks(got, hand, codes=codes, line_offset=PART3_OFFSET)
    for code in [*measures, "4.1"]:
        assert got.task(code).lead_unit == hand.task(code).lead_unit, code
        assert fold(got.task(code).section[0]) == fold(hand.task(code).section[0]), code
    assert [got.task(c).deadline_text for c in ("2.3", "4.1")] == ["每月不少於1次", "每月不少於1次"]
    assert not any("review" in t for t in ex.plan["tasks"])  # every unit was named: nothing to confirm
    assert got.base_year == 2018 and got.title == hand.title  # the title broken over lines 35–36
    raw = {t["code"]: (t["lead_unit"], t["supporting_units"]) for t in ex.plan["tasks"]}
    assert raw["3.1"] == ("局機關黨委", ["駐村工作組"])  # as written; the directory makes it 局駐村工作組
    assert raw["3.4"] == ("局機關黨委", ["市XXX黨委", "駐村工作組"])
    # no 時間要求 anywhere: the end of the plan year, said in the notes (but for the two monthly obligations)
    assert {t["deadline"] for t in ex.plan["tasks"]} == {"2018年底", "每月不少於1次"}
    assert sum(1 for n in ex.notes if n.kind == "deadline_default") == 11
    # the page numbers 1–5 inside lines are gone, and each removal is noted
    pages = sorted(n.line + PART3_OFFSET for n in ex.notes if n.kind == "page_number")
    assert pages == [42, 46, 49, 51, 54]
    assert "戰斗力" in got.task("3.1").target and "飲用水源" in got.task("3.6").target
    # the broken encoding on line 42 is left over; the 保障 paragraphs that set no obligation too
    assert any(lo.line == 42 - PART3_OFFSET and lo.kind == "encoding" for lo in ex.leftovers)
    assert {57 - PART3_OFFSET, 58 - PART3_OFFSET, 59 - PART3_OFFSET} <= {lo.line for lo in ex.leftovers}
    assert 47 - PART3_OFFSET not in {lo.line for lo in ex.leftovers}


def test_the_whole_seed_file_is_split_into_its_parts(shared: Path) -> None:
    if not (shared / SEED_FILE).exists():
        pytest.skip(f"the seed file {shared / SEED_FILE} is not there")
    text, _lines = read_document(shared / SEED_FILE)
    ex = extract(text, source="seed.txt")
    assert ex.part == 5 and len(ex.plan["tasks"]) == 23  # the part with the most tasks
    assert [(p.number, p.tasks) for p in ex.parts] == [(1, 0), (2, 0), (3, 13), (4, 0), (5, 23)]
    others = [lo for lo in ex.leftovers if lo.kind == "part"]
    assert [lo.line for lo in others] == [1, 24, 34, 60] and "--part 3" in others[2].reason
    assert ex.plan["tasks"][0]["source_line"] == 101  # lines of the whole file
    three = extract(text, part=3)
    assert [t["code"] for t in three.plan["tasks"]] == ["2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "3.1", "3.2", "3.3",
                                                         "3.4", "3.5", "3.6", "4.1"]
    with pytest.raises(SourceError, match="no part 9"):
        extract(text, part=9)


# --------------------------------------------------------------------------------------------
# Scripts, encodings and formats


def test_simplified_script_extracts_the_same(part5: Extraction, tmp_path: Path) -> None:
    text, _lines = read_document(SEEDS / "part5.txt")
    simplified = to_simplified(text)
    assert "牵头" in simplified and "牽頭" not in simplified
    ex = extract(simplified, source="part5-simplified.txt")
    got = loaded(ex, tmp_path, "district-2015.units.yaml")
    hand = load_plan(PLANS / "district-2015.yaml").plan
    assert_same_tasks(got, hand, line_offset=PART5_OFFSET)
    assert [fold(s["text"]) for s in ex.plan["stages"]] == [fold(s["text"]) for s in part5.plan["stages"]]


def test_gbk_file(part5: Extraction, tmp_path: Path) -> None:
    text, _lines = read_document(SEEDS / "part5.txt")
    path = tmp_path / "plan-gbk.txt"
    path.write_bytes(text.encode("gbk"))
    decoded, lines = read_document(path)
    assert decoded == text and len(lines) == 180
    assert extract(decoded).plan["tasks"] == part5.plan["tasks"]


def test_docx_paragraphs(part5: Extraction, tmp_path: Path) -> None:
    docx = pytest.importorskip("docx")
    text, _lines = read_document(SEEDS / "part5.txt")
    document = docx.Document()
    for line in text.split("\n"):
        document.add_paragraph(line)
    path = tmp_path / "plan.docx"
    document.save(str(path))
    got, lines = read_document(path)
    assert lines == text.split("\n")
    assert extract(got).plan["tasks"] == part5.plan["tasks"]


def _numbering(document, formats: list[tuple[str, str]]) -> str:
    """Add a multi-level list (一、 / (一) / 1.) to a python-docx document; returns its numId."""
    from docx.oxml import parse_xml

    ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    levels = "".join(
        f'<w:lvl w:ilvl="{i}"><w:start w:val="1"/><w:numFmt w:val="{fmt}"/><w:lvlText w:val="{text}"/></w:lvl>'
        for i, (fmt, text) in enumerate(formats)
    )
    numbering = document.part.numbering_part.element
    numbering.insert(0, parse_xml(f'<w:abstractNum {ns} w:abstractNumId="90">{levels}</w:abstractNum>'))
    numbering.append(parse_xml(f'<w:num {ns} w:numId="90"><w:abstractNumId w:val="90"/></w:num>'))
    return "90"


def test_docx_table_and_word_numbering(tmp_path: Path) -> None:
    docx = pytest.importorskip("docx")
    from docx.oxml import parse_xml

    document = docx.Document()
    document.add_paragraph("東林縣2020年防汛工作方案")
    num_id = _numbering(document, [("chineseCounting", "%1、"), ("chineseCounting", "（%1）")])
    ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'

    def numbered(text: str, level: int) -> None:
        p = document.add_paragraph(text)
        p._p.get_or_add_pPr().append(parse_xml(
            f'<w:numPr {ns}><w:ilvl w:val="{level}"/><w:numId w:val="{num_id}"/></w:numPr>'))

    numbered("汛前準備", 0)  # Word shows 一、汛前準備: the number is not in the text
    numbered("隱患排查", 1)
    document.add_paragraph("牽頭單位：縣應急局")
    document.add_paragraph("時間要求：2020年5月底前")
    numbered("責任分解", 0)  # 二、, with the matrix as a table
    table = document.add_table(rows=1, cols=6)
    for cell, label in zip(table.rows[0].cells, ["序号", "任务", "牵头领导", "牵头单位", "配合单位", "完成时限"]):
        cell.text = label
    rows = [["1", "物資儲備", "張三（副縣長）", "縣應急局", "縣財政局\n各鎮人民政府", "2020年5月底前"],
            ["2", "巡堤查險", "", "縣水利局", "", "2020年6月至9月"]]
    for values in rows:
        for cell, value in zip(table.add_row().cells, values):
            cell.text = value
    path = tmp_path / "flood.docx"
    document.save(str(path))
    text, lines = read_document(path)
    assert lines[1] == "一、汛前準備" and lines[2] == "（一）隱患排查"
    ex = extract(text, source=str(path))
    tasks = {t["code"]: t for t in ex.plan["tasks"]}
    assert list(tasks) == ["1.1", "2.1", "2.2"]
    assert tasks["1.1"]["lead_unit"] == "縣應急局" and tasks["1.1"]["section"] == ["一、汛前準備"]
    assert tasks["2.1"]["lead_officials"] == ["張三（副縣長）"]
    assert tasks["2.1"]["supporting_units"] == ["縣財政局", "各鎮人民政府"]
    assert tasks["2.2"]["deadline"] == "2020年6月至9月" and tasks["2.2"]["lead_officials"] == []
    assert ex.plan["plan"]["base_year"] == 2020 and ex.ok


def test_tab_separated_matrix_in_a_text_file() -> None:
    text = "\n".join([
        "西河鎮2021年人居環境整治任務分解表",
        "序號\t任務\t牽頭單位\t配合單位\t完成時限",
        "1\t垃圾清運\t鎮環衛所\t各村委會\t2021年6月底前",
        "2\t廁所改造\t鎮農辦\t\t2021年10月底前",
    ])
    ex = extract(text)
    assert [(t["code"], t["title"], t["lead_unit"], t["supporting_units"], t["deadline"]) for t in ex.plan["tasks"]] == [
        ("1", "垃圾清運", "鎮環衛所", ["各村委會"], "2021年6月底前"),
        ("2", "廁所改造", "鎮農辦", [], "2021年10月底前"),
    ]
    assert ex.plan["tasks"][1]["source_line"] == 4 and ex.ok


# --------------------------------------------------------------------------------------------
# Leftovers, never dropped silently


def test_an_unknown_line_in_the_middle_is_left_over_with_its_line(tmp_path: Path) -> None:
    text, _lines = read_document(SEEDS / "part5.txt")
    lines = text.split("\n")
    at = lines.index("時間要求:2015年7月初。")  # task 3.1
    lines.insert(at + 1, "★本條已報區委常委會審定,請各單位抓緊落實★")
    lines.insert(at + 1, "聯系電話:023-79223456")
    ex = extract("\n".join(lines))
    assert [t["code"] for t in ex.plan["tasks"]][:2] == ["3.1", "3.2.1"]
    found = {lo.line: lo for lo in ex.leftovers}
    assert at + 2 in found and "聯系電話" in found[at + 2].text and found[at + 2].kind == "field"
    assert at + 3 in found and "審定" in found[at + 3].text
    assert ex.plan["tasks"][0]["deadline"] == "2015年7月初"  # the task itself is intact
    assert "# line" in ex.to_yaml() and f"line {at + 3}" in ex.to_yaml()


def test_an_unreadable_deadline_is_a_leftover_with_its_line() -> None:
    # 長期堅持 was the example here until ongoing work became part of the deadline language (issue 13);
    # 儘快 ("as soon as possible") names no date and is still unreadable.
    text = "某鎮2019年工作方案\n一、道路硬化\n牽頭單位:鎮建設辦\n時間要求:儘快\n二、河道清理\n牽頭單位:鎮水利站\n時間要求:2019年底"
    ex = extract(text)
    bad = [lo for lo in ex.leftovers if lo.kind == "deadline"]
    assert len(bad) == 1 and bad[0].line == 4 and bad[0].text == "儘快" and "task 1" in bad[0].reason
    assert ex.plan["tasks"][0]["deadline"] == "儘快"  # kept for the reviewer, and validate refuses it


def test_ongoing_work_is_not_a_leftover() -> None:
    text = "某鎮2019年工作方案\n一、道路硬化\n牽頭單位:鎮建設辦\n時間要求:長期堅持\n二、河道清理\n牽頭單位:鎮水利站\n時間要求:2019年底"
    ex = extract(text)
    assert not [lo for lo in ex.leftovers if lo.kind == "deadline"]
    assert ex.plan["tasks"][0]["deadline"] == "長期堅持"


def test_no_year_anywhere_needs_the_base_year() -> None:
    text = "工作方案\n一、道路硬化\n牽頭單位:鎮建設辦\n時間要求:7月底前"
    ex = extract(text)
    assert any(lo.kind == "header" and "--base-year" in lo.reason for lo in ex.leftovers)
    ex = extract(text, base_year=2020)
    assert ex.plan["plan"]["base_year"] == 2020 and ex.ok


def test_empty_document_is_an_error() -> None:
    with pytest.raises(SourceError, match="empty"):
        extract(" \n\n")


# --------------------------------------------------------------------------------------------
# Noise


def test_pinyin_is_removed_only_where_it_is_pinyin() -> None:
    text = ("某區(qū)2016年工作方案\n一、紀檢監督\n牽頭單位:區(qū)紀委(監察局)\n"
            "配合單位:區教委(含高職)、區財政局\n時間要求:2016年底(2016年12月31日前)")
    ex = extract(text)
    task = ex.plan["tasks"][0]
    assert task["lead_unit"] == "區紀委(監察局)"
    assert task["supporting_units"] == ["區教委(含高職)", "區財政局"]
    assert ex.plan["plan"]["title"] == "某區2016年工作方案"
    assert any(n.kind == "pinyin" and "2 pinyin" in n.text for n in ex.notes)


def test_page_numbers_inside_lines_but_not_counts() -> None:
    text = ("某村2018年幫扶計劃\n一、黨建\n(一)抓黨建。提高村委會戰 3 斗力,共有 12 名黨員,完成 25 個村;"
            "協助改選委員會、4 村莊理事會。(責任單位:局機關黨委)\n- 5 -\n(二)抓產業。種植 50 畝雜柑。(責任單位:局駐村工作組)")
    ex = extract(text)
    first, second = ex.plan["tasks"]
    assert "戰斗力" in first["target"] and "委員會、村莊理事會" in first["target"]
    assert "共有 12 名黨員" in first["target"] and "完成 25 個村" in first["target"]  # counts stay
    assert "種植 50 畝雜柑" in second["target"]
    pages = [n for n in ex.notes if n.kind == "page_number"]
    assert len(pages) == 3 and "戰 3 斗力" in pages[0].text and "- 5 -" in pages[2].text


def test_fields_broken_across_lines_are_joined() -> None:
    text = "\n".join([
        "某區2015年工作方案", "一、醫療", "目標要求:建標準化村衛生室1", "個以上;配備1名以上鄉村醫生。",
        "牽頭領導:楊宏偉(區委書記)、徐江(區委副書記", "區長)、夏于峰(區委常委、區", "人民政府常務副區長)。",
        "牽頭單位:區衛計委。", "配合單位:區人力社保局、區扶貧", "辦、區財政局", "區發改委。", "時間要求:2015年底、",
        "2016年底。",
    ])
    task = extract(text).plan["tasks"][0]
    assert task["target"] == "建標準化村衛生室1個以上;配備1名以上鄉村醫生。"
    assert task["lead_officials"] == ["楊宏偉(區委書記)", "徐江(區委副書記、區長)", "夏于峰(區委常委、區人民政府常務副區長)"]
    assert task["supporting_units"] == ["區人力社保局", "區扶貧辦", "區財政局", "區發改委"]
    assert task["deadline"] == "2015年底、2016年底"


def test_broken_encoding_is_reported_never_silently_kept() -> None:
    text = "某鎮2018年工作計劃\n一、精準識別\n(一)識別。嚴格按照程序?qū)ω毨暨M行精準識別。(責任單位:駐村工作組)\n二、問答\n為什么?我們要做。"
    ex = extract(text)
    broken = [lo for lo in ex.leftovers if lo.kind == "encoding"]
    assert len(broken) == 1 and broken[0].line == 3 and "?qū)ω毨暨M" in broken[0].reason
    assert ex.plan["tasks"][0]["lead_unit"] == "駐村工作組"  # the task is still extracted


# --------------------------------------------------------------------------------------------
# Plans unlike the seeds


COUNTY = """\
青山县人民政府办公室关于印发《青山县2019年农村人居环境整治工作方案》的通知
青府办发〔2019〕12号

各乡镇人民政府，县政府各部门：
现将《青山县2019年农村人居环境整治工作方案》印发给你们，请认真贯彻执行。

一、农村垃圾治理
责任领导：县委常委、常务副县长 王建国
责任单位：县住建局（牵头）、县环保局、各乡镇人民政府
工作目标：建立“户分类、村收集、镇转运、县处理”的垃圾处理体系，行政村垃圾收集覆盖率达到100%。
完成时限：2019年6月底前、2019年12月底前
二、农村厕所革命
责任领导：副县长李红梅
牵头单位：县农业农村局
配合单位：县卫健局，县财政局，各乡镇人民政府
工作目标：完成农村户厕改造3000户，
其中卫生厕所普及率达到85%以上。
完成时限：2019年11月底前完成3000户
三、村容村貌提升
牵头单位：县自然资源局
配合单位：各乡镇人民政府
工作目标：每个乡镇打造1个示范村。
完成时限：2019年10月底
四、长效管护机制
（一）建立村庄保洁制度。各村配备保洁员，实行网格化管理。（牵头单位：县农业农村局；配合单位：各乡镇人民政府；完成时限：2019年9月底前）
（二）开展考核评比。每季度开展一次考核评比，结果纳入乡镇年度考核。（责任单位：县委督查室、县政府督查室；完成时限：每季度末）
五、工作步骤
（一）动员部署阶段（2019年3月1日—3月15日）
召开全县动员大会，制定实施方案。
（二）集中整治阶段（2019年3月16日—10月31日）
各乡镇全面开展整治。
（三）总结验收阶段：2019年11月至12月
县整治办组织验收。
六、近期工作安排
1.3月10日前，各乡镇上报整治清单。
2.迅速开展业务培训。

青山县人民政府办公室
2019年3月1日
"""


def test_a_county_plan_in_another_style(tmp_path: Path) -> None:
    ex = extract(COUNTY, source="qingshan.txt")
    header = ex.plan["plan"]
    assert header["title"] == "青山县2019年农村人居环境整治工作方案"
    assert header["issuer"] == "青山县人民政府办公室" and header["base_year"] == 2019 and header["start"] == "2019-03-01"
    tasks = {t["code"]: t for t in ex.plan["tasks"]}
    assert list(tasks) == ["1", "2", "3", "4.1", "4.2"]
    one = tasks["1"]
    assert one["lead_officials"] == ["王建国（县委常委、常务副县长）"]
    assert (one["lead_unit"], one["supporting_units"]) == ("县住建局", ["县环保局", "各乡镇人民政府"])
    assert one["deadline"] == "2019年6月底前、2019年12月底前"
    assert tasks["2"]["lead_officials"] == ["李红梅（副县长）"]
    assert tasks["2"]["supporting_units"] == ["县卫健局", "县财政局", "各乡镇人民政府"]
    assert tasks["2"]["target"] == "完成农村户厕改造3000户，其中卫生厕所普及率达到85%以上。"
    assert tasks["3"]["lead_officials"] == []  # no lead official
    assert tasks["4.1"]["title"] == "建立村庄保洁制度" and tasks["4.1"]["deadline"] == "2019年9月底前"
    assert tasks["4.1"]["section"] == ["四、长效管护机制"]
    assert (tasks["4.2"]["lead_unit"], tasks["4.2"]["supporting_units"]) == ("县委督查室", ["县政府督查室"])
    stages = [(s["code"], s["title"], s["deadline"]) for s in ex.plan["stages"]]
    assert stages == [
        ("S1", "动员部署阶段", "2019年3月1日—3月15日"),
        ("S2", "集中整治阶段", "2019年3月16日—10月31日"),
        ("S3", "总结验收阶段", "2019年11月至12月"),
        ("W1", "各乡镇上报整治清单", "3月10日前"),
        ("W2", "迅速开展业务培训", ""),
    ]
    assert ex.ok, ex.leftovers  # the covering notice and the signature are the header
    # it loads: two dates, a quantity, a quarterly recurrence
    (tmp_path / "qingshan.yaml").write_text(ex.to_yaml(), encoding="utf-8")
    plan = load_plan(tmp_path / "qingshan.yaml", allow_new_units=True).plan
    assert [m.due.isoformat() for m in plan.task("1").milestones] == ["2019-06-30", "2019-12-31"]
    assert plan.task("2").milestones[0].quantity == 3000
    assert plan.task("4.2").recurrences[0].freq == "quarterly"


def test_title_labels_officials_before_their_titles_and_marked_leads() -> None:
    text = "\n".join([
        "南平市2022年重点工作责任清单",
        "（一）营商环境",
        "任务名称：优化审批流程",
        "具体目标：审批时限压缩50%",
        "分管领导：市委常委、副市长张伟，副市长 刘芳",
        "责任单位：市发改委、市政务服务中心（牵头）",
        "完成时间：2022年第三季度",
        "任务名称：开展营商环境评价",
        "责任单位：市发改委",
        "完成时间：2022年12月底前",
    ])
    ex = extract(text)
    first, second = ex.plan["tasks"]
    assert (first["code"], first["title"], second["code"], second["title"]) == ("1.1", "优化审批流程", "1.2", "开展营商环境评价")
    assert first["lead_officials"] == ["张伟（市委常委、副市长）", "刘芳（副市长）"]
    assert (first["lead_unit"], first["supporting_units"]) == ("市政务服务中心", ["市发改委"])
    assert first["target"] == "审批时限压缩50%" and first["section"] == ["（一）营商环境"]
    assert ex.ok


# --------------------------------------------------------------------------------------------
# Output


def test_yaml_round_trips_and_carries_the_source_lines(part5: Extraction) -> None:
    text = part5.to_yaml()
    data = yaml.safe_load(text)
    assert data["tasks"] == [{**t, "code": t["code"]} for t in part5.plan["tasks"]]
    assert data["stages"] == part5.plan["stages"]
    assert "lead_unit: 區扶貧辦  # line 13" in text
    assert "# lines 24–25; joined" in text  # 3.2.2's target, broken in the seed
    assert "# Left over" in text and "#   line 4: text before the first heading" in text
    doc = yaml.safe_load(part5.to_json())
    assert doc["part"] == 5 and len(doc["leftovers"]) == len(part5.leftovers)


def test_fields_given_once_for_a_section_and_a_list_before_the_fields() -> None:
    text = "\n".join([
        "附件1",
        "北湖区2021年城市管理重点工作方案",
        "一、基础设施建设（2021年底前完成）",
        "牵头领导：副区长 赵六",
        "配合单位：各街道办事处",
        "（一）道路改造",
        "1.改造背街小巷20条；",
        "2.新建停车场3处。",
        "牵头单位：区住建局",
        "（二）管网建设",
        "牵头单位：区水务局",
        "配合单位：区财政局等",
        "完成时限：2021年10月底前",
    ])
    ex = extract(text)
    roads, pipes = ex.plan["tasks"]
    assert ex.plan["plan"]["title"] == "北湖区2021年城市管理重点工作方案"  # 附件1 is not the title
    assert roads["code"] == "1.1" and roads["target"] == "1.改造背街小巷20条；2.新建停车场3处。"
    assert roads["lead_officials"] == pipes["lead_officials"] == ["赵六（副区长）"]
    assert roads["supporting_units"] == ["各街道办事处"] and pipes["supporting_units"] == ["区财政局"]
    assert roads["deadline"] == "2021年底前完成" and pipes["deadline"] == "2021年10月底前"
    assert ex.ok
    kinds = {n.kind for n in ex.notes}
    assert {"header", "joined", "unit"} <= kinds  # 附件1, the list read as 1.1's text, 等 dropped


def test_stage_dates_written_in_other_ways() -> None:
    text = "\n".join([
        "某县2019年脱贫攻坚工作方案",
        "一、重点任务",
        "牵头单位：县农业农村局",
        "完成时限：2019年12月底",
        "二、实施步骤",
        "（一）第一阶段：宣传发动（3月1日—3月15日）",
        "召开动员会。",
        "（二）集中攻坚阶段：2019年3月16日至10月31日",
        "全面实施。",
        "（三）总结验收阶段",
        "11月底前，完成验收。",
        "三、近期工作安排",
        "1.4月10日前，各乡镇上报规划。",
    ])
    ex = extract(text)
    assert [(s["kind"], s["title"], s["deadline"], s["text"]) for s in ex.plan["stages"]] == [
        ("stage", "第一阶段：宣传发动", "3月1日—3月15日", "召开动员会。"),
        ("stage", "集中攻坚阶段", "2019年3月16日至10月31日", "全面实施。"),
        ("stage", "总结验收阶段", "11月底前", "11月底前，完成验收。"),
        ("current_work", "各乡镇上报规划", "4月10日前", "4月10日前，各乡镇上报规划。"),
    ]
    assert ex.plan["tasks"][0]["code"] == "1" and ex.ok


def test_a_stray_line_above_the_plan_is_left_over() -> None:
    ex = extract("内部资料 注意保存\n东岭镇2020年工作方案\n一、道路\n牵头单位：镇建设办\n时间要求：2020年底")
    assert ex.plan["plan"]["title"] == "东岭镇2020年工作方案"
    assert [(lo.line, lo.kind) for lo in ex.leftovers] == [(1, "header")]


def test_officials_written_title_first_name_first_and_across_lines() -> None:
    from duban.matrix.extract.people import _parse_officials

    assert _parse_officials("区委副书记、区长徐江，副区长林光")[0] == ["徐江（区委副书记、区长）", "林光（副区长）"]
    assert _parse_officials("徐江 区委副书记、区长") == (["徐江(区委副书记、区长)"], [], [])
    assert _parse_officials("区委副书记\n区长陈明") == (["陈明(区委副书记、区长)"], [], [])
    assert _parse_officials("欧阳建国、张三")[0] == ["欧阳建国", "张三"]  # four characters can be a name
    assert _parse_officials("区长") == (["区长"], [], ["区长"])  # a title alone is kept and flagged


def test_a_measure_that_opens_with_its_date_and_a_group_addressee() -> None:
    text = "\n".join([
        "青山区2015年脱贫攻坚工作方案",
        "各乡镇人民政府，县级有关部门：",
        "现将《青山区2015年脱贫攻坚工作方案》印发给你们，请认真贯彻执行。",
        "县委办公室",
        "2015年3月6日",
        "一、重点措施",
        "1.7月20日前召开全区动员大会。（责任单位:区委办）",
        "2.建立贫困户档案。（责任单位:区扶贫办）",
    ])
    ex = extract(text)
    assert ex.ok, ex.leftovers
    assert ex.plan["plan"]["issuer"] == "县委办公室" and ex.plan["plan"]["start"] == "2015-03-06"
    first, second = ex.plan["tasks"]
    assert (first["title"], first["deadline"], first["lead_unit"]) == ("召开全区动员大会", "7月20日前", "区委办")
    assert (second["title"], second["deadline"]) == ("建立贫困户档案", "2015年底")  # assumed, and noted
    assert [n.line for n in ex.notes if "is assumed" in n.text] == [8]


def _styled_numbering_document(paragraphs: int, styles: int):
    """A document whose list numbering comes from a paragraph style (Heading 1 → its own numPr, a
    style based on it inherits it), plus ``styles`` unrelated styles and ``paragraphs`` paragraphs."""
    docx = pytest.importorskip("docx")
    from docx.enum.style import WD_STYLE_TYPE
    from docx.oxml import parse_xml

    document = docx.Document()
    num_id = _numbering(document, [("chineseCounting", "%1、"), ("decimal", "%2.")])
    ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    for i in range(styles):
        document.styles.add_style(f"Filler {i}", WD_STYLE_TYPE.PARAGRAPH)
    top = document.styles.add_style("Plan Part", WD_STYLE_TYPE.PARAGRAPH)
    top.element.get_or_add_pPr().append(parse_xml(
        f'<w:numPr {ns}><w:ilvl w:val="0"/><w:numId w:val="{num_id}"/></w:numPr>'))
    sub = document.styles.add_style("Plan Item", WD_STYLE_TYPE.PARAGRAPH)
    sub.base_style = top  # inherits the numbering; its own level
    sub.element.get_or_add_pPr().append(parse_xml(f'<w:numPr {ns}><w:ilvl w:val="1"/></w:numPr>'))
    document.add_paragraph("方案")
    document.add_paragraph("總體要求", style="Plan Part")
    document.add_paragraph("加強領導", style="Plan Item")
    document.add_paragraph("壓實責任", style="Plan Item")
    document.add_paragraph("主要任務", style="Plan Part")
    for i in range(paragraphs):
        document.add_paragraph(f"第{i}段", style=f"Filler {i % styles}" if styles else None)
    return document


def test_docx_numbering_given_by_a_paragraph_style_and_its_base_style(tmp_path: Path) -> None:
    path = tmp_path / "styled.docx"
    _styled_numbering_document(3, 5).save(str(path))
    _text, lines = read_document(path)
    assert lines[:5] == ["方案", "一、總體要求", "1.加強領導", "2.壓實責任", "二、主要任務"]
    assert lines[5:] == ["第0段", "第1段", "第2段"]


def test_docx_vertically_merged_and_spanning_cells_are_read_once(tmp_path: Path) -> None:
    docx = pytest.importorskip("docx")
    document = docx.Document()
    document.add_paragraph("表")
    table = document.add_table(rows=4, cols=3)
    for r in range(4):
        for c in range(3):
            table.cell(r, c).text = f"{r}{c}"
    table.cell(1, 0).merge(table.cell(3, 0))  # one cell down three rows
    table.cell(0, 1).merge(table.cell(0, 2))  # one cell across two columns
    path = tmp_path / "merged.docx"
    document.save(str(path))
    _text, lines = read_document(path)
    # As python-docx reads it: the spanning cell once (its text joins its parts), and each row under a
    # vertically merged cell repeats the top cell's text
    assert lines[1:] == ["00", "01", "02", "10", "20", "30", "11", "12", "10", "20", "30", "21", "22",
                         "10", "20", "30", "31", "32"]


def _function_calls(fn) -> int:
    import sys

    calls = 0

    def profile(frame, event, arg) -> None:  # noqa: ARG001
        nonlocal calls
        if event == "call":
            calls += 1

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return calls


def test_reading_a_docx_is_linear_in_paragraphs_styles_and_table_rows(tmp_path: Path) -> None:
    # Before: each paragraph's python-docx .style scanned every style of styles.xml (a 57 KB document
    # of 50,000 paragraphs did not finish in 300 s), and each vertically merged cell walked up the
    # table cell by cell. Counted in Python function calls, not seconds.
    pytest.importorskip("docx")
    document = _styled_numbering_document(600, 300)
    table = document.add_table(rows=300, cols=2)
    table.cell(0, 0).merge(table.cell(299, 0))
    path = tmp_path / "big.docx"
    document.save(str(path))
    calls = _function_calls(lambda: read_document(path))
    work = 600 + 300 + 300 * 2
    assert calls < 60 * work, f"{calls:,} Python calls for {work:,} paragraphs, styles and cells"


def test_a_docx_of_more_paragraphs_than_the_rows_limit_is_refused_while_read(tmp_path: Path) -> None:
    docx = pytest.importorskip("docx")
    from duban.matrix.errors import LimitExceeded
    from duban.matrix.limits import InputLimits

    document = docx.Document()
    for i in range(50):
        document.add_paragraph(f"第{i}段")
    document.add_table(rows=2, cols=30)
    path = tmp_path / "many.docx"
    document.save(str(path))
    with pytest.raises(LimitExceeded, match="DUBAN_LIMIT_ROWS"):
        read_document(path, InputLimits(rows=40))
    with pytest.raises(LimitExceeded, match="DUBAN_LIMIT_ROWS"):  # 50 paragraphs and 60 cells
        read_document(path, InputLimits(rows=100))
    with pytest.raises(LimitExceeded, match="DUBAN_LIMIT_COLUMNS"):
        read_document(path, InputLimits(columns=20))
    assert len(read_document(path)[1]) == 50 + 60


def test_a_document_line_longer_than_a_cell_is_refused_with_its_line(tmp_path: Path) -> None:
    # Before: a 1,000,000-character unit list in a .txt took 15-30 s in _parse_units, and a 5 MB
    # paragraph in a .docx did not finish; validate refuses such a value anyway.
    from duban.matrix.errors import LimitExceeded

    text = (SEEDS / "part5.txt").read_text(encoding="utf-8").split("\n")
    at = next(i for i, ln in enumerate(text) if ln.startswith("配合單位"))
    text[at] += "、區財政局" * 7000
    path = tmp_path / "plan.txt"
    path.write_text("\n".join(text), encoding="utf-8")
    with pytest.raises(LimitExceeded, match="DUBAN_LIMIT_CELL_CHARS") as info:
        read_document(path)
    assert f"plan.txt:{at + 1}:" in str(info.value) and "35,0" in str(info.value)


def test_a_field_continued_over_many_lines_is_read_in_linear_time_and_refused_over_a_cell(monkeypatch) -> None:
    # Before: each continuation line re-joined and re-counted the whole field so far (a field over
    # 50,000 lines took minutes). Counted: the characters the parser examines for open parentheses.
    import duban.matrix.extract.cleaning as ex_module
    from duban.matrix.errors import LimitExceeded

    examined = 0
    original = ex_module._unbalanced

    def counting(t: str) -> bool:
        nonlocal examined
        examined += len(t)
        return original(t)

    monkeypatch.setattr(ex_module, "_unbalanced", counting)
    units = "\n".join(["區財政局、"] * 3000) + "\n區交委"
    text = f"東林縣2020年防汛工作方案\n一、汛前準備\n牽頭單位：縣應急局\n配合單位：{units}\n時間要求：2020年5月底前\n"
    got = extract(text)
    assert len(got.plan["tasks"][0]["supporting_units"]) == 2  # 區財政局 once, 區交委
    assert examined < 20 * len(text), f"{examined:,} characters examined for a text of {len(text):,}"
    with pytest.raises(LimitExceeded, match="DUBAN_LIMIT_CELL_CHARS") as info:
        extract(text.replace("區財政局、\n", "區財政局、\n" * 3), source="plan.txt")
    assert "plan.txt:4:" in str(info.value) and "配合單位" in str(info.value)
