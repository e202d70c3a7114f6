"""Officials (姓名(職務), 職務姓名, names alone; read by ``matrix.officials``) and units (A(牽頭)、B) read from a field's value."""

from __future__ import annotations

import re

from duban.matrix.officials import read_officials
from duban.matrix.officials import split_top as _split_top


def _parse_officials(value: str, *, full_width: bool = False) -> tuple[list[str], list[str], list[str]]:
    """'楊宏偉(區委書記)、徐江(區委副書記、區長)' → ['楊宏偉(區委書記)', '徐江(區委副書記、區長)'].

    The forms are ``matrix.officials.read_officials``'s (titles broken across lines: 區委副書記\n區長陳明;
    a line break in running text is where the line ran out). Returns (officials as 姓名(職務), pieces that
    could not be read, officials named by their title only).
    """
    lp, rp = ("（", "）") if full_width or "（" in value or "，" in value else ("(", ")")
    read = read_officials(value)
    out = [f"{o.name}{lp}{o.title}{rp}" if o.title else o.name for o in read.officials]
    return out + read.title_only, read.bad, read.title_only


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
