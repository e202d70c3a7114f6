"""Scoring one period: each unit's deductions and score, the ranking, who is criticised and praised.

The rules are in ``duban.matrix.scoring``'s docstring; the inputs in ``facts``, the lines in ``lines``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import lru_cache

from duban.matrix.scoring.config import ScoringConfig
from duban.matrix.scoring.facts import Period, RoleFacts, UnitFacts
from duban.matrix.scoring.lines import AckLine, ItemLine, Line, ReportLine
from duban.matrix.scoring.referral import Referral
from duban.matrix.vocabulary import Role

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Counts:
    """How many facts of each sort a unit has in one role."""

    due: int = 0
    met_on_time: int = 0
    closed: int = 0
    overdue: int = 0
    overdue_days: int = 0
    max_level: int = 0
    missing_reports: int = 0
    late_reports: int = 0
    late_acks: int = 0


@dataclass(frozen=True, slots=True)
class UnitScore:
    """One unit's score, breakdown and rank."""

    unit: str
    kind: str
    score: Decimal
    deducted: Decimal
    lines: tuple[Line, ...]  # the deductions, lead first, in task order
    vetoed: bool
    lead: Counts
    supporting: Counts
    ranked: bool = True  # False for the excluded kinds (groups)
    rank: int | None = None
    previous_rank: int | None = None
    tied: bool = False  # another unit shares this rank (并列)

    @property
    def change(self) -> int | None:
        """Places moved up since last week (negative: down); None when not ranked both weeks."""
        if self.rank is None or self.previous_rank is None:
            return None
        return self.previous_rank - self.rank


@dataclass(frozen=True, slots=True)
class Circulation:
    """A criticism (通報批評) or praise (通報表揚) of one unit, with the facts that say why."""

    kind: str  # criticism | praise
    unit: str
    reasons: tuple[str, ...]  # criticism: level, overdue_items, missed_reports, veto; praise: top
    facts: tuple[Line, ...]
    rank: int | None = None
    score: Decimal | None = None
    tied: bool = False  # another unit shares its rank (并列)


@dataclass(frozen=True, slots=True)
class Scoreboard:
    """Every unit's score of one period, ranked, and who is criticised or praised."""

    period: Period
    units: tuple[UnitScore, ...]  # ranked units in rank order, then the unranked ones by name
    criticised: tuple[Circulation, ...]  # lowest score first
    praised: tuple[Circulation, ...]  # in rank order
    config: ScoringConfig
    # Units past criticism.max_weeks_running without a last-level escalation: referred to the leadership
    # group (提請領導小組研究) instead of criticised again (``scoring.referral``), the longest run first.
    referred: tuple[Referral, ...] = ()

    def ranks(self) -> dict[str, int]:
        return {u.unit: u.rank for u in self.units if u.rank is not None}

    def unit(self, name: str) -> UnitScore:
        for u in self.units:
            if u.unit == name:
                return u
        raise KeyError(name)


