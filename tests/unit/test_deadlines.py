"""The deadline language: every 時間要求 form of the seed plans, its variants, and what it refuses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from duban.matrix.deadlines import NeedsBaseYear, instances, parse, parse_without_base_year
from duban.matrix.errors import DeadlineError
from duban.matrix.model import DeadlineContext, Recurrence

D = dt.date
PLAN = DeadlineContext(
    base_year=2015, plan_start=D(2015, 7, 1), plan_end=D(2016, 12, 31), where="plan.yaml:42 時間要求"
)


def due(day: dt.date, *, start: dt.date | None = None, quantity: int | None = None, measure: str | None = None):
    """The expected (due, start, quantity, measure) of one milestone."""
    return (day, start, None if quantity is None else Decimal(quantity), measure)


def shape(text: str, context: DeadlineContext = PLAN) -> list[tuple]:
    deadline = parse(text, context=context)
    assert not deadline.recurrences, deadline
    return [(m.due, m.start, m.quantity, m.measure) for m in deadline.milestones]


MILESTONES = [
    # the seed plans, as written (traditional script)
    ("2015年7月初。", [due(D(2015, 7, 10))]),
    ("2015年7月初", [due(D(2015, 7, 10))]),
    (
        "2015年底完成25個村、2016年底完成40個村。",
        [due(D(2015, 12, 31), quantity=25, measure="村"), due(D(2016, 12, 31), quantity=40, measure="村")],
    ),
    ("2016年底。", [due(D(2016, 12, 31))]),
    ("2015年底、2016年底。", [due(D(2015, 12, 31)), due(D(2016, 12, 31))]),
    ("2015年7月。", [due(D(2015, 7, 31))]),
    ("2015年7月17日前", [due(D(2015, 7, 17))]),
    ("(2015年7月17日前)", [due(D(2015, 7, 17))]),
    ("2015年7月31日前", [due(D(2015, 7, 31))]),
    ("（2015年12月前、2016年10月前）", [due(D(2015, 12, 31)), due(D(2016, 10, 31))]),
    ("(2015年12月前、2016年11月前)", [due(D(2015, 12, 31)), due(D(2016, 11, 30))]),
    ("7月17日", [due(D(2015, 7, 17))]),
    ("7月20日前", [due(D(2015, 7, 20))]),
    ("三年時間內", [due(D(2018, 7, 1))]),
    ("三年時間內(nèi)", [due(D(2018, 7, 1))]),  # pinyin left in by the source
    ("在2015年12月前", [due(D(2015, 12, 31))]),
    ("到2016年底", [due(D(2016, 12, 31))]),
    # simplified script
    ("2015年底完成25个村、2016年底完成40个村", [due(D(2015, 12, 31), quantity=25, measure="村"), due(D(2016, 12, 31), quantity=40, measure="村")]),
    ("三年时间内", [due(D(2018, 7, 1))]),
    ("三年內", [due(D(2018, 7, 1))]),
    ("半年内", [due(D(2016, 1, 1))]),
    ("六个月内", [due(D(2016, 1, 1))]),
    # year and month forms
    ("2015年末", [due(D(2015, 12, 31))]),
    ("年底", [due(D(2015, 12, 31))]),
    ("年末", [due(D(2015, 12, 31))]),
    ("2015年", [due(D(2015, 12, 31))]),
    ("2015年內", [due(D(2015, 12, 31))]),
    ("7月底", [due(D(2015, 7, 31))]),
    ("7月末", [due(D(2015, 7, 31))]),
    ("7月前", [due(D(2015, 7, 31))]),
    ("7月份", [due(D(2015, 7, 31))]),
    ("2016年2月", [due(D(2016, 2, 29))]),
    ("7月上旬", [due(D(2015, 7, 10))]),
    ("7月中旬", [due(D(2015, 7, 20))]),
    ("7月下旬", [due(D(2015, 7, 31))]),
    ("7月17日之前", [due(D(2015, 7, 17))]),
    ("7月17日以前", [due(D(2015, 7, 17))]),
    ("2015-07-17", [due(D(2015, 7, 17))]),
    ("第一季度", [due(D(2015, 3, 31))]),
    ("一季度", [due(D(2015, 3, 31))]),
    ("2016年第三季度末", [due(D(2016, 9, 30))]),
    ("上半年", [due(D(2015, 6, 30))]),
    ("年中", [due(D(2015, 6, 30))]),
    ("2016年下半年", [due(D(2016, 12, 31))]),
    # numerals, widths, two-digit years
    ("二〇一五年十二月", [due(D(2015, 12, 31))]),
    ("二零一六年三月三十一日", [due(D(2016, 3, 31))]),
    ("十二月二十日前", [due(D(2015, 12, 20))]),
    ("２０１５年　１２月３１日前", [due(D(2015, 12, 31))]),
    ("15年底", [due(D(2015, 12, 31))]),
    ("16年6月", [due(D(2016, 6, 30))]),
    ("2015年底完成二十五個村", [due(D(2015, 12, 31), quantity=25, measure="村")]),
    # inheritance of the year (and, for a day alone, the month) from the item before
    ("2016年3月、6月", [due(D(2016, 3, 31)), due(D(2016, 6, 30))]),
    ("2016年3月1日、5日", [due(D(2016, 3, 1)), due(D(2016, 3, 5))]),
    ("2016年底和2017年6月", [due(D(2016, 12, 31)), due(D(2017, 6, 30))]),
    ("2015年底；2016年底", [due(D(2015, 12, 31)), due(D(2016, 12, 31))]),
    # quantities
    ("2015年底完成5122戶", [due(D(2015, 12, 31), quantity=5122, measure="户")]),
    ("2016年底達100%", [due(D(2016, 12, 31), quantity=100, measure="%")]),
    ("2016年底前全部完成40个贫困村", [due(D(2016, 12, 31), quantity=40, measure="贫困村")]),
    # ranges
    ("2015年3月至2016年12月", [due(D(2016, 12, 31), start=D(2015, 3, 1))]),
    ("2015年3月到2016年12月", [due(D(2016, 12, 31), start=D(2015, 3, 1))]),
    ("2015年3月-2016年12月", [due(D(2016, 12, 31), start=D(2015, 3, 1))]),
    ("2015年3月～2016年12月", [due(D(2016, 12, 31), start=D(2015, 3, 1))]),
    ("2015年3月—2016年12月", [due(D(2016, 12, 31), start=D(2015, 3, 1))]),
    ("2015年3月–2016年12月", [due(D(2016, 12, 31), start=D(2015, 3, 1))]),
    ("2015年7月至12月", [due(D(2015, 12, 31), start=D(2015, 7, 1))]),
    ("2015年至2016年", [due(D(2016, 12, 31), start=D(2015, 1, 1))]),
    ("7月17日至20日", [due(D(2015, 7, 20), start=D(2015, 7, 17))]),
    # festivals: lunar ones from the calendar, inclusive
    ("春節前", [due(D(2015, 2, 19))]),
    ("2016年春節前", [due(D(2016, 2, 8))]),
    ("2017年春节前", [due(D(2017, 1, 28))]),
    ("2016年端午前", [due(D(2016, 6, 9))]),
    ("2015年中秋節前", [due(D(2015, 9, 27))]),
    ("2016年清明前", [due(D(2016, 4, 4))]),
    ("元旦前", [due(D(2015, 1, 1))]),
    ("五一前", [due(D(2015, 5, 1))]),
    ("國慶前", [due(D(2015, 10, 1))]),
    ("十一前", [due(D(2015, 10, 1))]),
    ("十一月", [due(D(2015, 11, 30))]),  # a month, not the 十一 holiday
    ("暑期", [due(D(2015, 8, 31))]),
    ("2016年暑假前", [due(D(2016, 8, 31))]),
    ("寒假前", [due(D(2015, 2, 18))]),
    # start and completion: "X(前)启动，Y(前)完成" is one milestone that starts by X and is due by Y
    ("2016年3月底前启动，6月底前完成", [due(D(2016, 6, 30), start=D(2016, 3, 31))]),
    ("2016年3月底前啟動，6月底前完成。", [due(D(2016, 6, 30), start=D(2016, 3, 31))]),
    ("2016年3月底前开始，2016年6月底前建成", [due(D(2016, 6, 30), start=D(2016, 3, 31))]),
    ("2016年3月底前開始，6月底前建成", [due(D(2016, 6, 30), start=D(2016, 3, 31))]),
    ("2016年3月启动，6月完成", [due(D(2016, 6, 30), start=D(2016, 3, 31))]),
    ("2016年3月启动,6月完成", [due(D(2016, 6, 30), start=D(2016, 3, 31))]),
    ("２０１６年３月底前啟動，６月底前完成", [due(D(2016, 6, 30), start=D(2016, 3, 31))]),
    ("3月底前启动，6月底前完成", [due(D(2015, 6, 30), start=D(2015, 3, 31))]),  # the base year
    ("2016年3月10日前启动，20日前完成", [due(D(2016, 3, 20), start=D(2016, 3, 10))]),
    ("2015年10月启动，2016年6月底前完成", [due(D(2016, 6, 30), start=D(2015, 10, 31))]),
    ("2015年底前启动，2016年底前全部建成", [due(D(2016, 12, 31), start=D(2015, 12, 31))]),
    ("2016年3月启动，6月底前完成25个村", [due(D(2016, 6, 30), start=D(2016, 3, 31), quantity=25, measure="村")]),
    ("2016年3月启动，3月底前完成", [due(D(2016, 3, 31), start=D(2016, 3, 31))]),  # due may equal start
    (
        "2015年9月启动，12月完成；2016年3月启动，6月完成",
        [due(D(2015, 12, 31), start=D(2015, 9, 30)), due(D(2016, 6, 30), start=D(2016, 3, 31))],
    ),
    ("2016年底前建成", [due(D(2016, 12, 31))]),
    ("2015年底、2016年3月啟動，6月底前建成", [due(D(2015, 12, 31)), due(D(2016, 6, 30), start=D(2016, 3, 31))]),
]


@pytest.mark.parametrize(("text", "expected"), MILESTONES, ids=[t for t, _ in MILESTONES])
def test_milestones(text: str, expected: list[tuple]) -> None:
    assert shape(text) == expected


def recurrence(text: str) -> Recurrence:
    deadline = parse(text, context=PLAN)
    assert not deadline.milestones, deadline
    assert len(deadline.recurrences) == 1, deadline
    return deadline.recurrences[0]


QUARTER_ENDS = "FREQ=YEARLY;BYMONTH=3,6,9,12;BYMONTHDAY=-1"
RECURRENCES = [
    # text, freq, rule, anchor, min_count, min_amount, amount_unit
    ("每月走訪全村所有貧困戶不少於1次", "monthly", "FREQ=MONTHLY;BYMONTHDAY=-1", None, 1, None, None),
    ("每月入村指導開展精準扶貧工作不少于1次", "monthly", "FREQ=MONTHLY;BYMONTHDAY=-1", None, 1, None, None),
    ("每月入村指导不少于1次", "monthly", "FREQ=MONTHLY;BYMONTHDAY=-1", None, 1, None, None),
    ("每月", "monthly", "FREQ=MONTHLY;BYMONTHDAY=-1", None, None, None, None),
    ("每月5日前", "monthly", "FREQ=MONTHLY;BYMONTHDAY=5", None, None, None, None),
    ("每月五日前報送進展", "monthly", "FREQ=MONTHLY;BYMONTHDAY=5", None, None, None, None),
    ("每月至少三次", "monthly", "FREQ=MONTHLY;BYMONTHDAY=-1", None, 3, None, None),
    ("每季度", "quarterly", QUARTER_ENDS, None, None, None, None),
    ("每季度末", "quarterly", QUARTER_ENDS, None, None, None, None),
    ("每半年", "half_yearly", "FREQ=YEARLY;BYMONTH=6,12;BYMONTHDAY=-1", None, None, None, None),
    ("每年", "yearly", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=31", None, None, None, None),
    ("每年3月底", "yearly", "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=-1", None, None, None, None),
    ("每周五", "weekly", "FREQ=WEEKLY;BYDAY=FR", None, None, None, None),
    ("每週五", "weekly", "FREQ=WEEKLY;BYDAY=FR", None, None, None, None),
    ("每星期五", "weekly", "FREQ=WEEKLY;BYDAY=FR", None, None, None, None),
    ("每年每戶不少於伍百元", "yearly", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=31", None, None, Decimal(500), "元"),
    ("每年每户不少于五百元", "yearly", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=31", None, None, Decimal(500), "元"),
    ("每年春節前不少於300元", "yearly", "", "spring_festival", None, Decimal(300), "元"),
    ("春節前每戶不少於三百元", "yearly", "", "spring_festival", None, Decimal(300), "元"),
    ("春節不少於三百元", "yearly", "", "spring_festival", None, Decimal(300), "元"),
    ("每年暑期不少於200元", "yearly", "", "summer", None, Decimal(200), "元"),
    ("暑期不少於二百元", "yearly", "", "summer", None, Decimal(200), "元"),
    ("暑期時候不 少於二百元", "yearly", "", "summer", None, Decimal(200), "元"),
    ("每年中秋前不少于貳佰元", "yearly", "", "mid_autumn", None, Decimal(200), "元"),
    ("每年端午前", "yearly", "", "dragon_boat", None, None, None),
]


@pytest.mark.parametrize(
    ("text", "freq", "rule", "anchor", "min_count", "min_amount", "amount_unit"),
    RECURRENCES,
    ids=[r[0] for r in RECURRENCES],
)
def test_recurrences(text, freq, rule, anchor, min_count, min_amount, amount_unit) -> None:
    rec = recurrence(text)
    assert (rec.freq, rec.rule, rec.anchor) == (freq, rule, anchor)
    assert (rec.min_count, rec.min_amount, rec.amount_unit) == (min_count, min_amount, amount_unit)
    assert (rec.start, rec.until) == (PLAN.plan_start, PLAN.plan_end)
    assert rec.label == text


BAD = [
    "",
    "   ",
    "2015年13月",
    "2月30日",
    "0月",
    "2015年第五季度",
    "儘快",
    "明年上半年",
    "2015年底前後",
    "7月中",
    "15年內",  # the year 2015 or fifteen years?
    "20日前",  # a day without a month
    "2015年3月至2014年12月",
    "2016年底、儘快",
    "7月17日召開全區扶貧攻堅動員大會",
    "不少於3次",
    "每天",
    "每月31日",
    "每年2月29日",
    "每月不少于1次走访",
    "2015年底完成5122戶18442人",
    "Q1",
    "2016年6月底前启动，3月底前完成",  # due before the start
    "2016年3月底前启动",  # a start and no completion
    "2016年3月启动，6月",  # the second part does not say it completes
    "2016年3月启动，每月报送进展",
    "2016年3月启动5个村",
    "2016年3月至4月启动，6月完成",
    "2016年3月启动，4月启动，6月完成",
    "2016年3月启动，4月至6月完成",
    "0000年底",
]


@pytest.mark.parametrize("text", BAD, ids=[repr(t) for t in BAD])
def test_refused_with_the_text_and_its_place(text: str) -> None:
    with pytest.raises(DeadlineError) as caught:
        parse(text, context=PLAN)
    assert caught.value.text == text
    assert caught.value.where == PLAN.where
    assert text in str(caught.value)
    assert PLAN.where in str(caught.value)


def test_without_a_year_the_plan_base_year_is_used_never_today() -> None:
    old_plan = DeadlineContext(base_year=2011)
    assert shape("7月20日前", old_plan) == [due(D(2011, 7, 20))]
    assert shape("年底", old_plan) == [due(D(2011, 12, 31))]
    assert shape("春節前", old_plan) == [due(D(2011, 2, 3))]


def test_duration_needs_the_plan_start() -> None:
    with pytest.raises(DeadlineError, match="三年內"):
        parse("三年內", context=DeadlineContext(base_year=2015))


def test_labels_are_fragments_of_the_original_text() -> None:
    deadline = parse("（2015年底完成25個村、 2016年底完成40個村）。", context=PLAN)
    assert [m.label for m in deadline.milestones] == ["2015年底完成25個村", "2016年底完成40個村"]


def test_a_breakdown_with_qizhong_gives_one_recurrence_per_item() -> None:
    deadline = parse("每年每戶不少於伍百元，其中，春節不少於三百元，暑期時候不 少於二百元", context=PLAN)
    assert [(r.anchor, r.min_amount) for r in deadline.recurrences] == [
        (None, Decimal(500)),
        ("spring_festival", Decimal(300)),
        ("summer", Decimal(200)),
    ]
    assert [r.label for r in deadline.recurrences] == ["每年每戶不少於伍百元", "春節不少於三百元", "暑期時候不 少於二百元"]


def test_parse_is_memoised_per_text_and_context() -> None:
    first = parse("2015年底完成25個村、2016年底完成40個村", context=PLAN)
    assert parse("2015年底完成25個村、2016年底完成40個村", context=PLAN) is first
    other = parse("2015年底完成25個村、2016年底完成40個村", context=DeadlineContext(base_year=2015))
    assert other == first  # same dates, read against a different context


def test_monthly_instances_fall_on_month_ends_within_the_plan() -> None:
    rec = recurrence("每月走訪全村所有貧困戶不少於1次")
    assert instances(rec, D(2015, 1, 1), D(2015, 10, 15)) == [D(2015, 7, 31), D(2015, 8, 31), D(2015, 9, 30)]


def test_quarterly_instances_start_mid_quarter() -> None:
    rec = recurrence("每季度末")
    assert instances(rec, D(2015, 8, 15), D(2016, 4, 1)) == [D(2015, 9, 30), D(2015, 12, 31), D(2016, 3, 31)]


def test_weekly_instances() -> None:
    rec = recurrence("每週五")
    assert instances(rec, D(2015, 7, 1), D(2015, 7, 31)) == [D(2015, 7, 3), D(2015, 7, 10), D(2015, 7, 17), D(2015, 7, 24), D(2015, 7, 31)]


def test_festival_anchored_instances_follow_the_lunar_calendar() -> None:
    rec = Recurrence(freq="yearly", anchor="spring_festival", min_amount=Decimal(300), amount_unit="元")
    assert instances(rec, D(2015, 1, 1), D(2017, 12, 31)) == [D(2015, 2, 19), D(2016, 2, 8), D(2017, 1, 28)]
    summer = recurrence("暑期不少於二百元")
    assert instances(summer, D(2015, 1, 1), D(2017, 12, 31)) == [D(2015, 8, 31), D(2016, 8, 31)]


def test_empty_window_has_no_instances() -> None:
    assert instances(recurrence("每月"), D(2017, 1, 1), D(2017, 12, 31)) == []


def test_start_and_completion_keep_the_whole_text_as_the_label() -> None:
    deadline = parse("2015年底、2016年3月底前啟動，6月底前完成。", context=PLAN)
    assert [m.label for m in deadline.milestones] == ["2015年底", "2016年3月底前啟動，6月底前完成"]


def test_a_completion_before_the_start_is_refused_with_both_dates() -> None:
    with pytest.raises(DeadlineError) as caught:
        parse("2016年6月底前启动，3月底前完成", context=PLAN)
    message = str(caught.value)
    assert "2016年6月底前启动，3月底前完成" in message
    assert "2016-03-31" in message and "2016-06-30" in message and "before" in message


def test_a_start_without_a_completion_says_what_is_missing() -> None:
    with pytest.raises(DeadlineError, match="完成"):
        parse("2016年3月底前启动", context=PLAN)


# -- a plan without a base year: texts that name their year are read, others need one ---------

NAMED_YEARS = [
    ("2016年底", [due(D(2016, 12, 31))]),
    ("2016年3月、6月", [due(D(2016, 3, 31)), due(D(2016, 6, 30))]),
    ("2016年3月底前启动，6月底前完成", [due(D(2016, 6, 30), start=D(2016, 3, 31))]),
    ("2015年7月至12月", [due(D(2015, 12, 31), start=D(2015, 7, 1))]),
    ("2016年春節前", [due(D(2016, 2, 8))]),
    ("三年內", [due(D(2018, 7, 1))]),  # counts from the plan's start, not from a year
]


@pytest.mark.parametrize(("text", "expected"), NAMED_YEARS, ids=[t for t, _ in NAMED_YEARS])
def test_without_a_base_year_texts_that_name_their_year_are_read(text: str, expected: list[tuple]) -> None:
    deadline = parse_without_base_year(text, plan_start=D(2015, 7, 1), where="plan.yaml:9 deadline")
    assert [(m.due, m.start, m.quantity, m.measure) for m in deadline.milestones] == expected


def test_without_a_base_year_recurrences_are_read() -> None:
    deadline = parse_without_base_year("每月5日前", plan_start=D(2015, 7, 1), plan_end=D(2016, 12, 31))
    (rec,) = deadline.recurrences
    assert rec.rule == "FREQ=MONTHLY;BYMONTHDAY=5" and rec.start == D(2015, 7, 1)


@pytest.mark.parametrize("text", ["7月20日前", "年底", "春節前", "上半年", "7月、2016年底", "3月底前启动，6月底前完成", "2月29日"])
def test_without_a_base_year_texts_without_a_year_need_one(text: str) -> None:
    with pytest.raises(NeedsBaseYear) as caught:
        parse_without_base_year(text, where="plan.yaml:9 deadline")
    assert isinstance(caught.value, DeadlineError)
    assert caught.value.text == text and caught.value.where == "plan.yaml:9 deadline"
    assert "base year" in caught.value.reason
    assert "2000" not in str(caught.value) and "0004" not in str(caught.value)  # no guessed year shown


@pytest.mark.parametrize(("text", "words"), [
    ("7月99日", "7月99日 does not exist"),
    ("2月30日", "2月30日 does not exist"),
    ("13月", "no month 13"),
    ("7月20日至7月10日", "before it starts"),
    ("儘快", "no date"),
])
def test_without_a_base_year_impossible_texts_are_still_refused_as_such(text: str, words: str) -> None:
    with pytest.raises(DeadlineError) as caught:
        parse_without_base_year(text)
    assert not isinstance(caught.value, NeedsBaseYear)
    assert words in caught.value.reason
    assert "0004" not in caught.value.reason and "2000" not in caught.value.reason


# -- robustness: any text gives a Deadline or DeadlineError, and what is stored fits its column -----


@pytest.mark.parametrize("text", [
    "\ud800",  # a lone surrogate (OpenCC cannot encode it)
    "2015年底\udfff",
    "每月\ud83d不少於3次",
    "\x00",
    "2015年底\x00",
    "\u202e2015年底",
    "\ufeff",
])
def test_surrogates_and_control_characters_are_refused_with_the_parsers_own_error(text: str) -> None:
    with pytest.raises(DeadlineError) as caught:
        parse(text, context=PLAN)
    assert caught.value.text == text
    message = str(caught.value)
    message.encode("utf-8")  # printable: the refusal itself carries no lone surrogate
    with pytest.raises(DeadlineError):
        parse_without_base_year(text)


def test_a_very_long_text_is_refused_with_a_short_quote_and_its_length() -> None:
    text = "2015年底" + "完" * 100_000
    with pytest.raises(DeadlineError) as caught:
        parse(text, context=PLAN)
    message = str(caught.value)
    assert caught.value.text == text
    assert len(message) < 400, len(message)
    assert "…" in message and "100,006 characters" in message
    assert "1,000" in caught.value.reason


def test_a_long_but_acceptable_text_quotes_its_pieces_short() -> None:
    text = "2015年底" + "完" * 500
    with pytest.raises(DeadlineError) as caught:
        parse(text, context=PLAN)
    assert len(str(caught.value)) < 600
    assert "506 characters" in str(caught.value)


@pytest.mark.parametrize("text, words", [
    ("每月不少於99999999999999999999次", "99999999999999999999"),
    ("每月不少於0次", "0"),
    ("每月不少於10001次", "10001"),
    ("每年春節前不少於一萬零一次", "一万零一"),
])
def test_a_count_outside_1_to_10000_is_refused_naming_it(text: str, words: str) -> None:
    with pytest.raises(DeadlineError) as caught:
        parse(text, context=PLAN)
    assert words in caught.value.reason and "10,000" in caught.value.reason


def test_counts_up_to_10000_are_read() -> None:
    assert recurrence("每月不少於10000次").min_count == 10_000
    assert recurrence("每月不少於一萬次").min_count == 10_000


@pytest.mark.parametrize("text, words", [
    ("2015年底完成99999999999999999999999戶", "99999999999999999999999"),
    ("2015年底完成100000000000個村", "100000000000"),
    ("2015年底完成1.23456戶", "1.23456"),
    ("每月不少於99999999999999999999元", "99999999999999999999"),
    ("每月不少於0.00001萬元", "0.00001"),
])
def test_a_quantity_the_database_cannot_hold_exactly_is_refused_naming_it(text: str, words: str) -> None:
    with pytest.raises(DeadlineError) as caught:
        parse(text, context=PLAN)
    assert words in caught.value.reason


def test_quantities_the_database_holds_exactly_are_read() -> None:
    (milestone,) = parse("2015年底完成99999999999.9999戶", context=PLAN).milestones
    assert milestone.quantity == Decimal("99999999999.9999")
    rec = recurrence("每月不少於1.5萬元")
    assert (rec.min_amount, rec.amount_unit) == (Decimal("1.5"), "万元")


@pytest.mark.parametrize("text, year", [
    ("0001年底", "1"),
    ("1899年底", "1899"),
    ("2201年7月", "2201"),
    ("9999/12/31", "9999"),
    ("2015年3月至9999年12月", "9999"),
])
def test_a_year_outside_1900_to_2200_is_refused(text: str, year: str) -> None:
    with pytest.raises(DeadlineError) as caught:
        parse(text, context=PLAN)
    assert year in caught.value.reason and "1900" in caught.value.reason


def test_years_at_the_edges_of_the_range_are_read() -> None:
    assert shape("1900年底") == [due(D(1900, 12, 31))]
    assert shape("2200年底") == [due(D(2200, 12, 31))]


@pytest.mark.parametrize("context, text", [
    (DeadlineContext(base_year=10_000), "7月底"),
    (DeadlineContext(base_year=-5), "春節前"),
    (DeadlineContext(base_year=2015, plan_start=D(9999, 12, 1)), "三年內"),
    (DeadlineContext(base_year=2015, plan_start=D(2015, 1, 1)), "九千九百九十九個月內"),
])
def test_a_context_out_of_range_gives_the_parsers_own_error(context: DeadlineContext, text: str) -> None:
    with pytest.raises(DeadlineError):
        parse(text, context=context)
