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
    people: list[tuple[str, list[str]]] = []
    bad: list[str] = []
    title_only: list[str] = []
    pending: list[str] = []  # titles waiting for the name after them: 縣委常委、常務副縣長張三
    name_first = False  # the last official was written 姓名 職務: a bare title next is one more of his

    def add(name: str, titles: list[str], *, then_titles: bool = False) -> None:
        nonlocal pending, name_first
        people.append((name, [t for t in titles if t]))
        pending, name_first = [], then_titles

    segments = list(_split_top(value, "、,，;；"))
    while segments:
        seg = re.sub(r"\s*同志$", "", segments.pop(0))
        if "(" in seg or "（" in seg:
            m = re.match(r"^([^()（）]+?)\s*[(（](.*)[)）]$", seg, re.S)
            if m and _is_name(m.group(1).strip()):
                add(m.group(1).strip(), pending + [re.sub(r"\s*\n\s*", "、", m.group(2).strip())])
                continue
            bad.append(seg)
            continue
        if "\n" in seg:
            # A line break after a whole title separates two titles (區委副書記 / 區長陳明); anywhere
            # else it is only where the line ran out.
            head, _nl, rest = seg.partition("\n")
            head, rest = head.strip(), rest.strip()
            if _is_title(head.replace(" ", "")) and rest:
                segments[:0] = [head, rest]
                continue
            seg = head + rest
        if " " in seg.strip():
            a, _sp, b = seg.strip().rpartition(" ")
            a, b = a.strip(), b.strip()
            if _is_name(b) and _is_title(a.replace(" ", "")):
                add(b, pending + [a.replace(" ", "")])
                continue
            if _is_name(a) and _is_title(b):
                add(a, pending + [b], then_titles=True)
                continue
            seg = seg.replace(" ", "")
        seg = seg.strip()
        split = next(((seg[:k], seg[k:]) for k in range(len(seg) - 2, 1, -1)  # the longest title leaving a name
                      if _is_title(seg[:k]) and _is_name(seg[k:])), None)
        if _is_name(seg) and split is None:
            add(seg, pending)
        elif _is_title(seg):
            if name_first and people:
                people[-1][1].append(seg)  # 徐江 區委副書記、區長
            else:
                pending.append(seg)
        elif split is not None:  # 區長徐江, 常務副縣長張三
            add(split[1], pending + [split[0]])
        else:
            bad.append(seg)
    out = [f"{name}{lp}{'、'.join(titles)}{rp}" if titles else name for name, titles in people]
    if pending:
        title = "、".join(pending)
        out.append(title)
        title_only.append(title)
    return out, bad, title_only


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
