"""Reading plan documents: a .txt (UTF-8 or GBK) or .docx file as lines, Word's list numbering put back."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from duban.matrix.errors import SourceError, shorten
from duban.matrix.extract.tables import _pasted_table, _spaced_table, _table_lines
from duban.matrix.extract.vocabulary import _CIRCLED
from duban.matrix.limits import DEFAULT_LIMITS, InputLimits


def read_document(path: str | Path, limits: InputLimits = DEFAULT_LIMITS) -> tuple[str, list[str]]:
    """The text of a plan document and its lines: .txt (UTF-8 or GBK) or .docx (python-docx).

    Only a regular file within ``limits`` is read (its size, a .docx's unpacked size and table
    spans, the number of lines); a damaged .docx is refused naming the file, never with a traceback.

    A .docx file gives one line per paragraph (soft line breaks split it), in document order with
    its tables: a table whose header names the matrix columns becomes one task per row (a heading
    line and field lines); other tables give one line per cell. Word's automatic list numbering
    (一、 (一) 1.) is written in front of the paragraph's text, because the text alone lacks it.
    """
    path = Path(path)
    if path.suffix.lower() == ".docx":
        lines = _docx_lines(path, limits)
        if not any(s.strip() for s in lines):
            raise SourceError(str(path), "the document has no text")
    elif path.suffix.lower() == ".doc":
        raise SourceError(str(path), "old Word .doc files cannot be read; save the document as .docx or .txt")
    else:
        from duban.matrix.sources import read_text

        text = read_text(path, limits)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
    if len(lines) > limits.rows:
        raise limits.refuse(str(path), "rows", f"a document of {len(lines):,} lines")
    for no, line in enumerate(lines, 1):
        if len(line) > limits.cell_chars:  # no value of the plan it gives may be longer (validate refuses it)
            raise limits.refuse(f"{path}:{no}", "cell_chars", f"a line of {len(line):,} characters", line)
    return "\n".join(lines), lines


# A table cell spanning columns (w:gridSpan) is repeated once per column it spans when read.
_GRID_SPAN = re.compile(rb'<(?:[\w.-]+:)?grid(?:Span|Before|After)\b[^>]*?\bval="\s*(\d{1,32})\s*"')


def _docx_lines(path: Path, limits: InputLimits) -> list[str]:
    try:
        import docx  # python-docx: only the .docx path pays for it
    except ImportError:  # pragma: no cover - python-docx is a dependency of extraction
        raise SourceError(str(path), "reading .docx needs python-docx (pip install python-docx)") from None
    import io

    from duban.matrix.sources import check_archive, read_input

    where = str(path)
    data = read_input(path, limits)
    with check_archive(data, where=where, kind=".docx document", limits=limits) as archive:
        for member in archive.infolist():
            if member.filename.lower().endswith(".xml"):
                try:
                    xml = archive.read(member)
                except Exception as e:  # noqa: BLE001 - a damaged member (zlib.error, bad CRC …)
                    raise SourceError(where, f"not a readable .docx document ({member.filename}: "
                                      f"{type(e).__name__})") from None
                span = max((int(m.group(1)) for m in _GRID_SPAN.finditer(xml)), default=0)
                if span > limits.columns:
                    raise limits.refuse(where, "columns", f"a table cell spanning {span:,} columns")
    try:
        return _docx_document_lines(docx.Document(io.BytesIO(data)), limits, where)
    except SourceError:
        raise
    except Exception as e:  # noqa: BLE001 - python-docx on a damaged file: OSError, KeyError, XML errors …
        detail = f"{type(e).__name__}: {shorten(e)}" if str(e) else type(e).__name__
        raise SourceError(where, f"not a readable .docx document ({detail})") from None


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx_document_lines(document: Any, limits: InputLimits = DEFAULT_LIMITS, where: str = "") -> list[str]:
    """The document's lines, reading its body's XML once: each paragraph's text and numbering, each
    table's cells (a cell spanning columns once, a vertically merged cell as its first cell's text).

    Linear in the size of the document: styles are resolved once per style id (not python-docx's
    paragraph.style, which scans styles.xml for every paragraph), vertical merges are followed with
    one map per row (not cell by cell up the table). More paragraphs and table cells than the rows
    limit are refused as soon as they are counted."""
    numbering = _WordNumbering(document)
    lines: list[str] = []
    counted = 0  # paragraphs and table cells read so far

    def count(n: int) -> None:
        nonlocal counted
        counted += n
        if counted > limits.rows:
            raise limits.refuse(where, "rows", f"a document of more than {limits.rows:,} paragraphs and table cells")

    body = document.element.body
    for child in body.iterchildren(f"{_W}p", f"{_W}tbl"):
        count(1)
        if child.tag == f"{_W}p":
            text = numbering.prefix(child) + _paragraph_text(child)
            lines.extend(text.split("\n"))
        else:
            rows: list[list[str | None]] = []
            above: dict[int, tuple[Any, str]] = {}  # grid offset → the cell a vertical merge continues
            for tr in child.iterchildren(f"{_W}tr"):
                here: dict[int, tuple[Any, str]] = {}
                cells: list[str | None] = []
                previous = None
                offset = _int_val(tr.find(f"{_W}trPr/{_W}gridBefore"), 0)
                tcs = list(tr.iterchildren(f"{_W}tc"))
                count(len(tcs))
                if len(tcs) > limits.columns:
                    raise limits.refuse(where, "columns", f"a table row of {len(tcs):,} cells")
                for tc in tcs:
                    merge = tc.find(f"{_W}tcPr/{_W}vMerge")
                    root = None
                    if merge is not None and merge.get(f"{_W}val", "continue") == "continue":
                        root = above.get(offset)
                    if root is None:
                        paragraphs = tc.iterchildren(f"{_W}p")  # with Word's numbering: a 序號 cell is often only that
                        root = (tc, "\n".join(numbering.prefix(p) + _paragraph_text(p) for p in paragraphs).strip())
                    here[offset] = root
                    span = max(1, _int_val(tc.find(f"{_W}tcPr/{_W}gridSpan"), 1))
                    offset += span
                    if root[0] is previous:  # the same cell again (python-docx's row.cells repeats it)
                        cells.extend([None] * span)
                        continue
                    previous = root[0]
                    cells.append(root[1])
                    cells.extend([None] * (span - 1))  # the columns it spans: None, so columns stay aligned
                rows.append(cells)
                above = here
            lines.extend(_table_lines(rows))
    return lines


def _paragraph_text(p: Any) -> str:
    """A paragraph's text as python-docx reads it (runs and hyperlinks; tabs, breaks …)."""
    from docx.oxml.text.paragraph import CT_P

    if isinstance(p, CT_P):
        return str(p.text)
    return ""


