"""The deadline parser, on any text: a Deadline or its own DeadlineError, never another exception."""

from __future__ import annotations

import datetime as dt

from dateutil.rrule import rrulestr
from hypothesis import example, given
from hypothesis import strategies as st

from duban.matrix.deadlines import MAX_TEXT, parse, parse_without_base_year
from duban.matrix.errors import DeadlineError
from duban.matrix.model import DeadlineContext
from duban.matrix.reporting import ReportingError, describe, read_reporting, split_working
from duban.matrix.reporting import rule as reporting_rule
from tests.property.strategies import any_text, deadline_texts

CONTEXTS = st.builds(
    DeadlineContext,
    base_year=st.one_of(st.integers(min_value=1900, max_value=2200), st.integers()),
    plan_start=st.one_of(st.none(), st.dates()),
    plan_end=st.one_of(st.none(), st.dates()),
    where=st.one_of(st.none(), st.just("plan.yaml:7 deadline")),
)


def expand(rule: str) -> None:
    """The rule expands as supervision expands it: a working-day cadence's X-WORKDAY part is taken off
    (``split_working``) and counts 1–15 working days."""
    body, working = split_working(rule)
    assert working is None or 1 <= working <= 15
    rrulestr(body, dtstart=dt.datetime(2000, 1, 1))


def read(text: str, context: DeadlineContext) -> None:
    try:
        deadline = parse(text, context=context)
    except DeadlineError as error:
        assert error.text == text
        str(error).encode("utf-8")  # the message is printable: no lone surrogate in it
        assert len(str(error)) < 2_000
        return
    for milestone in deadline.milestones:  # what is accepted fits the store
        if milestone.quantity is not None:
            assert milestone.quantity <= 99_999_999_999 and milestone.quantity.as_tuple().exponent >= -4
    for recurrence in deadline.recurrences:
        assert recurrence.min_count is None or 1 <= recurrence.min_count <= 10_000
        if recurrence.ongoing:  # ongoing work reports on a rule the supervision can expand
            assert recurrence.rule and recurrence.label
            expand(recurrence.rule)


@given(text=any_text, context=CONTEXTS)
@example(text="\ud800", context=DeadlineContext(base_year=2015))
@example(text="每月不少於99999999999999999999次", context=DeadlineContext(base_year=2015))
@example(text="2015年底前完成並長效推進", context=DeadlineContext(base_year=2015))
@example(text="持續推進，按季度推進", context=DeadlineContext(base_year=2015))
def test_any_text_gives_a_deadline_or_a_deadline_error(text: str, context: DeadlineContext) -> None:
    read(text, context)


@given(text=deadline_texts(max_pieces=16), context=CONTEXTS)
def test_texts_built_from_the_grammar_give_a_deadline_or_a_deadline_error(text: str, context: DeadlineContext) -> None:
    read(text, context)


@given(text=deadline_texts(max_pieces=16), start=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 1, 1)))
def test_without_a_base_year_too(text: str, start: dt.date) -> None:
    try:
        parse_without_base_year(text, plan_start=start)
    except DeadlineError as error:
        assert error.text == text


@given(filler=st.sampled_from(["完", "x", "\x00", "\ud800", "、2015年底"]), extra=st.integers(min_value=1, max_value=5_000))
def test_texts_over_the_limit_are_refused_quickly_with_a_short_message(filler: str, extra: int) -> None:
    text = "2015年底" + filler * ((MAX_TEXT + extra) // len(filler))
    try:
        parse(text, context=DeadlineContext(base_year=2015))
    except DeadlineError as error:
        assert len(str(error)) < 600
    else:
        raise AssertionError("a text over the limit was read")


REPORTING_VALUES = st.one_of(
    st.none(), any_text, st.integers(), st.floats(), st.sampled_from(["monthly", "每月5日前", "每週五", "quarterly"]),
    st.dictionaries(st.sampled_from(["every", "due", "day", "x"]),
                    st.one_of(any_text, st.integers(), st.sampled_from(["monthly", "weekly", "5th day", "周一"])),
                    max_size=3),
)


@given(value=REPORTING_VALUES)
@example(value={"every": "weekly", "due": "周日"})
def test_any_reporting_value_gives_a_cadence_or_its_own_error(value: object) -> None:
    """A header's ``reporting:`` is a cadence whose rule expands, or a ReportingError (never another)."""
    try:
        cadence = read_reporting(value)
    except ReportingError as error:
        assert str(error)
        return
    freq, rule = reporting_rule(cadence)
    assert freq == cadence.every and 1 <= cadence.day <= (7 if freq == "weekly" else 28)
    expand(rule)
    assert describe(cadence) and describe(cadence, "zh-Hant") and describe(cadence, "en")
