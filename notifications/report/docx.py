"""The weekly report and its circulation-criticism notices as DOCX, laid out as an official circulation.

Red issuer, number, rule, title, body, tables, signature, 版記. python-docx builds the package once per
report (styles, A4 page, fonts, core properties); each document is that package with its body written
as WordprocessingML text (``_Body``), and the zip is written here with fixed timestamps and
precompressed fixed parts — so the same report gives the same bytes, and a thousand
circulation-criticism notices take a second, not a minute. The chart's numbers go in as a table (a PNG
would need a rasteriser such as cairo: not worth a heavy dependency for one picture).
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import zlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape as _xml_escape

from duban.matrix.scoring import Circulation, points_text
from duban.notifications.render import Letterhead, Renderer
from duban.notifications.report.model import WeeklyReport, family, num

if TYPE_CHECKING:
    from duban.notifications.report.render import Texts, Words

__all__ = ["DocxPackage", "criticism_body", "report_body"]


_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_DOCX_FONTS = {
    # ASCII names only: the output is script-converted as a whole.
    "zh": {"body": "FangSong", "head": "SimHei", "title": "SimSun", "latin": "Times New Roman"},
    "en": {"body": "Times New Roman", "head": "Arial", "title": "Times New Roman", "latin": "Times New Roman"},
}
_TITLE_MARK, _AUTHOR_MARK = "DUBANTITLEMARK", "DUBANAUTHORMARK"
_A4 = (11906, 16838)
_TEXT_WIDTH = 11906 - 2 * 1474  # twips between the margins


def _dos_time(day: dt.date) -> tuple[int, int]:
    return (0, ((day.year - 1980) << 9) | (day.month << 5) | day.day)


def _blank_document(created: dt.date, fonts: dict[str, str]) -> bytes:
    """An empty .docx from python-docx: A4 portrait with 公文 margins, the body font, core properties
    stamped with ``created`` and marks where the title and author go."""
    import io

    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.oxml.ns import qn
    from docx.shared import Pt, Twips

    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Twips(_A4[0]), Twips(_A4[1])
    # 公文 margins: top 3.7 cm, bottom 3.5 cm, left 2.8 cm, right 2.6 cm (narrowed a little for tables).
    section.top_margin, section.bottom_margin = Twips(2098), Twips(1984)
    section.left_margin, section.right_margin = Twips(1474), Twips(1474)
    normal = doc.styles["Normal"]
    normal.font.name = fonts["latin"]
    normal.font.size = Pt(14)
    rpr = normal.element.get_or_add_rPr()
    rfonts = rpr.find(qn("w:rFonts"))
    rfonts.set(qn("w:eastAsia"), fonts["body"])
    props = doc.core_properties
    stamp = dt.datetime(created.year, created.month, created.day)
    props.created = props.modified = props.last_printed = stamp
    props.revision = 1
    props.title = _TITLE_MARK
    props.author = props.last_modified_by = _AUTHOR_MARK
    props.comments = ""
    props.keywords = ""
    props.subject = ""
    props.category = ""
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


class DocxPackage:
    """A python-docx package built once; ``build`` writes one document with a new body.

    The zip is written here: entries in a fixed order, each stamped with the report's date, the parts
    that never change compressed once. Deterministic: the same body gives the same bytes.
    """

    def __init__(self, *, created: dt.date, language: str = "zh-Hans") -> None:
        import io
        import zipfile

        self.created = created
        self.fonts = fonts = _DOCX_FONTS[family(language)]
        self._parts: list[tuple[str, bytes]] = []
        with zipfile.ZipFile(io.BytesIO(_blank_document(created, fonts))) as z:
            for info in z.infolist():
                if info.filename == "docProps/thumbnail.jpeg":
                    continue  # python-docx's own thumbnail picture: not this document
                data = z.read(info.filename)
                if info.filename == "_rels/.rels":
                    data = re.sub(rb"<Relationship [^>]*thumbnail[^>]*/>", b"", data)
                self._parts.append((info.filename, data))
        document = dict(self._parts)["word/document.xml"].decode("utf-8")
        head, rest = document.split("<w:body>", 1)
        sect = rest[rest.index("<w:sectPr"):]
        self._doc_head, self._doc_tail = head + "<w:body>", sect
        self._core = dict(self._parts)["docProps/core.xml"].decode("utf-8")
        self._time = _dos_time(created)
        self._fixed: dict[str, tuple[int, int, bytes]] = {}
        for name, data in self._parts:
            if name not in ("word/document.xml", "docProps/core.xml"):
                self._fixed[name] = self._compress(data)

    @staticmethod
    def _compress(data: bytes) -> tuple[int, int, bytes]:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        return zlib.crc32(data), len(data), c.compress(data) + c.flush()

    def build(self, body_xml: str, *, title: str = "", author: str = "") -> bytes:
        """The document with ``body_xml`` (WordprocessingML paragraphs and tables) as its body."""
        document = (self._doc_head + body_xml + self._doc_tail).encode("utf-8")
        core = (self._core.replace(_TITLE_MARK, _x(title)).replace(_AUTHOR_MARK, _x(author))).encode("utf-8")
        entries = []
        for name, _ in self._parts:
            if name == "word/document.xml":
                entries.append((name, *self._compress(document)))
            elif name == "docProps/core.xml":
                entries.append((name, *self._compress(core)))
            else:
                entries.append((name, *self._fixed[name]))
        return _zip(entries, self._time)


def _zip(entries: Sequence[tuple[str, int, int, bytes]], when: tuple[int, int]) -> bytes:
    """A zip archive of deflated entries (name, crc, size, compressed), every one stamped ``when``."""
    t, d = when
    out = bytearray()
    central = bytearray()
    for name, crc, size, data in entries:
        raw = name.encode("utf-8")
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, t, d, crc, len(data), size, len(raw), 0) + raw + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, t, d, crc, len(data), size, len(raw),
                               0, 0, 0, 0, 0, offset) + raw
    start = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), start, 0)
    return bytes(out)


def _x(text: Any) -> str:
    """Text for WordprocessingML: XML-escaped, characters XML cannot hold removed."""
    return _xml_escape(_BAD_XML.sub("", str(text)), {'"': "&quot;"})


class _Body:
    """WordprocessingML written as text: paragraphs, runs, tables (fast for tens of thousands of rows)."""

    def __init__(self, fonts: dict[str, str], script) -> None:
        self.fonts = fonts
        self.script = script
        self.parts: list[str] = []

    def run(self, text: str, *, size: float | None = None, bold: bool = False, colour: str | None = None,
            font: str | None = None) -> str:
        props = []
        if font:
            name = self.fonts[font]
            props.append(f'<w:rFonts w:ascii="{name}" w:hAnsi="{name}" w:eastAsia="{name}"/>')
        if bold:
            props.append("<w:b/><w:bCs/>")
        if colour:
            props.append(f'<w:color w:val="{colour}"/>')
        if size:
            half = int(size * 2)
            props.append(f'<w:sz w:val="{half}"/><w:szCs w:val="{half}"/>')
        rpr = f"<w:rPr>{''.join(props)}</w:rPr>" if props else ""
        text = self.script(str(text))
        pieces = text.split("\n")
        inner = "<w:br/>".join(f'<w:t xml:space="preserve">{_x(piece)}</w:t>' for piece in pieces)
        return f"<w:r>{rpr}{inner}</w:r>"

    def para(self, runs: str | list[str], *, align: str | None = None, indent: bool = False, before: int = 0,
             after: int = 0, line: int | None = None, border: str | None = None, keep_next: bool = False,
             hanging: int = 0, tab_right: int | None = None, top_border: str | None = None) -> str:
        props = []
        if keep_next:
            props.append("<w:keepNext/>")
        if border or top_border:
            top = f'<w:top w:val="single" w:sz="6" w:space="4" w:color="{top_border}"/>' if top_border else ""
            bottom = f'<w:bottom w:val="thickThinSmallGap" w:sz="24" w:space="1" w:color="{border}"/>' if border else ""
            props.append(f"<w:pBdr>{top}{bottom}</w:pBdr>")
        if tab_right:
            props.append(f'<w:tabs><w:tab w:val="right" w:pos="{tab_right}"/></w:tabs>')
        spacing = f'<w:spacing w:before="{before}" w:after="{after}"'
        if line:
            spacing += f' w:line="{line}" w:lineRule="exact"'
        props.append(spacing + "/>")
        if indent:
            props.append('<w:ind w:firstLineChars="200" w:firstLine="560"/>')
        elif hanging:
            props.append(f'<w:ind w:left="{hanging}" w:hanging="{hanging}"/>')
        if align:
            props.append(f'<w:jc w:val="{align}"/>')
        content = runs if isinstance(runs, str) else "".join(runs)
        return f"<w:p><w:pPr>{''.join(props)}</w:pPr>{content}</w:p>"

    def add(self, xml: str) -> None:
        self.parts.append(xml)

    def text(self, text: str, **kw: Any) -> None:
        run_kw = {k: kw.pop(k) for k in ("size", "bold", "colour", "font") if k in kw}
        self.add(self.para(self.run(text, **run_kw), **kw))

    def table(self, header: Sequence[str], rows: Iterable[Sequence[Any]], widths: Sequence[int], *,
              size: float = 9, centre: Sequence[int] = (), colours: Sequence[Sequence[str | None]] | None = None) -> None:
        """A bordered table with a repeating header row; a cell may be a list of lines."""
        grid = "".join(f'<w:gridCol w:w="{w}"/>' for w in widths)
        borders = "".join(f'<w:{side} w:val="single" w:sz="4" w:space="0" w:color="808080"/>'
                          for side in ("top", "left", "bottom", "right", "insideH", "insideV"))
        out = [f'<w:tbl><w:tblPr><w:tblW w:w="{sum(widths)}" w:type="dxa"/><w:jc w:val="center"/>'
               f'<w:tblBorders>{borders}</w:tblBorders><w:tblLayout w:type="fixed"/>'
               '<w:tblCellMar><w:left w:w="60" w:type="dxa"/><w:right w:w="60" w:type="dxa"/></w:tblCellMar>'
               f'</w:tblPr><w:tblGrid>{grid}</w:tblGrid>']
        half = int(size * 2)
        rpr_plain = f'<w:rPr><w:sz w:val="{half}"/><w:szCs w:val="{half}"/></w:rPr>'
        head_font = self.fonts["head"]
        rpr_head = (f'<w:rPr><w:rFonts w:ascii="{head_font}" w:hAnsi="{head_font}" w:eastAsia="{head_font}"/>'
                    f'<w:sz w:val="{half}"/><w:szCs w:val="{half}"/></w:rPr>')
        spacing = '<w:spacing w:before="20" w:after="20" w:line="280" w:lineRule="auto"/>'
        script = self.script

        def cell(value: Any, width: int, rpr: str, *, jc: str, shade: str | None = None) -> str:
            lines = value if isinstance(value, (list, tuple)) else [value]
            tcpr = f'<w:tcW w:w="{width}" w:type="dxa"/>' + (f'<w:shd w:val="clear" w:color="auto" w:fill="{shade}"/>' if shade else "")
            paras = "".join(
                f'<w:p><w:pPr>{spacing}<w:jc w:val="{jc}"/></w:pPr>'
                + (f'<w:r>{rpr}<w:t xml:space="preserve">{_x(script(str(line)))}</w:t></w:r>' if str(line) else "")
                + "</w:p>" for line in (lines or [""]))
            return f"<w:tc><w:tcPr>{tcpr}</w:tcPr>{paras}</w:tc>"

        out.append('<w:tr><w:trPr><w:tblHeader/><w:cantSplit/></w:trPr>'
                   + "".join(cell(h, w, rpr_head, jc="center", shade="F2EFE8") for h, w in zip(header, widths)) + "</w:tr>")
        for r, row in enumerate(rows):
            cells = []
            for c, (value, w) in enumerate(zip(row, widths)):
                colour = colours[r][c] if colours is not None and colours[r] and c < len(colours[r]) else None
                rpr = rpr_plain if not colour else f'<w:rPr><w:color w:val="{colour}"/><w:b/><w:sz w:val="{half}"/><w:szCs w:val="{half}"/></w:rPr>'
                cells.append(cell(value, w, rpr, jc="center" if c in centre else "left"))
            out.append("<w:tr><w:trPr><w:cantSplit/></w:trPr>" + "".join(cells) + "</w:tr>")
        out.append("</w:tbl>")
        self.add("".join(out))

    def xml(self) -> str:
        return "".join(self.parts)


_LIGHT_HEX = {"red": "C00000", "yellow": "B8860B", "green": "1D6B2F", "closed": "7F7F7F"}


def _letterhead(body: _Body, issuer: str, number: str) -> None:
    body.text(issuer, size=26, bold=True, colour="C00000", font="head", align="center", after=120)
    if number:
        body.text(number, size=14, align="center", after=0)
    body.add(body.para(body.run(" ", size=6), border="C00000", after=240))


def _signature(body: _Body, issuer: str, day: str) -> None:
    body.text(issuer, align="right", before=360, after=0)
    body.text(day, align="right", after=240)


def _record(body: _Body, left: str, right: str, *, first: bool = True) -> None:
    """A line of the 版記 at the foot: thin rules above, text left and right."""
    runs = [body.run(left, size=12)]
    if right:
        runs += ["<w:r><w:tab/></w:r>", body.run(right, size=12)]
    body.add(body.para(runs, top_border="000000", before=240 if first else 0, after=0, tab_right=_TEXT_WIDTH))


def report_body(report: WeeklyReport, renderer: Renderer, w: Words, tx: Texts) -> str:
    """The weekly report's body: letterhead, title, six numbered sections, signature and 版記."""
    fam = family(renderer.language)
    body = _Body(_DOCX_FONTS[fam], str)  # the whole body is script-converted at once, at the end
    _letterhead(body, report.issuer, report.letterhead.number)
    body.text(w.title(report), size=20, bold=True, font="title", align="center", after=60)
    body.text(w.period_title(report), size=14, align="center", after=240)
    body.text(w.intro(report), indent=True, after=60)
    for n, (key, section) in enumerate((("overview", _overview), ("tasks", _tasks), ("overdue", _overdue),
                                        ("ranking", _ranking), ("circulation", _circulation),
                                        ("undeliverable", _undeliverable)), start=1):
        body.text(w.section(n, w[key]), size=15, bold=True, font="head", before=200, after=100, keep_next=True)
        section(body, report, w, tx)
    _signature(body, report.issuer, w.day(report.as_of))
    if report.copies_to:
        _record(body, w.copies(report), "")
    _record(body, report.issuer, w.issued(report), first=not report.copies_to)
    if report.rules is not None:
        body.text(w.rules(report), size=10, before=120, after=0)
    return renderer.in_script(body.xml())  # tags and attributes are ASCII: only the text changes