@lru_cache(maxsize=65536)
def task_order(code: str) -> tuple[tuple[int, int, str], ...]:
    """3.2.10 after 3.2.9: numeric parts compare as numbers."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in code.split("."))


def _counts(facts: RoleFacts) -> Counts:
    overdue = [i for i in facts.items if i.overdue]
    return Counts(
        due=sum(i.due_in_period for i in facts.items),
        met_on_time=sum(i.met_on_time for i in facts.items),
        closed=sum(i.closed_in_period for i in facts.items),
        overdue=len(overdue),
        overdue_days=sum(i.overdue_days for i in overdue),
        max_level=max((i.level for i in overdue), default=0),
        missing_reports=sum(r.kind == "missing" for r in facts.reports),
        late_reports=sum(r.kind == "late" for r in facts.reports),
        late_acks=len(facts.acks),
    )


def _deductions(facts: RoleFacts, role: str, config: ScoringConfig) -> list[Line]:
    weight = Decimal(1) if role == Role.LEAD else config.supporting_weight
    out: list[Line] = []

    def add(line: Line) -> None:
        if line.raw > 0 and weight > 0:
            out.append(replace(line, points=line.raw * weight, weight=weight))

    for item in sorted(facts.items, key=lambda i: (task_order(i.task_code), i.due, i.item)):
        if not item.overdue:
            continue
        raw = config.per_overdue_day * item.overdue_days
        if config.overdue_cap is not None:
            raw = min(raw, config.overdue_cap)
        add(ItemLine("overdue", role, item.task_code, item.task_title, raw=raw, item=item, cap=config.overdue_cap))
        if item.level:
            add(ItemLine("escalation", role, item.task_code, item.task_title, raw=config.escalation_for(item.level),
                         item=item))
    for report in sorted(facts.reports, key=lambda r: (task_order(r.task_code), r.kind)):
        if report.kind == "missing":
            add(ReportLine("missing_report", role, report.task_code, report.task_title, raw=config.missing_report,
                           report=report))
        elif report.kind == "late":
            add(ReportLine("late_report", role, report.task_code, report.task_title, raw=config.late_report,
                           report=report))
    for ack in sorted(facts.acks, key=lambda a: (task_order(a.task_code), a.planned_for, a.notice_kind, a.level)):
        add(AckLine("late_ack", role, ack.task_code, ack.task_title, raw=config.late_ack, ack=ack))
    return out


def _veto_line(facts: RoleFacts) -> Line | None:
    missed = sorted((i for i in facts.items if i.veto and i.overdue), key=lambda i: (task_order(i.task_code), i.due))
    if not missed:
        return None
    item = missed[0]
    return ItemLine("veto", Role.LEAD, item.task_code, item.task_title, item=item)


def _points(facts: RoleFacts, weight: Decimal, config: ScoringConfig) -> Decimal:
    """The same sum as the lines of ``_deductions`` (for ranks alone: no lines are made)."""
    if not weight:
        return _ZERO
    total = _ZERO
    for item in facts.items:
        if item.overdue:
            raw = config.per_overdue_day * item.overdue_days
            total += raw if config.overdue_cap is None else min(raw, config.overdue_cap)
            if item.level:
                total += config.escalation_for(item.level)
    for report in facts.reports:
        total += config.missing_report if report.kind == "missing" else config.late_report if report.kind == "late" else _ZERO
    total += config.late_ack * len(facts.acks)
    return total * weight


def score_unit(facts: UnitFacts, config: ScoringConfig, *, detail: bool = True) -> UnitScore:
    """One unit's score and breakdown (not yet ranked); without ``detail`` the score alone, no lines."""
    if detail:
        lines = _deductions(facts.lead, Role.LEAD, config) + _deductions(facts.supporting, Role.SUPPORTING, config)
        deducted = sum((line.points for line in lines), _ZERO)
    else:
        lines = []
        deducted = _points(facts.lead, Decimal(1), config) + _points(facts.supporting, config.supporting_weight, config)
    score = config.start - deducted
    if config.floor is not None:
        score = max(config.floor, score)
    veto = _veto_line(facts.lead)
    if veto is not None:
        if detail:
            lines.append(veto)
        if config.veto_score is not None:
            score = config.veto_score
    return UnitScore(unit=facts.unit, kind=facts.kind, score=score, deducted=deducted, lines=tuple(lines),
                     vetoed=veto is not None, lead=_counts(facts.lead), supporting=_counts(facts.supporting),
                     ranked=facts.kind not in config.exclude_kinds)


def _rank(scores: list[UnitScore], config: ScoringConfig, previous: Mapping[str, int]) -> list[UnitScore]:
    ranked = [s for s in scores if s.ranked]
    unranked = sorted((s for s in scores if not s.ranked), key=lambda s: s.unit)

    def group(s: UnitScore) -> tuple[bool, Decimal, int, int]:
        """What places a unit: vetoed last, then the score; ties broken by fewer working days overdue,
        then more items met on time (as lead unit). Units equal in all of them share a rank."""
        return (s.vetoed and config.veto_rank_last, -s.score, s.lead.overdue_days, -s.lead.met_on_time)

    ranked.sort(key=lambda s: (*group(s), s.unit))
    sizes: dict[tuple[bool, Decimal, int, int], int] = {}
    for s in ranked:
        sizes[group(s)] = sizes.get(group(s), 0) + 1
    out: list[UnitScore] = []
    rank = 0
    for position, s in enumerate(ranked, start=1):
        if not out or group(out[-1]) != group(s):
            rank = position
        out.append(replace(s, rank=rank, previous_rank=previous.get(s.unit), tied=sizes[group(s)] > 1))
    return out + [replace(s, rank=None, previous_rank=None) for s in unranked]


