"""The weekly circulation report (周通報) as documents: HTML, Markdown, DOCX, an SVG chart, and the email.

``WeeklyReport`` is everything the report shows, frozen (built from the store by
``workflows.report_service``). This module turns it into:

- HTML (``templates/<lang>/weekly_report.html.j2``, on the official red-header layout the notices
  use, inline CSS only, so the same file is the email body and a standalone page) with the chart as
  inline SVG;
- Markdown (``weekly_report.md.j2``), which refers to the chart as an SVG file beside it and is the
  plain-text part of the email;
- DOCX laid out as an official circulation (red issuer, number, rule, title, body, tables,
  signature, 版記). python-docx builds the package once per report (styles, A4 page, fonts, core
  properties); each document is that package with its body written as WordprocessingML, and the zip
  is written here with fixed timestamps and precompressed fixed parts — so the same report gives the
  same bytes, and a thousand circulation-criticism notices take a second, not a minute. The chart's
  numbers go into the DOCX as a table (a PNG would need a rasteriser such as cairo: not worth a
  heavy dependency for one picture);
- the circulation-criticism notices (通報批評), one per criticised unit, as HTML (the notices'
  ``criticism`` template) and DOCX;
- the email: one multipart message (text + HTML, the DOCX attached).

Wording lives in the templates (``weekly_macros.j2`` holds the words and sentences the DOCX uses
too), written once in simplified script for Chinese; the output is converted to the chosen script as
the notices are. Same report in → same bytes out.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import zlib
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any, Iterable, Sequence
from xml.sax.saxutils import escape as _xml_escape

from markupsafe import Markup

from duban.matrix.errors import ConfigError
from duban.matrix.scoring import Circulation, Period, Scoreboard, points_text
from duban.notifications.render import Letterhead, Renderer

__all__ = [
    "ItemView", "TaskView", "OverdueView", "UndeliverableView", "WeekPoint", "ChartView", "Headline", "WeeklyReport",
    "ReportDocuments", "render_report", "chart_svg", "DocxPackage", "build_report_message", "criticism_file_stem",
]


# --------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class ItemView:
    """One milestone or period of a task, as it stood at the report's as-of day."""

    kind: str  # milestone | instance
    due: dt.date
    label: str
    colour: str  # closed | green | yellow | red
    reason: str  # closed | on_track | due_soon | behind_pace | overdue
    quantity: Decimal | None = None
    done: Decimal | None = None
    measure: str | None = None
    min_count: int | None = None
    done_count: int | None = None
    overdue_days: int = 0
    days_left: int = 0
    level: int = 0
    closed_on: dt.date | None = None
    expected: Decimal | None = None


@dataclass(frozen=True)
class TaskView:
    plan_code: str
    code: str
    title: str
    lead_unit: str
    supporting_units: tuple[str, ...]
    colour: str
    veto: bool
    items: tuple[ItemView, ...]


@dataclass(frozen=True)
class OverdueView:
    """An item overdue in the period: still open at its end, or closed late during it."""

    code: str
    title: str
    lead_unit: str
    due: dt.date
    label: str
    days: int
    level: int
    closed_on: dt.date | None = None
    quantity: Decimal | None = None
    done: Decimal | None = None
    measure: str | None = None


@dataclass(frozen=True)
class UndeliverableView:
    role: str
    name: str
    reason: str
    notices: int
    tasks: tuple[str, ...]


@dataclass(frozen=True)
class WeekPoint:
    end: dt.date  # the week's last day (an as-of day of a weekly report)
    mean: Decimal | None  # mean cumulative quantity done over the charted tasks
    slowest: Decimal | None  # the least done of them
    planned: Decimal | None  # the plan's linear pace between its milestones
    overdue: int  # items overdue at the end of that day


