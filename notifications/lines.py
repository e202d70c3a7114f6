"""The weekly scoring's fact lines in words: the phrases of ``templates/<lang>/_lines.j2``, put together.

A line (``duban.matrix.scoring.lines``) is a deduction in a unit's breakdown (``points``: terse, with the
points deducted) or a fact a criticism or praise states. The words are the template's ``phrases``, with
``{named}`` places; this module picks the phrases a line needs and fills them. A report of a thousand
units holds tens of thousands of lines, so a line is formatted with ``str.format`` (microseconds), not
rendered by a macro (a quarter of a millisecond each).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from duban.matrix.scoring import AckLine, ItemFact, ItemLine, Line, ReportLine, points_text
from duban.matrix.vocabulary import LEVEL_COLOURS, Role
from duban.matrix.wording import chinese_number


def _qty(value: Decimal | None) -> str:
    return "0" if value is None else points_text(value)


class LineWords:
    """Words for scoring lines in one language: ``phrases`` from ``_lines.j2``, ``day`` the date format."""

    def __init__(self, phrases: Mapping[str, str], day: Callable[[Any], str], family: str) -> None:
        self.p, self.day, self.en = dict(phrases), day, family == "en"

    def line(self, line: Line, points: bool) -> str:
        p = self.p
        supporting = line.role == Role.SUPPORTING
        if points:
            head = p["head"].format(supporting=p["supporting"] if supporting else "", code=line.task_code,
                                    title=line.task_title)
        else:
            head = p["fact_head"].format(role=p["role_supporting" if supporting else "role_lead"], code=line.task_code,
                                         title=line.task_title)
        if isinstance(line, ItemLine):
            return head + self._item_line(line, points)
        if isinstance(line, ReportLine):
            return head + self._report_line(line, points)
        return head + self._ack_line(line, points)

    def _item(self, i: ItemFact) -> str:
        label = self.p["label"].format(label=i.label) if i.label else ""
        return self.p["milestone" if i.item.startswith("m") else "period"].format(due=self.day(i.due), label=label)

    def _level(self, n: int) -> str:
        colour = LEVEL_COLOURS.get(n)
        if colour is None:
            return self.p["level_plain"].format(n=n, cn=chinese_number(n))
        return self.p["level"].format(n=n, cn=chinese_number(n), colour=colour.key if self.en else colour)

    def _weighted(self, line: Line) -> str:
        if line.weight == 1:
            return ""
        return self.p["weighted"].format(percent=points_text(line.weight * 100), weight=points_text(line.weight),
                                         points=points_text(line.points))

    def _minus(self, line: Line, points: bool) -> str:
        return self.p["minus"].format(points=points_text(line.raw)) if points else ""

    def _item_line(self, line: ItemLine, points: bool) -> str:
        p, i = self.p, line.item
        if line.kind == "overdue":
            late = p["late"].format(days=i.overdue_days)
            if i.closed_on is not None and i.closed_in_period:
                late += p["closed_late"].format(day=self.day(i.closed_on))
            elif not points:
                late += p["still_open"]
            if not points:
                level = p["escalated"].format(level=self._level(i.level)) if i.level else ""
                return p["overdue_fact"].format(item=self._item(i), late=late, level=level)
            cap = p["cap"].format(cap=points_text(line.cap)) if line.cap is not None else ""
            return p["overdue"].format(item=self._item(i), late=late, points=points_text(line.raw), cap=cap,
                                       weighted=self._weighted(line))
        if line.kind == "escalation":
            return p["escalation"].format(item=self._item(i), level=self._level(i.level), points=points_text(line.raw),
                                          weighted=self._weighted(line))
        if line.kind == "veto":
            return p["veto"].format(item=self._item(i))
        if line.kind in ("met_on_time", "closed") and i.closed_on is not None:
            return p[line.kind].format(item=self._item(i), day=self.day(i.closed_on))
        raise ValueError(line.kind)

    def _report_line(self, line: ReportLine, points: bool) -> str:
        p, r = self.p, line.report
        if line.kind == "missing_report":
            key = "missing" if points else "missing_fact"
            streak = p[f"{key}_streak"].format(n=r.streak) if r.streak >= 2 else ""
            return p[key].format(streak=streak, points=points_text(line.raw))
        if line.kind == "late_report" and r.on is not None:
            return p["late_report"].format(day=self.day(r.on), gap=r.gap_days, minus=self._minus(line, points))
        if line.kind == "reported" and r.on is not None:
            done = (p["reported_done"].format(done=_qty(r.done), quantity=_qty(r.quantity), measure=r.measure or "")
                    if r.quantity is not None else "")
            return p["reported"].format(day=self.day(r.on), done=done)
        raise ValueError(line.kind)

    def _ack_line(self, line: AckLine, points: bool) -> str:
        p, a = self.p, line.ack
        when = p["acked"].format(day=self.day(a.acknowledged_on)) if a.acknowledged_on else p["not_acked"]
        what = p.get(f"ack_{a.notice_kind}", p["ack_reminder"])
        return p["late_ack"].format(day=self.day(a.planned_for), what=what, kind=a.notice_kind,
                                    deadline=self.day(a.deadline), when=when, minus=self._minus(line, points))
