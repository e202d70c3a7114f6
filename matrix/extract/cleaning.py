"""Lines and their cleaning (pinyin, page numbers, invisible characters, mojibake), and text pieces that may continue on the next line."""

from __future__ import annotations

from dataclasses import dataclass, field

from duban.matrix.extract.results import Leftover
from duban.matrix.extract.vocabulary import (
    _CN_DIGITS,
    _HAN_RE,
    _INVISIBLE,
    _MEASURE_WORDS,
    _PAGE_IN_LINE,
    _PINYIN,
    _TERMINAL,
    _TITLE_SUFFIXES,
    _UNIT_STARTS,
    _UNIT_SUFFIXES,
    _WIDTH,
    _common_chars,
)


@dataclass(slots=True)
class _Line:
    no: int  # 1-based line of the text
    raw: str  # cleaned, original script and punctuation ("" for a blank line)
    norm: str  # raw with full-width ASCII folded (same length), for matching


@dataclass(slots=True)
class _Cleaner:
    leftovers: list[Leftover]
    pinyin_lines: int = 0
    pinyin_count: int = 0
    page: int = 0  # the last page number removed inside a line (they come in order)
    page_notes: dict[int, list[str]] = field(default_factory=dict)

    def line(self, no: int, text: str) -> _Line:
        text = text.translate(_INVISIBLE).replace("\t", " ").replace("\f", " ").strip()
        if not text:
            return _Line(no, "", "")
        if "(" in text or "（" in text:
            cleaned, n = _PINYIN.subn("", text)
            if n:
                self.pinyin_lines += 1
                self.pinyin_count += n
                text = cleaned
        norm = text.translate(_WIDTH)
        if " " in norm:
            text, norm = self._page_numbers(no, text, norm)
        if "?" in norm or "\ufffd" in norm or "Ã" in norm or "â" in norm:
            self._mojibake(no, text, norm)
        return _Line(no, text, norm)

    def _page_numbers(self, no: int, text: str, norm: str) -> tuple[str, str]:
        cuts: list[tuple[int, int]] = []
        for m in _PAGE_IN_LINE.finditer(norm):
            number = int(m.group(1))
            follows = norm[m.end()] if m.end() < len(norm) else ""
            before = norm[max(0, m.start() - 1) : m.start()]
            in_sequence = self.page > 0 and number == self.page + 1
            if before == "第" or (follows in _MEASURE_WORDS and not in_sequence):
                continue
            cuts.append((m.start(), m.end()))
            self.page = number
            context = text[max(0, m.start() - 3) : m.end() + 3]
            self.page_notes.setdefault(no, []).append(f"page number {number} removed ({context})")
        for start, end in reversed(cuts):
            text, norm = text[:start] + text[end:], norm[:start] + norm[end:]
        return text, norm

    def _mojibake(self, no: int, text: str, norm: str) -> None:
        for start, end in _mojibake_spans(norm):
            self.leftovers.append(Leftover(
                no, text[max(0, start - 4) : end + 4],
                f"broken encoding: {text[start:end]!r} is not text (characters were lost when the document was "
                "converted); retype this passage from the original",
                "encoding",
            ))


def _suspicious(ch: str) -> bool:
    if ch in "?\ufffd;_^`~|\\":
        return True
    if ch.isascii():
        return ch.isalpha()
    if _HAN_RE.match(ch):
        return ch not in _common_chars()
    # Latin with diacritics, Greek, Cyrillic, box drawing … inside Chinese text
    return "\u00c0" <= ch <= "\u04ff" or "\u2500" <= ch <= "\u25ff"


def _mojibake_spans(norm: str) -> list[tuple[int, int]]:
    """Runs that look like bytes decoded with the wrong encoding: ?;顒佑行蜷_展, ?qū)ω毨暨M, Ã¥Â…"""
    spans: list[tuple[int, int]] = []
    i = 0
    n = len(norm)
    while i < n:
        ch = norm[i]
        anchor = False
        if ch == "\ufffd":
            anchor = True
        elif ch == "?":
            near_han = (i > 0 and _HAN_RE.match(norm[i - 1])) or (i + 1 < n and _HAN_RE.match(norm[i + 1]))
            anchor = bool(near_han) and any(_suspicious(c) for c in norm[i + 1 : i + 3])
        elif ch in "Ãâå" and i + 1 < n and "\u0080" <= norm[i + 1] <= "\u00ff":
            anchor = True
        if not anchor:
            i += 1
            continue
        end = i + 1
        j = i + 1
        while j < n and j - end <= 2:  # a gap of up to two ordinary characters inside the run
            if _suspicious(norm[j]):
                end = j + 1
            j += 1
        spans.append((i, end))
        i = end
    return spans


