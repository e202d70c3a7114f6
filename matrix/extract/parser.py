"""The parser of one document: lines → header (title, issuer, number, date) and a tree of blocks."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from duban.matrix.extract.cleaning import _Line, _Text
from duban.matrix.extract.fields import _Fields, _fields_in
from duban.matrix.extract.results import Leftover, Note
from duban.matrix.extract.structure import _Block, _cn_number, _Field, _Heading, _match_heading, _split_title
from duban.matrix.extract.vocabulary import (
    _AMBIGUOUS_TITLE,
    _ATTACHMENT,
    _COVER_LETTER,
    _DATE_LINE,
    _DOC_NUMBER,
    _DOC_TYPES,
    _ISSUED_TITLE,
    _NOTICE_ISSUER,
    _ORG_SUFFIX,
    _PAGE_LINE,
    _UNKNOWN_LABEL,
    _is_addressees,
    _vocabulary,
)


class _Parser:
    def __init__(self, lines: list[_Line], leftovers: list[Leftover]) -> None:
        self.lines = lines
        self.leftovers = leftovers
        self.page_lines: list[_Line] = []
        self.root = _Block(heading=None, line=0, parent=None)
        self.header: dict[str, Any] = {}
        self.signature: set[int] = set()
        self.covering: list[_Line] = []  # the addressees and the covering sentence of a 印發 notice
        self.header_leftovers: list[_Line] = []  # short lines above the body that are none of the above
        self.notes: list[Note] = []

    # -- header ---------------------------------------------------------------------------------

    def header_zone(self) -> int:
        """Read the title, issuer, document number and issue date above the body; returns where the body starts."""
        lines = self.lines
        k = 0
        head: list[_Line] = []
        while k < len(lines):
            ln = lines[k]
            if not ln.raw:
                k += 1
                continue
            if _match_heading(ln.norm) or _vocabulary().line_label.match(ln.norm):
                break
            if _is_addressees(ln.norm) or _COVER_LETTER.search(ln.norm):
                self.covering.append(ln)  # 各鄉鎮人民政府，縣政府各部門： / 現將《…》印發給你們
                k += 1
                continue
            if len(ln.norm) > 60 or ln.norm.rstrip()[-1:] in "。;；:":
                break
            head.append(ln)
            k += 1
        titles: list[tuple[str, int]] = []  # lines ending in 方案 / 計劃 / 通知 …
        others: list[_Line] = []
        i = 0
        while i < len(head):
            ln = head[i]
            text = ln.raw.strip()
            issued = _ISSUED_TITLE.search(ln.raw)
            if _DATE_LINE.match(ln.norm.replace(" ", "")) and "issued" not in self.header:
                self.header["issued"] = (_date_of(ln.norm), ln.no)
            elif _DOC_NUMBER.search(ln.norm) or _ATTACHMENT.match(ln.norm):
                self.notes.append(Note(ln.no, f"read as the document number or attachment mark: {text}", "header"))
            elif issued:
                titles.append((next(g for g in issued.groups() if g), ln.no))
                by = _NOTICE_ISSUER.match(text)  # 清河縣人民政府辦公室關於印發《…》的通知
                if by and _ORG_SUFFIX.search(by.group(1)):
                    self.header.setdefault("issuer", (by.group(1), ln.no))
            elif _DOC_TYPES.search(text):
                titles.append((text, ln.no))
            elif i + 1 < len(head) and _DOC_TYPES.search(head[i + 1].raw.strip()) \
                    and len(head[i + 1].raw.strip()) <= 10 and " " not in text:
                titles.append((text + head[i + 1].raw.strip(), ln.no))  # a title broken over two lines
                i += 1
            elif _ORG_SUFFIX.search(text) and "issuer" not in self.header:
                self.header["issuer"] = (text, ln.no)
            elif "issuer" in self.header and text == self.header["issuer"][0]:
                self.notes.append(Note(ln.no, f"the issuer again (the notice's signature): {text}", "header"))
            else:
                others.append(ln)
            i += 1
        if titles:
            self.header["title"] = titles[-1]  # the one nearest the body (a compilation repeats it above)
            for text, no in titles[:-1]:
                self.notes.append(Note(no, f"another title line, not used: {text}", "header"))
        elif others:
            self.header["title"] = (others[0].raw.strip(), others[0].no)
            others = others[1:]
        self.header_leftovers = others
        # A signature at the end: the issuing body, then the date.
        tail = [ln for ln in lines[k:] if ln.raw][-2:]
        if len(tail) == 2 and _DATE_LINE.match(tail[1].norm.replace(" ", "")) and len(tail[0].norm) <= 30 \
                and _ORG_SUFFIX.search(tail[0].raw.strip()):
            self.header.setdefault("issued", (_date_of(tail[1].norm), tail[1].no))
            self.header.setdefault("issuer", (tail[0].raw.strip(), tail[0].no))
            self.signature = {tail[0].no, tail[1].no}
        return k

    # -- body -----------------------------------------------------------------------------------

    def parse(self) -> None:
        start = self.header_zone()
        current = self.root
        open_text: _Text | None = None
        vocab = _vocabulary()
        for ln in self.lines[start:]:
            if not ln.raw:  # a blank line ends a paragraph (not a list a field opened)
                if open_text is not None and not (open_text.opener and not open_text.text):
                    open_text = None
                continue
            if ln.no in self.signature:
                continue
            if _PAGE_LINE.match(ln.norm):
                self.page_lines.append(ln)
                continue
            heading = _match_heading(ln.norm)
            if heading is not None and open_text is not None and open_text.opener and heading[1] > current.rank \
                    and current.heading is not None:
                open_text.add(ln.raw, ln.no)  # a numbered list inside a field: 目標要求: / 1.… / 2.…
                continue
            if heading is not None:
                current, open_text = self._heading(heading, ln, current)
                continue
            if vocab.line_label.match(ln.norm):
                current, open_text = self._field_line(current, ln)
                continue
            unknown = _UNKNOWN_LABEL.match(ln.norm)
            if unknown is not None and current is not self.root:
                self.leftovers.append(Leftover(ln.no, ln.raw, f"{unknown.group(1)!r} is not a field the matrix has", "field"))
                open_text = None
                continue
            current, open_text = self._prose_line(current, ln, open_text)

    def _list_owner(self, current: _Block, ln: _Line) -> _Block:
        """(一)道路建設 / 1.硬化道路10公里。/ 2.修建橋梁2座。/ 牽頭單位:… — a numbered list followed by a field
        belongs to the heading above the list: the items become part of that heading's text."""
        parent = current.parent
        if current.heading is None or current.fields or parent is None or parent is self.root \
                or parent.heading is None or parent.fields:
            return current
        items = parent.children
        if len(items) < 2 or any(c.fields or c.children or c.prose or c.synthetic or c.heading is None for c in items):
            return current
        end = max(parent.body.lines) if parent.body is not None else parent.line
        for item in items:  # consecutive lines (a blank line between them at most)
            if item.line > end + 2:
                return current
            end = max(item.body.lines) if item.body is not None else item.line
        if ln.no > end + 2:
            return current
        parent.items, parent.children = items, []
        first, last = items[0].heading, items[-1].heading
        assert first is not None and last is not None  # every item has a heading (checked above)
        self.notes.append(Note(parent.line, f"items {first.marker}…{last.marker} (lines "
                               f"{items[0].line}–{end}) read as the text of {parent.heading.marker}, whose fields follow "
                               "them", "joined"))
        return parent

    def _heading(self, found: tuple[str, int, str, int], ln: _Line, current: _Block) -> tuple[_Block, _Text | None]:
        kind, rank, number, marker_end = found
        parent = current
        while parent is not self.root and (parent.rank >= rank or parent.synthetic):
            parent = parent.parent  # type: ignore[assignment]
        parts = _fields_in(ln.raw[marker_end:].strip(), ln.norm[marker_end:].strip(), at_start=False)
        heading = _Heading(kind, rank, number, ln.raw[:marker_end].strip(), parts.lead, parts.lead_norm)
        block = _Block(heading=heading, line=ln.no, parent=parent)
        parent.children.append(block)
        self._inner_notes(ln, parts)
        title, body = _split_title(parts.lead, parts.lead_norm)
        block.title = title
        open_text: _Text | None = None
        if body or not title:
            block.body = _Text("text")
            block.body.add(body, ln.no)
            open_text = block.body
        for kind_, label, value in parts.fields:
            open_text = self._add_field(block, kind_, label, value, ln.no)
        if parts.trailer:
            open_text = None
        return block, open_text

    def _inner_notes(self, ln: _Line, parts: _Fields) -> None:
        for note in parts.inner_notes:
            self.leftovers.append(Leftover(ln.no, note, "a responsibility note inside the text, not at its end: "
                                           "split the measure into tasks by hand", "field"))

    def _field_line(self, current: _Block, ln: _Line) -> tuple[_Block, _Text | None]:
        current = self._list_owner(current, ln)
        parts = _fields_in(ln.raw, ln.norm, at_start=True)
        self._inner_notes(ln, parts)
        open_text: _Text | None = None
        for kind, label, value in parts.fields:
            if kind == "title":
                if label in _AMBIGUOUS_TITLE and (len(value) > 30 or "。" in value.rstrip("。")):
                    kind = "target"
                else:
                    current = self._synthetic_block(current, ln)
                    current.title = value.rstrip("。.;；")
                    open_text = None
                    continue
            if current is self.root:
                self.leftovers.append(Leftover(ln.no, ln.raw, "a field outside any numbered task", "field"))
                return current, None
            open_text = self._add_field(current, kind, label, value, ln.no)
        if parts.trailer:
            open_text = None
        return current, open_text

    def _synthetic_block(self, current: _Block, ln: _Line) -> _Block:
        parent = current
        while parent.synthetic:
            parent = parent.parent  # type: ignore[assignment]
        n = sum(1 for c in parent.children if c.synthetic) + 1
        block = _Block(heading=None, line=ln.no, parent=parent, synthetic=n)
        parent.children.append(block)
        return block

    def _add_field(self, block: _Block, kind: str, label: str, value: str, line: int) -> _Text | None:
        if kind == "category":
            block.categories.append(value)
            return None
        if kind in block.fields:
            f = block.fields[kind]
            if kind in ("supporting_units", "responsible", "note"):
                f.text.add(("、" if f.text.text and value else "") + value, line)
                return f.text
            self.leftovers.append(Leftover(line, f"{label}:{value}", f"a second {label} in one task (the first is on "
                                           f"line {f.line}): split it into tasks by hand", "field"))
            return None
        join = {"lead_officials": "officials", "lead_unit": "units", "responsible": "units",
                "supporting_units": "units", "deadline": "deadline"}.get(kind, "text")
        text = _Text(join)
        text.add(value, line)
        text.opener = not value
        block.fields[kind] = _Field(kind, label, text, line)
        return text

    def _prose_line(self, current: _Block, ln: _Line, open_text: _Text | None) -> tuple[_Block, _Text | None]:
        parts = _fields_in(ln.raw, ln.norm, at_start=False)
        self._inner_notes(ln, parts)
        if parts.fields and not parts.lead:  # a line that is only a (責任單位:…) note
            current = self._list_owner(current, ln)
        if parts.lead:
            if open_text is not None and open_text.accepts(parts.lead_norm):
                open_text.add(parts.lead, ln.no)
            else:
                para = _Text("text")
                para.add(parts.lead, ln.no)
                current.prose.append((para, bool(current.fields)))
                open_text = para
        if parts.fields:
            if current is self.root:
                self.leftovers.append(Leftover(ln.no, ln.raw, "a field outside any numbered task", "field"))
                return current, None
            for kind, label, value in parts.fields:
                open_text = self._add_field(current, kind, label, value, ln.no)
            if parts.trailer:
                open_text = None
        return current, open_text


def _date_of(norm: str) -> dt.date | None:
    m = re.search(r"(\d{4}|[〇零一二三四五六七八九]{4})\s*年\s*([\d一二三四五六七八九十]{1,3})\s*月\s*([\d一二三四五六七八九十]{1,3})", norm)
    if not m:
        return None
    year = m.group(1)
    if not year.isdigit():
        year = "".join(str("〇一二三四五六七八九".index(c)) if c in "〇一二三四五六七八九" else "0" for c in year)
    try:
        return dt.date(int(year), _cn_number(m.group(2)), _cn_number(m.group(3)))
    except ValueError:
        return None
