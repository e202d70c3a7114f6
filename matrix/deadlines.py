"""The deadline language: reads a 時間要求 text into dated milestones and recurrences, or says why not.

``parse(text, context=…)`` returns a ``Deadline``; ``instances(rec, start, end, calendar)`` lists the due
dates of a recurrence (the calendar counts a working-day cadence's days: 次月第5個工作日). There is no clock here: a text without a year is read in ``context.base_year``
(or the year of the item before it in the same text), never in today's year. For a plan that has no
base year, ``parse_without_base_year(text, …)`` reads the texts that name their year and raises
``NeedsBaseYear`` for those that would need one (after checking what can be checked without a year:
7月99日 is refused as impossible, not as needing a year).

Normalisation, in this order: NFKC (full-width digits, letters, punctuation and spaces → ASCII),
traditional → simplified script, all whitespace removed, pinyin annotations after a character
(``區(qū)``, only parenthesised Latin runs with a tone mark) removed, thousands separators
(``5,000``) removed, separators and ``。`` at either end dropped, and parentheses around the whole text
(a stage heading's ``(2015年12月前、2016年10月前)``) taken off. Numbers may be Arabic or Chinese,
including financial numerals (二〇一五年, 十二月, 三十一日, 伍百元, 兩千); a two-digit year NN is 20NN.

What the texts mean (due dates are inclusive; ``前`` is inclusive):

=====================================  ====================================================
2015年 / 2015年底 / 2015年末 / 年底      12-31 (no year: context.base_year)
2015年7月 / 7月底 / 7月末 / 7月前 / 7月份  last day of July
7月初 / 7月上旬 · 7月中旬 · 7月下旬        07-10 · 07-20 · 07-31
7月17日 / 7月17日前 / 之前 / 以前          07-17 (also 2015-07-17, 2015/7/17, 2015.7.17)
第一季度 / 一季度 / 第N季度(末)           end of that quarter
上半年 / 年中 · 下半年                    06-30 · 12-31
三年內 / 三年時間內 / 半年內 / 六個月內     context.plan_start + that long (error without plan_start)
春節前 / 元旦 / 清明 / 五一 / 端午 / 中秋 /  that festival's date in that year (``matrix.calendar``)
國慶 / 十一 / 暑期 / 暑假 / 寒假
A、B / A，B / A；B / A和B / A及B          one milestone each (split only where a date or 每… starts
                                        after the separator); an item without a year takes the
                                        year of the item before it (a day alone, its month)
2015年底完成25個村                        quantity 25, measure 村 (classifier 個 dropped);
                                        also 完成5122戶 (户), 達100% (%)
2015年3月至2016年12月 (到 - ~ — – 〜)      start 2015-03-01, due 2016-12-31; the end side
                                        without a year (or month) takes the start side's
2016年3月底前启动，6月底前完成            one milestone: start 2016-03-31 (the last day the
2016年3月启动，6月完成                    start words name: start by then), due 2016-06-30;
(启动 / 开始, then 完成 / 建成, the two     the completion without a year takes the start's; a
parts separated as A、B are)              completion before the start is an error
2026年11月底前新改建农村公路50公里         a date followed by the work: due 11-30, quantity 50
                                        公里, the words the label. Words only after 前 / 为止 /
                                        完成 / 建成 / 到位; no number, date or period in them but
                                        a final quantity (累计完成45个村, 覆盖率达到95%以上)
年内 · 2026—2027年                        12-31 of the base year · 2026-01-01 to 2027-12-31
本年度内 · 2026年全年 · 2026.6 (2026/6)       12-31 of the base year · 2026-12-31 · 2026-06-30
次年1月底前 (翌年)                         the year after the text's year so far, or the base year's
                                        (今年 / 明年 count from today: refused)
即日起至2026年12月31日                     start context.plan_start, due 2026-12-31
2026年底见成效 (见实效, 取得明显成效)        a milestone: these words make the date a deadline
2026年9月底前建成5G基站30个                quantity 30 个: digits joined to letters (5G, 4A级)
                                        are the noun's words
A⏎B (one item a line)                    a line break where an item starts separates like ；
已完成                                    refused: "a task already done: leave it out or write
                                        its date"
=====================================  ====================================================

Ongoing work (``Recurrence(ongoing=True)``, on ``context.reporting``'s cadence, see ``matrix.reporting``):

=====================================  ====================================================
持续推进 / 长期坚持 / 常态化开展 / 长效推进   from context.plan_start (also 长期, 持续开展, 常抓不懈,
/ 长期 / 全年持续推进 / 立即启动，长期坚持    久久为功, 定期 …)
2026年12月底前完成，2027年持续推进          a milestone, then ongoing from 2027-01-01
2026年底前完成并长效推进 / …完成，此后长期坚持  a milestone, then ongoing from the day after it
2027年起(，)持续推进 / 2026年底以后…         from the first day the date names / the day after it
2026年底前完成长期规划编制                  a milestone: no link word, no bare date before 长期
持续推进，每季度报送进展                    one obligation on the text's period (with its minimum)
按季度推进 / 按月推进                       ongoing, reported at each quarter's / month's end
…完成，此后每年开展一次                     a milestone, then a yearly obligation after it
2026年3月起每月5日前报送                  that period, from the first day the date names
=====================================  ====================================================

Recurrences (``Recurrence``; ``start``/``until`` are context.plan_start/plan_end):

=====================================  ====================================================
每月 / 每月底                             monthly  FREQ=MONTHLY;BYMONTHDAY=-1
每月5日(前) · 每月上旬 · 中旬 · 下旬       monthly  BYMONTHDAY=5 · 10 · 20 · -1
每季度 / 每季度末 / 每季                   quarterly FREQ=YEARLY;BYMONTH=3,6,9,12;BYMONTHDAY=-1
每半年                                   half_yearly FREQ=YEARLY;BYMONTH=6,12;BYMONTHDAY=-1
每年 / 每年底 · 每年3月(底/10日)           yearly FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=31 · BYMONTH=3…
每周五 / 每週五 / 每星期五 · 每周          weekly FREQ=WEEKLY;BYDAY=FR · BYDAY=SU (end of week)
(每年)春節前… / 暑期… + a minimum          yearly, rule "", anchor spring_festival / summer …
=====================================  ====================================================

The quarterly and half-yearly rules are YEARLY with BYMONTH rather than MONTHLY with an
INTERVAL because an interval counts from dtstart and would miss the quarter ends when a plan
starts mid-quarter. A monthly day 29–31 and a yearly 2月29日 are refused: they do not exist in
every period and rrule would silently skip those instances.

After the period, free words describing the obligation may follow (每月走訪全村所有貧困戶…), then
minimums (a count ending the words is one too: 每季度开展1次, 每月召开一次):
不少於 / 不少于 / 不低于 / 至少 N 次 (also 場次, 場, 回) → ``min_count``; N 元 / 萬元 →
``min_amount`` and ``amount_unit``; 以上 may follow a minimum. Free words may not carry a date.
A festival followed by a minimum (春節前每戶不少於三百元, 暑期不少於二百元) is a yearly obligation
anchored on that festival, with or without 每年. ``其中`` ("of which") between items is skipped.

Filler words, accepted around a date because they do not change it (the set is closed; any other
word next to a date is an error, never a guess):
    before the date: 截至 截止 到 于/於 在
    after the date:  完成 建成 前 之前 以前 内/內 以内 之内 底 末 份 止 为止 到位 全部 基本
Everything else — unknown words, impossible dates (2015年13月, 2月30日, 0月), a 15年內 that could
be a year or a duration, an empty text — raises ``DeadlineError`` quoting the text and its place.

Limits (so that what is read is what the store keeps): a text has at most 1,000 characters and no
lone surrogate; years are 1900–2200; a minimum count is a whole number 1–10,000; a quantity or an
amount has at most four decimals and is at most 99,999,999,999.9999 (NUMERIC(18, 4), a double on
SQLite). Quotes in messages are shortened to 80 characters, an ellipsis and the length.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import replace
from functools import lru_cache

from dateutil.rrule import rrulestr

from duban.matrix.calendar import WorkCalendar, festival_date
from duban.matrix.deadline_dates import (
    _Memory,
    _ongoing_at,
    _read_milestone,
    _read_ongoing,
    _read_point,
    _read_recurrence,
)
from duban.matrix.deadline_text import (
    _ALREADY_DONE,
    _FILLER_BEFORE,
    _FROM_PERIOD,
    _NO_BASE_YEAR,
    _NOT_A_CHARACTER,
    _THEN_PERIOD,
    FILLER_AFTER,
    FILLER_BEFORE,
    MAX_TEXT,
    NeedsBaseYear,
    _is_recurrence,
    _items,
    _NeedsYear,
    _normalise,
    _past,
    _quoted,
    _shown,
    _Unreadable,
)
from duban.matrix.errors import DeadlineError
from duban.matrix.model import Deadline, DeadlineContext, Milestone, Recurrence, Reporting
from duban.matrix.reporting import DEFAULT_REPORTING, split_working

# The link word between a milestone (or a date) and the ongoing work after it, left out of both labels.
_THEN_OR_FROM = re.compile(r"(?:并且|并|且|然后|此后|之后|以后|今后|后|起|开始|以来)$")

__all__ = ["FILLER_AFTER", "FILLER_BEFORE", "NeedsBaseYear", "instances", "parse", "parse_without_base_year"]



# -- public API -------------------------------------------------------------------------------


def parse(text: str, *, context: DeadlineContext) -> Deadline:
    """Read a 時間要求 text against a plan context; DeadlineError if it is not in the language.

    Any ``str`` gives a ``Deadline`` or a ``DeadlineError`` (never another exception): lone
    surrogates, control characters and texts over ``MAX_TEXT`` characters are refused.
    Results are memoised on ``(text, context)``: a large matrix repeats the same few texts.
    """
    return _read(text, context)


def parse_without_base_year(
    text: str, *, plan_start: dt.date | None = None, plan_end: dt.date | None = None, where: str | None = None,
    reporting: Reporting = DEFAULT_REPORTING,
) -> Deadline:
    """Read a 時間要求 text of a plan that has no base year.

    Texts whose dates all name their year (2016年底, 2016年3月、6月), durations from ``plan_start``
    and recurrences are read as ``parse`` reads them. A text with a date that would take its year
    from the base year raises ``NeedsBaseYear`` — never a guessed year — unless it is wrong in any
    year (7月99日, 13月, 儘快), which raises the plain ``DeadlineError`` saying so.
    """
    context = DeadlineContext(base_year=_NO_BASE_YEAR, plan_start=plan_start, plan_end=plan_end, where=where,
                              reporting=reporting)
    return _read(text, context)


def instances(rec: Recurrence, start: dt.date, end: dt.date, calendar: WorkCalendar | None = None) -> list[dt.date]:
    """Due dates of the recurrence's instances in ``[start, end]``, in order.

    The window is further limited to the recurrence's own ``start``/``until`` when set: an
    instance before the plan starts or after it ends is no instance at all. A working-day rule
    (``FREQ=MONTHLY;BYMONTHDAY=1;X-WORKDAY=5``: the 5th working day of each month) counts its days on
    ``calendar``, the official one with the office's imported years, which every caller passes alike so
    that a period has one due date everywhere; without it such a rule raises ``ValueError``.
    """
    low = max(start, rec.start) if rec.start else start
    high = min(end, rec.until) if rec.until else end
    if low > high:
        return []
    if rec.anchor:
        due_dates = (festival_date(rec.anchor, year) for year in range(low.year, high.year + 1))
        return [due for due in due_dates if low <= due <= high]
    if not rec.rule:
        raise ValueError(f"recurrence {_quoted(rec.label)} has neither a rule nor an anchor")
    body, working = split_working(rec.rule)
    if working is not None and calendar is None:
        raise ValueError(f"recurrence {_quoted(rec.label)} is due on a working day: its due dates need the calendar")
    # A working day's period begins up to ~5 weeks before it (15 working days and a week's holiday).
    first = low - dt.timedelta(days=40) if working else low
    low_dt = dt.datetime.combine(first, dt.time())
    rule = rrulestr(body, dtstart=low_dt)
    dues = [moment.date() for moment in rule.between(low_dt, dt.datetime.combine(high, dt.time()), inc=True)]
    if working is not None and calendar is not None:
        # The N-th working day counted from the period's first day (itself included when it is one).
        dues = [due for due in (calendar.add_working_days(day - dt.timedelta(days=1), working) for day in dues)
                if low <= due <= high]
    if rec.ongoing and rec.start is not None and dues and _reports_on_the_time_before(rec, rec.start, dues[0]):
        dues.pop(0)
    return dues


_MONTHS_IN_PERIOD = {"monthly": 1, "quarterly": 3, "half_yearly": 6, "yearly": 12}


def _reports_on_the_time_before(rec: Recurrence, start: dt.date, due: dt.date) -> bool:
    """True if ``due``, an ongoing obligation's first report date, falls in the period (month, quarter …)
    its work starts in, before that period's last day: with the cadence 每月5日前报送 it reports on the
    month before, when the work had not begun (2027年持续推进: the first report is due 2027-02-05).
    Weekly reports are due within their week, and period-end dues (按季度推进) on the period itself."""
    months = _MONTHS_IN_PERIOD.get(rec.freq)
    if months is None:
        return False
    first_month = (start.month - 1) // months * months + 1
    if (due.year, (due.month - 1) // months * months + 1) != (start.year, first_month):
        return False
    last_month = first_month + months - 1
    return due < dt.date(due.year, last_month, calendar.monthrange(due.year, last_month)[1])


# -- top level --------------------------------------------------------------------------------


def _read(text: str, context: DeadlineContext) -> Deadline:
    # Checked before the memo so that a refused huge text is never kept (nor hashed twice).
    if len(text) > MAX_TEXT:
        raise _refusal(
            DeadlineError, text, f"the text has {len(text):,} characters; a deadline has at most {MAX_TEXT:,}", context
        )
    if bad := _NOT_A_CHARACTER.search(text):
        raise _refusal(
            DeadlineError, text,
            f"U+{ord(bad.group()):04X} at position {bad.start() + 1} is not a character (a broken encoding?)", context,
        )
    return _parse_memoised(text, context)


@lru_cache(maxsize=65536)
def _parse_memoised(text: str, context: DeadlineContext) -> Deadline:
    try:
        return _parse(text, context)
    except _NeedsYear as problem:
        raise _refusal(NeedsBaseYear, text, str(problem), context) from None
    except _Unreadable as problem:
        raise _refusal(DeadlineError, text, str(problem), context) from None


def _refusal(kind: type[DeadlineError], text: str, reason: str, context: DeadlineContext) -> DeadlineError:
    """The error for ``text`` (its message quotes a long text shortened; ``.text`` keeps it whole)."""
    return kind(text, reason, where=context.where)




def _parse(text: str, context: DeadlineContext) -> Deadline:
    if not isinstance(text, str) or not text.strip():
        raise _Unreadable("the text is empty")
    normal, origin = _normalise(text)
    if not normal:
        raise _Unreadable("the text has no date in it")
    if _ALREADY_DONE.fullmatch(normal):
        raise _Unreadable("a task already done: leave it out or write its date")

    milestones: list[Milestone] = []
    recurrences: list[Recurrence] = []
    memory = _Memory()
    opened: tuple[Milestone, int] | None = None  # a "…启动" item waiting for its "…完成", and where it began
    for begin, end in _items(normal):
        piece = normal[begin:end]
        if piece == "其中" and opened is None:
            continue
        label = text[origin[begin] : origin[end - 1] + 1].strip()
        if opened is not None:
            started, started_at = opened
            opened = None
            whole = text[origin[started_at] : origin[end - 1] + 1].strip()
            milestones.append(_close(started, piece, whole, label, context, memory))
        elif (ongoing := _ongoing(piece, text, origin, begin, context, memory, milestones)) is not None:
            recurrences.append(ongoing)
        elif (linked := _THEN_PERIOD.match(piece)) and _is_recurrence(piece[linked.end():]):
            recurrences.append(_after(_read_recurrence(piece[linked.end():], label, context), milestones))
        elif (since := _FROM_PERIOD.search(piece)) and _is_recurrence(piece[since.end():]):
            recurrences.append(_from_date(piece, since, label, context, memory))
        elif _is_recurrence(piece):
            recurrences.append(_read_recurrence(piece, label, context))
        else:
            milestone, role = _read_milestone(piece, label, context, memory)
            if role == "start":
                opened = (milestone, begin)
            else:
                milestones.append(milestone)
    if opened is not None:
        started = opened[0]
        raise _Unreadable(
            f"{_quoted(started.label)} says when the work starts but not when it is done; write e.g. 2016年3月底前启动，6月底前完成"
        )
    if not milestones and not recurrences:
        raise _Unreadable("the text has no date in it")
    recurrences = _merged(recurrences, text)
    if memory.needs_base_year is not None:
        raise _NeedsYear(
            f"{_quoted(memory.needs_base_year)} names no year, and the plan has no base year to read it in"
        )
    return Deadline(text=text, milestones=tuple(milestones), recurrences=tuple(recurrences))


def _ongoing(piece: str, text: str, origin: list[int], begin: int, context: DeadlineContext, memory: _Memory,
             milestones: list[Milestone]) -> Recurrence | None:
    """The obligation of an item of ongoing work (持续推进 …), after appending the milestone it may follow
    in the same item (…完成并长效推进); None if the item is not ongoing work. ``begin`` is where the
    item starts in the normalised text, ``origin`` maps that text back to ``text`` for the labels."""
    at = _ongoing_at(piece)
    if at is None:
        return None
    last = begin + len(piece) - 1

    def span(low: int, high: int) -> str:
        return text[origin[low] : origin[high] + 1].strip() if high >= low else ""

    head_end = begin + len(_THEN_OR_FROM.sub("", piece[:at].rstrip(",;、"))) - 1
    labels = (span(begin, head_end), span(begin + at, last))
    after = milestones[-1].due if milestones else None
    read = _read_ongoing(piece, at, labels, context, memory, after)
    if read is None:
        return None
    milestone, obligation = read
    if milestone is None:  # 2027年持续推进: the whole item names the obligation
        return replace(obligation, label=span(begin, last))
    milestones.append(milestone)
    return obligation


def _from_date(piece: str, since: re.Match[str], label: str, context: DeadlineContext, memory: _Memory) -> Recurrence:
    """2026年3月起每月5日前报送: the period starts on the first day the date before 起 names."""
    head = piece[: since.start()]
    point, end = _read_point(head, _past(_FILLER_BEFORE, head), context, memory, required=True)
    if point is None or end != len(head):
        raise _Unreadable(f"{_quoted(head)} in {_quoted(piece)} is not one date")
    memory.year, memory.month = point.year, point.month
    return replace(_read_recurrence(piece[since.end():], label, context), start=point.first)


def _after(rec: Recurrence, milestones: list[Milestone]) -> Recurrence:
    """A period that follows a milestone (…完成，此后每年开展一次) starts the day after it."""
    if not milestones:
        return rec
    return replace(rec, start=milestones[-1].due + dt.timedelta(days=1))


def _merged(recurrences: list[Recurrence], text: str) -> list[Recurrence]:
    """持续推进，每季度报送进展 / 常态化开展，每月不少于1次: ongoing work and one period in the same text are
    one obligation, the ongoing work reported on that period with its minimum (not twice: once on the
    plan's cadence and once on the text's). A festival-anchored obligation stays apart."""
    ongoing = [r for r in recurrences if r.ongoing and not r.anchor]
    plain = [r for r in recurrences if not r.ongoing and r.anchor is None]
    if len(ongoing) != 1 or len(plain) != 1:
        return recurrences
    work, period = ongoing[0], plain[0]
    joined = replace(period, ongoing=True, start=work.start or period.start, label=f"{work.label}，{period.label}")
    return [joined if r is period else r for r in recurrences if r is not work]


def _close(started: Milestone, piece: str, whole: str, label: str, context: DeadlineContext, memory: _Memory) -> Milestone:
    """The milestone of "X启动，Y完成": ``started`` is X's item, ``piece`` Y's, ``whole`` both as written."""
    expected = f"{_quoted(started.label)} says when the work starts; {_quoted(piece)} after it must say when it is done"
    if _is_recurrence(piece):
        raise _Unreadable(f"{expected} (…完成)")
    done, role = _read_milestone(piece, label, context, memory)
    if role != "done":
        raise _Unreadable(f"{expected} (…完成)")
    if done.start is not None:
        raise _Unreadable(f"{expected} with one date, not a range")
    if done.due < started.due:
        raise _Unreadable(f"{_quoted(whole)} is done ({_shown(done.due)}) before it starts ({_shown(started.due)})")
    return Milestone(due=done.due, start=started.due, quantity=done.quantity, measure=done.measure, label=whole)
