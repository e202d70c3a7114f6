"""Festival dates and the official Chinese working-day calendar, computed without a clock.

``festival_date`` answers "when is 春節 / 端午 / 暑期 in year Y" for the deadline language.
``WorkCalendar`` answers "is this a working day" and counts working days, honouring the State
Council's public holidays and make-up working days (調休) as the ``chinese_calendar`` package
publishes them (2004–2026), and the days an office imported from later notices (``duban calendar
import``): for a year with an imported table, that table wins over the package. Outside both it falls
back to Monday–Friday and records the year in ``fallback_years`` so that a caller can say so once;
this module never prints or logs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from functools import lru_cache
from itertools import accumulate

import chinese_calendar
from lunardate import LunarDate

from duban.matrix.script import fold

__all__ = ["FESTIVAL_ANCHORS", "WorkCalendar", "festival_date", "festival_key", "package_days"]

# Canonical key of every festival name the deadline language knows, by its folded (simplified,
# width-folded) spelling. The keys double as ``Recurrence.anchor`` values, so callers may pass
# either a Chinese name or an anchor to ``festival_date``.
_FESTIVAL_KEYS: dict[str, str] = {
    "春节": "spring_festival",
    "元旦": "new_year",
    "清明": "qingming",
    "清明节": "qingming",
    "五一": "labour_day",
    "劳动节": "labour_day",
    "五一劳动节": "labour_day",
    "五一节": "labour_day",
    "端午": "dragon_boat",
    "端午节": "dragon_boat",
    "中秋": "mid_autumn",
    "中秋节": "mid_autumn",
    "国庆": "national_day",
    "国庆节": "national_day",
    "十一": "national_day",
    "暑期": "summer",
    "暑假": "summer",
    "寒假": "winter_break",
}

#: Every anchor ``festival_date`` understands (the values of ``Recurrence.anchor``).
FESTIVAL_ANCHORS: frozenset[str] = frozenset(_FESTIVAL_KEYS.values())

# lunardate covers lunar years [1900, 2100); chinese_calendar's solar terms cover [1900, 2100].
_QINGMING_FALLBACK = (4, 5)


def festival_key(name: str) -> str:
    """The anchor (``spring_festival`` …) of a festival name in either script; ValueError if unknown."""
    if name in FESTIVAL_ANCHORS:
        return name
    key = _FESTIVAL_KEYS.get(fold(name))
    if key is None:
        raise ValueError(f"unknown festival {name!r}")
    return key


@lru_cache(maxsize=4096)
def festival_date(name: str, year: int) -> dt.date:
    """The date of a festival in a Gregorian year; the due date of "春節前" and the like.

    - 春節 / 端午 / 中秋: lunar 1/1, 5/5, 8/15 of the lunar year that starts in ``year``
      (``lunardate``; years 1900–2099, ValueError outside).
    - 清明: the 清明 solar term (``chinese_calendar.get_solar_terms``, 1900–2100); outside that
      range April 5, the date it falls on in most years.
    - 元旦 01-01, 五一 / 勞動節 05-01, 國慶 / 十一 10-01.
    - 暑期 / 暑假 08-31: the summer holiday ends before September's school term.
    - 寒假: the day before 春節 — the winter holiday always spans it, and an obligation "by the
      winter holiday" must be met before people scatter for the festival.

    ``name`` may be simplified or traditional Chinese, or an anchor such as ``spring_festival``.
    Unknown names raise ValueError.
    """
    key = festival_key(name)
    if key == "new_year":
        return dt.date(year, 1, 1)
    if key == "labour_day":
        return dt.date(year, 5, 1)
    if key == "national_day":
        return dt.date(year, 10, 1)
    if key == "summer":
        return dt.date(year, 8, 31)
    if key == "spring_festival":
        return _lunar(year, 1, 1)
    if key == "winter_break":
        return _lunar(year, 1, 1) - dt.timedelta(days=1)
    if key == "dragon_boat":
        return _lunar(year, 5, 5)
    if key == "mid_autumn":
        return _lunar(year, 8, 15)
    if key == "qingming":
        return _qingming(year)
    raise AssertionError(key)  # every value of _FESTIVAL_KEYS is handled above


def _lunar(year: int, month: int, day: int) -> dt.date:
    solar: dt.date = LunarDate(year, month, day).to_solar_date()  # lunardate ships no type information
    return solar


def _qingming(year: int) -> dt.date:
    try:
        terms = chinese_calendar.get_solar_terms(dt.date(year, 4, 1), dt.date(year, 4, 30))
    except NotImplementedError:
        return dt.date(year, *_QINGMING_FALLBACK)
    for day, term in terms:
        if term == "清明":
            qingming: dt.date = day  # chinese_calendar ships no type information
            return qingming
    return dt.date(year, *_QINGMING_FALLBACK)  # not reached in [1900, 2100]; kept for safety


class WorkCalendar:
    """Working days of the official Chinese calendar, with Monday–Friday outside its known years.

    ``imported`` — the days an office loaded from the State Council's notices (date → is a working
    day), ``imported_years`` the years those notices are for: such a year is Monday–Friday with the
    imported days applied, whatever the package says (the office's table wins). A stored day outside
    those years (元旦 of next year's notice starting on Dec 31) is applied on top of that year's answer.

    Per-year tables are built on first use and kept, so repeated questions about the same dates
    (a sweep over 20,000 tasks) cost a dictionary lookup and an index.

    ``fallback_years`` collects every year that was answered by the Monday–Friday fallback because
    neither ``chinese_calendar`` nor an imported table covers it; callers report that once, this
    class stays silent.
    """

    def __init__(self, imported: Mapping[dt.date, bool] | None = None, imported_years: Iterable[int] = ()) -> None:
        self.fallback_years: set[int] = set()
        self.imported_years: frozenset[int] = frozenset(imported_years)
        self._imported: dict[int, dict[dt.date, bool]] = {}
        for day, working in (imported or {}).items():
            self._imported.setdefault(day.year, {})[day] = working
        # year -> (working flag per day of year, index 0 = Jan 1; running count of working days
        # up to and including each day). Both tuples are immutable once built.
        self._tables: dict[int, tuple[tuple[bool, ...], tuple[int, ...]]] = {}
        # Answers by arguments: a plan's milestones share a handful of due dates, so a sweep asks
        # the same few questions tens of thousands of times.
        self._added: dict[tuple[dt.date, int], dt.date] = {}
        self._between: dict[tuple[dt.date, dt.date], int] = {}

    def source(self, year: int) -> str:
        """Where ``year``'s days off come from: ``imported`` (the office's table), ``package``
        (``chinese_calendar``) or ``weekdays`` (neither: Monday–Friday)."""
        if year in self.imported_years:
            return "imported"
        return "package" if package_days(year) is not None else "weekdays"

    # -- public API ---------------------------------------------------------------------------

    def is_working_day(self, day: dt.date) -> bool:
        """True if ``day`` is a working day (a weekday that is no holiday, or a make-up day)."""
        flags, _ = self._table(day.year)
        return flags[_day_index(day)]

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """The number of working days ``d`` with ``start < d <= end``.

        ``start`` itself is not counted and ``end`` is, so the result is "how many working days
        later is ``end``". If ``end < start`` the result is minus the number of working days
        ``d`` with ``end < d <= start``; ``working_days_between(a, a)`` is 0.
        """
        found = self._between.get((start, end))
        if found is None:
            found = self._between[(start, end)] = self._count_between(start, end)
        return found

    def _count_between(self, start: dt.date, end: dt.date) -> int:
        if end < start:
            return -self._count_between(end, start)
        if start.year == end.year:
            _, running = self._table(start.year)
            return running[_day_index(end)] - running[_day_index(start)]
        _, start_running = self._table(start.year)
        count = start_running[-1] - start_running[_day_index(start)]
        for year in range(start.year + 1, end.year):
            count += self._table(year)[1][-1]
        return count + self._table(end.year)[1][_day_index(end)]

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        """The ``n``-th working day after ``day``.

        ``n == 0`` gives ``day`` itself when it is a working day, else the next working day.
        ``n > 0`` counts forward from the day after ``day``; ``n < 0`` counts backward from the
        day before it (``add_working_days(d, -1)`` is the last working day before ``d``).
        """
        found = self._added.get((day, n))
        if found is None:
            found = self._added[(day, n)] = self._walk(day, n)
        return found

    def _walk(self, day: dt.date, n: int) -> dt.date:
        if n == 0:
            return day if self.is_working_day(day) else self._walk(day, 1)
        step = dt.timedelta(days=1 if n > 0 else -1)
        remaining = abs(n)
        current = day
        while remaining:
            current += step
            if self.is_working_day(current):
                remaining -= 1
        return current

    def next_working_day(self, day: dt.date) -> dt.date:
        """The first working day strictly after ``day``."""
        return self.add_working_days(day, 1)

    # -- tables -------------------------------------------------------------------------------

    def _table(self, year: int) -> tuple[tuple[bool, ...], tuple[int, ...]]:
        table = self._tables.get(year)
        if table is None:
            table = self._build_table(year)
            self._tables[year] = table
        return table

    def _build_table(self, year: int) -> tuple[tuple[bool, ...], tuple[int, ...]]:
        first = dt.date(year, 1, 1)
        days = [first + dt.timedelta(days=i) for i in range((dt.date(year + 1, 1, 1) - first).days)]
        stored = self._imported.get(year, {})
        if year in self.imported_years:
            flags = tuple(stored.get(d, d.weekday() < 5) for d in days)
        else:
            try:
                flags = tuple(bool(chinese_calendar.is_workday(d)) for d in days)
            except NotImplementedError:
                self.fallback_years.add(year)
                flags = tuple(d.weekday() < 5 for d in days)
            if stored:
                flags = tuple(stored.get(d, f) for d, f in zip(days, flags, strict=True))
        return flags, tuple(accumulate(int(f) for f in flags))


@lru_cache(maxsize=64)
def package_days(year: int) -> dict[dt.date, tuple[bool, str]] | None:
    """The days off and make-up working days ``chinese_calendar`` lists for ``year`` (date → is a working
    day, festival name in Chinese), or None when the package does not cover the year."""
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return None
    from chinese_calendar.constants import Holiday, holidays, workdays

    names = {h.value: h.chinese for h in Holiday}
    out = {d: (False, names.get(n, n)) for d, n in holidays.items() if d.year == year}
    out.update({d: (True, f"{names.get(n, n)}调休") for d, n in workdays.items() if d.year == year})
    return dict(sorted(out.items()))


def _day_index(day: dt.date) -> int:
    """Position of ``day`` in its year's table (Jan 1 → 0)."""
    return day.toordinal() - dt.date(day.year, 1, 1).toordinal()