@dataclass(frozen=True)
class ChartView:
    """Quantity progress of the tasks that share the plan's commonest quantity milestones, and
    the number of overdue items at the end of each week."""

    start: dt.date
    end: dt.date
    as_of: dt.date
    measure: str | None
    task_codes: tuple[str, ...]
    targets: tuple[tuple[dt.date, Decimal], ...]  # cumulative target at each milestone
    points: tuple[WeekPoint, ...]
    pace: tuple[tuple[dt.date, Decimal], ...] = ()  # the plan's pace from the chart's start through the targets


@dataclass(frozen=True)
class Headline:
    tasks: int
    lights: dict[str, int]
    due: int
    met_on_time: int
    closed: int
    overdue_open: int
    overdue_open_last_week: int
    overdue_new: int
    closed_late: int
    level2: int
    missing_reports: int
    criticised: int
    praised: int
    undeliverable: int


@dataclass(frozen=True)
class WeeklyReport:
    as_of: dt.date
    period: Period
    number: int  # 第N期: weeks since the plan started
    issuer: str
    title: str
    plan_titles: tuple[str, ...]
    headline: Headline
    chart: ChartView | None
    tasks: tuple[TaskView, ...]
    overdue: tuple[OverdueView, ...]
    board: Scoreboard
    undeliverable: tuple[UndeliverableView, ...]
    rectify_by: dt.date
    copies_to: tuple[str, ...] = ()  # 抄送: the supervisors' names
    tasks_omitted: dict[str, int] = field(default_factory=dict)  # tasks not listed (report.max_rows), by light
    overdue_omitted: int = 0  # overdue items not listed

    @property
    def letterhead(self) -> Letterhead:
        return Letterhead(issuer=self.issuer, date=self.as_of, number=f"第{self.number}期")

    @property
    def stem(self) -> str:
        return f"weekly-{self.as_of.isoformat()}"


@dataclass
class ReportDocuments:
    subject: str
    html: str | None = None
    markdown: str | None = None
    svg: str | None = None
    docx: bytes | None = None
    criticism: dict[str, dict[str, Any]] = field(default_factory=dict)  # unit -> {html, docx, subject, stem}


# --------------------------------------------------------------------------------------------
# Small helpers shared by the formats


def family(language: str) -> str:
    return "en" if language == "en" else "zh"


def num(value: Any, places: int = 1) -> str:
    """18, 18.5: at most ``places`` decimals, no trailing zeros ('' for None)."""
    if value is None:
        return ""
    d = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return points_text(d)


FILE_NAME_PART_BYTES = 120  # a name's share of a file name (file systems allow 255 bytes in all)


def file_name_part(name: str, limit: int = FILE_NAME_PART_BYTES) -> str:
    """A name as part of a file name: anything but letters, digits, ``()（）-`` (path separators, dots,
    control characters, spaces) replaced by ``_``; a name longer than ``limit`` bytes of UTF-8 cut there
    (on a character boundary) and followed by ``~`` and 8 hex digits of the whole name's SHA-256, so two
    long names that begin alike still name different files."""
    import hashlib

    safe = re.sub(r"[^\w()（）\-]+", "_", unit_text := str(name)).strip("_") or "unit"
    raw = safe.encode("utf-8")
    if len(raw) <= limit:
        return safe
    digest = hashlib.sha256(unit_text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return raw[:limit].decode("utf-8", "ignore").rstrip("_") + "~" + digest


def _unique_stem(stem: str, unit: str, used: set[str]) -> str:
    """Two units whose names make the same file name (區/辦 and 區_辦) get files of their own."""
    import hashlib

    if stem.casefold() in used:
        stem = f"{stem}~{hashlib.sha256(unit.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
    used.add(stem.casefold())
    return stem


def criticism_file_stem(unit: str, as_of: dt.date) -> str:
    """criticism-<unit>-YYYY-MM-DD, the unit's name made safe and bounded by ``file_name_part``."""
    return f"criticism-{file_name_part(unit)}-{as_of.isoformat()}"


# Markdown: what a value may not carry as itself. HTML's < > become entities (so do & that would start one);
# Markdown's own marks get a backslash; any run of whitespace (a line break in a name) is one space, so a
# value never ends a table row or starts a block.
_MD_SPECIAL = re.compile(r"[\\`*_\[\]#|~]")
_MD_HTML = re.compile(r"[<>]|&(?=#|[A-Za-z][A-Za-z0-9]*;)")
_MD_HTML_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
_SPACE = re.compile(r"\s+")


def md_escape(value: Any) -> Markup:
    """A value as Markdown text: it reads as written and cannot open a tag, a link, emphasis, code, a
    heading or a table cell. Already escaped text (a ``Markup`` from a macro) only has its spaces folded."""
    if isinstance(value, Markup):
        return Markup(_SPACE.sub(" ", str(value)))
    text = _SPACE.sub(" ", str(value))
    text = _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)
    return Markup(_MD_HTML.sub(lambda m: _MD_HTML_ENTITIES[m.group(0)[0]], text))


