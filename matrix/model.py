"""The plan as data: units, officials, tasks, milestones, recurrences and stages.

Pure Python. Nothing here reads a clock, a file or a database; dates are plain ``datetime.date``
values and the time zone is a name that outer layers use to turn a due date into an instant
(the end of that local day).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

DEFAULT_TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a fact came from: a file and a line (text formats) or row (sheets)."""

    file: str = ""
    line: int | None = None
    kind: str = "line"  # "line" or "row"
    sheet: str = ""  # the worksheet, when the file's tasks come from several: county.xlsx [任務分解表] row 5

    def __str__(self) -> str:
        file = f"{self.file} [{self.sheet}]" if self.sheet else self.file
        if self.line is None:
            return file
        return f"{file}:{self.line}" if self.kind == "line" else f"{file} row {self.line}"


@dataclass(frozen=True, slots=True)
class Person:
    """A head or contact of a unit."""

    name: str
    title: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class Robot:
    """A unit's group robot (a channel offices read first): a DingTalk, WeCom or Feishu custom robot's
    webhook URL and the name of the environment variable holding its signing secret ("" when the robot
    is not signed). The secret itself is never part of a directory."""

    kind: str  # dingtalk | wecom | feishu
    webhook: str
    secret_env: str = ""


@dataclass(frozen=True, slots=True)
class Unit:
    """An organisation that can lead or support a task (區扶貧辦, 各鄉鎮人民政府, 駐村工作組 …).

    ``kind`` is free text with a few well-known values: ``department``, ``township``, ``village``,
    ``group`` (a collective name such as 各鄉鎮人民政府 that stands for its members), ``enterprise``,
    ``office`` (the leadership-group office), ``party``.
    """

    name: str
    aliases: tuple[str, ...] = ()
    kind: str = "department"
    head: Person | None = None
    emails: tuple[str, ...] = ()
    member_of: tuple[str, ...] = ()
    channels: tuple[Robot, ...] = ()  # group robots beside the mail (directory ``channels:``)

    @property
    def is_group(self) -> bool:
        return self.kind == "group"


@dataclass(frozen=True, slots=True)
class Official:
    """A leader answerable for tasks (牽頭領導). The title is the one written in the plan."""

    name: str
    title: str = ""
    email: str = ""

    def __str__(self) -> str:
        return f"{self.name}({self.title})" if self.title else self.name


@dataclass(frozen=True, slots=True)
class Milestone:
    """One due date (節點), optionally with a start and a quantity such as 25 村.

    ``due`` is inclusive: the milestone is met if done by the end of that local day.
    ``label`` is the piece of the deadline text this milestone came from (2015年底完成25個村).
    """

    due: dt.date
    start: dt.date | None = None
    quantity: Decimal | None = None
    measure: str | None = None
    label: str = ""


@dataclass(frozen=True, slots=True)
class Recurrence:
    """A recurring obligation: one instance per period, each with a minimum count or amount.

    ``rule`` is an RFC 5545 RRULE body understood by ``dateutil.rrule`` whose occurrences are the
    due dates of the instances (e.g. ``FREQ=MONTHLY;BYMONTHDAY=-1`` for 每月, due on the last day
    of each month). ``anchor`` replaces ``rule`` for obligations tied to a lunar or named festival
    (``spring_festival``, ``dragon_boat``, ``mid_autumn``, ``summer`` …): one instance a year, due
    on that festival's date. ``min_count`` comes from 不少於N次, ``min_amount``/``amount_unit`` from
    不少於300元. ``beneficiary`` is the household or village the obligation is owed to when the plan
    lists them (每戶不少於五百元 for four households is four series, one per household).
    """

    freq: str  # "weekly" | "monthly" | "quarterly" | "half_yearly" | "yearly"
    rule: str = ""
    anchor: str | None = None
    min_count: int | None = None
    min_amount: Decimal | None = None
    amount_unit: str | None = None
    start: dt.date | None = None
    until: dt.date | None = None
    label: str = ""
    ongoing: bool = False  # 持續推進 / 長期堅持: progress reported on the plan's cadence, no end date of its own
    beneficiary: str | None = None


