"""The deadline language: reads a 時間要求 text into dated milestones and recurrences, or says why not.

``parse(text, context=…)`` returns a ``Deadline``; ``instances(rec, start, end)`` lists the due dates
of a recurrence. There is no clock here: a text without a year is read in ``context.base_year``
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
minimums: 不少於 / 不少于 / 不低于 / 至少 N 次 (also 場次, 場, 回) → ``min_count``; N 元 / 萬元 →
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

import calendar as _calendar
import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrulestr

from duban.matrix.calendar import festival_date, festival_key
from duban.matrix.errors import DeadlineError
from duban.matrix.model import Deadline, DeadlineContext, Milestone, Recurrence
from duban.matrix.script import fold_width, to_simplified

__all__ = ["FILLER_AFTER", "FILLER_BEFORE", "NeedsBaseYear", "instances", "parse", "parse_without_base_year"]

#: Words accepted before a date (simplified form); they do not change it.
FILLER_BEFORE: tuple[str, ...] = ("截至", "截止", "到", "于", "在")
#: Words accepted after a date (simplified form); they do not change it (前 is inclusive).
FILLER_AFTER: tuple[str, ...] = (
    "之前", "以前", "以内", "之内", "为止", "到位", "全部", "基本", "完成", "建成",
    "前", "内", "底", "末", "份", "止",
)  # fmt: skip

# -- character classes ------------------------------------------------------------------------

_YEAR_DIGIT = "0-9〇零一二三四五六七八九"  # digit-by-digit years: 二〇一五, 一五
_SMALL = "0-9〇零一二三四五六七八九十"  # months, days, quarters, weekdays
_NUMERAL = "0-9〇零一二三四五六七八九十百千万两壹贰叁肆伍陆柒捌玖拾佰仟"  # counts and amounts
_HAN = "\u3400-\u9fff"

_DIGIT_VALUE = {
    **{str(i): i for i in range(10)},
    "〇": 0, "零": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "三": 3, "叁": 3,
    "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7,
    "八": 8, "捌": 8, "九": 9, "玖": 9,
}  # fmt: skip
_UNIT_VALUE = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_MYRIAD = 10_000  # 万

# Longest names first so that 五一劳动节 is not read as 五一 followed by unknown words.
_FESTIVAL_NAMES = (
    "五一劳动节", "五一节", "劳动节", "五一", "国庆节", "国庆", "十一", "春节", "元旦",
    "清明节", "清明", "端午节", "端午", "中秋节", "中秋", "暑期", "暑假", "寒假",
)  # fmt: skip
_FESTIVAL = "|".join(_FESTIVAL_NAMES)

# -- precompiled patterns ---------------------------------------------------------------------

_TONE_VOWELS = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü"
_PINYIN = re.compile(rf"(?<=[{_HAN}])\((?=[a-z{_TONE_VOWELS}]*[{_TONE_VOWELS}])[a-z{_TONE_VOWELS}]+\)")
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_EDGE_PUNCTUATION = "。.,;、:!?"

_SEPARATOR = re.compile(r"以及|[、,;和及]")
# A separator splits the text only where a new item starts after it; elsewhere (每月走访、慰问…)
# it belongs to the words describing an obligation.
_ITEM_START = re.compile(
    rf"(?:截至|截止|到|于|在)?"
    rf"(?:其中|[{_NUMERAL}]|每个?(?:年|半年|季|月|周|星期|礼拜)|第|上半年|下半年|年底|年末|年中|{_FESTIVAL})"
)

_FILLER_BEFORE = re.compile("(?:" + "|".join(FILLER_BEFORE) + ")*")
_FILLER_AFTER_ALT = "|".join(FILLER_AFTER)
_FILLER_AFTER = re.compile(f"(?:{_FILLER_AFTER_ALT})*")

_ISO_DATE = re.compile(r"(?P<year>\d{4})(?P<sep>[-/.])(?P<month>\d{1,2})(?P=sep)(?P<day>\d{1,2})(?!\d)")
_YEAR = re.compile(rf"(?P<year>[{_YEAR_DIGIT}]{{4}}|[{_YEAR_DIGIT}]{{2}})年度?")
_MONTH = re.compile(
    rf"(?P<month>[{_SMALL}]{{1,3}})月(?:(?P<day>[{_SMALL}]{{1,3}})[日号]|(?P<part>初|上旬|中旬|下旬|底|末))?"
)
_DAY = re.compile(rf"(?P<day>[{_SMALL}]{{1,3}})[日号]")
_QUARTER = re.compile(rf"第?(?P<quarter>[{_SMALL}]{{1,2}})季度?")
_HALF_YEAR = re.compile(r"上半年|下半年")
_MID_YEAR = re.compile(r"年中|(?<=年)中(?!旬)")
# 年底 alone, or 底 right after an explicit year (2015年底); 2015年年底 is accepted too.
_YEAR_END = re.compile(r"年底|年末|(?<=年)(?:底|末)")
_FESTIVAL_RE = re.compile(_FESTIVAL)

_DURATION = re.compile(
    rf"(?:(?P<years>[{_NUMERAL}]+)年(?P<and_half>半)?|(?P<half_year>半年)|(?P<months>[{_NUMERAL}]+)个月)"
    r"(?P<time>时间)?(?:以内|之内|内)"
)
_RANGE_CONNECTOR = re.compile(r"至|到(?!位)|—{1,2}|[-~–〜]")
_QUANTITY = re.compile(
    rf"(?:达到|达|实现)?(?P<number>\d+(?:\.\d+)?万?|[{_NUMERAL}]+)(?P<classifier>个)?"
    rf"(?P<measure>%|[{_HAN}]+?)(?:{_FILLER_AFTER_ALT})*"
)
_DATE_CHARS = re.compile(r"[年月日旬季周前内底末]")
# 2016年3月底前启动，6月底前完成: a date followed by a start word opens a milestone that the next
# item, a date with a completion word, closes.
_START_WORD = re.compile(r"启动|开始")
_DONE_WORD = re.compile(r"完成|建成")

_PERIOD = re.compile(
    rf"""每个?(?:
        年(?P<year_festival>{_FESTIVAL})
      | 年(?P<year_month>[{_SMALL}]{{1,3}})月(?:(?P<year_day>[{_SMALL}]{{1,3}})[日号]|(?P<year_part>初|上旬|中旬|下旬|底|末))?
      | (?P<year>年)(?:底|末)?
      | (?P<half>半年)(?:底|末)?
      | (?P<quarter>季度|季)(?:末|底)?
      | (?P<month>月)(?:(?P<month_day>[{_SMALL}]{{1,3}})[日号]|(?P<month_part>初|上旬|中旬|下旬|底|末))?
      | (?:周|星期|礼拜)(?P<weekday>[一二三四五六日天1-7])?(?!\d)
    )""",
    re.VERBOSE,
)
_MINIMUM = re.compile(rf"(?:不少于|不低于|至少)(?P<number>\d+(?:\.\d+)?|[{_NUMERAL}]+)(?P<unit>场次|次|场|回|万元|元)(?:以上)?")
_MINIMUM_WORD = re.compile(r"不少于|不低于|至少")
_DATED_WORDS = re.compile(rf"\d|[{_SMALL}]+[年月日号]|{_FESTIVAL}")

_PART_OF_MONTH_DUE = {"初": 10, "上旬": 10, "中旬": 20}  # 下旬 / 底 / 末: the last day
_PART_OF_MONTH_FIRST = {"初": 1, "上旬": 1, "中旬": 11, "下旬": 21}
_WEEKDAYS = {
    "一": "MO", "二": "TU", "三": "WE", "四": "TH", "五": "FR", "六": "SA", "日": "SU", "天": "SU",
    "1": "MO", "2": "TU", "3": "WE", "4": "TH", "5": "FR", "6": "SA", "7": "SU",
}  # fmt: skip
_COUNT_UNITS = frozenset({"次", "场次", "场", "回"})

#: The longest text ``parse`` reads; a longer one is refused before any work (a 時間要求 is a line).
MAX_TEXT = 1_000
_QUOTE_LIMIT = 80
_NOT_A_CHARACTER = re.compile("[\ud800-\udfff]")  # lone surrogates (surrogateescape, broken UTF-16)
#: Years a date may name (the loaders' base year range).
MIN_YEAR, MAX_YEAR = 1900, 2200
#: A minimum count (不少於N次) is 1..MAX_COUNT: the store's column is an INTEGER.
MAX_COUNT = 10_000
#: Quantities and amounts go to NUMERIC(18, 4) columns, held as a double on SQLite: at most four
#: decimals and fifteen digits in all hold exactly in both databases.
_MAX_QUANTITY = Decimal("99999999999.9999")
_QUANTITY_PLACES = 4


class NeedsBaseYear(DeadlineError):
    """A text with a date that names no year (7月20日前, 年底), read for a plan that has no base year."""


class _Unreadable(Exception):
    """Internal: why a piece of a text cannot be read; becomes a DeadlineError at the top."""


class _NeedsYear(_Unreadable):
    """Internal: the text was readable except that it takes its year from the missing base year."""


# A context whose base year is _NO_BASE_YEAR (there is no year 0) stands for a plan without one.
# Its yearless dates are still read, in _STAND_IN_YEAR, so that impossible days and months are
# found; the result is never returned (NeedsBaseYear is raised) and messages never show that year.
# Year 4 is a leap year (2月29日 exists in some year, so it is not impossible) that no plan names.
_NO_BASE_YEAR = 0
_STAND_IN_YEAR = 4
_STAND_IN_FESTIVAL_YEAR = 2000  # a leap year inside the lunar calendar's range


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


# -- public API -------------------------------------------------------------------------------


def parse(text: str, *, context: DeadlineContext) -> Deadline:
    """Read a 時間要求 text against a plan context; DeadlineError if it is not in the language.

    Any ``str`` gives a ``Deadline`` or a ``DeadlineError`` (never another exception): lone
    surrogates, control characters and texts over ``MAX_TEXT`` characters are refused.
    Results are memoised on ``(text, context)``: a large matrix repeats the same few texts.
    """
    return _read(text, context)


def parse_without_base_year(
    text: str, *, plan_start: dt.date | None = None, plan_end: dt.date | None = None, where: str | None = None
) -> Deadline:
    """Read a 時間要求 text of a plan that has no base year.

    Texts whose dates all name their year (2016年底, 2016年3月、6月), durations from ``plan_start``
    and recurrences are read as ``parse`` reads them. A text with a date that would take its year
    from the base year raises ``NeedsBaseYear`` — never a guessed year — unless it is wrong in any
    year (7月99日, 13月, 儘快), which raises the plain ``DeadlineError`` saying so.
    """
    context = DeadlineContext(base_year=_NO_BASE_YEAR, plan_start=plan_start, plan_end=plan_end, where=where)
    return _read(text, context)


def instances(rec: Recurrence, start: dt.date, end: dt.date) -> list[dt.date]:
    """Due dates of the recurrence's instances in ``[start, end]``, in order.

    The window is further limited to the recurrence's own ``start``/``until`` when set: an
    instance before the plan starts or after it ends is no instance at all.
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
    low_dt = dt.datetime.combine(low, dt.time())
    rule = rrulestr(rec.rule, dtstart=low_dt)
    return [moment.date() for moment in rule.between(low_dt, dt.datetime.combine(high, dt.time()), inc=True)]


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