def _md_finalize(value: Any) -> Any:
    """Every ``{{ value }}`` of the Markdown report (and of the macros it imports) is escaped Markdown."""
    return md_escape(value)


def _markdown_env(renderer: Renderer) -> Any:
    """The renderer's environment for the Markdown report: the same templates, filters and globals, but every
    value printed through ``md_escape`` (autoescape makes each macro's result escaped Markup, so nothing is
    escaped twice; the template's own text is Markdown, as written)."""
    env = getattr(renderer, "_markdown_env", None)
    if env is None:
        env = renderer.env.overlay(autoescape=True, finalize=_md_finalize)
        renderer._markdown_env = env
    return env


def _render_markdown(renderer: Renderer, name: str, context: dict[str, Any]) -> str:
    import jinja2

    try:
        text = _markdown_env(renderer).get_template(name).render(context)
    except jinja2.TemplateNotFound as e:
        raise ConfigError(f"no template {name!r} for language {renderer.language}") from e
    except jinja2.TemplateError as e:
        raise renderer._error(name, e) from e
    return renderer.in_script(text)


def _filters(renderer: Renderer, lang: str) -> None:
    fam = family(lang)
    env = renderer.env
    if "md" in env.filters:
        return
    env.filters.update(
        num=num,
        md=md_escape,
        fact=lambda line, pts=True: line.text(fam, points=pts),
    )


def render_report(report: WeeklyReport, renderer: Renderer, *, formats: Iterable[str],
                  criticism: bool = True) -> ReportDocuments:
    """Every document of the report in ``formats`` (html, md, docx), the SVG chart, and (with
    ``criticism``) a notice per criticised unit in HTML and DOCX."""
    formats = set(formats)
    lang = renderer.language
    _filters(renderer, lang)
    words = _words(renderer)
    subject = renderer.in_script(_one_line(words.subject(report)))
    svg = chart_svg(report.chart, lang) if report.chart is not None else None
    docs = ReportDocuments(subject=subject, svg=renderer.in_script(svg) if svg else None)
    tx = _Texts(words, report, family(lang))
    context = {"r": report, "subject": subject, "letterhead": report.letterhead, "svg": svg,
               "chart_file": f"{report.stem}.svg", "fam": family(lang), "tx": tx}
    if "html" in formats:
        docs.html = renderer.page("weekly_report.html.j2", context)
    if "md" in formats:
        docs.markdown = _render_markdown(renderer, "weekly_report.md.j2", context)
    package = None
    if "docx" in formats or (criticism and report.board.criticised):
        package = DocxPackage(created=report.as_of, language=lang)
    if "docx" in formats:
        docs.docx = package.build(_report_body(report, renderer, words, tx), title=subject,
                                  author=renderer.in_script(report.issuer))
    if criticism:
        macros = renderer.macros("_macros.j2")  # the notices' own sentences
        numbers: dict[int, str] = {}
        stems: set[str] = set()
        for k, c in enumerate(report.board.criticised, start=1):
            facts = c.texts(family(lang))
            letterhead = Letterhead(issuer=report.issuer, date=report.as_of, number=words.circulation_number(report, k))
            period = words.period(report)
            # The notices' own criticism template (as Renderer.circulation renders it), HTML only: the
            # plain-text version is not needed here, and a large office may criticise hundreds of units.
            notice_subject = renderer.subject("circulation", "criticism", c.unit, period)
            html = renderer.page("criticism.html.j2", {
                "kind": "criticism", "unit": c.unit, "facts": facts, "letterhead": letterhead,
                "rectify_by": report.rectify_by, "period": period, "subject": notice_subject})
            body = _criticism_body(c, facts, letterhead, period, report.rectify_by, renderer, macros, words, numbers)
            docs.criticism[c.unit] = {
                "subject": notice_subject, "html": html, "facts": facts,
                "docx": package.build(body, title=notice_subject, author=renderer.in_script(report.issuer)),
                "stem": _unique_stem(criticism_file_stem(renderer.in_script(c.unit), report.as_of), c.unit, stems),
            }
    return docs


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()


