"""One fact line of a unit's breakdown, criticism or praise, and its words.

A line is about exactly one fact, and its class says which: ``ItemLine`` (an item overdue, escalated,
vetoed, met on time or closed), ``ReportLine`` (a progress report missing, late or sent) or
``AckLine`` (an acknowledgement late). ``Line`` is their union: code that reads a line's fact
narrows it by class, so no line has a fact it does not carry.

``text`` writes a line in Chinese (``zh``, in traditional script like the data; an output converts
it) or English (``en``); with ``points`` as a breakdown line (terse, with the points deducted),
without as a circulation states the fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from duban.matrix.scoring.facts import AckFact, ItemFact, ReportFact
from duban.matrix.vocabulary import LEVEL_COLOURS, NoticeKind, Role
from duban.matrix.wording import chinese_date, chinese_number, english_date

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

    def text(self, lang: str = "zh", *, points: bool = True) -> str:
        """The line in Chinese (``zh``) or English (``en``); without ``points`` as a circulation states a fact."""
        assert isinstance(self, (ItemLine, ReportLine, AckLine))
        return (_text_en if lang == "en" else _text_zh)(self, points)


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


def _qty(value: Decimal | None) -> str:
    return "0" if value is None else points_text(value)


def _milestone_zh(i: ItemFact) -> str:
    label = f"（{i.label}）" if i.label else ""
    kind = "節點" if i.item.startswith("m") else "周期"
    return f"{chinese_date(i.due)}{kind}{label}"


def _milestone_en(i: ItemFact) -> str:
    kind = "milestone" if i.item.startswith("m") else "period"
    label = f" (“{i.label}”)" if i.label else ""
    return f"{kind} due {english_date(i.due)}{label}"


def _level_zh(level: int) -> str:
    return f"{chinese_number(level)}級（{LEVEL_COLOURS[level]}色）督辦" if level in LEVEL_COLOURS else f"{chinese_number(level)}級督辦"


def _level_en(level: int) -> str:
    return LEVEL_COLOURS[level].key if level in LEVEL_COLOURS else ""


def _weighted_zh(line: Line) -> str:
    if line.weight == 1:
        return ""
    return f"，配合單位按{points_text(line.weight * 100)}%計{points_text(line.points)}分"


def _weighted_en(line: Line) -> str:
    if line.weight == 1:
        return ""
    return f", ×{points_text(line.weight)} as a supporting unit = −{points_text(line.points)}"


def _text_zh(line: Line, points: bool) -> str:
    if points:  # a breakdown line: terse, with the points
        head = f"{'（配合）' if line.role == Role.SUPPORTING else ''}{line.task_code} {line.task_title} "
    else:  # a fact stated in a circulation
        role = "配合" if line.role == Role.SUPPORTING else "牽頭負責"
        head = f"{role}的第{line.task_code}項“{line.task_title}”工作，"
    if isinstance(line, ItemLine):
        return head + _item_zh(line, points)
    if isinstance(line, ReportLine):
        return head + _report_zh(line, points)
    a = line.ack
    what = "督辦通知" if a.notice_kind == NoticeKind.ESCALATION else ("催辦通知" if a.notice_kind == NoticeKind.CHASE else "提醒函")
    when = f"，{chinese_date(a.acknowledged_on)}方簽收" if a.acknowledged_on else "，至今未簽收"
    tail = f"，扣{points_text(line.raw)}分" if points else ""
    return f"{head}{chinese_date(a.planned_for)}{what}應於{chinese_date(a.deadline)}前簽收{when}{tail}"


def _item_zh(line: ItemLine, points: bool) -> str:
    i = line.item
    if line.kind == "overdue":
        late = f"逾期{i.overdue_days}個工作日"
        if i.closed_on is not None and i.closed_in_period:
            late += f"後於{chinese_date(i.closed_on)}辦結"
        elif not points:
            late += "仍未辦結"
        if not points:
            level = f"，已予{_level_zh(i.level)}" if i.level else ""
            return f"{_milestone_zh(i)}{late}{level}"
        cap = f"（封頂{points_text(line.cap)}分）" if line.cap is not None else ""
        return f"{_milestone_zh(i)}{late}，扣{points_text(line.raw)}分{cap}{_weighted_zh(line)}"
    if line.kind == "escalation":
        return f"{_milestone_zh(i)}已升級為{_level_zh(i.level)}，扣{points_text(line.raw)}分{_weighted_zh(line)}"
    if line.kind == "veto":
        return f"為一票否決事項，{_milestone_zh(i)}逾期未完成，實行一票否決"
    if line.kind in ("met_on_time", "closed") and i.closed_on is not None:
        how = "按期" if line.kind == "met_on_time" else "提前"
        return f"{_milestone_zh(i)}於{chinese_date(i.closed_on)}{how}辦結"
    raise ValueError(line.kind)


def _report_zh(line: ReportLine, points: bool) -> str:
    r = line.report
    if line.kind == "missing_report":
        if not points:
            streak = f"（已連續{r.streak}期未報送）" if r.streak >= 2 else ""
            return f"本期未按要求報送進展{streak}"
        streak = f"（連續{r.streak}期）" if r.streak >= 2 else ""
        return f"本期未報送進展{streak}，扣{points_text(line.raw)}分"
    if line.kind == "late_report" and r.on is not None:
        tail = f"，扣{points_text(line.raw)}分" if points else ""
        return f"進展報送延遲（{chinese_date(r.on)}報送，距上次{r.gap_days}天）{tail}"
    if line.kind == "reported" and r.on is not None:
        done = (f"，累計完成{_qty(r.done)}/{_qty(r.quantity)}{r.measure or ''}" if r.quantity is not None else "")
        return f"於{chinese_date(r.on)}按時報送進展{done}"
    raise ValueError(line.kind)


def _text_en(line: Line, points: bool) -> str:
    if points:
        head = f"{'(supporting) ' if line.role == Role.SUPPORTING else ''}{line.task_code} {line.task_title}: "
    else:
        head = f"As {'a supporting' if line.role == Role.SUPPORTING else 'lead'} unit of task {line.task_code} “{line.task_title}”, "
    if isinstance(line, ItemLine):
        return head + _item_en(line, points)
    if isinstance(line, ReportLine):
        return head + _report_en(line, points)
    a = line.ack
    when = f", acknowledged {english_date(a.acknowledged_on)}" if a.acknowledged_on else ", not acknowledged"
    tail = f", −{points_text(line.raw)} points" if points else ""
    return f"{head}{a.notice_kind} notice of {english_date(a.planned_for)} due for acknowledgement by {english_date(a.deadline)}{when}{tail}"


def _item_en(line: ItemLine, points: bool) -> str:
    i = line.item
    if line.kind == "overdue":
        late = f"{i.overdue_days} working days overdue"
        if i.closed_on is not None and i.closed_in_period:
            late += f", closed on {english_date(i.closed_on)}"
        elif not points:
            late += ", still open"
        if not points:
            level = f", escalated to level {i.level} ({_level_en(i.level)})" if i.level else ""
            return f"{_milestone_en(i)} {late}{level}"
        cap = f" (cap {points_text(line.cap)})" if line.cap is not None else ""
        return f"{_milestone_en(i)} {late}, −{points_text(line.raw)} points{cap}{_weighted_en(line)}"
    if line.kind == "escalation":
        return (f"{_milestone_en(i)} escalated to level {i.level} ({_level_en(i.level)}), "
                f"−{points_text(line.raw)} points{_weighted_en(line)}")
    if line.kind == "veto":
        return f"a veto task (一票否決): {_milestone_en(i)} missed; vetoed"
    if line.kind in ("met_on_time", "closed") and i.closed_on is not None:
        how = "on time" if line.kind == "met_on_time" else "early"
        return f"{_milestone_en(i)} closed {how} on {english_date(i.closed_on)}"
    raise ValueError(line.kind)


def _report_en(line: ReportLine, points: bool) -> str:
    r = line.report
    if line.kind == "missing_report":
        streak = f" ({r.streak} periods in a row)" if r.streak >= 2 else ""
        tail = f", −{points_text(line.raw)} points" if points else ""
        return f"no progress report this period{streak}{tail}"
    if line.kind == "late_report" and r.on is not None:
        tail = f", −{points_text(line.raw)} points" if points else ""
        return f"progress report late (sent {english_date(r.on)}, {r.gap_days} days after the previous one){tail}"
    if line.kind == "reported" and r.on is not None:
        done = f", {_qty(r.done)} of {_qty(r.quantity)} {r.measure or ''} done".rstrip() if r.quantity is not None else ""
        return f"progress reported on {english_date(r.on)}{done}"
    raise ValueError(line.kind)