def _quoted(text: str) -> str:
    """``repr(text)``, or for a text over 80 characters its first 80, an ellipsis and its length."""
    if len(text) <= _QUOTE_LIMIT:
        return repr(text)
    return f"{text[:_QUOTE_LIMIT]!r}… ({len(text):,} characters)"


def _parse(text: str, context: DeadlineContext) -> Deadline:
    if not isinstance(text, str) or not text.strip():
        raise _Unreadable("the text is empty")
    normal, origin = _normalise(text)
    if not normal:
        raise _Unreadable("the text has no date in it")

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
    if memory.needs_base_year is not None:
        raise _NeedsYear(
            f"{_quoted(memory.needs_base_year)} names no year, and the plan has no base year to read it in"
        )
    return Deadline(text=text, milestones=tuple(milestones), recurrences=tuple(recurrences))


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


def _normalise(text: str) -> tuple[str, list[int]]:
    """The matching form of ``text`` and, for each of its characters, its index in ``text``."""
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for folded in _fold_char(char):
            if not folded.isspace():
                chars.append(folded)
                origin.append(index)

    # Deletions (pinyin, thousands separators) and trims keep ``origin`` aligned with ``chars``.
    normal = "".join(chars)
    doomed: set[int] = set()
    for pattern in (_PINYIN, _THOUSANDS_COMMA):
        for match in pattern.finditer(normal):
            doomed.update(range(match.start(), match.end()))
    if doomed:
        kept = [i for i in range(len(chars)) if i not in doomed]
        chars = [chars[i] for i in kept]
        origin = [origin[i] for i in kept]

    begin, end = 0, len(chars)
    while True:
        while begin < end and chars[begin] in _EDGE_PUNCTUATION:
            begin += 1
        while end > begin and chars[end - 1] in _EDGE_PUNCTUATION:
            end -= 1
        if end - begin >= 2 and chars[begin] == "(" and chars[end - 1] == ")" and _encloses(chars[begin:end]):
            begin, end = begin + 1, end - 1
            continue
        break
    return "".join(chars[begin:end]), origin[begin:end]


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    # Per character so that each output character can be traced back to its source for labels;
    # the deadline vocabulary has no multi-character script conversions.
    return to_simplified(fold_width(char))


