"""A plan's reporting cadence (``reporting:``): how it is written, the rule of its reports, its words.

Ongoing work (持續推進, 長期堅持 …) has no date of its own: it is an obligation to report progress once
per period of the plan's cadence. The default is monthly, due on the 5th working day of the next month
(次月第5個工作日) on the official calendar — holidays and make-up working days (調休) as
``matrix.calendar.WorkCalendar`` has them — so a report never falls due inside 國慶 or 春節.

Written in a plan header as ``reporting: monthly`` (月度 / 每月 too; due the 5th working day),
``reporting: 每月5日前`` (a calendar day: the 5th, as before), a working day in the words offices use
(``每月5個工作日內``, ``次月第5個工作日``, ``每季度第10個工作日前報送``), or a mapping
``{every: monthly, due: 5}`` (``due`` also ``5日``, ``5th``, ``5th day``: calendar days; ``5th working
day``, ``5 working days``, ``第5個工作日``, ``5個工作日內``: working days, 1–15). Weekly reports are due
on a weekday of the same week (``due: 5`` or 周五: Friday; default Friday); a working-day due is refused
for them.

A working-day cadence's rule is an RRULE whose occurrences are the first days of the periods, with the
count in an ``X-WORKDAY`` part (``FREQ=MONTHLY;BYMONTHDAY=1;X-WORKDAY=5``), which ``matrix.deadlines.
instances`` turns into due dates with the calendar its caller passes (``split_working``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from duban.matrix.model import DEFAULT_WORKING, Reporting
from duban.matrix.script import fold_width, to_simplified, to_traditional
from duban.matrix.vocabulary import ONGOING_MARK

__all__ = ["DEFAULT_REPORTING", "ONGOING_MARK", "WORKDAY_PART", "ReportingError", "cadence_words", "describe", "due_text", "ongoing_label",
           "read_reporting", "reporting_from_json", "reporting_json", "rule", "split_working"]

DEFAULT_REPORTING = DEFAULT_WORKING
WORKDAY_PART = "X-WORKDAY"  # the rule part of a working-day cadence: X-WORKDAY=5, the 5th working day
MAX_WORKING_DAY = 15  # every month has more working days than this, so the due stays in the first month

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
_NUMBER = r"(?P<day>\d{1,2}|[一二三四五六七八九十]{1,3})"
_WORKING_WORD = r"(?:个)?(?:workingdays?|workdays?|businessdays?|工作日)"
# due: 5th working day / 5 working days / 第5个工作日 / 5个工作日内 / 前5个工作日
_WORKING_DAY = re.compile(rf"(?:第|前)?{_NUMBER}(?:st|nd|rd|th)?{_WORKING_WORD}(?:内|前|之前|以前)?")
# 每月5个工作日内 / 次月第5个工作日 / 每季度第10个工作日前报送: a cadence (monthly if none) and a working day
_COMBINED_WORKING = re.compile(r"(?P<every>每(?:个)?(?:月|季度|季|半年|年))?(?:的)?(?:次月|下月|次年1月|次年一月)?(?:的)?"
                               rf"(?:第|前)?{_NUMBER}{_WORKING_WORD}(?:内|前|之前|以前)?(?:报送(?:进展|工作进展|进度)?)?")
_WORKING = re.compile(r"workingday|workday|businessday|工作日")


class ReportingError(ValueError):
    """A ``reporting:`` value that is not a cadence; the message says what is accepted."""


def read_reporting(value: Any) -> Reporting:
    """The cadence a header's ``reporting:`` value names (None or empty: the default)."""
    if value is None or value == "":
        return DEFAULT_REPORTING
    if isinstance(value, Mapping):
        unknown = sorted(str(k) for k in value if k not in ("every", "due", "day"))
        if unknown:
            raise ReportingError(f"unknown key {', '.join(unknown)}: a reporting mapping has 'every' and 'due'")
        every = _every(value.get("every", "monthly"))
        due, on_working_day = _due_day(value.get("due", value.get("day")), every)
        return Reporting(every=every, day=due, working=on_working_day)
    if not isinstance(value, str):
        raise ReportingError(f"{value!r} is not a cadence: write monthly, quarterly, weekly, … or 每月5日前")
    text = _folded(value)
    if text in _EVERY:
        return _default_due(_EVERY[text])
    if (in_working_days := _COMBINED_WORKING.fullmatch(text)) is not None:
        every = _EVERY[(in_working_days["every"] or "每月").replace("个", "")]
        return Reporting(every=every, day=_working_day(in_working_days["day"], every, value), working=True)
    found = _COMBINED.fullmatch(text)
    if found is None:
        raise ReportingError(f"{value!r} is not a cadence: write monthly, quarterly, weekly, … or 每月5日前")
    every = _EVERY[found["every"].replace("个", "")]
    day = found["day"] or found["weekday"]
    if day is None:
        return _default_due(every)
    return Reporting(every=every, day=_due_day(day, every)[0])