def criticism_reasons(lead: RoleFacts, config: ScoringConfig) -> list[str]:
    """Why a unit's facts as lead unit call for 通報批評 (empty: they do not): the criticism condition,
    uncapped (``criticism.max_weeks_running`` is applied to the board afterwards, ``scoring.referral``)."""
    reasons = []
    overdue = [i for i in lead.items if i.overdue]
    if config.criticism_min_level and any(i.level >= config.criticism_min_level for i in overdue):
        reasons.append("level")
    if config.criticism_min_overdue and len(overdue) >= config.criticism_min_overdue:
        reasons.append("overdue_items")
    if config.criticism_missed_in_a_row and any(r.kind == "missing" and r.streak >= config.criticism_missed_in_a_row
                                                for r in lead.reports):
        reasons.append("missed_reports")
    if config.criticism_on_veto and any(i.veto and i.overdue for i in lead.items):
        reasons.append("veto")
    return reasons


def _criticism(facts: UnitFacts, score: UnitScore, config: ScoringConfig) -> Circulation | None:
    lead = facts.lead
    overdue = sorted((i for i in lead.items if i.overdue), key=lambda i: (task_order(i.task_code), i.due, i.item))
    missing = sorted((r for r in lead.reports if r.kind == "missing"), key=lambda r: task_order(r.task_code))
    reasons = criticism_reasons(lead, config)
    if not reasons:
        return None
    lines: list[Line] = [ItemLine("overdue", Role.LEAD, i.task_code, i.task_title, item=i) for i in overdue]
    lines += [ReportLine("missing_report", Role.LEAD, r.task_code, r.task_title, report=r) for r in missing]
    lines += [line for line in score.lines if line.kind == "veto"]
    return Circulation("criticism", facts.unit, tuple(reasons), tuple(lines), rank=score.rank, score=score.score,
                       tied=score.tied)


def _achievements(facts: UnitFacts) -> list[Line]:
    out: list[Line] = []
    for i in sorted(facts.lead.items, key=lambda i: (task_order(i.task_code), i.due, i.item)):
        if i.met_on_time:
            out.append(ItemLine("met_on_time", Role.LEAD, i.task_code, i.task_title, item=i))
        elif i.closed_in_period and not i.overdue:
            out.append(ItemLine("closed", Role.LEAD, i.task_code, i.task_title, item=i))
    late = {r.task_code for r in facts.lead.reports if r.kind == "late"}
    for r in sorted(facts.lead.reports, key=lambda r: task_order(r.task_code)):
        if r.kind == "sent" and r.task_code not in late:  # a late report is no merit ("按時報送")
            out.append(ReportLine("reported", Role.LEAD, r.task_code, r.task_title, report=r))
    return out


def score_week(facts: Iterable[UnitFacts], period: Period, config: ScoringConfig, *,
               previous: Mapping[str, int] | None = None, detail: bool = True) -> Scoreboard:
    """Score, rank, criticise and praise every unit for one period. ``previous``: last week's ranks.

    Without ``detail`` only scores and ranks are computed (no breakdown lines, nobody criticised or
    praised): what last week's board is needed for.
    """
    facts = sorted(facts, key=lambda f: f.unit)
    by_unit = {f.unit: f for f in facts}
    units = _rank([score_unit(f, config, detail=detail) for f in facts], config, previous or {})
    if not detail:
        return Scoreboard(period=period, units=tuple(units), criticised=(), praised=(), config=config)
    criticised = []
    candidates = []
    for s in units:
        if not s.ranked:
            continue
        f = by_unit[s.unit]
        c = _criticism(f, s, config)
        if c is not None:
            criticised.append(c)
        nothing_overdue = s.lead.overdue == 0 and s.supporting.overdue == 0
        if nothing_overdue and not s.vetoed and c is None:
            achievements = _achievements(f)
            if achievements or not config.praise_require_achievement:
                candidates.append(Circulation("praise", s.unit, ("top",), tuple(achievements), rank=s.rank, score=s.score,
                                              tied=s.tied))
    praised = candidates[:config.praise_top]
    criticised.sort(key=lambda c: (c.score, c.unit))  # the worst first
    return Scoreboard(period=period, units=tuple(units), criticised=tuple(criticised), praised=tuple(praised),
                      config=config)