def _encloses(chars: list[str]) -> bool:
    """True if the first ``(`` closes at the last character (not ``(a)、(b)``)."""
    depth = 0
    for position, char in enumerate(chars):
        depth += char == "("
        depth -= char == ")"
        if depth == 0 and position < len(chars) - 1:
            return False
    return depth == 0


def _items(normal: str) -> list[tuple[int, int]]:
    """Spans of the separate items of a text (A、B、C), separators left out."""
    spans: list[tuple[int, int]] = []
    begin = 0
    for match in _SEPARATOR.finditer(normal):
        if match.start() < begin:
            continue
        if _ITEM_START.match(normal, match.end()):
            if match.start() > begin:
                spans.append((begin, match.start()))
            begin = match.end()
    if begin < len(normal):
        spans.append((begin, len(normal)))
    return spans


def _is_recurrence(piece: str) -> bool:
    body = piece.removeprefix("其中")
    return body.startswith("每") or _MINIMUM_WORD.search(body) is not None


# -- numbers ----------------------------------------------------------------------------------


def _number(token: str) -> int:
    """An integer written in Arabic digits, Chinese digits (二〇一五) or Chinese numerals (三十一)."""
    if token.isascii() and token.isdigit():
        return int(token)
    if not any(char in _UNIT_VALUE or char == "万" for char in token):
        return int("".join(str(_DIGIT_VALUE[char]) for char in token))
    total = section = digits = 0
    for char in token:
        if char in _DIGIT_VALUE:
            digits = digits * 10 + _DIGIT_VALUE[char]
        elif char in _UNIT_VALUE:
            section += (digits or 1) * _UNIT_VALUE[char]  # 十二: a bare 十 is ten
            digits = 0
        else:  # 万
            total += (section + digits or 1) * _MYRIAD
            section = digits = 0
    return total + section + digits


