"""Festival dates and the official working-day calendar (holidays and make-up days 調休)."""

from __future__ import annotations

import datetime as dt

import pytest

from duban.matrix.calendar import WorkCalendar, festival_date

D = dt.date


@pytest.mark.parametrize(
    ("name", "year", "expected"),
    [
        ("春節", 2016, D(2016, 2, 8)),
        ("春节", 2017, D(2017, 1, 28)),
        ("spring_festival", 2015, D(2015, 2, 19)),
        ("端午", 2016, D(2016, 6, 9)),
        ("端午節", 2016, D(2016, 6, 9)),
        ("中秋", 2015, D(2015, 9, 27)),
        ("清明", 2016, D(2016, 4, 4)),
        ("清明", 2015, D(2015, 4, 5)),
        ("元旦", 2016, D(2016, 1, 1)),
        ("五一", 2016, D(2016, 5, 1)),
        ("勞動節", 2016, D(2016, 5, 1)),
        ("國慶", 2015, D(2015, 10, 1)),
        ("十一", 2015, D(2015, 10, 1)),
        ("暑期", 2015, D(2015, 8, 31)),
        ("暑假", 2015, D(2015, 8, 31)),
        ("寒假", 2016, D(2016, 2, 7)),
        ("清明", 2101, D(2101, 4, 5)),  # outside the solar-term tables: the documented fallback
    ],
)
def test_festival_date(name: str, year: int, expected: dt.date) -> None:
    assert festival_date(name, year) == expected


def test_unknown_festival_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="聖誕"):
        festival_date("聖誕", 2015)


@pytest.fixture
def calendar() -> WorkCalendar:
    return WorkCalendar()


def test_national_day_week_2015(calendar: WorkCalendar) -> None:
    for day in range(1, 8):
        assert not calendar.is_working_day(D(2015, 10, day)), day
    assert calendar.is_working_day(D(2015, 10, 10))  # a Saturday made a working day (調休)
    assert calendar.is_working_day(D(2015, 9, 30))
    assert calendar.is_working_day(D(2015, 10, 8))
    assert not calendar.fallback_years


def test_spring_festival_2016(calendar: WorkCalendar) -> None:
    for day in range(7, 14):
        assert not calendar.is_working_day(D(2016, 2, day)), day
    assert calendar.is_working_day(D(2016, 2, 6))  # Saturday, make-up day
    assert calendar.is_working_day(D(2016, 2, 14))  # Sunday, make-up day


def test_ordinary_weekend_is_not_working(calendar: WorkCalendar) -> None:
    assert not calendar.is_working_day(D(2015, 7, 18))
    assert not calendar.is_working_day(D(2015, 7, 19))
    assert calendar.is_working_day(D(2015, 7, 17))


def test_working_days_between_counts_end_not_start(calendar: WorkCalendar) -> None:
    # Wed 2015-09-30 → Sat 2015-10-10: the holiday week counts nothing; Thu 8, Fri 9, Sat 10 count.
    assert calendar.working_days_between(D(2015, 9, 30), D(2015, 10, 10)) == 3
    assert calendar.working_days_between(D(2015, 10, 10), D(2015, 9, 30)) == -3
    assert calendar.working_days_between(D(2015, 7, 17), D(2015, 7, 17)) == 0
    assert calendar.working_days_between(D(2015, 7, 17), D(2015, 7, 20)) == 1  # Fri → Mon


def test_working_days_between_spans_years(calendar: WorkCalendar) -> None:
    one_by_one = sum(
        calendar.is_working_day(D(2015, 12, 1) + dt.timedelta(days=i)) for i in range(1, 500)
    )
    end = D(2015, 12, 1) + dt.timedelta(days=499)
    assert calendar.working_days_between(D(2015, 12, 1), end) == one_by_one
    assert calendar.working_days_between(end, D(2015, 12, 1)) == -one_by_one


def test_add_working_days(calendar: WorkCalendar) -> None:
    assert calendar.add_working_days(D(2015, 9, 30), 0) == D(2015, 9, 30)
    assert calendar.add_working_days(D(2015, 10, 1), 0) == D(2015, 10, 8)
    assert calendar.add_working_days(D(2015, 9, 30), 1) == D(2015, 10, 8)
    assert calendar.add_working_days(D(2015, 9, 30), 3) == D(2015, 10, 10)
    assert calendar.add_working_days(D(2015, 10, 8), -1) == D(2015, 9, 30)
    assert calendar.next_working_day(D(2016, 2, 5)) == D(2016, 2, 6)
    assert calendar.next_working_day(D(2016, 2, 6)) == D(2016, 2, 14)


def test_add_and_count_agree(calendar: WorkCalendar) -> None:
    start = D(2016, 1, 20)
    for n in range(0, 40):
        later = calendar.add_working_days(start, n)
        assert calendar.working_days_between(start, later) == n


def test_years_without_official_data_fall_back_to_weekdays(calendar: WorkCalendar) -> None:
    assert calendar.is_working_day(D(2035, 10, 1))  # a Monday; no holiday data for 2035
    assert not calendar.is_working_day(D(2035, 10, 6))  # Saturday
    assert calendar.fallback_years == {2035}
    assert calendar.next_working_day(D(2035, 10, 5)) == D(2035, 10, 8)
    assert calendar.working_days_between(D(2035, 10, 1), D(2035, 10, 8)) == 5
    assert calendar.is_working_day(D(2015, 10, 12))
    assert calendar.fallback_years == {2035}
