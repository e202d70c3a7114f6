"""The weekly report's chart as hand-written SVG (no plotting library): quantity progress over time and the
overdue items per week.

The same chart gives the same text (coordinates rounded to one decimal), so the report's files are the
same bytes from the same database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape as _xml_escape

from duban.notifications.report.model import ChartView, WeekPoint, family, num

__all__ = ["chart_svg"]


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


@dataclass(frozen=True)
class _Frame:
    """Where things go: the quantity panel on top (when the chart has targets), the overdue bars beneath,
    time along x."""

    chart: ChartView
    words: dict[str, Any]
    zh: bool  # Chinese labels (wider characters)
    width: int
    left: int = 48
    right: int = 104
    top: int = 52

    @property
    def has_quantity(self) -> bool:
        return bool(self.chart.targets)

    @property
    def top_h(self) -> int:
        return 190 if self.has_quantity else 0

    @property
    def bar_top(self) -> int:
        return self.top + self.top_h + (26 if self.has_quantity else 0)

    @property
    def bar_h(self) -> int:
        return 70 if self.has_quantity else 150

    @property
    def height(self) -> int:
        return self.bar_top + self.bar_h + 30

    @property
    def plot_w(self) -> int:
        return self.width - self.left - self.right

    @property
    def span(self) -> int:
        return max((self.chart.end - self.chart.start).days, 1)

    def x(self, day: dt.date) -> float:
        return self.left + (day - self.chart.start).days / self.span * self.plot_w


def chart_svg(chart: ChartView, language: str = "zh-Hans", *, width: int = 680) -> str:
    """An SVG of the quantity progress (mean and slowest of the charted tasks, the plan's pace, the
    cumulative targets as lines) over time, and the overdue items per week as bars beneath it."""
    fr = _Frame(chart, _CHART_WORDS[family(language)], family(language) == "zh", width)
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{fr.height}" viewBox="0 0 {width} {fr.height}" '
        f'role="img" style="max-width:100%;height:auto;font-family:{_xml_escape(_SVG_FONT)};">',
        f'<rect x="0" y="0" width="{width}" height="{fr.height}" fill="#ffffff"/>',
    ]
    _legend(fr, out)
    _months(fr, out)
    points = [p for p in chart.points if chart.start <= p.end <= chart.end]
    if fr.has_quantity:
        _quantity(fr, points, out)
    _overdue_bars(fr, points, out)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _legend(fr: _Frame, out: list[str]) -> None:
    words, esc = fr.words, _xml_escape
    lx = fr.left
    legend = []
    if fr.has_quantity:
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
        lx += 30 + 12 * len(label) if fr.zh else 30 + 6 * len(label)


def _months(fr: _Frame, out: list[str]) -> None:
    """Month ticks along the bottom (and faint grid lines through both panels), and the as-of day."""
    chart, words, esc, x = fr.chart, fr.words, _xml_escape, fr.x
    top, bar_top, bar_h = fr.top, fr.bar_top, fr.bar_h
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
    xa = x(chart.as_of)
    out.append(f'<line x1="{_f(xa)}" y1="{top - 4}" x2="{_f(xa)}" y2="{bar_top + bar_h}" stroke="#555555" '
               'stroke-dasharray="1 2"/>')
    out.append(f'<text x="{_f(xa)}" y="{top - 7}" font-size="10" fill="#333333" text-anchor="middle">{esc(words["as_of"])}</text>')


def _quantity(fr: _Frame, points: list[WeekPoint], out: list[str]) -> None:
    """The quantity panel: value grid and axis, the targets, the plan's pace, the mean and slowest series."""
    chart, left, top, top_h, plot_w = fr.chart, fr.left, fr.top, fr.top_h, fr.plot_w
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
    unit = _xml_escape(chart.measure or "")
    out.append(f'<text x="{left - 6}" y="{top - 10}" font-size="11" fill="#555555" text-anchor="end">{unit}</text>')
    _targets(fr, y, out)
    # The plan's pace (0 at the start, each cumulative target at its due date).
    pace = chart.pace or ((chart.start, Decimal(0)), *chart.targets)
    out.append('<polyline fill="none" stroke="' + _GREY + '" stroke-width="1.5" stroke-dasharray="2 3" points="'
               + " ".join(f"{_f(fr.x(d))},{_f(y(float(v)))}" for d, v in pace) + '"/>')
    _series(fr, y, points, out)


def _targets(fr: _Frame, y: Callable[[float], float], out: list[str]) -> None:
    """A dashed line at each cumulative target, marked at its due date."""
    chart, x, left, plot_w, top, top_h = fr.chart, fr.x, fr.left, fr.plot_w, fr.top, fr.top_h
    for due, cum in chart.targets:
        yy = y(float(cum))
        out.append(f'<line x1="{left}" y1="{_f(yy)}" x2="{left + plot_w}" y2="{_f(yy)}" stroke="{_RED}" '
                   'stroke-width="1.2" stroke-dasharray="6 4"/>')
        if chart.start <= due <= chart.end:
            out.append(f'<line x1="{_f(x(due))}" y1="{_f(yy)}" x2="{_f(x(due))}" y2="{top + top_h}" stroke="{_RED}" '
                       'stroke-width="0.8" stroke-dasharray="2 3"/>')
            out.append(f'<circle cx="{_f(x(due))}" cy="{_f(yy)}" r="3.5" fill="{_RED}"/>')
        label = (f"{fr.words['target']} {num(cum)}{chart.measure or ''}" if not fr.zh
                 else f"{fr.words['target']}{num(cum)}{chart.measure or ''}")
        out.append(f'<text x="{left + plot_w + 6}" y="{_f(yy + 4)}" font-size="11" fill="{_RED}">{_xml_escape(label)}</text>')
        when = due.strftime("%Y-%m-%d")
        out.append(f'<text x="{left + plot_w + 6}" y="{_f(yy + 17)}" font-size="9" fill="{_RED}">{when}</text>')


def _series(fr: _Frame, y: Callable[[float], float], points: list[WeekPoint], out: list[str]) -> None:
    """The slowest task's and the mean quantity done, each labelled with its last value."""
    x, top, top_h = fr.x, fr.top, fr.top_h
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


def _overdue_bars(fr: _Frame, points: list[WeekPoint], out: list[str]) -> None:
    """Overdue items per week, as bars; the last week's and the peak's labelled."""
    x, left, plot_w, bar_top, bar_h = fr.x, fr.left, fr.plot_w, fr.bar_top, fr.bar_h
    max_over = max([p.overdue for p in points] + [1])
    weeks = max(fr.span / 7, 1)
    bw = max(2.0, min(14.0, plot_w / weeks * 0.7))
    out.append(f'<line x1="{left}" y1="{bar_top + bar_h}" x2="{left + plot_w}" y2="{bar_top + bar_h}" stroke="#555555"/>')
    out.append(f'<text x="{left - 6}" y="{bar_top + 8}" font-size="10" fill="#555555" text-anchor="end">{max_over}</text>')
    out.append(f'<text x="{left - 6}" y="{bar_top + bar_h}" font-size="10" fill="#555555" text-anchor="end">0</text>')
    out.append(f'<text x="{left + plot_w + 6}" y="{bar_top + bar_h / 2 + 4}" font-size="11" fill="{_BAR}">'
               f'{_xml_escape(fr.words["overdue_axis"])}</text>')
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
