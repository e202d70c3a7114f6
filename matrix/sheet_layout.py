"""How offices lay out a task sheet around its tasks: headings, numbering, the rows above the header.

A county's 任務分解表 puts its categories between the tasks (``一、基礎設施`` merged across the table,
``（二）產業就業`` below it, or a heading alone in the 序號 column), numbers its tasks 1, 2, 3 again under
each category, and has a title row and a ``填報單位：… 填報時間：2019年3月1日`` row above the header.
``Sections`` follows the headings (nested by their numbering style: 第一部分, 一、, （一）, 1、, （1）),
``assign_codes`` gives every task a stable code (its 序號, prefixed by its categories' numbers where
序號 restarts; derived from its place where 序號 is missing), and ``preamble_facts`` reads the plan's
title, issuer and date from the rows above the header. Pure: no files, no clock.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from typing import Any

from duban.matrix.sources import Cell, Record
from duban.matrix.vocabulary import cn_number

__all__ = ["Sections", "assign_codes", "date_cell", "heading_kind", "heading_of", "preamble_facts", "text_of"]

_CN = "一二三四五六七八九十百零〇"
# Numbering styles of headings, outermost first as official documents nest them.
_HEADING_STYLES = (
    ("part", re.compile(rf"^第\s*([{_CN}\d]+)\s*(?:部分|篇|章|大類|类|類)")),
    ("chapter", re.compile(rf"^([{_CN}]+)\s*[、.．]")),
    ("paren", re.compile(rf"^[(（]\s*([{_CN}]+)\s*[)）]")),
    ("arabic", re.compile(r"^(\d{1,3})\s*(?:[、．]|\.(?!\d))")),
    ("arabic_paren", re.compile(r"^[(（]\s*(\d{1,3})\s*[)）]")),
)
_BARE_NUMERAL = re.compile(rf"^(?:[{_CN}]+|[(（][{_CN}]+[)）])$")  # 一 or （一） alone in the 序號 column
_CODE_LIKE = re.compile(r"^\d+(?:\.\d+)*$")
_DIGITS = re.compile(r"^[0-9]{1,9}$")
_FILLED_DOWN = frozenset({"lead_officials", "supporting_units"})


def text_of(value: Any) -> str:
    """A cell's text: 3.0 is "3", a date is 2019年9月30日, text stripped."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.date):
        return f"{value.year}年{value.month}月{value.day}日"
    return str(value).strip()


_MIDNIGHT = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})[ T]0{1,2}:00(?::00(?:\.0+)?)?$")


def date_cell(value: Any) -> Any:
    """A date cell saved as text with its midnight (2019-09-30 00:00:00, as a CSV from Excel has it) as
    that date; any other value as it is."""
    if isinstance(value, str) and len(value) <= 26 and ":" in value:
        m = _MIDNIGHT.match(value.strip())
        if m:
            try:
                return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                return value
    return value


def heading_kind(text: str) -> tuple[str, int | None]:
    """The numbering style of a heading and its number: 一、基礎設施 → ("chapter", 1); unnumbered → ("plain", None)."""
    for kind, pattern in _HEADING_STYLES:
        m = pattern.match(text)
        if m:
            return kind, cn_number(m.group(1))
    return "plain", None


def heading_of(rec: Record, *, wide: bool) -> str | None:
    """The heading a row holds, or None when it is a task row.

    A row with no lead unit and no deadline is a heading when its one text is numbered as a heading
    (一、 （二） 第一部分 …), spans most of the table (``wide``: a merge across), or sits alone in the
    序號 or 類別 column without being a number; ``一`` in 序號 beside ``基礎設施`` reads 一、基礎設施."""
    if "lead_unit" in rec.cells or "deadline" in rec.cells:
        return None
    # An official merged down past the heading (a category merged over part of the width) is no reason
    # to read it as a task: a task is known by its lead unit or its deadline.
    texts = list(dict.fromkeys(t for t in (text_of(c.value) for k, c in rec.cells.items() if k not in _FILLED_DOWN) if t))
    code = text_of(rec.get("code"))
    if len(texts) == 2 and code == texts[0] and _BARE_NUMERAL.match(code):
        return code + ("" if code[-1] in ")）" else "、") + texts[1]
    if len(texts) != 1:
        return None
    text = texts[0]
    alone_in = set(rec.cells) - _FILLED_DOWN <= {"code", "section"}
    if heading_kind(text)[0] != "plain" or wide or (alone_in and not _CODE_LIKE.match(text)):
        return text
    return None


