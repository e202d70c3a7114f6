"""A plan's reporting cadence (``reporting:``): how it is written, the rule of its reports, its words.

Ongoing work (持續推進, 長期堅持 …) has no date of its own: it is an obligation to report progress once
per period of the plan's cadence. The default is monthly, due on the 5th day of the next month, as
offices write 每月5日前報送. The due day is a calendar day: a working-day due (第5個工作日) would need
the official calendar where recurrences are expanded, which they are not given; it is refused with
that advice rather than read as something else.

Written in a plan header as ``reporting: monthly`` (月度 / 每月 too), ``reporting: 每月5日前`` or a
mapping ``{every: monthly, due: 5}`` (``due`` also ``5日``, ``5th``, ``5th day``). Weekly reports are
due on a weekday of the same week (``due: 5`` or 周五: Friday; default Friday).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from duban.matrix.model import Reporting
from duban.matrix.script import fold_width, to_simplified

__all__ = ["DEFAULT_REPORTING", "ReportingError", "describe", "read_reporting", "rule"]

DEFAULT_REPORTING = Reporting()

_EVERY = {
    "weekly": "weekly", "week": "weekly", "每周": "weekly", "周": "weekly", "每星期": "weekly",
    "monthly": "monthly", "month": "monthly", "每月": "monthly", "月度": "monthly", "月": "monthly",
    "quarterly": "quarterly", "quarter": "quarterly", "每季度": "quarterly", "每季": "quarterly", "季度": "quarterly",
    "half_yearly": "half_yearly", "half-yearly": "half_yearly", "每半年": "half_yearly", "半年": "half_yearly",
    "yearly": "yearly", "annually": "yearly", "year": "yearly", "每年": "yearly", "年度": "yearly",
}  # fmt: skip
_DEFAULT_DAY = {"weekly": 5}
_WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_WEEKDAY_WORDS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "日": 7, "天": 7}
_CHINESE_SMALL = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
# 每月5日前 / 每月5日前报送 / 每季度10日 / 每周五: a cadence and its due day in one text
_COMBINED = re.compile(r"(?P<every>每(?:个)?(?:月|季度|季|半年|年|周|星期))(?:(?P<day>\d{1,2}|[一二三四五六七八九十]{1,3})[日号]|(?P<weekday>[一二三四五六日天]))?"
                       r"(?:前|之前|以前)?(?:报送(?:进展|工作进展|进度)?)?")
_DAY = re.compile(r"(?:第)?(?P<day>\d{1,2}|[一二三四五六七八九十]{1,3})(?:st|nd|rd|th)?(?:[日号]|day|calendarday)?(?:前|之前|以前)?")
_WORKING = re.compile(r"workingday|workday|businessday|工作日")


class ReportingError(ValueError):
    """A ``reporting:`` value that is not a cadence; the message says what is accepted."""


def read_reporting(value: Any) -> Reporting:
    """The cadence a header's ``reporting:`` value names (None or empty: the default)."""
    if value is None or value == "":
        return DEFAULT_REPORTING
    if isinstance(value, Mapping):
        unknown = sorted(str(k) for k in value if k not in ("every", "due"))
        if unknown:
            raise ReportingError(f"unknown key {', '.join(unknown)}: a reporting mapping has 'every' and 'due'")
        every = _every(value.get("every", "monthly"))
        return Reporting(every=every, day=_due_day(value.get("due"), every))
    if not isinstance(value, str):
        raise ReportingError(f"{value!r} is not a cadence: write monthly, quarterly, weekly, … or 每月5日前")
    text = _folded(value)
    if text in _EVERY:
        return Reporting(every=_EVERY[text], day=_DEFAULT_DAY.get(_EVERY[text], 5))
    found = _COMBINED.fullmatch(text)
    if found is None:
        raise ReportingError(f"{value!r} is not a cadence: write monthly, quarterly, weekly, … or 每月5日前")
    every = _EVERY[found["every"].replace("个", "")]
    day = found["day"] or found["weekday"]
    return Reporting(every=every, day=_due_day(day, every))


def _folded(value: Any) -> str:
    return re.sub(r"\s+", "", to_simplified(fold_width(str(value)))).lower()


