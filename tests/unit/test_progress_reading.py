"""Reading a progress report against a unit's milestones (matrix.progress_reading): numbers with measures in
both scripts, what is not a quantity, matching by measure and words, and seed part 2 against the fixture plan."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from duban.matrix.loaders import load_plan
from duban.matrix.progress_reading import OpenMilestone, clean, find_quantities, read_progress
from tests.support import FIXTURES

SEED_FILE = "seeds/000_60fd9141b206e91e.txt"  # in ../shared, through the ``shared`` fixture
COUNTY_PLAN = FIXTURES / "progress_document" / "county-spiritual.yaml"


def values(text: str, **kw) -> list[tuple[Decimal, str]]:
    return [(f.value, f.measure) for f in find_quantities([text], **kw)]


@pytest.mark.parametrize(("text", "expected"), [
    ("招募160名志願者", [(160, "名")]),
    ("招募160名志愿者", [(160, "名")]),
    ("招募一百六十名志願者", [(160, "名")]),
    ("結對一百一十三户", [(113, "户")]),
    ("結對１１３戶", [(113, "户")]),                       # full-width digits
    ("共開展宣講2,800場", [(2800, "场")]),
    ("投入資金1.2萬元", [(12000, "元")]),
    ("投入资金1.2万元", [(12000, "元")]),
    ("投入資金三萬元", [(30000, "元")]),
    ("新改建農村公路25公里", [(25, "公里")]),
    ("完成25個貧困村", [(25, "村")]),
    ("參加群眾3萬余人", [(30000, "人")]),
    ("講演活動370余場次", [(370, "场次")]),
    ("開展宣講2800余場(次)", [(2800, "场")]),
    ("寫出兩篇小說", [(2, "篇")]),
])
def test_numbers_with_measures_in_both_scripts(text: str, expected: list) -> None:
    assert values(text) == [(Decimal(v), m) for v, m in expected]


@pytest.mark.parametrize("text", [
    "2018年底前完成",            # a year
    "二〇一八年工作要點",          # a year in Chinese digits
    "2018年3月5日召開大會",        # a date
    "於3月5日召開",
    "第一批精神扶貧戶",            # an ordinal
    "第3場講演",
    "脫貧率達到95%",              # a percentage, no milestone measured in %
    "脫貧率達到百分之九十五",
    "把脫貧攻堅作為一項重大政治任務",  # 一 as an article
    "一次比一次效果好",
    "送到千家萬戶",               # 千/萬 without a digit
    "黨的十九大精神",             # no measure
    "5G基站",
])
def test_what_is_not_a_quantity(text: str) -> None:
    assert values(text) == []


def test_a_percentage_is_a_quantity_for_a_milestone_measured_in_percent() -> None:
    assert values("脫貧率達到95%", extra_measures=["%"]) == [(Decimal(95), "%")]


def test_approximate_numbers_are_kept_and_said_so() -> None:
    [found] = find_quantities(["開展各類宣講活動2800余場(次)。"])
    assert found.approximate and found.written == "2800余場(次)"
    [found] = find_quantities(["創作出了近八十首詩歌"])
    assert found.approximate and found.value == 80


def test_pinyin_glosses_are_removed_before_reading() -> None:
    assert clean("各鄉(xiāng)鎮(zhèn)首批篩選的113戶") == "各鄉鎮首批篩選的113戶"
    [found] = find_quantities(["全縣各鄉(xiāng)鎮(zhèn)首批篩選的113戶精神扶貧戶。"])
    assert found.value == 113 and "(xiāng)" not in found.sentence and found.sentence.startswith("全縣各鄉鎮")


def test_the_sentence_is_shortened_around_its_number() -> None:
    long = "甲" * 100 + "招募160名志願者" + "乙" * 100 + "。"
    [found] = find_quantities([long])
    assert "160名" in found.shown and len(found.shown) <= 62 and found.shown.startswith("…") and found.shown.endswith("…")


MILESTONES = [
    OpenMilestone(task="1", milestone=1, measure="场", quantity=Decimal(3000), title="深入開展扶貧政策宣講",
                  target="在幫扶村開展宣講活動"),
    OpenMilestone(task="2", milestone=1, measure="场", quantity=Decimal(400), title="廣泛開展百姓講演",
                  target="組織文藝團隊巡回演出"),
    OpenMilestone(task="3", milestone=1, measure="名志愿者", quantity=Decimal(200), title="招募精神扶貧志願者"),
    OpenMilestone(task="4", milestone=1, measure="户", quantity=Decimal(113), title="精神扶貧戶結對幫扶", done=Decimal(120)),
    OpenMilestone(task="5", milestone=1, measure="元", quantity=Decimal(50000), title="籌集幫扶資金"),
    OpenMilestone(task="6", milestone=1, measure="万元", quantity=Decimal(5), title="發放愛心獎勵"),
]


def test_each_number_goes_to_the_milestone_its_measure_and_words_fit() -> None:
    text = ["今年共開展宣講活動2800場,巡回演出一百二十場。", "招募160名志愿者,结对113户精神扶贫户。",
            "籌集幫扶資金1.2萬元,發放愛心獎勵3萬元。", "參加群眾3萬余人,發放資料500份。"]
    reading = read_progress(text, MILESTONES)
    got = {p.milestone.task: (p.quantity, p.found.written) for p in reading.proposals}
    assert got == {"1": (2800, "2800場"), "2": (120, "一百二十場"), "3": (160, "160名"), "4": (113, "113户"),
                   "5": (12000, "1.2萬元"), "6": (3, "3萬元")}
    by_task = {p.milestone.task: p for p in reading.proposals}
    assert "宣講" in by_task["1"].why and "演出" in by_task["2"].why
    assert by_task["4"].found.sentence == "招募160名志愿者,结对113户精神扶贫户。"
    assert "lower than the 120 already reported" in by_task["4"].why
    unmatched = {u.found.written: u.reason for u in reading.unmatched}
    assert set(unmatched) == {"3萬余人", "500份"}
    assert "no distinctive words" in unmatched["3萬余人"] and "no open milestone is measured in 份" in unmatched["500份"]


def test_a_measure_alone_is_no_match_and_a_milestone_takes_one_number() -> None:
    reading = read_progress(["今年招募志願者160名。", "另招募志願者20名。", "開會30場。"], MILESTONES[2:3] + MILESTONES[:1])
    assert [(p.milestone.task, p.quantity) for p in reading.proposals] == [("3", 160)]
    reasons = {u.found.written: u.reason for u in reading.unmatched}
    assert "fits it better" in reasons["20名"] and "no distinctive words" in reasons["30場"]


def seed_part2(shared: Path) -> list[str]:
    path = shared / SEED_FILE
    if not path.exists():
        pytest.skip(f"the seed file {path} is not there")
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index("第二篇:精神扶貧材料")
    end = next(i for i, line in enumerate(lines) if line.startswith("第三篇"))
    return lines[start + 1:end]


def test_seed_part2_against_the_county_plan(shared: Path) -> None:
    plan = load_plan(COUNTY_PLAN).plan
    milestones = [OpenMilestone(task=t.code, milestone=n, measure=m.measure or "", quantity=m.quantity, title=t.title,
                                target=t.target, label=m.label)
                  for t in plan.tasks for n, m in enumerate(t.milestones, start=1) if m.measure]
    reading = read_progress(seed_part2(shared), milestones)
    by_task = {p.milestone.task: p for p in reading.proposals}
    volunteers, households = by_task["3"], by_task["4"]
    assert (volunteers.quantity, volunteers.milestone.measure) == (160, "名")
    assert "面向全社會招募160名精神扶貧志" in volunteers.found.sentence and "160名" in volunteers.found.shown
    assert (households.quantity, households.milestone.measure) == (113, "户")
    assert "首批篩選的113戶精神扶貧戶" in households.found.sentence
    assert volunteers.level == households.level == "high"
    assert (by_task["1"].quantity, by_task["2"].quantity, by_task["5"].quantity) == (2800, 370, 380)
    assert "6" not in by_task  # 雙示範村: the report gives no number
    assert {u.found.written for u in reading.unmatched} == {"3萬余人", "八十首", "兩篇"}
