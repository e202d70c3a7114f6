"""The inputs of scoring: the facts of one period, per unit and role (see ``duban.matrix.scoring``).

The caller (the weekly report's fact derivation) builds them from the store; scoring never reads more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Period:
    """The days a report covers, both included."""

    start: date
    end: date  # the as-of day

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class ItemFact:
    """One supervised item as it stood in the period (see the module doc for each field's rule)."""

    task_code: str
    task_title: str
    item: str  # "m12" (milestone) or "i5" (period of a recurring obligation)
    due: date  # effective due date in the period
    label: str = ""  # the deadline fragment (2015年底完成25個村)
    veto: bool = False  # the task is marked 一票否決
    due_in_period: bool = False
    met_on_time: bool = False  # due in the period and closed on or before its due date
    closed_on: date | None = None  # the local day it was closed, if by the period's end
    closed_in_period: bool = False
    overdue: bool = False  # past due and open on some day of the period
    overdue_days: int = 0  # working days overdue (to the period's end, or to the day it was closed late)
    level: int = 0  # highest escalation level reached for this due date by the period's end
    quantity: Decimal | None = None
    done: Decimal | None = None
    measure: str | None = None


@dataclass(frozen=True, slots=True)
class ReportFact:
    """A task's progress reporting in the period: a report ``missing``, ``late``, or ``sent``."""

    task_code: str
    task_title: str
    kind: str  # missing | late | sent
    streak: int = 0  # missing: consecutive windows without a report, this one included
    gap_days: int = 0  # late: days since the previous report (or the milestone's start)
    on: date | None = None  # late / sent: the day of the report
    done: Decimal | None = None  # sent: cumulative quantity reported
    quantity: Decimal | None = None
    measure: str | None = None


@dataclass(frozen=True, slots=True)
class AckFact:
    """A notice whose acknowledgement (簽收) was due in the period and came late or not at all."""

    task_code: str
    task_title: str
    notice_kind: str  # chase | escalation | reminder
    level: int
    planned_for: date
    deadline: date
    acknowledged_on: date | None = None


@dataclass(frozen=True, slots=True)
class RoleFacts:
    """A unit's facts of the period in one role (lead, or supporting)."""

    items: tuple[ItemFact, ...] = ()
    reports: tuple[ReportFact, ...] = ()
    acks: tuple[AckFact, ...] = ()


@dataclass(frozen=True, slots=True)
class UnitFacts:
    """All of one unit's facts of the period, as lead unit and as supporting unit."""

    unit: str
    kind: str = "department"
    lead: RoleFacts = RoleFacts()
    supporting: RoleFacts = RoleFacts()