def _decimal(token: str) -> Decimal:
    if token.endswith("万") and token[:-1].replace(".", "", 1).isdigit():
        return Decimal(token[:-1]) * _MYRIAD
    if token.replace(".", "", 1).isdigit() and token.isascii():
        return Decimal(token)
    return Decimal(_number(token))


def _count(token: str, piece: str) -> int:
    """A minimum count: a whole number 1..MAX_COUNT (不少於0次 asks nothing; more is a typo)."""
    count = _number(token) if "." not in token else None
    if count is None or not 1 <= count <= MAX_COUNT:
        raise _Unreadable(f"the count {_quoted(token)} in {_quoted(piece)} is not a whole number from 1 to {MAX_COUNT:,}")
    return count


def _exact(token: str, piece: str) -> Decimal:
    """A quantity or amount that the database holds exactly (≤ 99,999,999,999.9999, four decimals)."""
    value = _decimal(token)
    exponent = value.normalize().as_tuple().exponent
    if value > _MAX_QUANTITY or (isinstance(exponent, int) and exponent < -_QUANTITY_PLACES):
        raise _Unreadable(
            f"the number {_quoted(token)} in {_quoted(piece)} cannot be stored exactly: "
            f"at most {_MAX_QUANTITY:,} with {_QUANTITY_PLACES} decimals"
        )
    return value


def _year(token: str) -> int:
    year = _number(token)
    return 2000 + year if len(token) == 2 else year  # 15年底 → 2015


# -- milestones -------------------------------------------------------------------------------


