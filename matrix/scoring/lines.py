"""One fact line of a unit's breakdown, criticism or praise, and its words.

A line is about exactly one fact, and its class says which: ``ItemLine`` (an item overdue, escalated,
vetoed, met on time or closed), ``ReportLine`` (a progress report missing, late or sent) or
``AckLine`` (an acknowledgement late). ``Line`` is their union: code that reads a line's fact
narrows it by class, so no line has a fact it does not carry.

A line's words are in the templates beside the notices' (``notifications/templates/<lang>/_lines.j2``),
rendered by ``notifications.render.Renderer.fact``: with ``points`` as a breakdown line (terse, with the
points deducted), without as a circulation states the fact. Here only ``points_text``, the number format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from duban.matrix.scoring.facts import AckFact, ItemFact, ReportFact

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class _Line:
    kind: str  # ItemLine: overdue | escalation | veto | met_on_time | closed; ReportLine: missing_report |
    #            late_report | reported; AckLine: late_ack
    role: str  # lead | supporting
    task_code: str
    task_title: str
    points: Decimal = _ZERO  # deducted from the score (after the supporting weight)
    raw: Decimal = _ZERO  # before the weight
    weight: Decimal = Decimal(1)


@dataclass(frozen=True, slots=True)
class ItemLine(_Line):
    """A line about one supervised item."""

    item: ItemFact = field(kw_only=True)
    cap: Decimal | None = None  # the per-item cap in force (overdue lines)


@dataclass(frozen=True, slots=True)
class ReportLine(_Line):
    """A line about a task's progress reporting."""

    report: ReportFact = field(kw_only=True)


@dataclass(frozen=True, slots=True)
class AckLine(_Line):
    """A line about a notice acknowledged late or not at all."""

    ack: AckFact = field(kw_only=True)


Line = ItemLine | ReportLine | AckLine


def points_text(value: Decimal) -> str:
    """26, 6.5, 0.25: points without trailing zeros."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")