def _overview(body: _Body, report: WeeklyReport, w: Words, tx: Texts) -> None:
    """The headline numbers, and the chart's numbers as a table (the latest weeks first)."""
    body.text(w.headline(report), indent=True, after=100)
    h = report.headline
    body.table([w["n_tasks"], w["n_due"], w["n_closed"], w["n_overdue"], w["n_level2"], w["n_missing"]],
               [[str(h.tasks), w.due_met(h), str(h.closed),
                 str(h.overdue_open), str(h.level2), str(h.missing_reports)]],
               [_TEXT_WIDTH // 6] * 6, size=11, centre=range(6))
    if report.chart is not None:
        body.text(w.chart_caption(report), size=11, after=60, before=120, keep_next=True)
        points = [p for p in report.chart.points if p.end <= report.as_of][-report.board.config.report.table_weeks:]
        quantity = bool(report.chart.targets)
        header = [w["week_end"]] + ([w["mean"], w["slowest"], w["planned"]] if quantity else []) + [w["overdue_items"]]
        widths = [2200] + ([1700, 1700, 1700] if quantity else []) + [1658 if quantity else 6758]
        body.table(header, [[w.day(p.end)] + ([num(p.mean), num(p.slowest), num(p.planned)] if quantity else [])
                            + [str(p.overdue)] for p in reversed(points)], widths, size=10, centre=range(len(header)))
        body.text(w.chart_note(report), size=10, after=120)


def _tasks(body: _Body, report: WeeklyReport, w: Words, tx: Texts) -> None:
    rows, colours = [], []
    for t in report.tasks:
        rows.append([t.code, t.title + (" ★" if t.veto else ""), t.lead_unit,
                     ([tx.item(i) for i in t.items] or ["—"]) + ([tx.evidence(t.evidence)] if t.evidence else []),
                     tx.light(t.colour)])
        colours.append([None, None, None, None, _LIGHT_HEX.get(t.colour)])
    body.table([w["code"], w["task"], w["lead_unit"], w["milestones"], w["status"]], rows,
               [800, 1900, 1500, 3958, 800], size=9, centre=(0, 4), colours=colours)
    if report.tasks_omitted:
        body.text(w.tasks_omitted(report), size=10, before=60)


def _overdue(body: _Body, report: WeeklyReport, w: Words, tx: Texts) -> None:
    if report.overdue:
        body.table([w["code"], w["task"], w["lead_unit"], w["milestone"], w["days_overdue"], w["level"], w["state"]],
                   [[o.code, o.title, o.lead_unit, w.overdue_milestone(o), str(o.days), w.level_name(o.level),
                     w.overdue_state(o)] for o in report.overdue],
                   [750, 1500, 1300, 2458, 900, 1000, 1050], size=9, centre=(0, 4, 5))
        if report.overdue_omitted:
            body.text(w.overdue_omitted(report), size=10, before=60)
    else:
        body.text(w["none_overdue"], indent=True)


def _ranking(body: _Body, report: WeeklyReport, w: Words, tx: Texts) -> None:
    body.text(w.ranking_note(report), size=11, indent=True, after=80)
    ranked = [u for u in report.board.units if u.rank is not None]
    body.table([w["rank"], w["unit"], w["score"], w["change"], w["lead_facts"], w["supporting_facts"], w["deductions"]],
               [[w.rank(u), u.unit + (w["vetoed_mark"] if u.vetoed else ""), points_text(u.score), w.change(u),
                 w.lead_counts(u), w.supporting_counts(u),
                 tx.lines(u) or ["—"]] for u in ranked],
               [600, 1500, 700, 700, 1300, 1000, 3158], size=8.5, centre=(0, 2, 3))


def _circulation(body: _Body, report: WeeklyReport, w: Words, tx: Texts) -> None:
    """The units criticised (with their facts and the rectification deadline) and praised."""
    body.text(w["criticised_head"], bold=True, font="head", size=14, after=60, keep_next=True)
    if report.board.criticised:
        for k, c in enumerate(report.board.criticised, start=1):
            body.text(w.criticised_line(k, c), indent=True, after=20, keep_next=True)
            for n, fact in enumerate(tx.facts(c), start=1):
                body.text(w.fact_line(n, fact), size=12, hanging=420, after=0)
            if tx.more_facts(c):
                body.text(tx.more_facts(c), size=12, hanging=420, after=0)
        body.text(w.rectify(report), indent=True, before=80, after=80)
    else:
        body.text(w["none_criticised"], indent=True)
    body.text(w["praised_head"], bold=True, font="head", size=14, before=80, after=60, keep_next=True)
    if report.board.praised:
        for k, c in enumerate(report.board.praised, start=1):
            body.text(w.praised_line(k, c), indent=True, after=20, keep_next=True)
            for n, fact in enumerate(tx.facts(c), start=1):
                body.text(w.fact_line(n, fact), size=12, hanging=420, after=0)
    else:
        body.text(w["none_praised"], indent=True)
    _referred(body, report, w)


def _referred(body: _Body, report: WeeklyReport, w: Words) -> None:
    """The units referred to the leadership group (提请领导小组研究), when there are any."""
    if not report.board.referred:
        return
    body.text(w["referred_head"], bold=True, font="head", size=14, before=80, after=60, keep_next=True)
    for k, x in enumerate(report.board.referred, start=1):
        body.text(w.referred_line(k, x), indent=True, after=20, keep_next=True)
        for n, t in enumerate(x.tasks, start=1):
            body.text(w.referred_task(n, t), size=12, hanging=420, after=0)
    body.text(w.referred_ask(report), indent=True, bold=True, before=80, after=80)


def _undeliverable(body: _Body, report: WeeklyReport, w: Words, tx: Texts) -> None:
    if report.undeliverable:
        body.table([w["recipient"], w["role"], w["reason"], w["notices"], w["tasks_col"]],
                   [[u.name, w.role(u.role), w.reason(u.reason), str(u.notices), w["sep"].join(u.tasks)]
                    for u in report.undeliverable], [2200, 1200, 3058, 900, 1600], size=9, centre=(3,))
    else:
        body.text(w["none_undeliverable"], indent=True)


def criticism_body(c: Circulation, facts: list[str], letterhead: Letterhead, period: str, rectify_by: dt.date,
                   renderer: Renderer, macros: Any, w: Words, numbers: dict[int, str]) -> str:
    fam = family(renderer.language)
    body = _Body(_DOCX_FONTS[fam], str)
    _letterhead(body, letterhead.issuer, letterhead.number)
    body.text(str(macros.circ_title("criticism", c.unit)), size=20, bold=True, font="title", align="center", after=360)
    body.text(w["to_all"], after=60)
    body.text(str(macros.circ_intro("criticism", c.unit, period, letterhead)), indent=True)
    for n, fact in enumerate(facts, start=1):
        number = numbers.get(n)
        if number is None:  # （一）, （二） … as the notices' macro words them, each once per report
            number = numbers[n] = str(macros.fact_number(n))
        body.text(number + str(macros.end(fact)), indent=True)
    body.text(str(macros.circ_decision("criticism", c.unit)), indent=True)
    body.text(str(macros.circ_requirement("criticism", c.unit, rectify_by, letterhead)), indent=True, bold=True)
    _signature(body, letterhead.issuer, w.day(letterhead.date))
    _record(body, letterhead.issuer, w.issued_on(letterhead.date))
    return renderer.in_script(body.xml())

