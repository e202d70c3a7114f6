"""The words of the deadline language (``matrix.deadlines``): filler words, character classes and
precompiled patterns, the limits a text must keep, normalisation of a text into its matching form and
the numbers in it (Arabic, Chinese, financial numerals), and the checked construction of dates.

Private to the deadline parser: ``deadlines`` (the top level) and ``deadline_dates`` (milestones and
recurrences) import from here; nothing else should.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
import re
from decimal import Decimal
from functools import lru_cache

from duban.matrix.errors import DeadlineError
from duban.matrix.script import fold_width, to_simplified

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
_SEPARATOR_CHARS = "、,;。"
# A separator splits the text only where a new item starts after it; elsewhere (每月走访、慰问…)
# it belongs to the words describing an obligation.
# Ongoing work (持续推进, 长期坚持, 常态化开展, 长效推进, 长期 …): no date of its own, reported on the
# plan's cadence. Only where an item starts with one of these (or a date, or a link word, before it).
_ONGOING_WORDS = ("持续", "长期", "常态", "长效", "经常性", "久久为功", "坚持不懈", "常抓不懈", "长抓不懈", "持之以恒", "定期")
_ONGOING = re.compile("|".join(_ONGOING_WORDS))
# 2026年底前完成并长效推进 / 完成后持续推进 / 2026年底以后…: the ongoing work follows what comes before
_THEN_WORD = re.compile(r"(?:并且|并|且|然后|此后|之后|以后|今后|后)$")
# 2027年起持续推进 / 2027年开始…: the ongoing work starts with that date
_FROM_WORD = re.compile(r"(?:起|开始|启动|以来)$")
# 2026年9月底前完成，此后每年开展一次: a period after a milestone starts after it
_THEN_PERIOD = re.compile(r"(?:并且?|且|然后|此后|之后|今后|以后|(?:完成|建成)?后)(?=每|按)")
# Words describing the work may not carry a period (每年, 按季度): that is an obligation, never a label
_PERIOD_WORDS = re.compile(r"(?:每个?|按)(?:年|半年|季|月|周|星期|礼拜)")
# 按季度推进 / 按月推进: like 每季度 / 每月
_BY_PERIOD = re.compile(r"按(?=个?(?:年|半年|季|月|周|星期))")
_BY_PERIOD_START = r"按个?(?:年|半年|季|月|周|星期)"

_ITEM_START = re.compile(
    rf"(?:截至|截止|到|于|在)?"
    rf"(?:其中|[{_NUMERAL}]|次年|翌年|本年|即日|自即日|每个?(?:年|半年|季|月|周|星期|礼拜)|第|上半年|下半年|年底|年末|年中|{_FESTIVAL}"
    rf"|(?:并且?|且|然后|全年|全程|(?:完成|建成)?(?:此后|之后|今后|以后|后))?(?:{'|'.join(_ONGOING_WORDS)}|每|{_BY_PERIOD_START})"
    rf"|{_BY_PERIOD_START})"
)

_FILLER_BEFORE = re.compile("(?:" + "|".join(FILLER_BEFORE) + ")*")
_FILLER_AFTER_ALT = "|".join(FILLER_AFTER)
_FILLER_AFTER = re.compile(f"(?:{_FILLER_AFTER_ALT})*")

_ISO_DATE = re.compile(r"(?P<year>\d{4})(?P<sep>[-/.])(?P<month>\d{1,2})(?P=sep)(?P<day>\d{1,2})(?!\d)")
_YEAR = re.compile(rf"(?P<year>[{_YEAR_DIGIT}]{{4}}|[{_YEAR_DIGIT}]{{2}})年度?")
# 2026—2027年 / 2026-2027年: the first year of a range of years names no 年 of its own
_RANGE_FIRST_YEAR = re.compile(r"(?P<year>\d{4})(?=(?:至|到|—{1,2}|[-~–〜])\d{4}年)")
_MONTH = re.compile(
    rf"(?P<month>[{_SMALL}]{{1,3}})月(?:(?P<day>[{_SMALL}]{{1,3}})[日号]|(?P<part>初|上旬|中旬|下旬|底|末))?"
)
_DAY = re.compile(rf"(?P<day>[{_SMALL}]{{1,3}})[日号]")
_QUARTER = re.compile(rf"第?(?P<quarter>[{_SMALL}]{{1,2}})季度?")
_HALF_YEAR = re.compile(r"上半年|下半年")
_MID_YEAR = re.compile(r"年中|(?<=年)中(?!旬)")
# 年底 alone, or 底 right after an explicit year (2015年底); 2015年年底 is accepted too.
_YEAR_END = re.compile(r"年底|年末|年内|年度内|(?<=年)(?:底|末|全年)")
# 2026.6: a year and a month written with a dot or a slash (the month's last day)
_ISO_MONTH = re.compile(r"(?P<year>\d{4})[./](?P<month>\d{1,2})(?![\d./])")
# 本年度内 / 次年1月底前: a year named relative to the base year (or the year before it in the text);
# 今年 / 明年 count from today, which a plan does not know: they stay refused
_RELATIVE_YEAR = re.compile(r"(?P<this>本年度?|当年度?)|(?P<next>次年度?|翌年)")
# 即日起至2026年12月31日: a range that starts with the plan
_FROM_NOW = re.compile(r"(?:自|从)?即日起?(?:至|到)")
# 2026年3月起每月5日前报送: a period that starts with the date before it
_FROM_PERIOD = re.compile(r"(?:起|开始)(?=每|按)")
# 已完成: a task done before the plan, with no date to follow
_ALREADY_DONE = re.compile(r"(?:已经?|业已)(?:全部|基本)?(?:完成|建成|办结|落实|实现)")
_FESTIVAL_RE = re.compile(_FESTIVAL)

_DURATION = re.compile(
    rf"(?:(?P<years>[{_NUMERAL}]+)年(?P<and_half>半)?|(?P<half_year>半年)|(?P<months>[{_NUMERAL}]+)个月)"
    r"(?P<time>时间)?(?:以内|之内|内)"
)
_RANGE_CONNECTOR = re.compile(r"至|到(?!位)|—{1,2}|[-~–〜]")
_QUANTITY = re.compile(
    rf"(?:达到|达|实现)?(?P<number>\d+(?:\.\d+)?万?|[{_NUMERAL}]+)(?P<classifier>个)?"
    rf"(?P<measure>%|[{_HAN}]+?)(?:以上)?(?:{_FILLER_AFTER_ALT})*"
)
# A date followed by the work (2026年11月底前新改建农村公路50公里): the work's words may follow a date
# only after a word that makes it a deadline (前, 为止, 完成 …), so that 7月17日召开大会 (an event on a
# day) and 7月中 stay refused; they may end in a quantity (50公里, 累计完成45个村).
_BY_MARKER = re.compile(r"前|为止|完成|建成|到位")
# 2026年底见成效: words saying what shows by then make the date a deadline too
_RESULT_WORDS = re.compile(r"见成效|见实效|见效|取得明显成效")
_DONE_BEFORE_NUMBER = re.compile(rf"(?:完成|建成|达到|实现|达|新增|覆盖)(?=[{_NUMERAL}])")
_VAGUE_AFTER = ("后", "左右")
_ARABIC_DIGIT = re.compile(r"\d")  # 2015年底前后: around, not by
_DATE_CHARS = re.compile(r"[年月日旬季周前内底末]")
# 2016年3月底前启动，6月底前完成: a date followed by a start word opens a milestone that the next
# item, a date with a completion word, closes.
_START_WORD = re.compile(r"启动|开始")
_DONE_WORD = re.compile(rf"完成|建成|竣工|投用|投入使用|{_RESULT_WORDS.pattern}")  # results shown close a milestone too

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
# 每月至少开展1次: a verb of up to four characters may stand between the minimum word and its number
_MINIMUM = re.compile(rf"(?:不少于|不低于|至少)[{_HAN}]{{0,4}}?(?P<number>\d+(?:\.\d+)?|[{_NUMERAL}]+)(?P<unit>场次|次|场|回|万元|元)(?:以上)?")
_MINIMUM_WORD = re.compile(r"不少于|不低于|至少")
# 每季度开展1次 / 每月召开一次: a count at the end of an obligation's words is its minimum
_PLAIN_COUNT = re.compile(rf"(?P<number>\d+|[{_NUMERAL}]+)(?P<unit>场次|次|场|回)(?:以上)?$")
# 5G基站 / 4A级景区: digits joined to Latin letters are part of a noun, not a number
_NOUN_DIGITS = re.compile(r"\d+[A-Za-z]+")
# the first digit of a number that counts (not the 5 of 5G)
_COUNT_DIGIT = re.compile(r"(?<![\dA-Za-z.])\d(?![\d.]*[A-Za-z])")
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


def _quoted(text: str) -> str:
    """``repr(text)``, or for a text over 80 characters its first 80, an ellipsis and its length."""
    if len(text) <= _QUOTE_LIMIT:
        return repr(text)
    return f"{text[:_QUOTE_LIMIT]!r}… ({len(text):,} characters)"


def _normalise(text: str) -> tuple[str, list[int]]:
    """The matching form of ``text`` and, for each of its characters, its index in ``text``."""
    chars: list[str] = []
    origin: list[int] = []
    breaks: list[tuple[int, int]] = []  # (where in chars, index in text) of each line break
    for index, char in enumerate(text):
        if char in _LINE_BREAKS and chars:
            breaks.append((len(chars), index))
        for folded in _fold_char(char):
            if not folded.isspace():
                chars.append(folded)
                origin.append(index)
    _separate_lines(chars, origin, breaks)

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


_LINE_BREAKS = "\n\r\u2028\u2029\x0b\x0c\x85"


def _separate_lines(chars: list[str], origin: list[int], breaks: list[tuple[int, int]]) -> None:
    """A line break where a new item starts (2026年6月底前⏎2026年12月底前) separates items like ``;``;
    elsewhere (a date or words wrapped mid-way) it is only white space."""
    normal = "".join(chars)
    for at, index in reversed(breaks):
        if at == 0 or at >= len(normal) or normal[at - 1] in _SEPARATOR_CHARS + _NUMERAL + "年月":
            continue
        if _ITEM_START.match(normal, at):
            chars.insert(at, ";")
            origin.insert(at, index)


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
    """Spans of the separate items of a text (A、B、C), separators left out. 2027年起，持续推进 is one item:
    a date that says when ongoing work starts stays with it."""
    spans: list[tuple[int, int]] = []
    begin = 0
    for match in _SEPARATOR.finditer(normal):
        if match.start() < begin:
            continue
        if _FROM_WORD.search(normal, begin, match.start()) and _ONGOING.match(normal, match.end()):
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
    return body.startswith("每") or _BY_PERIOD.match(body) is not None or _MINIMUM_WORD.search(body) is not None


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


def _past(filler: re.Pattern[str], text: str, position: int = 0) -> int:
    """Where the run of ``filler`` words (a pattern that also matches nothing) starting at ``position`` ends."""
    found = filler.match(text, position)
    return found.end() if found else position


# -- dates ------------------------------------------------------------------------------------


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