class _Words:
    """The words and sentences of ``weekly_macros.j2`` (plain, unescaped), for the DOCX and subjects."""

    def __init__(self, module: Any) -> None:
        self.m = module
        self.w = module.words

    def __getattr__(self, name: str) -> Any:
        macro = getattr(self.m, name)
        return lambda *a: str(macro(*a))

    def __getitem__(self, key: str) -> str:
        return self.w[key]


def _words(renderer: Renderer) -> _Words:
    return _Words(renderer.macros("weekly_macros.j2"))


class _Texts:
    """Lines every format shows, computed once (plain text; HTML escapes it) and shared by the formats.

    A plan of 20,000 tasks has 60,000 item lines, most alike: each distinct one is worded once.
    Breakdown and criticism lines are capped per unit (``report.max_lines_per_unit``) with a
    "… N more" line; each criticised unit's own notice has them all.
    """

    def __init__(self, words: _Words, report: WeeklyReport, fam: str) -> None:
        self.words, self.fam = words, fam
        self.cap = report.board.config.report.max_lines_per_unit
        self._items: dict[ItemView, str] = {}
        self._lights: dict[str, str] = {}

    def item(self, i: ItemView) -> str:
        text = self._items.get(i)
        if text is None:
            text = self._items[i] = self.words.item_line(i)
        return text

    def light(self, colour: str) -> str:
        text = self._lights.get(colour)
        if text is None:
            text = self._lights[colour] = self.words.light(colour)
        return text

    def lines(self, u: Any) -> list[str]:
        if self.cap is None or len(u.lines) <= self.cap:
            return [line.text(self.fam) for line in u.lines]
        return [line.text(self.fam) for line in u.lines[:self.cap]] + [self.words.more(len(u.lines) - self.cap)]

    def facts(self, c: Circulation) -> list[str]:
        """The circulation's facts as the weekly report lists them (the first ``cap``)."""
        if self.cap is None or len(c.facts) <= self.cap:
            return c.texts(self.fam)
        return [f.text(self.fam, points=False) for f in c.facts[:self.cap]]

    def more_facts(self, c: Circulation) -> str:
        """"… N more" when facts were left out, else ""."""
        if self.cap is None or len(c.facts) <= self.cap:
            return ""
        return self.words.more(len(c.facts) - self.cap)


# --------------------------------------------------------------------------------------------
# The chart (hand-written SVG: no plotting library)