# --------------------------------------------------------------------------------------------
# Text pieces that may continue on the next line


@dataclass(slots=True)
class _Text:
    """A field value, a heading's body or a paragraph, possibly spread over several lines.

    Adding a line costs the line's length, not the text's: the parser asks of the text so far only
    its end and whether a parenthesis is open, which are kept as it grows (a field continued over
    50,000 lines was quadratic)."""

    join: str  # text | units | officials | deadline
    parts: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    opener: bool = False  # "目標要求:" with the value on the following lines (a list)
    open_parens: int = 0  # ( and （ minus ) and ） so far
    tail: str = ""  # the text's last _TAIL characters
    _joined: str | None = None
    _lines_seen: set[int] = field(default_factory=set)

    @property
    def text(self) -> str:
        if self._joined is None:
            self._joined = "".join(self.parts)
        return self._joined

    def add(self, piece: str, line: int) -> None:
        piece = piece.strip()
        if line not in self._lines_seen:
            self._lines_seen.add(line)
            self.lines.append(line)
        if not piece:
            return
        if self.parts:
            piece = _joiner(self.tail, piece, self.join, open_parens=self.open_parens) + piece
        self.parts.append(piece)
        self._joined = None
        self.open_parens += piece.count("(") + piece.count("（") - piece.count(")") - piece.count("）")
        self.tail = (self.tail + piece)[-_TAIL:] if len(piece) < _TAIL else piece[-_TAIL:]

    @property
    def terminated(self) -> bool:
        t = self.tail
        if not t:
            return not self.opener
        if self.open_parens > 0:
            return False
        return t[-1] in _TERMINAL or (t[-1] in "”」』\"" and len(t) > 1 and t[-2] in _TERMINAL)

    def accepts(self, norm: str) -> bool:
        """May a line (not a heading, not a field) whose text is ``norm`` continue this text?"""
        if self.opener:
            return True
        if self.terminated:
            return False
        if self.join == "text":
            return True
        if self.open_parens > 0 or self.tail[-1:] in "、,，(（-—至到":
            return True
        body = norm.rstrip("。.;")
        return len(body) <= 80 and "。" not in body


# What _Text keeps of its end: longer than any title or unit suffix _joiner looks for.
_TAIL = 64


def _unbalanced(t: str) -> bool:
    return t.count("(") + t.count("（") > t.count(")") + t.count("）")


def _last_segment(text: str) -> str:
    cut = max(text.rfind(c) for c in "、,，(（;；")
    return text[cut + 1 :]


def _joiner(before: str, after: str, join: str, *, open_parens: int | None = None) -> str:
    """What goes between a broken line and its continuation: usually nothing (Chinese has no spaces).

    ``before`` may be only the end of the text so far (its last _TAIL characters), with
    ``open_parens`` then saying whether a parenthesis is open in the whole of it."""
    a, b = before[-1], after[0]
    unbalanced = _unbalanced(before) if open_parens is None else open_parens > 0
    if a.isascii() and a.isalpha() and b.isascii() and b.isalpha():
        return " "
    if a in "、,，;；(（" or b in "、,，;；)）":
        return ""
    if join == "officials":
        # 區委副書記 / 區長 → 區委副書記、區長; 區委常委、區 / 人民政府… → 區委常委、區人民政府…
        if unbalanced and _last_segment(before).endswith(_TITLE_SUFFIXES):
            return "、"
        if before.rstrip().endswith((")", "）")):
            return "、"
    elif join == "units":
        if _last_segment(before).endswith(_UNIT_SUFFIXES) and b in _UNIT_STARTS:
            return "、"
    elif join == "deadline" and a in "年月日底末前旬" and (b.isdigit() or b in _CN_DIGITS):
        return "、"
    return ""