def _default_due(every: str) -> Reporting:
    """A cadence named without its due day: weekly by Friday, otherwise by the 5th working day."""
    if every == "weekly":
        return Reporting(every=every, day=_DEFAULT_DAY["weekly"])
    return Reporting(every=every, day=DEFAULT_REPORTING.day, working=True)


def _working_day(token: str, every: str, value: Any) -> int:
    if every == "weekly":
        raise ReportingError(f"due: {value!r}: a weekly report is due on a weekday (due: 5 or 周五), not a working day")
    day = int(token) if token.isdigit() else _small(token)
    if day is None or not 1 <= day <= MAX_WORKING_DAY:
        raise ReportingError(f"due: {value!r} is not a working day 1–{MAX_WORKING_DAY} of the next period's first month")
    return day


def _folded(value: Any) -> str:
    return re.sub(r"\s+", "", to_simplified(fold_width(str(value)))).lower()


def _every(value: Any) -> str:
    text = _folded(value)
    if text not in _EVERY:
        raise ReportingError(f"every: {value!r} is not a period: weekly, monthly, quarterly, half_yearly or yearly")
    return _EVERY[text]


def _due_day(value: Any, every: str) -> tuple[int, bool]:
    """(day, working) of a ``due:`` value: a calendar day (5, 5日, 5th) or a working day (5th working day)."""
    if value is None or value == "":
        default = _default_due(every)
        return default.day, default.working
    text = _folded(value)
    if (working := _WORKING_DAY.fullmatch(text)) is not None:
        return _working_day(working["day"], every, value), True
    if _WORKING.search(text):
        raise ReportingError(f"due: {value!r} is not a working day: write e.g. due: 5th working day (第5个工作日)")
    if every == "weekly" and text.lstrip("周星期") in _WEEKDAY_WORDS:
        return _WEEKDAY_WORDS[text.lstrip("周星期")], False
    found = _DAY.fullmatch(text)
    day = None
    if found:
        token = found["day"]
        day = int(token) if token.isdigit() else _small(token)
    top = 7 if every == "weekly" else 28
    if day is None or not 1 <= day <= top:
        what = "a weekday 1–7 (1 = Monday)" if every == "weekly" else "a day 1–28 of the next period's first month"
        raise ReportingError(f"due: {value!r} is not {what}")
    return day, False


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
    """(freq, RRULE body) whose occurrences are the report due dates of the cadence; for a working-day
    cadence, the first days of the periods and an ``X-WORKDAY`` part (see ``split_working``)."""
    day = reporting.day
    if reporting.every == "weekly":
        return "weekly", f"FREQ=WEEKLY;BYDAY={_WEEKDAY_CODES[day - 1]}"
    by_day = f"1;{WORKDAY_PART}={day}" if reporting.working else str(day)
    months = {"monthly": "", "quarterly": "1,4,7,10", "half_yearly": "1,7", "yearly": "1"}[reporting.every]
    if not months:
        return "monthly", f"FREQ=MONTHLY;BYMONTHDAY={by_day}"
    return reporting.every, f"FREQ=YEARLY;BYMONTH={months};BYMONTHDAY={by_day}"


def split_working(rule_text: str) -> tuple[str, int | None]:
    """(the RRULE body dateutil reads, the working day its occurrences count to or None): a working-day
    cadence's occurrences are the first days of its periods, each due on the N-th working day from it."""
    parts = rule_text.split(";")
    kept = [p for p in parts if not p.startswith(f"{WORKDAY_PART}=")]
    if len(kept) == len(parts):
        return rule_text, None
    return ";".join(kept), int(next(p for p in parts if p.startswith(f"{WORKDAY_PART}=")).split("=", 1)[1])