_SVG_FONT = "'Noto Sans CJK SC','Microsoft YaHei','PingFang SC',Arial,sans-serif"
_BLUE, _ORANGE, _GREY, _RED, _BAR = "#1f5fbf", "#e07b00", "#8c8c8c", "#c00000", "#a33a3a"
_CHART_WORDS = {
    "zh": {"mean": "平均完成", "slowest": "最慢任务", "planned": "计划进度", "overdue": "逾期事项（周末）",
           "target": "目标", "as_of": "本期", "overdue_axis": "逾期", "month": lambda d: f"{d.year}年{d.month}月"
           if d.month == 1 else f"{d.month}月", "tasks": "项任务"},
    "en": {"mean": "mean done", "slowest": "slowest task", "planned": "planned pace", "overdue": "overdue items (week end)",
           "target": "target", "as_of": "this week", "overdue_axis": "overdue",
           "month": lambda d: d.strftime("%b %Y") if d.month == 1 else d.strftime("%b"), "tasks": "tasks"},
}


def _f(x: float) -> str:
    """A coordinate: one decimal at most (12.0 → 12), so the same chart is the same text."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = max(span / ticks, 1e-9)
    exp = 10 ** int(f"{raw:e}".split("e")[1])
    for m in (1, 2, 2.5, 5, 10):
        if m * exp >= raw:
            return m * exp
    return 10 * exp


def chart_svg(chart: ChartView, language: str = "zh-Hans", *, width: int = 680) -> str:
    """An SVG of the quantity progress (mean and slowest of the charted tasks, the plan's pace, the
    cumulative targets as lines) over time, and the overdue items per week as bars beneath it."""
    words = _CHART_WORDS[family(language)]
    esc = _xml_escape
    has_quantity = bool(chart.targets)
    left, right, top = 48, 104, 52
    top_h = 190 if has_quantity else 0
    gap = 26 if has_quantity else 0
    bar_h = 70 if has_quantity else 150
    bar_top = top + top_h + gap
    height = bar_top + bar_h + 30
    plot_w = width - left - right
    span = max((chart.end - chart.start).days, 1)

    def x(day: dt.date) -> float:
        return left + (day - chart.start).days / span * plot_w

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" style="max-width:100%;height:auto;font-family:{esc(_SVG_FONT)};">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    # Legend.
    lx = left
    legend = []
    if has_quantity:
        legend += [("line", _BLUE, words["mean"], ""), ("line", _ORANGE, words["slowest"], "5 3"),
                   ("line", _GREY, words["planned"], "2 3"), ("line", _RED, words["target"], "6 4")]
    legend.append(("bar", _BAR, words["overdue"], ""))
    for kind, colour, label, dash in legend:
        if kind == "line":
            out.append(f'<line x1="{lx}" y1="14" x2="{lx + 18}" y2="14" stroke="{colour}" stroke-width="2"'
                       + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        else:
            out.append(f'<rect x="{lx + 4}" y="8" width="10" height="12" fill="{colour}"/>')
        out.append(f'<text x="{lx + 23}" y="18" font-size="11" fill="#333333">{esc(label)}</text>')
        lx += 30 + 12 * len(label) if family(language) == "zh" else 30 + 6 * len(label)
    # Month ticks along the bottom (and faint grid lines through both panels).
    months = []
    d = dt.date(chart.start.year, chart.start.month, 1)
    while d <= chart.end:
        if d >= chart.start:
            months.append(d)
        d = dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    step = max(1, -(-len(months) // 8))
    for i, m in enumerate(months):
        if i % step:
            continue
        xm = x(m)
        out.append(f'<line x1="{_f(xm)}" y1="{top}" x2="{_f(xm)}" y2="{bar_top + bar_h}" stroke="#eeeeee"/>')
        out.append(f'<text x="{_f(xm)}" y="{bar_top + bar_h + 16}" font-size="10" fill="#555555" '
                   f'text-anchor="middle">{esc(words["month"](m))}</text>')
    # The as-of day.
    xa = x(chart.as_of)
    out.append(f'<line x1="{_f(xa)}" y1="{top - 4}" x2="{_f(xa)}" y2="{bar_top + bar_h}" stroke="#555555" '
               'stroke-dasharray="1 2"/>')
    out.append(f'<text x="{_f(xa)}" y="{top - 7}" font-size="10" fill="#333333" text-anchor="middle">{esc(words["as_of"])}</text>')

    points = [p for p in chart.points if chart.start <= p.end <= chart.end]
    if has_quantity:
        total = max(c for _, c in chart.targets)
        top_value = max([float(total)] + [float(p.mean or 0) for p in points] + [float(p.slowest or 0) for p in points])
        ystep = _nice_step(top_value)
        ymax = ystep * (int(top_value / ystep) + 1)

        def y(v: float) -> float:
            return top + top_h - v / ymax * top_h

        k = 0.0
        while k <= ymax + 1e-9:
            yy = y(k)
            out.append(f'<line x1="{left}" y1="{_f(yy)}" x2="{left + plot_w}" y2="{_f(yy)}" stroke="#e6e6e6"/>')
            out.append(f'<text x="{left - 6}" y="{_f(yy + 4)}" font-size="10" fill="#555555" text-anchor="end">{_f(k)}</text>')
            k += ystep
        out.append(f'<line x1="{left}" y1="{top + top_h}" x2="{left + plot_w}" y2="{top + top_h}" stroke="#555555"/>')
        unit = esc(chart.measure or "")
        out.append(f'<text x="{left - 6}" y="{top - 10}" font-size="11" fill="#555555" text-anchor="end">{unit}</text>')
        # Targets: a dashed line at each cumulative target, marked at its due date.
        for due, cum in chart.targets:
            yy = y(float(cum))
            out.append(f'<line x1="{left}" y1="{_f(yy)}" x2="{left + plot_w}" y2="{_f(yy)}" stroke="{_RED}" '
                       'stroke-width="1.2" stroke-dasharray="6 4"/>')
            if chart.start <= due <= chart.end:
                out.append(f'<line x1="{_f(x(due))}" y1="{_f(yy)}" x2="{_f(x(due))}" y2="{top + top_h}" stroke="{_RED}" '
                           'stroke-width="0.8" stroke-dasharray="2 3"/>')
                out.append(f'<circle cx="{_f(x(due))}" cy="{_f(yy)}" r="3.5" fill="{_RED}"/>')
            label = (f"{words['target']} {num(cum)}{chart.measure or ''}" if family(language) == "en"
                     else f"{words['target']}{num(cum)}{chart.measure or ''}")
            out.append(f'<text x="{left + plot_w + 6}" y="{_f(yy + 4)}" font-size="11" fill="{_RED}">{esc(label)}</text>')
            when = due.strftime("%Y-%m-%d")
            out.append(f'<text x="{left + plot_w + 6}" y="{_f(yy + 17)}" font-size="9" fill="{_RED}">{when}</text>')
        # The plan's pace (0 at the start, each cumulative target at its due date).
        pace = chart.pace or ((chart.start, Decimal(0)), *chart.targets)
        out.append('<polyline fill="none" stroke="' + _GREY + '" stroke-width="1.5" stroke-dasharray="2 3" points="'
                   + " ".join(f"{_f(x(d))},{_f(y(float(v)))}" for d, v in pace) + '"/>')
        for attr, colour, dash, widthpx in (("slowest", _ORANGE, "5 3", 1.5), ("mean", _BLUE, "", 2.5)):
            series = [(p.end, getattr(p, attr)) for p in points if getattr(p, attr) is not None]
            if not series:
                continue
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="{widthpx}"'
                       + (f' stroke-dasharray="{dash}"' if dash else "") + ' stroke-linejoin="round" points="'
                       + " ".join(f"{_f(x(d))},{_f(y(float(v)))}" for d, v in series) + '"/>')
            last_day, last = series[-1]
            out.append(f'<circle cx="{_f(x(last_day))}" cy="{_f(y(float(last)))}" r="3.5" fill="{colour}"/>')
            ly = y(float(last)) - 8
            if attr == "slowest":
                mean = next((p.mean for p in reversed(points) if p.mean is not None), None)
                below = y(float(last)) + 14
                # Below its point unless that runs into the axis; never on top of the mean's label.
                if below < top + top_h - 2 or (mean is not None and abs(y(float(mean)) - y(float(last))) < 16):
                    ly = min(below, top + top_h - 3)
            out.append(f'<text x="{_f(x(last_day) - 6)}" y="{_f(ly)}" font-size="11" font-weight="bold" '
                       f'fill="{colour}" text-anchor="end">{num(last)}</text>')
    # Overdue items per week, as bars.
    max_over = max([p.overdue for p in points] + [1])
    weeks = max(span / 7, 1)
    bw = max(2.0, min(14.0, plot_w / weeks * 0.7))
    out.append(f'<line x1="{left}" y1="{bar_top + bar_h}" x2="{left + plot_w}" y2="{bar_top + bar_h}" stroke="#555555"/>')
    out.append(f'<text x="{left - 6}" y="{bar_top + 8}" font-size="10" fill="#555555" text-anchor="end">{max_over}</text>')
    out.append(f'<text x="{left - 6}" y="{bar_top + bar_h}" font-size="10" fill="#555555" text-anchor="end">0</text>')
    out.append(f'<text x="{left + plot_w + 6}" y="{bar_top + bar_h / 2 + 4}" font-size="11" fill="{_BAR}">'
               f'{esc(words["overdue_axis"])}</text>')
    for p in points:
        if not p.overdue:
            continue
        h = p.overdue / max_over * bar_h
        out.append(f'<rect x="{_f(x(p.end) - bw / 2)}" y="{_f(bar_top + bar_h - h)}" width="{_f(bw)}" height="{_f(h)}" '
                   f'fill="{_BAR}"/>')
    if points:
        last = points[-1]
        labelled = {last.end}
        peak = max(points, key=lambda p: (p.overdue, p.end))
        if peak.overdue:
            labelled.add(peak.end)
        for p in points:
            if p.end in labelled:
                h = p.overdue / max_over * bar_h
                out.append(f'<text x="{_f(x(p.end))}" y="{_f(bar_top + bar_h - h - 3)}" font-size="10" font-weight="bold" '
                           f'fill="{_BAR}" text-anchor="middle">{p.overdue}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# DOCX


_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
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


class DocxPackage:
    """A python-docx package built once; ``build`` writes one document with a new body.

    The zip is written here: entries in a fixed order, each stamped with the report's date, the parts
    that never change compressed once. Deterministic: the same body gives the same bytes.
    """

    def __init__(self, *, created: dt.date, language: str = "zh-Hans") -> None:
        import io
        import zipfile

        from docx import Document
        from docx.enum.section import WD_ORIENT
        from docx.oxml.ns import qn
        from docx.shared import Pt, Twips

        self.created = created
        fonts = _DOCX_FONTS[family(language)]
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
        self.fonts = fonts
        self._parts: list[tuple[str, bytes]] = []
        with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as z:
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


def _report_body(report: WeeklyReport, renderer: Renderer, w: _Words, tx: _Texts) -> str:
    lang = renderer.language
    fam = family(lang)
    body = _Body(_DOCX_FONTS[fam], str)  # the whole body is script-converted at once, at the end
    day = w.day(report.as_of)
    _letterhead(body, report.issuer, report.letterhead.number)
    body.text(w.title(report), size=20, bold=True, font="title", align="center", after=60)
    body.text(w.period_title(report), size=14, align="center", after=240)
    body.text(w.intro(report), indent=True, after=60)

    def heading(key: str, n: int) -> None:
        body.text(w.section(n, w[key]), size=15, bold=True, font="head", before=200, after=100, keep_next=True)

    heading("overview", 1)
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

    heading("tasks", 2)
    rows, colours = [], []
    for t in report.tasks:
        rows.append([t.code, t.title + (" ★" if t.veto else ""), t.lead_unit,
                     [tx.item(i) for i in t.items] or ["—"], tx.light(t.colour)])
        colours.append([None, None, None, None, _LIGHT_HEX.get(t.colour)])
    body.table([w["code"], w["task"], w["lead_unit"], w["milestones"], w["status"]], rows,
               [800, 1900, 1500, 3958, 800], size=9, centre=(0, 4), colours=colours)
    if report.tasks_omitted:
        body.text(w.tasks_omitted(report), size=10, before=60)

    heading("overdue", 3)
    if report.overdue:
        body.table([w["code"], w["task"], w["lead_unit"], w["milestone"], w["days_overdue"], w["level"], w["state"]],
                   [[o.code, o.title, o.lead_unit, w.overdue_milestone(o), str(o.days), w.level_name(o.level),
                     w.overdue_state(o)] for o in report.overdue],
                   [750, 1500, 1300, 2458, 900, 1000, 1050], size=9, centre=(0, 4, 5))
        if report.overdue_omitted:
            body.text(w.overdue_omitted(report), size=10, before=60)
    else:
        body.text(w["none_overdue"], indent=True)

    heading("ranking", 4)
    body.text(w.ranking_note(report), size=11, indent=True, after=80)
    ranked = [u for u in report.board.units if u.rank is not None]
    body.table([w["rank"], w["unit"], w["score"], w["change"], w["lead_facts"], w["supporting_facts"], w["deductions"]],
               [[str(u.rank), u.unit + (w["vetoed_mark"] if u.vetoed else ""), points_text(u.score), w.change(u),
                 w.lead_counts(u), w.supporting_counts(u),
                 tx.lines(u) or ["—"]] for u in ranked],
               [600, 1500, 700, 700, 1300, 1000, 3158], size=8.5, centre=(0, 2, 3))

    heading("circulation", 5)
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

    heading("undeliverable", 6)
    if report.undeliverable:
        body.table([w["recipient"], w["role"], w["reason"], w["notices"], w["tasks_col"]],
                   [[u.name, w.role(u.role), w.reason(u.reason), str(u.notices), w["sep"].join(u.tasks)]
                    for u in report.undeliverable], [2200, 1200, 3058, 900, 1600], size=9, centre=(3,))
    else:
        body.text(w["none_undeliverable"], indent=True)
    _signature(body, report.issuer, day)
    if report.copies_to:
        _record(body, w.copies(report), "")
    _record(body, report.issuer, w.issued(report), first=not report.copies_to)
    return renderer.in_script(body.xml())  # tags and attributes are ASCII: only the text changes


def _criticism_body(c: Circulation, facts: list[str], letterhead: Letterhead, period: str, rectify_by: dt.date,
                    renderer: Renderer, macros: Any, w: _Words, numbers: dict[int, str]) -> str:
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


# --------------------------------------------------------------------------------------------
# The email


def build_report_message(*, sender: str, to: Iterable[tuple[str, str]], subject: str, text: str, html: str,
                         attachments: Iterable[tuple[str, bytes, str]] = (), message_id: str, date: dt.datetime) -> bytes:
    """One RFC 5322 message: text and HTML alternatives, then the attachments (filename, bytes, MIME type)."""
    from duban.notifications.mail import one_line

    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = one_line(subject)
    msg["From"] = sender
    msg["To"] = [Address(display_name=one_line(name), addr_spec=addr) for name, addr in to]
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Duban-Key"] = one_line(message_id.strip("<>"))
    msg.set_content(text, subtype="plain", charset="utf-8", cte="base64")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
    for filename, data, mime in attachments:
        maintype, subtype = mime.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    # The boundary is derived from the message, not random: the same report gives the same bytes.
    import hashlib

    seed = hashlib.sha256(message_id.encode()).hexdigest()[:24]
    for n, part in enumerate(msg.walk()):
        if part.is_multipart():
            part.set_boundary(f"==duban{seed}{n}==")
    return msg.as_bytes()