class Sections:
    """The headings above the current row, nested by numbering style, each with its number (its own,
    else its place among its siblings); ``top`` is an outermost heading (a sheet's name)."""

    def __init__(self, top: tuple[str, int] | None = None) -> None:
        self.top = [top] if top else []
        self.stack: list[tuple[str, str, int]] = []  # (style, text, number)
        self._count: dict[tuple[str, ...], int] = {}
        self._paths: dict[str, tuple[list[str], tuple[int, ...]]] = {}  # by category, under the current headings

    def enter(self, text: str) -> None:
        self._paths.clear()
        kind, number = heading_kind(text)
        for i, (style, _text, _number) in enumerate(self.stack):
            if style == kind:
                del self.stack[i:]
                break
        self.stack.append((kind, text, number or self._place(tuple(t for _k, t, _n in self.stack))))

    @property
    def depth(self) -> int:
        """How many headings are above the current row (a task's numbers beyond these are its 類別's)."""
        return len(self.top) + len(self.stack)

    def _place(self, parent: tuple[str, ...]) -> int:
        self._count[parent] = self._count.get(parent, 0) + 1
        return self._count[parent]

    def of_task(self, category: str) -> tuple[list[str], tuple[int, ...]]:
        """A task's section path and its numbers. ``category`` is its 類別 cell: levels below the
        headings (several joined by " / ", as duban exports a section), each numbered as written
        (二、…) or by its place among the categories under the same headings. The list is shared by
        the tasks under the same headings and category: not to be changed."""
        found = self._paths.get(category)
        if found is None:
            found = self._paths[category] = self._path(category)
        return found

    def _path(self, category: str) -> tuple[list[str], tuple[int, ...]]:
        path = [(t, n) for t, n in self.top] + [(t, n) for _k, t, n in self.stack]
        for part in (p.strip() for p in category.split(" / ")):
            if not part or any(t == part for t, _n in path):
                continue
            parent = (*(t for t, _n in path), "\0")
            key = (*parent, part)
            if key not in self._count:
                self._count[key] = heading_kind(part)[1] or self._place(parent)
            path.append((part, self._count[key]))
        return [t for t, _n in path], tuple(n for _t, n in path)


def assign_codes(tasks: Sequence[tuple[Record, tuple[int, ...]]], parts: Sequence[int] = (),
                 depths: Sequence[int] = ()) -> int:
    """Give each task (record, its sections' numbers) its code; returns how many were derived.

    A task's code is its 序號. Where 序號 restarts under a category (the first number under a new
    category is not above every number before it), whole-number codes take the shortest prefix of
    their sections' numbers that makes them unique: the numbered headings' (3 under 二、 is 2.3), and
    the 類別 cells' (``depths``: how many of a task's numbers are headings; the rest are 類別 levels,
    numbered by their place) only where 序號 restarts within each 類別 block under one heading too. A
    task without 序號 is numbered by its place under its sections (the second task under 二、 is 2.2).
    ``parts`` (one per task, 0 for none) numbers the rows one 序號 merged down over several rows spans
    (one task, a measure and a deadline a row): 2.3.1, 2.3.2. Codes are never made unique by force:
    two tasks still sharing one are reported by the loader."""
    raw = [_code_text(rec) for rec, _numbers in tasks]
    keep = _code_prefixes(tasks, raw, depths)
    places: dict[tuple[int, ...], int] = {}
    derived = 0
    for index, ((rec, numbers), code) in enumerate(zip(tasks, raw, strict=True)):
        place = places[numbers] = places.get(numbers, 0) + 1
        part = parts[index] if index < len(parts) else 0
        if not code:
            code = ".".join(str(n) for n in (*numbers, place))
            derived += 1
        elif keep[index] and _DIGITS.match(code):
            code = ".".join(str(n) for n in (*numbers[:keep[index]], int(code)))
        elif not part:
            continue
        rec.cells["code"] = Cell(f"{code}.{part}" if part else code, rec.line_of("code"))
    return derived


_NUMBER_MARK = re.compile(r"^(?:(\d{1,9})\s*[、.．]|[(（]\s*(\d{1,9})\s*[)）])$")


def _code_text(rec: Record) -> str:
    """A task's 序號 as text: 1、 1. （1） written under sub-headings are the number 1 (the cell is
    rewritten so)."""
    code = text_of(rec.get("code"))
    m = _NUMBER_MARK.match(code)
    if m:
        code = m.group(1) or m.group(2)
        rec.cells["code"] = Cell(code, rec.line_of("code"))
    return code