_WEEKDAY_NAMES = dict(zip(_WEEKDAY_CODES, "一二三四五六日", strict=True))
_ONGOING_WORDS = re.compile("持续|持續|长期|長期|常态|常態|长效|長效|经常性|經常性|久久为功|久久為功|坚持不懈|堅持不懈|定期")


def cadence_words(freq: str, rule_text: str) -> str:
    """When a recurrence's reports are due, in words (zh-Hans): 每月5日前报送进展, 每季度末报送进展,
    每季度次月10日前报送进展, 每周五前报送进展, 每月第5个工作日前报送进展; "" for a rule these words do not
    cover."""
    parts = dict(part.split("=", 1) for part in rule_text.split(";") if "=" in part)
    day = parts.get("BYMONTHDAY", "")
    by = "底前" if day == "-1" else f"{day}日前"
    if (working := parts.get(WORKDAY_PART, "")).isdigit() and day == "1":
        day, by = working, f"第{working}个工作日前"
    months = parts.get("BYMONTH", "")
    if parts.get("FREQ") == "WEEKLY" and parts.get("BYDAY") in _WEEKDAY_NAMES:
        return f"每周{_WEEKDAY_NAMES[parts['BYDAY']]}前报送进展"
    if parts.get("FREQ") == "MONTHLY" and day:
        return f"每月{by}报送进展"
    ends = {"3,6,9,12": "每季度末", "6,12": "每半年末", "12": "每年底"}
    starts = {"1,4,7,10": "每季度次月", "1,7": "每半年次月", "1": "每年次年1月"}
    if parts.get("FREQ") == "YEARLY" and day == "-1" and months in ends:
        return f"{ends[months]}报送进展"
    if parts.get("FREQ") == "YEARLY" and months == "12" and day == "31":
        return "每年底报送进展"
    if parts.get("FREQ") == "YEARLY" and months in starts and day.isdigit():
        return f"{starts[months]}{by}报送进展"
    return ""


def describe(reporting: Reporting, language: str = "zh-Hans") -> str:
    """How the cadence is named in a letter: 每月5日前报送进展 (zh-Hant 每月5日前報送進展; en in words)."""
    if language == "en":
        if reporting.every == "weekly":
            return f"progress reported weekly, by {_WEEKDAY_CODES[reporting.day - 1]}"
        day = f"working day {reporting.day}" if reporting.working else f"day {reporting.day}"
        return f"progress reported {reporting.every.replace('_', '-')}, by {day} of the next period"
    words = cadence_words(*rule(reporting))
    return to_traditional(words) if language == "zh-Hant" else words


def ongoing_label(label: str, freq: str, rule_text: str) -> str:
    """An ongoing obligation's deadline as letters and reports name it: 持續推進（每月5日前报送进展）, or
    for a label without an ongoing word (按季度推進) 按季度推進（持续，每季度末报送进展）. Renderers put it
    in their script."""
    words = cadence_words(freq, rule_text)
    mark = "" if _ONGOING_WORDS.search(label) else ONGOING_MARK["zh-Hans"]
    inner = "，".join(filter(None, (mark, words)))
    return f"{label}（{inner}）" if inner else label


def due_text(reporting: Reporting) -> int | str:
    """The ``due:`` a file writes for the cadence, read back the same: 10 (a calendar day) or
    "5th working day"."""
    if not reporting.working:
        return reporting.day
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(reporting.day if reporting.day < 20 else reporting.day % 10, "th")
    return f"{reporting.day}{suffix} working day"


def reporting_json(reporting: Reporting) -> dict[str, Any] | None:
    """The cadence as stored (``plan.reporting``): None for the default, else ``{"every", "day"}`` and
    ``"working": true`` for a working-day due (a stored cadence without it, from before, is a calendar day)."""
    if reporting == DEFAULT_REPORTING:
        return None
    if reporting.working:
        return {"every": reporting.every, "day": reporting.day, "working": True}
    return {"every": reporting.every, "day": reporting.day}


def reporting_from_json(value: Mapping[str, Any] | None) -> Reporting:
    """The cadence from its stored form (None: the default)."""
    if not value:
        return DEFAULT_REPORTING
    return Reporting(every=str(value.get("every", "monthly")), day=int(value.get("day", 5)),
                     working=bool(value.get("working", False)))
