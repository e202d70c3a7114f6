"""The weekly report's view model: what every format of the report shows, frozen, and the small helpers
the formats share (language family, numbers, file names).

``WeeklyReport`` is built from a period's facts by ``notifications.report.assemble`` (called by
``workflows.report_service``); ``render``, ``chart`` and ``docx`` turn it into documents.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from duban.matrix.rules import RulesUsed
from duban.matrix.scoring import Period, Scoreboard, points_text
from duban.notifications.render import Letterhead

__all__ = [
    "ItemView", "TaskView", "OverdueView", "UndeliverableView", "WeekPoint", "ChartView", "Headline", "WeeklyReport",
    "family", "num", "file_name_part", "criticism_file_stem",
]


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
    evidence: tuple[str, ...] = ()  # names of the evidence files of its closing requests (none: nothing shown)


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
    rules: RulesUsed | None = None  # the scoring rules used (a stored version, or a file given for the report)

    @property
    def letterhead(self) -> Letterhead:
        return Letterhead(issuer=self.issuer, date=self.as_of, number=f"第{self.number}期")

    @property
    def stem(self) -> str:
        return f"weekly-{self.as_of.isoformat()}"



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
