"""Reading lead officials (牽頭領導 / 責任領導) as offices write them, one parser for every reader.

``read_officials`` turns one field's value into officials: 姓名(職務) with either parentheses, the
title before the name (縣委常委、常務副縣長張三; 副縣長 王五; 副區長：張志強), the name before the titles
(徐江 區委副書記、區長), names alone, and several officials in one value separated by 、 ， , ； ;.
A sheet cell or a YAML string (``cell=True``) also separates officials by line breaks, as offices
type them in one cell (張志強\\n(區人民政府副區長), 張三(副區長)\\n李四(副區長)); in a document's running
text (``cell=False``, the extractor) a line break is only where the line ran out.

Pure: no I/O. The document extractor (``matrix.extract``) and the plan loaders use this same module.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from duban.matrix.directory import split_outside_parentheses
from duban.matrix.model import Official

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
TITLE_SUFFIXES = (
    "書記", "长", "長", "主任", "常委", "委員", "主席", "政委", "經理", "经理", "主管", "巡視員", "巡视员", "調研員",
    "调研员", "督學", "督学", "助理", "參事", "参事", "顧問", "顾问", "書記員", "干部", "幹部", "黨組成員", "党组成员",
    "负责人", "負責人", "召集人", "秘書", "秘书", "總監", "总监", "專員", "专员", "指揮", "指挥", "书记",
)
SEPARATORS = "、,，;；"
_NAME = re.compile(rf"^(?:[{HAN}]{{2,4}}|[{HAN}]{{1,6}}[·•][{HAN}]{{1,6}})$")
_NONE = {"無", "无", "/", "-", "—", "暫無", "暂无"}
_PARENTHESISED = re.compile(r"^([^()（）]+?)\s*[(（](.*)[)）]$", re.S)
_TITLE_ALONE = re.compile(r"^[(（]([^()（）]+)[)）]$")
_COLON = re.compile(r"^([^()（）:：]+?)\s*[:：]\s*([^()（）:：]+)$")


class OfficialsRead(NamedTuple):
    """What one value held: the officials, the pieces that could not be read, and titles named alone."""

    officials: list[Official]
    bad: list[str]
    title_only: list[str]


def split_top(text: str, seps: str) -> list[str]:
    """Split at separators outside parentheses: 區紀委(監察局)、區財政局 → two items."""
    return [p.strip() for p in split_outside_parentheses(text, seps) if p.strip()]


def is_title(text: str) -> bool:
    return text.endswith(TITLE_SUFFIXES)


def is_name(text: str) -> bool:
    return bool(_NAME.match(text)) and not is_title(text) and not text.startswith(("各", "全", "相關", "相关", "有關", "有关"))


def read_officials(value: str, *, cell: bool = False) -> OfficialsRead:
    """'楊宏偉(區委書記)、徐江(區委副書記、區長)' → two officials; see the module's docstring for the forms.

    A piece that is not an official is returned in ``bad`` (never guessed); titles with no name after
    them (分管副縣長) in ``title_only``, as they are written.
    """
    value = value.strip().rstrip("。.;；,，")
    if not value or value in _NONE:
        return OfficialsRead([], [], [])
    reader = _OfficialsReader()
    segments = [s for line in (_cell_lines(value) if cell else [value]) for s in split_top(line, SEPARATORS)]
    while segments:
        reader.segment(re.sub(r"\s*同志$", "", segments.pop(0)), segments)
    officials = [Official(name=name, title="、".join(titles)) for name, titles in reader.people]
    title_only = ["、".join(reader.pending)] if reader.pending else []
    return OfficialsRead(officials, reader.bad, title_only)


def _cell_lines(value: str) -> list[str]:
    """A cell's lines, each holding whole officials: a line that opens with a parenthesis, or continues
    one left open, belongs to the line above (張志強\\n(副區長)); a title alone under a name alone is that
    name's (張志強\\n副區長); a line that is no official by itself ran out mid-title (區人民政府\\n副區長張三)."""
    out: list[str] = []
    for raw in value.replace("\u3000", " ").replace("\r", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if out and (line[0] in "(（" or _open(out[-1])):
            out[-1] += "\n" + line  # the reader joins a title broken inside its parentheses with 、
        elif out and is_name(out[-1]) and is_title(line.replace(" ", "").rstrip(SEPARATORS)):
            out[-1] += " " + line
        elif out and _fragment(out[-1]):
            out[-1] += line
        else:
            out.append(line)
    return out


def _open(text: str) -> bool:
    return text.count("(") + text.count("（") > text.count(")") + text.count("）")


def _fragment(line: str) -> bool:
    """A line that holds no official by itself (區人民政府): the rest of it is on the next line."""
    if line.endswith(tuple(SEPARATORS)):
        return False  # the line ends where a list goes on: 縣委常委、
    reader = _OfficialsReader()
    segments = split_top(line, SEPARATORS)
    while segments:
        reader.segment(segments.pop(0), segments)
    return bool(reader.bad)


class _OfficialsReader:
    """Reading one lead-officials value, piece by piece: the officials so far, the pieces that could not
    be read, and titles waiting for the name after them (縣委常委、常務副縣長張三)."""

    def __init__(self) -> None:
        self.people: list[tuple[str, list[str]]] = []
        self.bad: list[str] = []
        self.pending: list[str] = []
        self.name_first = False  # the last official was written 姓名 職務: a bare title next is one more of his

    def add(self, name: str, titles: list[str], *, then_titles: bool = False) -> None:
        self.people.append((name, [t for t in titles if t]))
        self.pending, self.name_first = [], then_titles

    def segment(self, seg: str, segments: list[str]) -> None:
        """One piece between separators; a piece that holds two (a title, a line break, a name) puts them
        back at the front of ``segments``."""
        if "(" in seg or "（" in seg:
            alone = _TITLE_ALONE.match(seg)
            if alone and self.people and not self.people[-1][1]:
                # 張志強、(區人民政府副區長): a title in parentheses parted from its name (a Word cell's
                # paragraphs joined with 、) is the name's
                self.people[-1][1].append(re.sub(r"\s*\n\s*", "、", alone.group(1).strip()))
                return
            m = _PARENTHESISED.match(seg)
            if m and is_name(m.group(1).strip()) and not re.search(r"[)）].*[(（]", m.group(2), re.S):
                self.add(m.group(1).strip(), self.pending + [re.sub(r"\s*\n\s*", "、", m.group(2).strip())])
            else:
                self.bad.append(seg)
            return
        if "\n" in seg:
            # A line break after a whole title separates two titles (區委副書記 / 區長陳明); anywhere
            # else it is only where the line ran out.
            head, _nl, rest = seg.partition("\n")
            head, rest = head.strip(), rest.strip()
            if is_title(head.replace(" ", "")) and rest:
                segments[:0] = [head, rest]
                return
            seg = head + rest
        if self.pair(seg):
            return
        self.words(seg.replace(" ", "").strip())

    def pair(self, seg: str) -> bool:
        """A title and a name apart by a colon or a space (副區長：張志強, 副縣長 王五, 徐江 區委副書記)."""
        m = _COLON.match(seg.strip())
        if m:
            a, b = m.group(1).strip(), m.group(2).strip()
        elif " " in seg.strip():
            a, _sp, b = seg.strip().rpartition(" ")
            a, b = a.strip(), b.strip()
        else:
            return False
        if is_name(b) and is_title(a.replace(" ", "")):
            self.add(b, self.pending + [a.replace(" ", "")])
            return True
        if is_name(a) and is_title(b.replace(" ", "")):
            self.add(a, self.pending + [b.replace(" ", "")], then_titles=True)
            return True
        return False

    def words(self, seg: str) -> None:
        """A piece without parentheses or spaces: a name, a title, a title then a name, or unreadable."""
        split = next(((seg[:k], seg[k:]) for k in range(len(seg) - 2, 1, -1)  # the longest title leaving a name
                      if is_title(seg[:k]) and is_name(seg[k:])), None)
        if is_name(seg) and split is None:
            self.add(seg, self.pending)
        elif is_title(seg):
            if self.name_first and self.people:
                self.people[-1][1].append(seg)  # 徐江 區委副書記、區長
            else:
                self.pending.append(seg)
        elif split is not None:  # 區長徐江, 常務副縣長張三
            self.add(split[1], self.pending + [split[0]])
        else:
            self.bad.append(seg)