def _read_milestone(piece: str, label: str, context: DeadlineContext, memory: _Memory) -> tuple[Milestone, str | None]:
    """The milestone of one item, and its role: "start" (2016年3月底前启动), "done" (a completion
    word follows the date: 6月底前完成) or None."""
    position = _FILLER_BEFORE.match(piece).end()

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
        position = _FILLER_AFTER.match(piece, position).end()
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
    position = _FILLER_AFTER.match(piece, position).end()

    if starts := _START_WORD.match(piece, position):
        if starts.end() < len(piece):
            raise _Unreadable(f"unknown words {_quoted(piece[starts.end():])} after {_quoted(starts.group())} in {_quoted(piece)}")
        if start is not None or duration is not None:
            raise _Unreadable(f"{_quoted(piece)}: the start (…{starts.group()}) must be one date, not a range or a length of time")
        return Milestone(due=due, label=label), "start"
    role = "done" if _DONE_WORD.search(piece, date_end, position) else None

    quantity: Decimal | None = None
    measure: str | None = None
    if position < len(piece):
        found = _QUANTITY.fullmatch(piece, position)
        if found is None:
            raise _Unreadable(f"unknown words {_quoted(piece[position:])} next to the date in {_quoted(piece)}")
        quantity = _exact(found["number"], piece)
        measure = found["measure"]
        if measure != "%" and _DATE_CHARS.search(measure):
            raise _Unreadable(f"{_quoted(found.group())} in {_quoted(piece)} is neither a date nor a quantity")
    return Milestone(due=due, start=start, quantity=quantity, measure=measure, label=label), role


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

    explicit_year: int | None = None
    year_match = _YEAR.match(piece, position)
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

    if found := _MONTH.match(piece, position):
        month = _number(found["month"])
        if not 1 <= month <= 12:
            raise _Unreadable(f"there is no month {month} in {_quoted(piece)}")
        if found["day"]:
            day = _date(piece, year, month, _number(found["day"]))
            return _Point(day, day, year, month), found.end()
        first = _date(piece, year, month, 1)
        last = _month_end(year, month)
        part = found["part"]
        if part in ("底", "末"):
            first = last
        elif part:
            first = first.replace(day=_PART_OF_MONTH_FIRST[part])
            last = last if part == "下旬" else first.replace(day=_PART_OF_MONTH_DUE[part])
        return _Point(first, last, year, month), found.end()

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
        try:
            if year == _STAND_IN_YEAR:  # a festival exists in every year: any real year checks the rest
                day = festival_date(found.group(), _STAND_IN_FESTIVAL_YEAR).replace(year=_STAND_IN_YEAR)
            else:
                day = festival_date(found.group(), year)
        except ValueError as error:
            raise _Unreadable(f"{_quoted(found.group())} in {year}: {error}") from None
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


def _checked_year(year: int, words: str, piece: str) -> int:
    if not MIN_YEAR <= year <= MAX_YEAR:
        shown = _quoted(piece) if words == piece else f"{_quoted(words)} in {_quoted(piece)}"
        raise _Unreadable(f"the year {year} ({shown}) is not between {MIN_YEAR} and {MAX_YEAR}")
    return year


def _date(piece: str, year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        shown = f"{month}月{day}日" if year == _STAND_IN_YEAR else f"{year}-{month:02d}-{day:02d}"
        raise _Unreadable(f"{shown} does not exist (in {_quoted(piece)})") from None


def _shown(day: dt.date) -> str:
    """A date for a message: ISO, or 7月20日 when its year is only the stand-in of a missing base year."""
    return f"{day.month}月{day.day}日" if day.year == _STAND_IN_YEAR else day.isoformat()


def _month_end(year: int, month: int) -> dt.date:
    """The last day of a month (calendar.monthrange: ten times cheaper than relativedelta here)."""
    if not 1 <= month <= 12:
        raise _Unreadable(f"there is no month {month}")
    return dt.date(year, month, _calendar.monthrange(year, month)[1])


# -- recurrences ------------------------------------------------------------------------------


def _read_recurrence(piece: str, label: str, context: DeadlineContext) -> Recurrence:
    body = piece.removeprefix("其中")
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

    position = _FILLER_AFTER.match(body, period.end()).end()
    min_count: int | None = None
    min_amount: Decimal | None = None
    amount_unit: str | None = None
    while position < len(body):
        minimum = _MINIMUM.search(body, position)
        words = body[position : minimum.start() if minimum else len(body)]
        if _MINIMUM_WORD.search(words):
            raise _Unreadable(f"cannot read the minimum in {_quoted(words)} of {_quoted(piece)}")
        if _DATED_WORDS.search(words):
            raise _Unreadable(f"the words {_quoted(words)} in {_quoted(piece)} carry a date the period does not explain")
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
        position = _FILLER_AFTER.match(body, minimum.end()).end()
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
