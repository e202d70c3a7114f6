"""Deadline cells as offices write them: a date followed by the work, several steps, cumulative
quantities, and ongoing work (持續推進, 長期堅持 …) read as an obligation to report on the plan's cadence."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from duban.matrix.deadlines import instances, parse
from duban.matrix.errors import DeadlineError
from duban.matrix.model import DeadlineContext, Reporting
from duban.matrix.reporting import ReportingError, describe, ongoing_label, read_reporting

D = dt.date
PLAN = DeadlineContext(base_year=2026, plan_start=D(2026, 1, 1), plan_end=D(2027, 12, 31), where="plan.xlsx row 7 時間要求")
MONTHLY_5 = "FREQ=MONTHLY;BYMONTHDAY=5"
WORKING_5 = "FREQ=MONTHLY;BYMONTHDAY=1;X-WORKDAY=5"  # the default: the 5th working day of the next month


def steps(text: str, context: DeadlineContext = PLAN) -> list[tuple]:
    deadline = parse(text, context=context)
    return [(m.due, m.start, m.quantity, m.measure, m.label) for m in deadline.milestones]


def q(n: int | str) -> Decimal:
    return Decimal(str(n))


WORK = [
    # a date followed by the work: the words are the label, a quantity at their end is read
    ("2026年11月底前新改建農村公路50公里", [(D(2026, 11, 30), None, q(50), "公里", "2026年11月底前新改建農村公路50公里")]),
    ("2026年11月底前新改建农村公路50公里", [(D(2026, 11, 30), None, q(50), "公里", "2026年11月底前新改建农村公路50公里")]),
    ("２０２６年１１月底前新改建農村公路５０公里", [(D(2026, 11, 30), None, q(50), "公里", "２０２６年１１月底前新改建農村公路５０公里")]),
    ("11月底前新改建农村公路50公里", [(D(2026, 11, 30), None, q(50), "公里", "11月底前新改建农村公路50公里")]),
    ("2026年6月30日前完成危房改造", [(D(2026, 6, 30), None, None, None, "2026年6月30日前完成危房改造")]),
    ("2026年6月30日前", [(D(2026, 6, 30), None, None, None, "2026年6月30日前")]),
    ("2026年第三季度", [(D(2026, 9, 30), None, None, None, "2026年第三季度")]),
    ("2026年第三季度前完成驗收", [(D(2026, 9, 30), None, None, None, "2026年第三季度前完成驗收")]),
    ("2026年底前覆蓋率達到95%以上", [(D(2026, 12, 31), None, q(95), "%", "2026年底前覆蓋率達到95%以上")]),
    ("2026年上半年完成“一戶一策”幫扶方案", [(D(2026, 6, 30), None, None, None, "2026年上半年完成“一戶一策”幫扶方案")]),
    ("2026年底前累計完成四十五個村", [(D(2026, 12, 31), None, q(45), "村", "2026年底前累計完成四十五個村")]),
    ("年底前建成投用", [(D(2026, 12, 31), None, None, None, "年底前建成投用")]),
    ("2026年9月底前建成村級綜合服務中心10個", [(D(2026, 9, 30), None, q(10), "个", "2026年9月底前建成村級綜合服務中心10個")]),
    # several steps, each its own milestone with its label; the year carries over
    ("2026年4月底前制定整頓方案，12月底前全面完成", [
        (D(2026, 4, 30), None, None, None, "2026年4月底前制定整頓方案"),
        (D(2026, 12, 31), None, None, None, "12月底前全面完成")]),
    ("2026年4月底前制定整顿方案，12月底前全面完成", [
        (D(2026, 4, 30), None, None, None, "2026年4月底前制定整顿方案"),
        (D(2026, 12, 31), None, None, None, "12月底前全面完成")]),
    ("2026年3月底前摸底排查；6月底前完成整改；9月底前全面驗收", [
        (D(2026, 3, 31), None, None, None, "2026年3月底前摸底排查"),
        (D(2026, 6, 30), None, None, None, "6月底前完成整改"),
        (D(2026, 9, 30), None, None, None, "9月底前全面驗收")]),
    ("6月底前完成，年底前見效", [
        (D(2026, 6, 30), None, None, None, "6月底前完成"), (D(2026, 12, 31), None, None, None, "年底前見效")]),
    ("2026年10月底前完成主體工程、12月底前投入使用", [
        (D(2026, 10, 31), None, None, None, "2026年10月底前完成主體工程"),
        (D(2026, 12, 31), None, None, None, "12月底前投入使用")]),
    # cumulative quantities: each step's quantity is the total by then
    ("6月底前完成20個村，12月底前累計完成45個村", [
        (D(2026, 6, 30), None, q(20), "村", "6月底前完成20個村"),
        (D(2026, 12, 31), None, q(45), "村", "12月底前累計完成45個村")]),
    ("6月底前完成20个村，12月底前累计完成45个村", [
        (D(2026, 6, 30), None, q(20), "村", "6月底前完成20个村"),
        (D(2026, 12, 31), None, q(45), "村", "12月底前累计完成45个村")]),
    ("2027年6月底前完成二十個村、年底前累計完成四十五個村", [
        (D(2027, 6, 30), None, q(20), "村", "2027年6月底前完成二十個村"),
        (D(2027, 12, 31), None, q(45), "村", "年底前累計完成四十五個村")]),
    ("年內完成", [(D(2026, 12, 31), None, None, None, "年內完成")]),
    ("2026—2027年", [(D(2027, 12, 31), D(2026, 1, 1), None, None, "2026—2027年")]),
    ("2026-2027年", [(D(2027, 12, 31), D(2026, 1, 1), None, None, "2026-2027年")]),
    ("2026年6月底前，完成摸底排查", [(D(2026, 6, 30), None, None, None, "2026年6月底前，完成摸底排查")]),
    ("2026年底前完成投資5億元", [(D(2026, 12, 31), None, q(5), "亿元", "2026年底前完成投資5億元")]),
    ("2026.6.30前完成", [(D(2026, 6, 30), None, None, None, "2026.6.30前完成")]),
    ("2026年3月底前出台實施方案，6月底前啟動實施，12月底前全面完成", [
        (D(2026, 3, 31), None, None, None, "2026年3月底前出台實施方案"),
        (D(2026, 12, 31), D(2026, 6, 30), None, None, "6月底前啟動實施，12月底前全面完成")]),
    # a start and a completion stay one milestone, with words after either
    ("2026年3月底前啟動試點，6月底前全面完成", [(D(2026, 6, 30), D(2026, 3, 31), None, None, "2026年3月底前啟動試點，6月底前全面完成")]),
    ("2026年3月底前启动，6月底前完成", [(D(2026, 6, 30), D(2026, 3, 31), None, None, "2026年3月底前启动，6月底前完成")]),
]


@pytest.mark.parametrize(("text", "expected"), WORK, ids=[t for t, _ in WORK])
def test_a_date_followed_by_the_work(text: str, expected: list[tuple]) -> None:
    assert steps(text) == expected
    assert not parse(text, context=PLAN).recurrences


REFUSED = [
    ("7月17日召開全區大會", "前"),  # an event on a day: no 前 / 完成 makes it a deadline
    ("2026年底前完成5122戶18442人", "quantity"),
    ("2026年底前後", "vague"),
    ("2026年底左右完成", "unknown words"),
    ("2026年底前完成第3批", "quantity"),
    ("2026年6月新改建農村公路50公里", "前"),
    ("持續推進3個村", "number"),
    ("2026年9月底前完成並每年開展評估", "period"),
    ("2026年底前完成道路建設不少於3次", "minimum"),
]


@pytest.mark.parametrize(("text", "words"), REFUSED, ids=[t for t, _ in REFUSED])
def test_words_that_would_change_or_blur_the_date_are_refused(text: str, words: str) -> None:
    with pytest.raises(DeadlineError) as caught:
        parse(text, context=PLAN)
    assert caught.value.text == text and caught.value.where == PLAN.where
    assert words in str(caught.value) or words in caught.value.reason


def ongoing(text: str, context: DeadlineContext = PLAN):
    deadline = parse(text, context=context)
    return [(m.due, m.label) for m in deadline.milestones], [
        (r.freq, r.rule, r.start, r.until, r.label) for r in deadline.recurrences if r.ongoing
    ]


ONGOING = [
    ("持續推進", [], [("monthly", WORKING_5, D(2026, 1, 1), D(2027, 12, 31), "持續推進")]),
    ("持续推进", [], [("monthly", WORKING_5, D(2026, 1, 1), D(2027, 12, 31), "持续推进")]),
    ("長期堅持", [], [("monthly", WORKING_5, D(2026, 1, 1), D(2027, 12, 31), "長期堅持")]),
    ("长期坚持", [], [("monthly", WORKING_5, D(2026, 1, 1), D(2027, 12, 31), "长期坚持")]),
    ("常態化開展", [], [("monthly", WORKING_5, D(2026, 1, 1), D(2027, 12, 31), "常態化開展")]),
    ("常态化", [], [("monthly", WORKING_5, D(2026, 1, 1), D(2027, 12, 31), "常态化")]),
    ("長期", [], [("monthly", WORKING_5, D(2026, 1, 1), D(2027, 12, 31), "長期")]),
    ("持續開展", [], [("monthly", WORKING_5, D(2026, 1, 1), D(2027, 12, 31), "持續開展")]),
    ("長效推進", [], [("monthly", WORKING_5, D(2026, 1, 1), D(2027, 12, 31), "長效推進")]),
    ("長期持續推進農村人居環境整治", [], [("monthly", WORKING_5, D(2026, 1, 1), D(2027, 12, 31), "長期持續推進農村人居環境整治")]),
    ("。持續推進。", [], [("monthly", WORKING_5, D(2026, 1, 1), D(2027, 12, 31), "持續推進")]),
    # a milestone, then ongoing work from the day after it (or from the year named)
    ("2026年12月底前完成，2027年持續推進", [(D(2026, 12, 31), "2026年12月底前完成")],
     [("monthly", WORKING_5, D(2027, 1, 1), D(2027, 12, 31), "2027年持續推進")]),
    ("2026年12月底前完成，2027年持续推进", [(D(2026, 12, 31), "2026年12月底前完成")],
     [("monthly", WORKING_5, D(2027, 1, 1), D(2027, 12, 31), "2027年持续推进")]),
    ("2026年底前完成並長效推進", [(D(2026, 12, 31), "2026年底前完成")],
     [("monthly", WORKING_5, D(2027, 1, 1), D(2027, 12, 31), "長效推進")]),
    ("2026年6月底前完成，此後長期堅持", [(D(2026, 6, 30), "2026年6月底前完成")],
     [("monthly", WORKING_5, D(2026, 7, 1), D(2027, 12, 31), "此後長期堅持")]),
    ("6月底前完成，完成後持續推進", [(D(2026, 6, 30), "6月底前完成")],
     [("monthly", WORKING_5, D(2026, 7, 1), D(2027, 12, 31), "完成後持續推進")]),
    ("2026年6月底前完成摸底；持續推進", [(D(2026, 6, 30), "2026年6月底前完成摸底")],
     [("monthly", WORKING_5, D(2026, 7, 1), D(2027, 12, 31), "持續推進")]),
    ("2027年起，持續推進", [], [("monthly", WORKING_5, D(2027, 1, 1), D(2027, 12, 31), "2027年起，持續推進")]),
    ("2026年6月底前完成，並持續推進", [(D(2026, 6, 30), "2026年6月底前完成")],
     [("monthly", WORKING_5, D(2026, 7, 1), D(2027, 12, 31), "並持續推進")]),
    ("立即啟動，長期堅持", [], [("monthly", WORKING_5, D(2026, 1, 1), D(2027, 12, 31), "立即啟動，長期堅持")]),
    ("即日起持續推進", [], [("monthly", WORKING_5, D(2026, 1, 1), D(2027, 12, 31), "即日起持續推進")]),
    ("2026年3月啟動，持續推進", [], [("monthly", WORKING_5, D(2026, 3, 1), D(2027, 12, 31), "2026年3月啟動，持續推進")]),
    ("常抓不懈", [], [("monthly", WORKING_5, D(2026, 1, 1), D(2027, 12, 31), "常抓不懈")]),
    ("全年持續推進", [], [("monthly", WORKING_5, D(2026, 1, 1), D(2027, 12, 31), "全年持續推進")]),
    ("2027年起持續推進", [], [("monthly", WORKING_5, D(2027, 1, 1), D(2027, 12, 31), "2027年起持續推進")]),
    ("2026年底以後常態化開展", [], [("monthly", WORKING_5, D(2027, 1, 1), D(2027, 12, 31), "2026年底以後常態化開展")]),
    # a period in the same text is the cadence of the ongoing work (one obligation, not two)
    ("持續推進，每季度報送進展", [], [("quarterly", "FREQ=YEARLY;BYMONTH=3,6,9,12;BYMONTHDAY=-1", D(2026, 1, 1), D(2027, 12, 31), "持續推進，每季度報送進展")]),
    ("持续推进，每月5日前报送进展", [], [("monthly", MONTHLY_5, D(2026, 1, 1), D(2027, 12, 31), "持续推进，每月5日前报送进展")]),
    ("常態化開展，每月不少於2次", [], [("monthly", "FREQ=MONTHLY;BYMONTHDAY=-1", D(2026, 1, 1), D(2027, 12, 31), "常態化開展，每月不少於2次")]),
    ("按季度推進", [], [("quarterly", "FREQ=YEARLY;BYMONTH=3,6,9,12;BYMONTHDAY=-1", D(2026, 1, 1), D(2027, 12, 31), "按季度推進")]),
    ("按月推进", [], [("monthly", "FREQ=MONTHLY;BYMONTHDAY=-1", D(2026, 1, 1), D(2027, 12, 31), "按月推进")]),
]


@pytest.mark.parametrize(("text", "milestones", "obligations"), ONGOING, ids=[t for t, _, _ in ONGOING])
def test_ongoing_work_is_an_obligation_to_report_on_the_cadence(text: str, milestones: list, obligations: list) -> None:
    assert ongoing(text) == (milestones, obligations)


def test_a_period_after_a_milestone_starts_after_it() -> None:
    deadline = parse("2026年9月底前完成，此後每年開展一次", context=PLAN)
    assert [(m.due, m.label) for m in deadline.milestones] == [(D(2026, 9, 30), "2026年9月底前完成")]
    (rec,) = deadline.recurrences
    assert (rec.freq, rec.start, rec.ongoing, rec.label) == ("yearly", D(2026, 10, 1), False, "此後每年開展一次")


def test_ongoing_work_with_a_minimum_keeps_the_minimum() -> None:
    (rec,) = parse("常態化開展，每月不少於2次", context=PLAN).recurrences
    assert rec.ongoing and rec.min_count == 2
    festival = parse("長期堅持，每年春節前不少於300元", context=PLAN).recurrences
    assert [(r.ongoing, r.anchor) for r in festival] == [(True, None), (False, "spring_festival")]


@pytest.mark.parametrize("text", ["2026年底前完成長期規劃編制", "2026年6月底前完成並建立長效機制", "2026年底前實現常態化"])
def test_a_milestone_whose_work_names_an_ongoing_word_is_still_a_milestone(text: str) -> None:
    milestones, obligations = ongoing(text)
    assert [label for _, label in milestones] == [text] and obligations == []


def test_ongoing_work_reports_on_the_plans_cadence() -> None:
    quarterly = DeadlineContext(base_year=2026, plan_start=D(2026, 1, 1), reporting=Reporting(every="quarterly", day=10))
    (rec,) = parse("長期堅持", context=quarterly).recurrences
    assert (rec.freq, rec.rule, rec.ongoing) == ("quarterly", "FREQ=YEARLY;BYMONTH=1,4,7,10;BYMONTHDAY=10", True)
    assert instances(rec, D(2026, 1, 1), D(2026, 12, 31)) == [D(2026, 4, 10), D(2026, 7, 10), D(2026, 10, 10)]


def test_the_first_report_is_on_the_first_period_of_the_work() -> None:
    plan = replace(PLAN, reporting=Reporting("monthly", 5))  # 每月5日前: a calendar day
    (rec,) = parse("2026年12月底前完成，2027年持續推進", context=plan).recurrences
    assert instances(rec, D(2026, 1, 1), D(2027, 4, 30)) == [D(2027, 2, 5), D(2027, 3, 5), D(2027, 4, 5)]
    (mid,) = parse("2026年7月15日起持續推進", context=plan).recurrences
    assert instances(mid, D(2026, 1, 1), D(2026, 9, 30))[:2] == [D(2026, 8, 5), D(2026, 9, 5)]
    (quarter_end,) = parse("按季度推進", context=PLAN).recurrences
    assert instances(quarter_end, D(2026, 1, 1), D(2026, 6, 30)) == [D(2026, 3, 31), D(2026, 6, 30)]


def test_ongoing_work_without_a_base_year_needs_none() -> None:
    from duban.matrix.deadlines import parse_without_base_year

    (rec,) = parse_without_base_year("持續推進", plan_start=D(2026, 3, 1)).recurrences
    assert rec.ongoing and rec.start == D(2026, 3, 1)


READINGS = [
    (None, Reporting("monthly", 5, working=True)),
    ("monthly", Reporting("monthly", 5, working=True)),
    ("月度", Reporting("monthly", 5, working=True)),
    ("quarterly", Reporting("quarterly", 5, working=True)),
    ("每月5日前", Reporting("monthly", 5)),
    ("每月10日前報送", Reporting("monthly", 10)),
    ("每季度十日前报送进展", Reporting("quarterly", 10)),
    ("每週五", Reporting("weekly", 5)),
    ("weekly", Reporting("weekly", 5)),
    ({"every": "monthly", "due": "5th day"}, Reporting("monthly", 5)),
    ({"every": "quarterly", "due": "10日"}, Reporting("quarterly", 10)),
    ({"every": "monthly", "due": 8}, Reporting("monthly", 8)),
    ({"every": "half_yearly", "day": 15}, Reporting("half_yearly", 15)),
    ({"every": "weekly", "due": "周一"}, Reporting("weekly", 1)),
    # a working day on the official calendar, as the header and as offices write it
    ({"every": "monthly", "due": "5th working day"}, Reporting("monthly", 5, working=True)),
    ({"every": "quarterly", "due": "10 working days"}, Reporting("quarterly", 10, working=True)),
    ({"due": "第3個工作日"}, Reporting("monthly", 3, working=True)),
    ({"due": "5个工作日内"}, Reporting("monthly", 5, working=True)),
    ("每月5個工作日內", Reporting("monthly", 5, working=True)),
    ("次月第5个工作日", Reporting("monthly", 5, working=True)),
    ("每月第五個工作日前報送", Reporting("monthly", 5, working=True)),
    ("每季度第10个工作日前报送进展", Reporting("quarterly", 10, working=True)),
]


@pytest.mark.parametrize(("value", "expected"), READINGS, ids=[repr(v) for v, _ in READINGS])
def test_reporting_settings(value, expected: Reporting) -> None:
    assert read_reporting(value) == expected


@pytest.mark.parametrize(("value", "words"), [
    ("fortnightly", "not a cadence"),
    ({"every": "weekly", "due": "5th working day"}, "weekly report is due on a weekday"),
    ({"every": "monthly", "due": "20th working day"}, "working day 1–15"),
    ({"every": "monthly", "due": "working day"}, "5th working day"),
    ({"every": "monthly", "due": 31}, "1–28"),
    ({"every": "daily"}, "not a period"),
    ({"every": "monthly", "at": 5}, "unknown key"),
    (5, "not a cadence"),
])
def test_bad_reporting_settings_say_what_is_accepted(value, words: str) -> None:
    with pytest.raises(ReportingError, match=words):
        read_reporting(value)


def test_the_cadence_in_words() -> None:
    assert describe(Reporting()) == "每月5日前报送进展"
    assert describe(Reporting(), "zh-Hant") == "每月5日前報送進展"
    assert describe(Reporting("quarterly", 10), "zh-Hant") == "每季度次月10日前報送進展"
    assert describe(Reporting("weekly", 5), "zh-Hant") == "每週五前報送進展"
    assert "monthly" in describe(Reporting(), "en")


@pytest.mark.parametrize(("label", "freq", "rule", "shown"), [
    ("持續推進", "monthly", MONTHLY_5, "持續推進（每月5日前报送进展）"),
    ("長期堅持", "monthly", MONTHLY_5, "長期堅持（每月5日前报送进展）"),
    ("按季度推進", "quarterly", "FREQ=YEARLY;BYMONTH=3,6,9,12;BYMONTHDAY=-1", "按季度推進（持续，每季度末报送进展）"),
    ("常态化开展", "quarterly", "FREQ=YEARLY;BYMONTH=1,4,7,10;BYMONTHDAY=10", "常态化开展（每季度次月10日前报送进展）"),
    ("持续推进", "weekly", "FREQ=WEEKLY;BYDAY=FR", "持续推进（每周五前报送进展）"),
    ("持续推进", "yearly", "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=15", "持续推进"),  # a rule the words do not cover
])
def test_ongoing_work_is_named_with_its_cadence(label: str, freq: str, rule: str, shown: str) -> None:
    assert ongoing_label(label, freq, rule) == shown


@pytest.mark.parametrize("script", ["traditional", "simplified"])
def test_ongoing_work_after_the_plan_ends_is_a_warning_with_its_place(tmp_path, script: str) -> None:
    from duban.matrix.loaders import load_plan
    from duban.matrix.script import to_simplified

    text = ("plan: {code: w, title: 整治方案, base_year: 2026, start: 2026-01-01, end: 2026-12-31}\n"
            "tasks:\n"
            "  - {code: '1', title: 人居環境整治, lead_unit: 縣農業農村局, deadline: '2026年12月底前完成，2027年持續推進'}\n"
            "  - {code: '2', title: 河長制, lead_unit: 縣農業農村局, deadline: 長期堅持}\n")
    path = tmp_path / "plan.yaml"
    path.write_text(to_simplified(text) if script == "simplified" else text, encoding="utf-8")
    loaded = load_plan(path, allow_new_units=True)
    (warning,) = [w for w in loaded.warnings if "ongoing" in w]
    assert "plan.yaml:3" in warning and "task 1" in warning and "2027-01-01" in warning and "end:" in warning
    assert [r.ongoing for t in loaded.plan.tasks for r in t.recurrences] == [True, True]


# -- everyday phrasings an office writes (both scripts) ------------------------------------------

QUARTERS = "FREQ=YEARLY;BYMONTH=3,6,9,12;BYMONTHDAY=-1"
MONTH_END = "FREQ=MONTHLY;BYMONTHDAY=-1"
COUNTED = [
    # a period, the work's verb, then the count: the count is the obligation's minimum
    ("每季度開展1次", ("quarterly", QUARTERS, 1)),
    ("每季度开展1次", ("quarterly", QUARTERS, 1)),
    ("每月報送1次", ("monthly", MONTH_END, 1)),
    ("每月报送1次", ("monthly", MONTH_END, 1)),
    ("每半年1次", ("half_yearly", "FREQ=YEARLY;BYMONTH=6,12;BYMONTHDAY=-1", 1)),
    ("每年開展2次", ("yearly", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=31", 2)),
    ("每年开展2次以上", ("yearly", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=31", 2)),
    ("每月召開一次", ("monthly", MONTH_END, 1)),
    ("每月召开一次", ("monthly", MONTH_END, 1)),
    ("每週調度1次", ("weekly", "FREQ=WEEKLY;BYDAY=SU", 1)),
    ("每周调度1次", ("weekly", "FREQ=WEEKLY;BYDAY=SU", 1)),
    ("每年至少2次", ("yearly", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=31", 2)),
    ("每月至少開展1次", ("monthly", MONTH_END, 1)),
    ("每半年至少开展一次", ("half_yearly", "FREQ=YEARLY;BYMONTH=6,12;BYMONTHDAY=-1", 1)),
    ("每季度不少於召開2次", ("quarterly", QUARTERS, 2)),
]


@pytest.mark.parametrize(("text", "expected"), COUNTED, ids=[t for t, _ in COUNTED])
def test_a_count_after_the_works_verb_is_the_minimum(text: str, expected: tuple) -> None:
    deadline = parse(text, context=PLAN)
    assert not deadline.milestones
    assert [(r.freq, r.rule, r.min_count, r.start, r.label) for r in deadline.recurrences] == [
        (*expected, D(2026, 1, 1), text)]


DATED = [
    # a noun's own digits (5G, 4A级) are words, not the quantity
    ("2026年9月底前建成5G基站30個", [(D(2026, 9, 30), None, q(30), "个", "2026年9月底前建成5G基站30個")]),
    ("2026年9月底前建成5G基站30个", [(D(2026, 9, 30), None, q(30), "个", "2026年9月底前建成5G基站30个")]),
    ("2026年底前創建4A級景區2個", [(D(2026, 12, 31), None, q(2), "个", "2026年底前創建4A級景區2個")]),
    ("2026年底前创建3A级景区1个", [(D(2026, 12, 31), None, q(1), "个", "2026年底前创建3A级景区1个")]),
    # from now (the plan's start) to a date
    ("即日起至2026年12月31日", [(D(2026, 12, 31), D(2026, 1, 1), None, None, "即日起至2026年12月31日")]),
    ("自即日起至2026年6月底", [(D(2026, 6, 30), D(2026, 1, 1), None, None, "自即日起至2026年6月底")]),
    # years named from the base year (or the year before in the text)
    ("次年1月底前", [(D(2027, 1, 31), None, None, None, "次年1月底前")]),
    ("2026年底前完成，次年6月底前驗收", [
        (D(2026, 12, 31), None, None, None, "2026年底前完成"), (D(2027, 6, 30), None, None, None, "次年6月底前驗收")]),
    ("2026年全年", [(D(2026, 12, 31), None, None, None, "2026年全年")]),
    ("本年度內", [(D(2026, 12, 31), None, None, None, "本年度內")]),
    ("本年度内", [(D(2026, 12, 31), None, None, None, "本年度内")]),
    ("年內", [(D(2026, 12, 31), None, None, None, "年內")]),
    ("2026.6", [(D(2026, 6, 30), None, None, None, "2026.6")]),
    ("2026/11", [(D(2026, 11, 30), None, None, None, "2026/11")]),
    # one milestone a line
    ("2026年6月底前\n2026年12月底前", [
        (D(2026, 6, 30), None, None, None, "2026年6月底前"), (D(2026, 12, 31), None, None, None, "2026年12月底前")]),
    ("2026年6月底前完成摸底\r\n12月底前全面完成", [
        (D(2026, 6, 30), None, None, None, "2026年6月底前完成摸底"), (D(2026, 12, 31), None, None, None, "12月底前全面完成")]),
    # a line broken inside a date or the work is one item
    ("2026年6月\n底前完成", [(D(2026, 6, 30), None, None, None, "2026年6月\n底前完成")]),
    ("2026年底前完成\n危房改造", [(D(2026, 12, 31), None, None, None, "2026年底前完成\n危房改造")]),
    ("2026年\n12月底前", [(D(2026, 12, 31), None, None, None, "2026年\n12月底前")]),
]


@pytest.mark.parametrize(("text", "expected"), DATED, ids=[repr(t) for t, _ in DATED])
def test_everyday_dates(text: str, expected: list[tuple]) -> None:
    assert steps(text) == expected


@pytest.mark.parametrize("text", ["2026年3月起每月5日前報送", "2026年3月起每月5日前报送"])
def test_a_period_from_a_date(text: str) -> None:
    (rec,) = parse(text, context=PLAN).recurrences
    assert (rec.freq, rec.rule, rec.start, rec.label) == ("monthly", MONTHLY_5, D(2026, 3, 1), text)
    assert instances(rec, D(2026, 1, 1), D(2026, 5, 31)) == [D(2026, 3, 5), D(2026, 4, 5), D(2026, 5, 5)]


@pytest.mark.parametrize(("text", "label"), [
    ("持續推進，2026年底見成效", "2026年底見成效"),
    ("持续推进，2026年底见成效", "2026年底见成效"),
    ("持续推进，2026年底见实效", "2026年底见实效"),
    ("持續推進，2026年底取得明顯成效", "2026年底取得明顯成效"),
])
def test_ongoing_work_with_a_milestone_that_shows_results(text: str, label: str) -> None:
    milestones, obligations = ongoing(text)
    assert milestones == [(D(2026, 12, 31), label)]
    assert obligations == [("monthly", WORKING_5, D(2026, 1, 1), D(2027, 12, 31), text.split("，")[0])]


@pytest.mark.parametrize(("text", "words"), [
    ("已完成", "already done"),
    ("已經完成", "already done"),
    ("按省市要求", "no date"),
    ("根據上級安排", "no date"),
    ("明年上半年", "no date"),  # 明年 counts from today, which a plan does not know
    ("即日起至2025年12月31日", "before the plan starts"),
    ("每月開展1次以上不少於3次", "1次以上"),
])
def test_texts_without_a_date_stay_refused(text: str, words: str) -> None:
    with pytest.raises(DeadlineError) as caught:
        parse(text, context=PLAN)
    assert words in caught.value.reason


def test_relative_years_need_a_base_year() -> None:
    from duban.matrix.deadline_text import NeedsBaseYear
    from duban.matrix.deadlines import parse_without_base_year

    for text in ("次年1月底前", "本年度內"):
        with pytest.raises(NeedsBaseYear):
            parse_without_base_year(text, plan_start=D(2026, 1, 1))


def test_from_now_without_a_plan_start_still_says_by_when() -> None:
    assert steps("即日起至2026年12月31日", DeadlineContext(base_year=2026)) == [
        (D(2026, 12, 31), None, None, None, "即日起至2026年12月31日")]


# -- the 5th working day (issue 13): ongoing work reports by the N-th working day of the official calendar --


def test_ongoing_work_reports_by_the_fifth_working_day_after_the_national_day_holiday() -> None:
    from duban.matrix.calendar import WorkCalendar

    (rec,) = parse("持續推進", context=PLAN).recurrences
    assert rec.rule == WORKING_5
    # 2026: 國慶 1–7 October off, Saturday 10 October a make-up working day (chinese_calendar's data):
    # the 8th, 9th, 10th, 12th and 13th are the first five working days
    dues = instances(rec, D(2026, 9, 1), D(2026, 11, 30), WorkCalendar())
    assert dues == [D(2026, 9, 7), D(2026, 10, 13), D(2026, 11, 6)]
    calendar_day = parse("持續推進", context=replace(PLAN, reporting=read_reporting("每月5日前"))).recurrences[0]
    assert instances(calendar_day, D(2026, 9, 1), D(2026, 11, 30)) == [D(2026, 9, 5), D(2026, 10, 5), D(2026, 11, 5)]


def test_the_fifth_working_day_after_the_spring_festival_counts_its_make_up_saturday() -> None:
    from duban.matrix.calendar import WorkCalendar

    plan = DeadlineContext(base_year=2025, plan_start=D(2025, 1, 1))
    (rec,) = parse("長期堅持", context=plan).recurrences
    # 2025: 春節 28 January – 4 February off, Saturday 8 February worked: 5, 6, 7, 8, 10
    assert instances(rec, D(2025, 2, 1), D(2025, 2, 28), WorkCalendar()) == [D(2025, 2, 10)]
    quarterly = parse("長期堅持", context=replace(plan, reporting=read_reporting("每季度第3个工作日前报送"))).recurrences[0]
    # 國慶 2025: 1–8 October off, Saturday 11 October worked: the 9th, 10th and 11th
    assert instances(quarterly, D(2025, 1, 1), D(2025, 12, 31), WorkCalendar()) == [D(2025, 4, 3), D(2025, 7, 3), D(2025, 10, 11)]


def test_a_working_day_due_counts_on_the_calendar_it_is_given() -> None:
    from duban.matrix.calendar import WorkCalendar

    (rec,) = parse("持續推進", context=replace(PLAN, plan_start=D(2027, 1, 1))).recurrences
    # 2027 is past the package's years: Monday–Friday, unless the office imported the year's notice
    assert instances(rec, D(2027, 2, 1), D(2027, 2, 28), WorkCalendar()) == [D(2027, 2, 5)]
    notice = {D(2027, 2, d): False for d in range(1, 6)}
    assert instances(rec, D(2027, 2, 1), D(2027, 2, 28), WorkCalendar(notice, imported_years={2027})) == [D(2027, 2, 12)]
    with pytest.raises(ValueError, match="working day"):
        instances(rec, D(2027, 2, 1), D(2027, 2, 28))


def test_a_working_day_cadence_in_words_and_in_an_exported_header() -> None:
    from duban.matrix.reporting import due_text, rule

    assert describe(read_reporting(None)) == "每月第5个工作日前报送进展"
    assert describe(read_reporting("每季度第10个工作日前"), "zh-Hant") == "每季度次月第10個工作日前報送進展"
    assert ongoing_label("持續推進", *rule(read_reporting(None))) == "持續推進（每月第5个工作日前报送进展）"
    for value in (None, "每季度第10个工作日前", {"due": "第3个工作日"}, {"every": "yearly", "due": "1st working day"}, "每月5日前"):
        reporting = read_reporting(value)
        assert read_reporting({"every": reporting.every, "due": due_text(reporting)}) == reporting


@pytest.mark.parametrize(("reporting", "rule"), [
    ("{every: monthly, due: 5th working day}", WORKING_5),
    ("{due: 第5個工作日}", WORKING_5),
    ("每月5個工作日內", WORKING_5),
    ("次月第5个工作日", WORKING_5),
    ("{every: quarterly, due: 10 working days}", "FREQ=YEARLY;BYMONTH=1,4,7,10;BYMONTHDAY=1;X-WORKDAY=10"),
    ("每月5日前", MONTHLY_5),  # a calendar day, as before
    ("{every: monthly, due: 5}", MONTHLY_5),
])
def test_the_plan_loader_takes_a_working_day_reporting_header(tmp_path, reporting: str, rule: str) -> None:
    from duban.matrix.loaders import load_plan

    text = (f"plan: {{code: w, title: 整治方案, base_year: 2026, start: 2026-01-01, reporting: {reporting}}}\n"
            "tasks:\n"
            "  - {code: '1', title: 河長制, lead_unit: 縣農業農村局, deadline: 長期堅持}\n")
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    loaded = load_plan(path, allow_new_units=True)
    assert [r.rule for t in loaded.plan.tasks for r in t.recurrences] == [rule]