def _int_val(element: Any, default: int) -> int:
    """The w:val of a small count (gridSpan, gridBefore), ``default`` when absent or not a number."""
    if element is None:
        return default
    value = (element.get(f"{_W}val") or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else default


class _WordNumbering:
    """Word's automatic numbering (numbering.xml), rendered as text: 一、 (一) 1. …"""

    _FORMATS = {"chineseCounting", "chineseCountingThousand", "ideographTraditional", "taiwaneseCounting",
                "japaneseCounting", "chineseLegalSimplified"}

    def __init__(self, document: Any) -> None:
        self.levels: dict[str, dict[int, tuple[str, str, int]]] = {}
        self.counters: dict[str, list[int]] = {}
        try:
            part = document.part.numbering_part
        except (KeyError, NotImplementedError, AttributeError):
            return
        ns = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
        abstract: dict[str, dict[int, tuple[str, str, int]]] = {}
        root = part.element
        for an in root.iter(f"{ns}abstractNum"):
            levels = {}
            for lvl in an.iter(f"{ns}lvl"):
                ilvl = int(lvl.get(f"{ns}ilvl", "0"))
                fmt = lvl.find(f"{ns}numFmt")
                text = lvl.find(f"{ns}lvlText")
                start = lvl.find(f"{ns}start")
                levels[ilvl] = (
                    fmt.get(f"{ns}val") if fmt is not None else "decimal",
                    text.get(f"{ns}val") if text is not None else "",
                    int(start.get(f"{ns}val")) if start is not None else 1,
                )
            abstract[an.get(f"{ns}abstractNumId")] = levels
        for num in root.iter(f"{ns}num"):
            ref = num.find(f"{ns}abstractNumId")
            if ref is not None and ref.get(f"{ns}val") in abstract:
                self.levels[num.get(f"{ns}numId")] = abstract[ref.get(f"{ns}val")]
        self._styles(document)

    def _styles(self, document: Any) -> None:
        """Paragraph styles by id, read once (python-docx's paragraph.style scans them per paragraph)."""
        self.style_by_id: dict[str, Any] = {}
        self.default_style: Any = None
        self.chains: dict[str | None, tuple[str | None, int | None]] = {}
        try:
            root = document.part.styles.element  # python-docx adds default styles when there are none
        except (KeyError, NotImplementedError, AttributeError):
            return
        for style in root.iterchildren(f"{_W}style"):
            style_id = style.get(f"{_W}styleId")
            if style_id is not None:
                self.style_by_id.setdefault(style_id, style)
            if (style.get(f"{_W}type") or "paragraph") == "paragraph" and \
                    (style.get(f"{_W}default") or "").lower() in ("1", "true", "on"):
                self.default_style = style  # the spec takes the last default

    def _style_numbering(self, style_id: str | None) -> tuple[str | None, int | None]:
        """(numId, ilvl) a paragraph style gives, following its basedOn chain as python-docx does."""
        if style_id in self.chains:
            return self.chains[style_id]
        style = self.style_by_id.get(style_id) if style_id is not None else None
        if style is None or (style.get(f"{_W}type") or "paragraph") != "paragraph":
            style = self.default_style
        elements: list[Any] = []
        while style is not None and len(elements) < 7:  # the style chain (List Number → Normal)
            elements.append(style)
            based_on = style.find(f"{_W}basedOn")
            style = self.style_by_id.get(based_on.get(f"{_W}val")) if based_on is not None else None
        found = self._numbering_of(elements, None, None)
        self.chains[style_id] = found
        return found

    @staticmethod
    def _numbering_of(elements: list[Any], num_id: str | None, ilvl: int | None) -> tuple[str | None, int | None]:
        ns = _W
        for element in elements:
            if num_id is not None and ilvl is not None:
                break
            ppr = element.find(f"{ns}pPr")
            numpr = ppr.find(f"{ns}numPr") if ppr is not None else None
            if numpr is None:
                continue
            num_id_el = numpr.find(f"{ns}numId")
            ilvl_el = numpr.find(f"{ns}ilvl")
            if num_id is None and num_id_el is not None:
                num_id = num_id_el.get(f"{ns}val")
            if ilvl is None and ilvl_el is not None:
                ilvl = int(ilvl_el.get(f"{ns}val"))
        return num_id, ilvl

    def prefix(self, p: Any) -> str:
        """The number Word shows in front of a paragraph (``w:p``: its own numbering or its style's), or ""."""
        if not self.levels:
            return ""
        num_id, ilvl = self._numbering_of([p], None, None)
        if num_id is None or ilvl is None:
            style_el = p.find(f"{_W}pPr/{_W}pStyle")
            style_num_id, style_ilvl = self._style_numbering(style_el.get(f"{_W}val") if style_el is not None else None)
            num_id = num_id if num_id is not None else style_num_id
            ilvl = ilvl if ilvl is not None else style_ilvl
        if num_id is None or num_id == "0":
            return ""
        ilvl = ilvl or 0
        levels = self.levels.get(num_id or "")
        if not levels or ilvl not in levels:
            return ""
        counters = self.counters.setdefault(num_id, [0] * 9)
        fmt, text, start = levels[ilvl]
        counters[ilvl] = counters[ilvl] + 1 if counters[ilvl] else start
        for deeper in range(ilvl + 1, 9):
            counters[deeper] = 0
        if fmt in ("bullet", "none"):
            return ""

        def render(match: re.Match[str]) -> str:
            level = int(match.group(1)) - 1
            f, _t, s = levels.get(level, ("decimal", "", 1))
            value = counters[level] or s
            if f in self._FORMATS:
                return _to_chinese_numeral(value)
            if f == "decimalEnclosedCircle" or f == "decimalEnclosedCircleChinese":
                return _CIRCLED[value - 1] if 0 < value <= 20 else str(value)
            if f == "upperLetter":
                return chr(ord("A") + (value - 1) % 26)
            if f == "lowerLetter":
                return chr(ord("a") + (value - 1) % 26)
            return str(value)

        return re.sub(r"%(\d)", render, text)


def _to_chinese_numeral(n: int) -> str:
    digits = "〇一二三四五六七八九"
    if n < 10:
        return digits[n]
    if n < 20:
        return "十" + (digits[n % 10] if n % 10 else "")
    if n < 100:
        return digits[n // 10] + "十" + (digits[n % 10] if n % 10 else "")
    return str(n)


def _physical_lines(text: str) -> list[tuple[int, str]]:
    """The lines of a text with their numbers; a matrix table pasted as tab-separated lines (its rows
    rebuilt where a cell's paragraphs break them), or with runs of spaces between its cells, becomes
    heading and field lines."""
    raw = text.split("\n")
    spaced = "  " in text or "\u3000" in text
    if "\t" not in text and not spaced:
        return list(enumerate(raw, start=1))
    out: list[tuple[int, str]] = []
    i = 0
    while i < len(raw):
        table = None
        if raw[i].count("\t") >= 2:
            table = _pasted_table(raw, i)
        elif spaced and "\t" not in raw[i]:
            table = _spaced_table(raw, i)
        if table is not None:
            lines, end = table
            out.extend((k + 1, line) for k, line in lines)
            out.append((end, ""))  # the table's last field ends with it
            i = end
            continue
        out.append((i + 1, raw[i]))
        i += 1
    return out
