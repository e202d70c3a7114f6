"""Reading one item of a 時間要求 text: a milestone (a date, a range, a duration, a quantity, a start
and done pair's halves) or a recurrence (每月…, 每季度…, festival-anchored yearly obligations).

Private to the deadline parser (``matrix.deadlines`` calls ``_read_milestone`` and ``_read_recurrence``);
the language itself is described in that module's docstring.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from dateutil.relativedelta import relativedelta

from duban.matrix.calendar import festival_date, festival_key
from duban.matrix.deadline_text import (
    _ARABIC_DIGIT,
    _BY_MARKER,
    _BY_PERIOD,
    _COUNT_DIGIT,
    _COUNT_UNITS,
    _DATE_CHARS,
    _DATED_WORDS,
    _DAY,
    _DONE_BEFORE_NUMBER,
    _DONE_WORD,
    _DURATION,
    _FESTIVAL_RE,
    _FILLER_AFTER,
    _FILLER_BEFORE,
    _FROM_NOW,
    _FROM_WORD,
    _HALF_YEAR,
    _ISO_DATE,
    _ISO_MONTH,
    _MID_YEAR,
    _MINIMUM,
    _MINIMUM_WORD,
    _MONTH,
    _NO_BASE_YEAR,
    _NOUN_DIGITS,
    _ONGOING,
    _PART_OF_MONTH_DUE,
    _PART_OF_MONTH_FIRST,
    _PERIOD,
    _PERIOD_WORDS,
    _PLAIN_COUNT,
    _QUANTITY,
    _QUARTER,
    _RANGE_CONNECTOR,
    _RANGE_FIRST_YEAR,
    _RELATIVE_YEAR,
    _RESULT_WORDS,
    _STAND_IN_FESTIVAL_YEAR,
    _STAND_IN_YEAR,
    _START_WORD,
    _THEN_WORD,
    _VAGUE_AFTER,
    _WEEKDAYS,
    _YEAR,
    _YEAR_DIGIT,
    _YEAR_END,
    MAX_YEAR,
    MIN_YEAR,
    _checked_year,
    _count,
    _date,
    _exact,
    _month_end,
    _number,
    _past,
    _quoted,
    _shown,
    _Unreadable,
    _year,
)
from duban.matrix.model import DeadlineContext, Milestone, Recurrence
from duban.matrix.reporting import rule as reporting_rule


@dataclass(frozen=True, slots=True)
class _Point:
    """One side of a date: the first and last day of what the words name (7月 → 07-01..07-31)."""

    first: dt.date
    last: dt.date
    year: int
    month: int | None


@dataclass(slots=True)
class _Memory:
    """What later items of the same text inherit from earlier ones."""

    year: int | None = None
    month: int | None = None
    needs_base_year: str | None = None  # the first piece that took its year from a missing base year


# -- milestones -------------------------------------------------------------------------------


def _read_milestone(piece: str, label: str, context: DeadlineContext, memory: _Memory) -> tuple[Milestone, str | None]:
    """The milestone of one item, and its role: "start" (2016年3月底前启动), "done" (a completion
    word follows the date: 6月底前完成) or None."""
    position = _past(_FILLER_BEFORE, piece)
    from_now = _FROM_NOW.match(piece, position)
    if from_now:
        position = from_now.end()

    duration = _read_duration(piece, position, context)
    start: dt.date | None = None
    if duration is not None:
        due, position = duration
        date_end = position
    else:
        point, position = _read_point(piece, position, context, memory, required=True)
        assert point is not None  # required=True raises instead of returning None
        due = point.last
        date_end = position
        position = _past(_FILLER_AFTER, piece, position)
        connector = _RANGE_CONNECTOR.match(piece, position)
        if connector:
            end_memory = _Memory(year=point.year, month=point.month)
            end_point, position = _read_point(piece, connector.end(), context, end_memory, required=False)
            date_end = position
            if end_point is None:
                raise _Unreadable(f"the range {_quoted(piece)} has no end date after {_quoted(connector.group())}")
            start, due = point.first, end_point.last
            if start > due:
                raise _Unreadable(f"the range {_quoted(piece)} ends ({_shown(due)}) before it starts ({_shown(start)})")
            point = end_point
            memory.needs_base_year = memory.needs_base_year or end_memory.needs_base_year
        memory.year, memory.month = point.year, point.month
    if from_now:
        start = _from_plan_start(piece, due, context)
    position = _past(_FILLER_AFTER, piece, position)

    if starts := _START_WORD.match(piece, position):
        if starts.end() < len(piece):
            _check_words(piece[starts.end():], piece)  # 3月底前启动试点: the work, without a quantity
        if start is not None or duration is not None:  # also 即日起至…
            raise _Unreadable(f"{_quoted(piece)}: the start (…{starts.group()}) must be one date, not a range or a length of time")
        return Milestone(due=due, label=label), "start"
    role = "done" if _DONE_WORD.search(piece, date_end) else None
    quantity, measure = _read_work(piece, position, marked=_BY_MARKER.search(piece, date_end, position) is not None
                                  or _RESULT_WORDS.match(piece, position) is not None)
    return Milestone(due=due, start=start, quantity=quantity, measure=measure, label=label), role


def _from_plan_start(piece: str, due: dt.date, context: DeadlineContext) -> dt.date | None:
    """The start of 即日起至…: the plan's start, which must come before the due date (none without one:
    the text still says by when)."""
    if context.plan_start is None:
        return None
    if context.plan_start > due:
        raise _Unreadable(f"{_quoted(piece)} ends ({_shown(due)}) before the plan starts ({context.plan_start})")
    return context.plan_start


def _read_work(piece: str, position: int, *, marked: bool) -> tuple[Decimal | None, str | None]:
    """The quantity and measure of the words after a date (50公里 in 11月底前新改建农村公路50公里), if any.

    A quantity may follow the date at once (2015年底完成25个村); other words only after a word that
    makes the date a deadline (``marked``: 前, 为止, 完成 …), and may then end in a quantity.
    """
    if position >= len(piece):
        return None, None
    found = _QUANTITY.fullmatch(piece, position)
    if found is None:
        if not marked:
            raise _Unreadable(
                f"unknown words {_quoted(piece[position:])} next to the date in {_quoted(piece)}"
                " (a date followed by the work says by when: …前 or …完成, e.g. 2026年11月底前新改建农村公路50公里)"
            )
        found = _trailing_quantity(piece, position)
        _check_words(piece[position : found.start() if found else len(piece)], piece)
        if found is None:
            return None, None
    measure = found["measure"]
    if measure != "%" and _DATE_CHARS.search(measure):
        raise _Unreadable(f"{_quoted(found.group())} in {_quoted(piece)} is neither a date nor a quantity")
    return _exact(found["number"], piece), measure


def _trailing_quantity(piece: str, position: int) -> re.Match[str] | None:
    """The quantity that ends the work's words: from their first Arabic digit (新改建农村公路50公里), or a
    Chinese number after a completion word (累计完成四十五个村); None if the words have no number."""
    digit = _COUNT_DIGIT.search(piece, position)
    if digit is not None:
        found = _QUANTITY.fullmatch(piece, digit.start())
        if found is None or piece[digit.start() - 1] == "第":  # 第3批: an ordinal, not a quantity
            raise _Unreadable(f"cannot read the quantity {_quoted(piece[digit.start():])} in {_quoted(piece)}")
        return found
    dones = list(_DONE_BEFORE_NUMBER.finditer(piece, position))
    return _QUANTITY.fullmatch(piece, dones[-1].end()) if dones else None


def _check_words(words: str, piece: str) -> None:
    """Words describing the work may not change or blur the date: no number, date or minimum in them."""
    if words.startswith(_VAGUE_AFTER):
        raise _Unreadable(f"{_quoted(piece)} is vague ({_quoted(words[:2])} after the date): write the last day, e.g. 2015年底前")
    if _PERIOD_WORDS.search(words):
        raise _Unreadable(f"the words {_quoted(words)} in {_quoted(piece)} name a period: write it as its own item, "
                          "e.g. 2026年9月底前完成，此后每年开展一次")
    plain = _NOUN_DIGITS.sub("", words)  # 5G基站: the noun's digits are part of the words
    if _ARABIC_DIGIT.search(plain) or _DATED_WORDS.search(plain) or _MINIMUM_WORD.search(words):
        raise _Unreadable(f"the words {_quoted(words)} in {_quoted(piece)} carry a number or a date the deadline does not explain")


def _read_duration(piece: str, position: int, context: DeadlineContext) -> tuple[dt.date, int] | None:
    """三年内 / 三年时间内 / 半年内 / 六个月内 → plan start + that long; None if not a duration."""
    found = _DURATION.match(piece, position)
    if found is None:
        return None
    years_token = found["years"]
    if years_token and not found["time"] and not found["and_half"]:
        if re.fullmatch(f"[{_YEAR_DIGIT}]{{4}}", years_token):
            return None  # 2015年内: within the year 2015, read as a date
        if re.fullmatch(f"[{_YEAR_DIGIT}]{{2}}", years_token):
            raise _Unreadable(
                f"{_quoted(found.group())} could be the year 20{years_token[-2:]} or {years_token} years; "
                f"write 20{years_token[-2:]}年底 or {years_token}年时间内"
            )
    if found["half_year"]:
        length = relativedelta(months=6)
    elif found["months"]:
        length = relativedelta(months=_number(found["months"]))
    else:
        length = relativedelta(years=_number(years_token), months=6 if found["and_half"] else 0)
    if length.years > 100 or length.months + 12 * length.years > 1200:
        raise _Unreadable(f"{_quoted(found.group())} is not a plausible length of time")
    if context.plan_start is None:
        raise _Unreadable(f"{_quoted(found.group())} counts from the plan's start, and the plan has no start date")
    try:
        due = context.plan_start + length
    except (ValueError, OverflowError):
        due = dt.date.max
    if due.year > MAX_YEAR:
        raise _Unreadable(f"{_quoted(found.group())} from the plan's start ({context.plan_start}) ends after {MAX_YEAR}")
    return due, found.end()


def _read_point(
    piece: str, position: int, context: DeadlineContext, memory: _Memory, *, required: bool
) -> tuple[_Point | None, int]:
    """One date at ``position``: ISO, year, month, day, quarter, half year or festival."""
    iso = _ISO_DATE.match(piece, position)
    if iso:
        year = _checked_year(_number(iso["year"]), iso.group(), piece)
        day = _date(piece, year, _number(iso["month"]), _number(iso["day"]))
        return _Point(day, day, day.year, day.month), iso.end()
    if iso_month := _ISO_MONTH.match(piece, position):
        year = _checked_year(_number(iso_month["year"]), iso_month.group(), piece)
        last = _month_end(year, _number(iso_month["month"]))
        return _Point(last.replace(day=1), last, year, last.month), iso_month.end()

    explicit_year, year, position = _point_year(piece, position, context, memory)

    if found := _MONTH.match(piece, position):
        return _month_point(found, piece, year), found.end()

    if found := _QUARTER.match(piece, position):
        quarter = _number(found["quarter"])
        if not 1 <= quarter <= 4:
            raise _Unreadable(f"there is no quarter {quarter} in {_quoted(piece)}")
        last_month = quarter * 3
        return _Point(dt.date(year, last_month - 2, 1), _month_end(year, last_month), year, last_month), found.end()

    if found := _DAY.match(piece, position):
        if memory.month is None:
            raise _Unreadable(f"{_quoted(found.group())} in {_quoted(piece)} has no month")
        day = _date(piece, year, memory.month, _number(found["day"]))
        return _Point(day, day, year, day.month), found.end()

    # festivals before 年中 so that 2015年中秋 is 中秋, not mid-2015 followed by 秋
    if found := _FESTIVAL_RE.match(piece, position):
        day = _festival_day(found.group(), year)
        return _Point(day, day, year, day.month), found.end()

    if found := _HALF_YEAR.match(piece, position):
        if found.group() == "上半年":
            return _Point(dt.date(year, 1, 1), dt.date(year, 6, 30), year, 6), found.end()
        return _Point(dt.date(year, 7, 1), dt.date(year, 12, 31), year, 12), found.end()

    if found := _MID_YEAR.match(piece, position):
        middle = dt.date(year, 6, 30)
        return _Point(middle, middle, year, 6), found.end()

    if found := _YEAR_END.match(piece, position):
        end = dt.date(year, 12, 31)
        return _Point(end, end, year, 12), found.end()

    if explicit_year is not None:
        return _Point(dt.date(year, 1, 1), dt.date(year, 12, 31), year, None), position
    if required:
        rest = piece[position:]
        raise _Unreadable(f"no date in {_quoted(piece)}" if rest == piece else f"no date at {_quoted(rest)} in {_quoted(piece)}")
    return None, position




def _point_year(piece: str, position: int, context: DeadlineContext, memory: _Memory) -> tuple[int | None, int, int]:
    """The year a date at ``position`` names (or None), the year it is read in, and where its year ends."""
    explicit_year: int | None = None
    if relative := _RELATIVE_YEAR.match(piece, position):
        return _relative_year(relative, piece, context, memory)
    year_match = _YEAR.match(piece, position) or _RANGE_FIRST_YEAR.match(piece, position)
    if year_match:
        explicit_year = _year(year_match["year"])
        if explicit_year == 0:
            raise _Unreadable(f"there is no year 0 in {_quoted(piece)}")
        _checked_year(explicit_year, year_match.group(), piece)
        position = year_match.end()
    year = explicit_year if explicit_year is not None else (memory.year or context.base_year)
    if year == _NO_BASE_YEAR:
        memory.needs_base_year = memory.needs_base_year or piece
        year = _STAND_IN_YEAR
    elif year != _STAND_IN_YEAR and not MIN_YEAR <= year <= MAX_YEAR:
        raise _Unreadable(f"the plan's base year {year} is not between {MIN_YEAR} and {MAX_YEAR}")
    return explicit_year, year, position


def _relative_year(
    found: re.Match[str], piece: str, context: DeadlineContext, memory: _Memory
) -> tuple[int | None, int, int]:
    """本年度 / 当年 (the base year) and 次年 / 翌年 (the year after the text's year so far, or the
    base year): read like an explicit year."""
    year = context.base_year if found["this"] else (memory.year or context.base_year)
    if year in (_NO_BASE_YEAR, _STAND_IN_YEAR):
        memory.needs_base_year = memory.needs_base_year or piece
        return _STAND_IN_YEAR, _STAND_IN_YEAR, found.end()
    year = _checked_year(year + (1 if found["next"] else 0), found.group(), piece)
    return year, year, found.end()


def _month_point(found: re.Match[str], piece: str, year: int) -> _Point:
    """7月 / 7月20日 / 7月底 / 7月上旬 …: the days that month (or that part of it) spans."""
    month = _number(found["month"])
    if not 1 <= month <= 12:
        raise _Unreadable(f"there is no month {month} in {_quoted(piece)}")
    if found["day"]:
        day = _date(piece, year, month, _number(found["day"]))
        return _Point(day, day, year, month)
    first = _date(piece, year, month, 1)
    last = _month_end(year, month)
    part = found["part"]
    if part in ("底", "末"):
        first = last
    elif part:
        first = first.replace(day=_PART_OF_MONTH_FIRST[part])
        last = last if part == "下旬" else first.replace(day=_PART_OF_MONTH_DUE[part])
    return _Point(first, last, year, month)


def _festival_day(name: str, year: int) -> dt.date:
    try:
        if year == _STAND_IN_YEAR:  # a festival exists in every year: any real year checks the rest
            return festival_date(name, _STAND_IN_FESTIVAL_YEAR).replace(year=_STAND_IN_YEAR)
        return festival_date(name, year)
    except ValueError as error:
        raise _Unreadable(f"{_quoted(name)} in {year}: {error}") from None


# -- ongoing work -----------------------------------------------------------------------------

_LINK_PUNCTUATION = ",;、"  # 2027年起，持续推进: the comma between the start and the work
_ALL_ALONG = ("全年", "全程", "今后", "立即", "即日", "即时", "马上")  # 全年持续推进, 立即启动，长期坚持: no date of its own


def _ongoing_at(piece: str) -> int | None:
    """Where the ongoing words (持续, 长期, 常态, 长效 …) of an item start, or None if it has none."""
    found = _ONGOING.search(piece)
    return None if found is None else found.start()


def _read_ongoing(
    piece: str, at: int, labels: tuple[str, str], context: DeadlineContext, memory: _Memory, after: dt.date | None
) -> tuple[Milestone | None, Recurrence] | None:
    """Ongoing work (持续推进, 2027年持续推进, 2027年起…, 2026年底前完成并长效推进, 完成后持续推进), read at
    ``at`` (where its words start): the milestone before it, if the item has one, and the obligation.

    ``labels`` are the original text of the item before and from ``at``; ``after`` is the due date of
    the text's last milestone so far. The obligation starts with a date written before its words (its
    first day; after 以后/之后, the day after it), else the day after the milestone it follows, else the
    plan's start. None when the words before ``at`` make the item a milestone whose work happens to
    begin with such a word (2026年底前完成长期规划编制): there is no link word and no bare date.
    """
    head = piece[:at].rstrip(_LINK_PUNCTUATION)
    link = _THEN_WORD.search(head) or _FROM_WORD.search(head)
    core = head[: link.start()] if link else head
    milestone: Milestone | None = None
    if not core or _FILLER_AFTER.fullmatch(core) or core in _ALL_ALONG:
        starts = after + dt.timedelta(days=1) if after else context.plan_start
    else:
        point, end = _read_point(core, _past(_FILLER_BEFORE, core), context, memory, required=True)
        assert point is not None
        if end == len(core):  # a bare date: 2027年持续推进, 2027年起…, 2026年底以后…
            then = link is not None and _THEN_WORD.fullmatch(link.group()) is not None
            starts = point.last + dt.timedelta(days=1) if then else point.first
            memory.year, memory.month = point.year, point.month
        elif link is None or _THEN_WORD.fullmatch(link.group()) is None:
            return None
        else:
            milestone, _ = _read_milestone(core, labels[0], context, memory)
            starts = milestone.due + dt.timedelta(days=1)
    word = _ONGOING.match(piece, at)
    _check_words(piece[word.end() if word else at :], piece)
    freq, rule = reporting_rule(context.reporting)
    return milestone, Recurrence(freq=freq, rule=rule, start=starts, until=context.plan_end, label=labels[1], ongoing=True)


# -- recurrences ------------------------------------------------------------------------------


def _read_recurrence(piece: str, label: str, context: DeadlineContext) -> Recurrence:
    body = piece.removeprefix("其中")
    by_period = _BY_PERIOD.match(body) is not None  # 按季度推进: ongoing work reported each quarter
    if by_period:
        body = "每" + body[1:]
    anchor: str | None = None
    rule = ""
    period: re.Match[str] | None
    if body.startswith("每"):
        period = _PERIOD.match(body)
        if period is None:
            raise _Unreadable(f"unknown period in {_quoted(piece)}: expected 每月, 每季度, 每半年, 每年 or 每周")
        if period["year_festival"]:
            freq, anchor = "yearly", festival_key(period["year_festival"])
        else:
            freq, rule = _rule(period, piece)
    else:
        period = _FESTIVAL_RE.match(body)
        if period is None:
            raise _Unreadable(
                f"{_quoted(piece)}: a minimum (不少于…) needs a period such as 每月 or 每年, or a festival such as 春节"
            )
        freq, anchor = "yearly", festival_key(period.group())

    position = _past(_FILLER_AFTER, body, period.end())
    min_count: int | None = None
    min_amount: Decimal | None = None
    amount_unit: str | None = None
    while position < len(body):
        minimum = _MINIMUM.search(body, position)
        words = body[position : minimum.start() if minimum else len(body)]
        if _MINIMUM_WORD.search(words):
            raise _Unreadable(f"cannot read the minimum in {_quoted(words)} of {_quoted(piece)}")
        plain = _PLAIN_COUNT.search(words) if minimum is None and min_count is None else None
        if _DATED_WORDS.search(words[: plain.start()] if plain else words):
            raise _Unreadable(f"the words {_quoted(words)} in {_quoted(piece)} carry a date the period does not explain")
        if plain is not None:  # 每季度开展1次: the count ends the words
            if min_amount is not None:
                raise _Unreadable(f"unknown words {_quoted(words)} after the minimum in {_quoted(piece)}")
            min_count = _count(plain["number"], piece)
            break
        if minimum is None:
            if min_count is not None or min_amount is not None:
                raise _Unreadable(f"unknown words {_quoted(words)} after the minimum in {_quoted(piece)}")
            break  # the words describe what recurs (每月5日前报送进展)
        if minimum["unit"] in _COUNT_UNITS:
            if min_count is not None:
                raise _Unreadable(f"{_quoted(piece)} has two minimum counts")
            min_count = _count(minimum["number"], piece)
        else:
            if min_amount is not None:
                raise _Unreadable(f"{_quoted(piece)} has two minimum amounts")
            min_amount, amount_unit = _exact(minimum["number"], piece), minimum["unit"]
        position = _past(_FILLER_AFTER, body, minimum.end())
    return Recurrence(
        freq=freq,
        rule=rule,
        anchor=anchor,
        min_count=min_count,
        min_amount=min_amount,
        amount_unit=amount_unit,
        start=context.plan_start,
        until=context.plan_end,
        label=label,
        ongoing=by_period,
    )


def _rule(period: re.Match[str], piece: str) -> tuple[str, str]:
    """(freq, RRULE body) of a 每… period."""
    if period["year_month"]:
        month = _number(period["year_month"])
        if not 1 <= month <= 12:
            raise _Unreadable(f"there is no month {month} in {_quoted(piece)}")
        if period["year_day"]:
            day = _number(period["year_day"])
            _date(piece, 2000, month, day)  # 2000 is a leap year: only truly impossible days fail
            if (month, day) == (2, 29):
                raise _Unreadable(f"2月29日 in {_quoted(piece)} does not come every year")
        else:
            day = _part_day(period["year_part"])
        return "yearly", f"FREQ=YEARLY;BYMONTH={month};BYMONTHDAY={day}"
    if period["year"]:
        return "yearly", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=31"
    if period["half"]:
        return "half_yearly", "FREQ=YEARLY;BYMONTH=6,12;BYMONTHDAY=-1"
    if period["quarter"]:
        return "quarterly", "FREQ=YEARLY;BYMONTH=3,6,9,12;BYMONTHDAY=-1"
    if period["month"]:
        if period["month_day"]:
            day = _number(period["month_day"])
            if not 1 <= day <= 28:
                raise _Unreadable(
                    f"day {day} in {_quoted(piece)} does not exist in every month; write 每月底 for the last day"
                )
        else:
            day = _part_day(period["month_part"])
        return "monthly", f"FREQ=MONTHLY;BYMONTHDAY={day}"
    weekday = _WEEKDAYS[period["weekday"]] if period["weekday"] else "SU"  # a week ends on Sunday
    return "weekly", f"FREQ=WEEKLY;BYDAY={weekday}"


def _part_day(part: str | None) -> int:
    """BYMONTHDAY of a part of a month: 初/上旬 10, 中旬 20, otherwise the last day."""
    return _PART_OF_MONTH_DUE.get(part or "", -1)