def _every(value: Any) -> str:
    text = _folded(value)
    if text not in _EVERY:
        raise ReportingError(f"every: {value!r} is not a period: weekly, monthly, quarterly, half_yearly or yearly")
    return _EVERY[text]


def _due_day(value: Any, every: str) -> int:
    if value is None or value == "":
        return _DEFAULT_DAY.get(every, 5)
    text = _folded(value)
    if _WORKING.search(text):
        raise ReportingError(
            f"due: {value!r}: a working-day due is not supported; write the calendar day (due: 5 for 每月5日前)"
        )
    if every == "weekly" and text.lstrip("周星期") in _WEEKDAY_WORDS:
        return _WEEKDAY_WORDS[text.lstrip("周星期")]
    found = _DAY.fullmatch(text)
    day = None
    if found:
        token = found["day"]
        day = int(token) if token.isdigit() else _small(token)
    top = 7 if every == "weekly" else 28
    if day is None or not 1 <= day <= top:
        what = "a weekday 1–7 (1 = Monday)" if every == "weekly" else "a day 1–28 of the next period's first month"
        raise ReportingError(f"due: {value!r} is not {what}")
    return day


def _small(token: str) -> int | None:
    if token in _CHINESE_SMALL:
        return _CHINESE_SMALL[token]
    if len(token) == 2 and token[0] == "十":
        return 10 + _CHINESE_SMALL.get(token[1], 0)
    if len(token) in (2, 3) and token[1] == "十":
        tens = _CHINESE_SMALL.get(token[0], 0) * 10
        return tens + (_CHINESE_SMALL.get(token[2], 0) if len(token) == 3 else 0)
    return None


def rule(reporting: Reporting) -> tuple[str, str]:
    """(freq, RRULE body) whose occurrences are the report due dates of the cadence."""
    day = reporting.day
    if reporting.every == "weekly":
        return "weekly", f"FREQ=WEEKLY;BYDAY={_WEEKDAY_CODES[day - 1]}"
    months = {"monthly": "", "quarterly": "1,4,7,10", "half_yearly": "1,7", "yearly": "1"}[reporting.every]
    if not months:
        return "monthly", f"FREQ=MONTHLY;BYMONTHDAY={day}"
    return reporting.every, f"FREQ=YEARLY;BYMONTH={months};BYMONTHDAY={day}"


_PERIOD_WORDS = {
    "weekly": ("每周", "每週", "weekly"), "monthly": ("每月", "每月", "monthly"),
    "quarterly": ("每季度", "每季度", "quarterly"), "half_yearly": ("每半年", "每半年", "half-yearly"),
    "yearly": ("每年", "每年", "yearly"),
}  # fmt: skip
_NEXT_PERIOD_WORDS = {
    "monthly": ("", "", "the next month"), "quarterly": ("次月", "次月", "the month after each quarter"),
    "half_yearly": ("次月", "次月", "the month after each half year"),
    "yearly": ("次年1月", "次年1月", "January of the next year"),
}  # fmt: skip


def describe(reporting: Reporting, language: str = "zh-Hans") -> str:
    """How the cadence is named in a letter: 每月5日前报送进展 / 每月5日前報送進展 / progress due by the 5th monthly."""
    index = {"zh-Hans": 0, "zh-Hant": 1}.get(language, 2)
    period = _PERIOD_WORDS[reporting.every][index]
    if reporting.every == "weekly":
        weekday = "一二三四五六日"[reporting.day - 1]
        day_words = (f"周{weekday}前", f"週{weekday}前", f"progress due each {_WEEKDAY_CODES[reporting.day - 1]}")
        return (f"{period}{day_words[0]}报送进展", f"{period}{day_words[1]}報送進展", day_words[2])[index]
    after = _NEXT_PERIOD_WORDS[reporting.every][index]
    if index == 2:
        return f"progress due {reporting.every} by day {reporting.day} of {after}"
    words = "报送进展" if index == 0 else "報送進展"
    return f"{period}{after if reporting.every != 'monthly' else ''}{reporting.day}日前{words}"