def named_for(label: str, beneficiary: str | None) -> str:
    """How notices, status and reports name one beneficiary's obligation: ``貧困戶之一：春節不少於三百元``."""
    return f"{beneficiary}：{label}" if beneficiary else label


@dataclass(frozen=True, slots=True)
class Reporting:
    """A plan's reporting cadence (``reporting:``): each period's progress on ongoing work (持續推進) is due
    on ``day`` of the next period (每月5日前報送: monthly, day 5), or with ``working`` on its ``day``-th
    working day on the official calendar (次月第5個工作日); weekly, on weekday ``day`` (1 = Monday) of the
    same week. A plan that names none reports monthly by the 5th working day (``DEFAULT_WORKING``)."""

    every: str = "monthly"  # "weekly" | "monthly" | "quarterly" | "half_yearly" | "yearly"
    day: int = 5
    working: bool = False  # day counts working days from the period's first day (never for weekly)


DEFAULT_WORKING = Reporting(working=True)  # no reporting: in a plan: monthly, by the 5th working day


@dataclass(frozen=True, slots=True)
class Deadline:
    """What a 時間要求 text means: dated milestones and/or recurrences."""

    text: str
    milestones: tuple[Milestone, ...] = ()
    recurrences: tuple[Recurrence, ...] = ()


@dataclass(frozen=True, slots=True)
class DeadlineContext:
    """What a deadline text is read against: the plan's base year and start, never today."""

    base_year: int
    plan_start: dt.date | None = None
    plan_end: dt.date | None = None
    where: str | None = None  # for error messages: "plan.yaml:42 時間要求"
    reporting: Reporting = DEFAULT_WORKING  # the cadence ongoing work (持續推進) reports on


@dataclass(frozen=True, slots=True)
class Stage:
    """A dated work stage (工作步驟) or a dated current-work item (當前工作) of a plan."""

    code: str
    title: str
    kind: str = "stage"  # "stage" | "current_work"
    text: str = ""
    deadline_text: str = ""
    milestones: tuple[Milestone, ...] = ()
    units: tuple[str, ...] = ()
    source: SourceRef = field(default_factory=SourceRef)


@dataclass(frozen=True, slots=True)
class Task:
    """One row of the responsibility matrix."""

    code: str
    title: str
    lead_unit: str
    target: str = ""
    section: tuple[str, ...] = ()
    lead_officials: tuple[Official, ...] = ()
    supporting_units: tuple[str, ...] = ()
    deadline_text: str = ""
    milestones: tuple[Milestone, ...] = ()
    recurrences: tuple[Recurrence, ...] = ()
    veto: bool = False  # 一票否決: a miss on this task outweighs the score
    source: SourceRef = field(default_factory=SourceRef)
    # 共同牽頭: further lead units named with the lead unit (縣農業農村局；縣應急管理局). They are addressed
    # (主送) with the lead unit on every notice of the task; supporting units are only copied (抄送).
    co_lead_units: tuple[str, ...] = ()
    note: str = ""  # 備註: the plan's remark on the task, kept as written

    @property
    def units(self) -> tuple[str, ...]:
        return (self.lead_unit, *self.co_lead_units, *self.supporting_units)


@dataclass(frozen=True, slots=True)
class Plan:
    """One document's matrix (方案)."""

    code: str
    title: str
    base_year: int
    issuer: str = ""
    start: dt.date | None = None
    end: dt.date | None = None
    timezone: str = DEFAULT_TIMEZONE
    source: str = ""
    tasks: tuple[Task, ...] = ()
    stages: tuple[Stage, ...] = ()
    officials: tuple[Official, ...] = ()
    reporting: Reporting = DEFAULT_WORKING
    default_unit: str = ""  # the header's default_unit: the lead unit of a task that names none

    def deadline_context(self, where: str | None = None) -> DeadlineContext:
        return DeadlineContext(base_year=self.base_year, plan_start=self.start, plan_end=self.end, where=where,
                               reporting=self.reporting)

    def task(self, code: str) -> Task:
        for t in self.tasks:
            if t.code == code:
                return t
        raise KeyError(code)
