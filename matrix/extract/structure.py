"""Document structure: headings, fields and the blocks they form; heading numbers and titles."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from duban.matrix.errors import DeadlineError
from duban.matrix.extract.cleaning import _Text
from duban.matrix.extract.vocabulary import _CIRCLED, _CN_DIGITS, _HEADINGS
from duban.matrix.model import DeadlineContext
from duban.matrix.vocabulary import cn_number


@dataclass(slots=True)
class _Heading:
    kind: str
    rank: int
    number: str  # as written: 三, 2, 3.2.1
    marker: str  # 三、 / (二) as written (original punctuation)
    rest: str  # the text after the marker (original), responsibility note removed
    rest_norm: str


@dataclass(slots=True)
class _Field:
    kind: str
    label: str
    text: _Text
    line: int


@dataclass(slots=True)
class _Block:
    heading: _Heading | None
    line: int
    parent: _Block | None
    children: list[_Block] = field(default_factory=list)
    title: str = ""
    body: _Text | None = None
    fields: dict[str, _Field] = field(default_factory=dict)
    prose: list[tuple[_Text, bool]] = field(default_factory=list)  # (paragraph, came after a field)
    role: str = ""  # task | stage | current_work | section | ""
    synthetic: int = 0  # a 任務名稱: line starts a block numbered within its parent
    items: list[_Block] = field(default_factory=list)  # a numbered list read as part of this block's text
    categories: list[str] = field(default_factory=list)  # 類別: lines (a matrix table's category): its section

    @property
    def rank(self) -> int:
        return self.heading.rank if self.heading else -2

    def ancestors(self) -> list[_Block]:
        out = []
        b = self.parent
        while b is not None and (b.heading is not None or b.synthetic):
            out.append(b)
            b = b.parent
        return out[::-1]


_TASK_FIELDS = {"lead_officials", "lead_unit", "responsible", "supporting_units", "deadline"}
_SHARED_FIELDS = {"lead_officials", "supporting_units", "deadline"}  # a section may give these for its tasks
_UNIT_FIELDS = {"lead_officials", "lead_unit", "responsible", "supporting_units"}


def _match_heading(norm: str) -> tuple[str, int, str, int] | None:
    """(kind, rank, number, end of the marker) when a line starts with a heading number."""
    first = norm[:1]
    if not (first.isdigit() or first in "(第" or first in _CN_DIGITS or first in _CIRCLED):
        return None
    for kind, rank, pattern in _HEADINGS:
        m = pattern.match(norm)
        if m:
            if kind == "cn" and not re.fullmatch(r"[一二三四五六七八九十]{1,3}", m.group(1)):
                continue
            return kind, rank, m.group(1), m.end()
    return None


def _cn_number(s: str) -> int:
    """A heading's or date part's number (一 → 1, 十二 → 12); 0 when it is not one."""
    return cn_number(s) or 0


def _heading_number(h: _Heading) -> str:
    if h.kind == "dotted":
        return h.number
    if h.kind == "circled":
        return str(_CIRCLED.index(h.number) + 1)
    return str(_cn_number(h.number))


def _split_title(rest: str, rest_norm: str) -> tuple[str, str]:
    """A heading's text → (title, body): 抓黨建引領。一是… → (抓黨建引領, 一是…); a long sentence → ("", it)."""
    stripped = rest.rstrip()
    period = rest_norm.find("。")
    colon = rest_norm.find(":")
    if 0 < colon <= 20 and (period == -1 or colon < period) and colon < len(rest_norm.rstrip()) - 1:
        return rest[:colon].strip(), rest[colon + 1 :].strip()
    if period == -1 or period >= len(stripped) - 1:
        if len(stripped) > 60 and re.search("[,，;；]", stripped):
            return "", stripped
        return stripped.rstrip("。.;；,，: "), ""
    if period <= 40:
        return rest[:period].strip(), rest[period + 1 :].strip()
    return "", stripped


def _short_title(text: str) -> str:
    """A title for a task or item whose heading is a long sentence: its first sentence or clause."""
    text = text.strip()
    for seps in ("。;；!?！？", ",，"):
        cut = min([i for i in (text.find(s) for s in seps) if i > 0] or [len(text)])
        if cut <= 40:
            return text[:cut].strip()
    return text[:40]


_DATED_TAIL = re.compile(r"[(（]([^()（）]{2,40})[)）]\s*[。.;；]?$")


def _dated_tail(title: str, context: DeadlineContext | None) -> tuple[str, str]:
    """動員部署階段(2015年7月17日前) → (動員部署階段, 2015年7月17日前) when the parentheses hold a date."""
    m = _DATED_TAIL.search(title)
    if not m or not re.search(r"\d|[一二三四五六七八九十]月|年底|季度|半年", m.group(1)):
        return title, ""
    inner = m.group(1).strip()
    inner = re.sub(r"^(?:時間|时间|完成時限|完成时限|時限|时限)\s*[:：]\s*", "", inner)
    if context is not None and not _parses(inner, context):
        return title, ""
    return title[: m.start()].rstrip(), inner


def _parses(text: str, context: DeadlineContext) -> bool:
    from duban.matrix import deadlines

    try:
        deadlines.parse(text, context=context)
        return True
    except DeadlineError:
        return False