def _code_prefixes(tasks: Sequence[tuple[Record, tuple[int, ...]]], raw: list[str], depths: Sequence[int]) -> list[int]:
    """How many of each task's section numbers go in front of its 序號: none, its headings', or all
    (its 類別 levels' too), the first of these under which 序號 neither restarts nor repeats."""
    numbers = [n for _rec, n in tasks]
    heads = [min(depths[i], len(n)) if i < len(depths) else len(n) for i, n in enumerate(numbers)]
    choices = ([0] * len(numbers), heads, [len(n) for n in numbers])
    for keep in choices[:-1]:
        if not _restarts(numbers, raw, keep) and _unique(numbers, raw, keep):
            return keep
    return choices[-1]


def _restarts(numbers: list[tuple[int, ...]], raw: list[str], keep: list[int]) -> bool:
    """Whether 序號 starts again at a new group of sections among the tasks sharing their first
    ``keep`` section numbers (none: the whole sheet)."""
    highest: dict[tuple[int, ...], int] = {}
    group: dict[tuple[int, ...], tuple[int, ...]] = {}
    for nums, code, k in zip(numbers, raw, keep, strict=True):
        if not _DIGITS.match(code):
            continue
        outer = nums[:k]
        if outer in group and group[outer] != nums and int(code) <= highest[outer]:
            return True
        group[outer] = nums
        highest[outer] = max(highest.get(outer, 0), int(code))
    return False


def _unique(numbers: list[tuple[int, ...]], raw: list[str], keep: list[int]) -> bool:
    codes = [(nums[:k], int(code)) for nums, code, k in zip(numbers, raw, keep, strict=True) if _DIGITS.match(code)]
    return len(set(codes)) == len(codes)


# --------------------------------------------------------------------------------------------
# The rows above the header

_ATTACHMENT = re.compile(r"^附\s*件\s*[0-9一二三四五六七八九十]*\s*[:：]?$")
_ISSUER = re.compile(r"(?:填報|填报|報送|报送|制表|編制|编制)(?:單位|单位)\s*[:：]\s*(.+?)"
                     r"(?=\s{2,}|\s*(?:填報|填报|報送|报送|制表|時間|时间|日期)|$)")
_DATE_LABEL = re.compile(r"(?:時間|时间|日期)\s*[:：]\s*(.*)$")
_NOTICE = re.compile(r"(?:關於|关于)印[發发](.+?)的通知")
_LONE_DATE = re.compile(r"^\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日$")
_DATE_TEXT = re.compile(r"(\d{4})\s*(?:年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日|[-/.](\d{1,2})[-/.](\d{1,2}))")


def _date_in(text: str) -> dt.date | None:
    m = _DATE_TEXT.search(text)
    if not m:
        return None
    year, month, day = int(m.group(1)), int(m.group(2) or m.group(4)), int(m.group(3) or m.group(5))
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def preamble_facts(rows: Iterable[list[Any]]) -> tuple[dict[str, Any], set[tuple[str, ...]]]:
    """The plan's title, issuer and date (start) from the rows above the header, and those rows' texts
    (a page's title repeated further down is skipped, not read as a heading)."""
    facts: dict[str, Any] = {}
    seen: set[tuple[str, ...]] = set()
    previous: tuple[str, ...] = ()
    for values in rows:
        texts = tuple(t for t in (text_of(v) for v in values) if t)
        if not texts:
            continue
        seen.add(texts)
        line = "  ".join(texts)
        before, previous = previous, texts
        notice = _NOTICE.search(line)
        if notice:  # 關於印發…的通知 above the table: the plan's title is what it sends
            facts["title"] = notice.group(1)
            continue
        if len(texts) == 1 and _LONE_DATE.match(texts[0]):  # a notice's signature: issuer, then the date
            facts.setdefault("start", _date_in(texts[0]))
            if len(before) == 1 and len(before[0]) <= 30 and "issuer" not in facts:
                facts["issuer"] = before[0]
            continue
        issuer = _ISSUER.search(line)
        label = _DATE_LABEL.search(line)
        if issuer or label:
            if issuer and "issuer" not in facts:
                facts["issuer"] = issuer.group(1).strip()
            when = next((v.date() if isinstance(v, dt.datetime) else v for v in values
                         if isinstance(v, dt.date)), None) or (_date_in(label.group(1)) if label else None)
            if when and "start" not in facts:
                facts["start"] = when
        elif "title" not in facts and not _ATTACHMENT.match(texts[0]):
            facts["title"] = texts[0]
    return facts, seen
