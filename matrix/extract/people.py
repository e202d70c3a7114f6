"""Officials (姓名(職務), 職務姓名, names alone) and units (A(牽頭)、B) read from a field's value."""

from __future__ import annotations

import re

from duban.matrix.directory import split_outside_parentheses
from duban.matrix.extract.vocabulary import _HAN, _TITLE_SUFFIXES

_NAME = re.compile(rf"^(?:[{_HAN}]{{2,4}}|[{_HAN}]{{1,6}}[·•][{_HAN}]{{1,6}})$")


def _split_top(text: str, seps: str) -> list[str]:
    """Split at separators outside parentheses: 區紀委(監察局)、區財政局 → two items."""
    return [p.strip() for p in split_outside_parentheses(text, seps) if p.strip()]


def _is_title(text: str) -> bool:
    return text.endswith(_TITLE_SUFFIXES)


def _is_name(text: str) -> bool:
    return bool(_NAME.match(text)) and not _is_title(text) and not text.startswith(("各", "全", "相關", "相关", "有關", "有关"))


def _parse_officials(value: str, *, full_width: bool = False) -> tuple[list[str], list[str], list[str]]:
    """'楊宏偉(區委書記)、徐江(區委副書記、區長)' → ['楊宏偉(區委書記)', '徐江(區委副書記、區長)'].

    Also title before the name (縣委常委、常務副縣長張三; 副縣長 王五; 區委副書記、區長徐江), name before
    the titles (徐江 區委副書記、區長: the titles after the name are all his), titles broken across
    lines (區委副書記\n區長陳明), and names alone. Returns (officials as 姓名(職務), pieces that could
    not be read, officials named by their title only).
    """
    value = value.strip().rstrip("。.;；,，")
    if not value or value in {"無", "无", "/", "-", "—", "暫無", "暂无"}:
        return [], [], []
    lp, rp = ("（", "）") if full_width or "（" in value or "，" in value else ("(", ")")
    reader = _OfficialsReader()
    segments = list(_split_top(value, "、,，;；"))
    while segments:
        reader.segment(re.sub(r"\s*同志$", "", segments.pop(0)), segments)
    out = [f"{name}{lp}{'、'.join(titles)}{rp}" if titles else name for name, titles in reader.people]
    title_only: list[str] = []
    if reader.pending:
        title = "、".join(reader.pending)
        out.append(title)
        title_only.append(title)
    return out, reader.bad, title_only


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
            m = re.match(r"^([^()（）]+?)\s*[(（](.*)[)）]$", seg, re.S)
            if m and _is_name(m.group(1).strip()):
                self.add(m.group(1).strip(), self.pending + [re.sub(r"\s*\n\s*", "、", m.group(2).strip())])
            else:
                self.bad.append(seg)
            return
        if "\n" in seg:
            # A line break after a whole title separates two titles (區委副書記 / 區長陳明); anywhere
            # else it is only where the line ran out.
            head, _nl, rest = seg.partition("\n")
            head, rest = head.strip(), rest.strip()
            if _is_title(head.replace(" ", "")) and rest:
                segments[:0] = [head, rest]
                return
            seg = head + rest
        if " " in seg.strip():
            a, _sp, b = seg.strip().rpartition(" ")
            a, b = a.strip(), b.strip()
            if _is_name(b) and _is_title(a.replace(" ", "")):
                self.add(b, self.pending + [a.replace(" ", "")])
                return
            if _is_name(a) and _is_title(b):
                self.add(a, self.pending + [b], then_titles=True)
                return
            seg = seg.replace(" ", "")
        self.words(seg.strip())

    def words(self, seg: str) -> None:
        """A piece without parentheses or spaces: a name, a title, a title then a name, or unreadable."""
        split = next(((seg[:k], seg[k:]) for k in range(len(seg) - 2, 1, -1)  # the longest title leaving a name
                      if _is_title(seg[:k]) and _is_name(seg[k:])), None)
        if _is_name(seg) and split is None:
            self.add(seg, self.pending)
        elif _is_title(seg):
            if self.name_first and self.people:
                self.people[-1][1].append(seg)  # 徐江 區委副書記、區長
            else:
                self.pending.append(seg)
        elif split is not None:  # 區長徐江, 常務副縣長張三
            self.add(split[1], self.pending + [split[0]])
        else:
            self.bad.append(seg)


def _parse_units(value: str) -> tuple[list[str], list[str]]:
    """'區農委、區財政局(牽頭)等' → (['區農委', '區財政局'], ['區財政局']): names, and those marked as lead.

    A closing 等 / 等相關單位 ("and others") names no unit and is dropped (the caller notes it)."""
    value = value.strip().rstrip("。.;；,，")
    if not value or value in {"無", "无", "/", "-", "—"}:
        return [], []
    names: list[str] = []
    marked: list[str] = []
    for item in _split_top(value, "、,，;；/"):
        item = item.strip().strip("“”\"")
        if " " in item and "(" not in item and "（" not in item and all(len(p) >= 2 for p in item.split()):
            candidates = item.split()  # 區農委 區財政局: units separated by spaces (tables, lists)
        else:
            candidates = [item.replace(" ", "")]
        for name in candidates:
            lead = False
            m = re.search(r"[(（](牽頭|牵头|主責|主责|負總責|负总责|牽頭單位|牵头单位)[)）]$", name)
            if m:
                name, lead = name[: m.start()].strip(), True
            name = re.sub(r"等(相關|相关|有關|有关)?(單位|单位|部門|部门)?$", "", name).strip()
            if not name:
                continue
            names.append(name)
            if lead:
                marked.append(name)
    return names, marked
