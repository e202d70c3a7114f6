"""Weekly scoring of units for the circulation report (周通報): deductions, rank, 通報批評 and 通報表揚.

Pure: no database, no clock. The caller (workflows.report_service) gathers, per unit and role, the
facts of one period and hands them over as the dataclasses below; ``score_week`` returns every
unit's score with its breakdown (one line per deduction), the ranking, and who is criticised or
praised with the facts that say why. Last week's ranking is computed the same way for the period
ending seven days earlier and passed in as ``previous``.

The period is the ``period_days`` (default 7) days ending on the report's as-of day, both included:
for a Friday report, Saturday through Friday, so that consecutive weekly reports tile the calendar
(a make-up working Saturday belongs to a week too). "In the period" below means that.

Facts (per unit, separately as lead unit and as supporting unit of a task):

- *due*: an item (milestone or period of a recurring obligation) whose due date — the approved
  extension's once it was decided, else the plan's — falls in the period; *met on time* if it was
  closed (辦結) on or before that date.
- *closed*: an item closed on a day in the period.
- *overdue*: an item past its due date that was open on some day of the period: still open at the
  period's end, or closed late during it. Its *working days overdue* count to the period's end, or
  to the day it was closed. An item closed before the period began is no fact of this period.
- *escalation level*: the highest 督辦 level issued for the item (for its current due date) by the
  period's end, 0 when none; counted for items overdue in the period.
- *missing progress report*: a task with a quantity milestone in progress — started (its own start,
  else the day after the previous milestone, else the plan start) on or before the window's first
  day and not closed before it — whose lead unit sent no report (進展報送 or 辦結) on the task in the
  window of ``reports.expected_every_days`` days ending on the period's end. ``streak`` counts the
  consecutive windows (this one included) missed the same way; ``0`` days switches this off.
- *late progress report*: the first report of such a window came more than ``expected_every_days``
  days after the previous report on the task (or after the milestone started, if none before).
- *late acknowledgement*: a notice of the kinds listed (chase, escalation by default) about the
  unit's task, not superseded, whose acknowledgement (簽收) was due — ``within_working_days`` working
  days after its date — in the period and came later or not at all. Lead unit only.
- *veto* (一票否決): an item of a task marked ``veto`` overdue in the period, as lead unit.

The formula (config/scoring.yaml; the defaults here are the same):

    score = max(floor, start − Σ lead deductions − supporting_weight × Σ supporting deductions)
                        (supporting_weight is 0 by default: supporting facts are counted and shown only)
    per overdue item:   overdue_per_working_day × working days overdue, capped at overdue_cap_per_item
    per overdue item:   escalation points of the highest level it reached (level 2: 5, level 3: 10;
                        counted once: an item at level 3 loses 10, not 15)
    per task:           missing_report (10), late_report (0), and late_acknowledgement (0) per notice
    vetoed:             ranked after every unit that is not (and its score set to veto.score if given)

Ranks are competition ranks (1, 2, 2, 4) by score, vetoed units last, ties in name order; ``change``
is last week's rank minus this week's (positive: moved up), None for a unit not ranked last week.
Units of the kinds in ``ranking.exclude_kinds`` (groups such as 各鄉鎮人民政府 by default) are scored
but neither ranked, criticised nor praised.

Criticism (通報批評), as lead unit and for facts of this period only: an item overdue at escalation
level ≥ ``min_level`` (2), or ≥ ``min_overdue_items`` (3) items overdue, or a task whose progress
report was missed ``missed_reports_in_a_row`` (2) windows in a row (or, with ``on_veto``, a veto).
The criticism lists the unit's facts of the period: each overdue item with its days and level, each
missed report with its streak, and the veto. Praise (通報表揚): the ``top`` (3) best-ranked units with
nothing overdue in either role, not vetoed, and — with ``require_achievement`` — at least one item met
on time or closed, or a progress report sent, in the period; it lists those achievements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterable, Mapping

from duban.matrix.policy import merge_overrides
from duban.matrix.wording import chinese_date, chinese_number, english_date  # noqa: F401 - re-exported
from duban.matrix.errors import ConfigError
from duban.matrix.vocabulary import ACK_KINDS, LEVEL_COLOURS, NOTICE_KINDS

_ZERO = Decimal(0)


# --------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True, slots=True)
class Recipient:
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class ReportConfig:
    """How the report is titled and to whom it is mailed (besides the office)."""

    title: str | None = None  # default: 《plan title》推進情況周通報
    recipients: tuple[Recipient, ...] = ()  # supervisors (督查室, leaders' secretaries …)
    to_office: bool = True  # also the office's own addresses and its head's
    chart_weeks: int | None = None  # weeks the chart shows before as-of (None: from the plan start)
    table_weeks: int = 12  # weekly numbers given as a table (DOCX, Markdown): the last N weeks
    max_lines_per_unit: int | None = 5  # breakdown and criticism lines shown per unit in the report (None: all)
    max_rows: int | None = 300  # rows of the task and overdue tables, worst first (None: all)


@dataclass(frozen=True, slots=True)
class ScoringConfig:
    period_days: int = 7
    start: Decimal = Decimal(100)
    floor: Decimal | None = Decimal(0)
    per_overdue_day: Decimal = Decimal(2)
    overdue_cap: Decimal | None = Decimal(30)
    missing_report: Decimal = Decimal(10)
    late_report: Decimal = _ZERO
    late_ack: Decimal = _ZERO
    escalation_points: tuple[tuple[int, Decimal], ...] = ((2, Decimal(5)), (3, Decimal(10)))
    supporting_weight: Decimal = Decimal(0)
    veto_rank_last: bool = True
    veto_score: Decimal | None = None
    reports_every_days: int = 7
    ack_kinds: tuple[str, ...] = ACK_KINDS
    ack_within: int = 2
    exclude_kinds: tuple[str, ...] = ("group",)
    criticism_min_level: int = 2
    criticism_min_overdue: int = 3
    criticism_missed_in_a_row: int = 2
    criticism_on_veto: bool = False
    rectify_within: int = 5
    praise_top: int = 3
    praise_require_achievement: bool = True
    report: ReportConfig = field(default_factory=ReportConfig)
    source: str = "built-in defaults"

    def escalation_for(self, level: int) -> Decimal:
        """Points for an item whose highest level is ``level``: the entry of the highest configured level ≤ it."""
        points = _ZERO
        for configured, value in self.escalation_points:
            if configured <= level:
                points = value
        return points


_KEYS: dict[str, set[str] | None] = {
    "period_days": None,
    "score": {"start", "floor", "overdue_per_working_day", "overdue_cap_per_item", "missing_report", "late_report",
              "late_acknowledgement", "escalation", "supporting_weight"},
    "veto": {"rank_last", "score"},
    "reports": {"expected_every_days"},
    "acknowledgements": {"kinds", "within_working_days"},
    "ranking": {"exclude_kinds"},
    "criticism": {"min_level", "min_overdue_items", "missed_reports_in_a_row", "on_veto", "rectify_within_working_days"},
    "praise": {"top", "require_achievement"},
    "report": {"title", "recipients", "to_office", "chart_weeks", "table_weeks", "max_lines_per_unit", "max_rows"},
}


class _Reader:
    """Typed values out of the merged raw mapping, each error naming the file, line and key."""

    def __init__(self, raw: dict[str, Any], lines: dict[str, str]) -> None:
        self.raw, self.lines = raw, lines

    def _get(self, section: str | None, key: str) -> tuple[Any, str]:
        where_key = f"{section}.{key}" if section else key
        where = self.lines.get(where_key) or self.lines.get(section or "", "") or "scoring"
        mapping = self.raw.get(section) if section else self.raw
        if section and mapping is not None and not isinstance(mapping, dict):
            raise ConfigError(f"{where}: {section} must be a mapping")
        value = (mapping or {}).get(key, _MISSING)
        return value, f"{where}: {where_key}"

    def number(self, section, key, default, *, allow_null=False, whole=False, minimum=_ZERO):
        value, where = self._get(section, key)
        if value is _MISSING:
            return default
        if value is None:
            if allow_null:
                return None
            raise ConfigError(f"{where}: a number is required")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ConfigError(f"{where}: {value!r} is not a number") from None
        if not number.is_finite() or number < minimum:
            raise ConfigError(f"{where}: {value!r} must be a number ≥ {minimum}")
        if whole:
            if number != number.to_integral_value():
                raise ConfigError(f"{where}: {value!r} is not a whole number")
            return int(number)
        return number

    def flag(self, section, key, default):
        value, where = self._get(section, key)
        if value is _MISSING:
            return default
        text = str(value).strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
        raise ConfigError(f"{where}: {value!r} is not true or false")

    def words(self, section, key, default, *, allowed: Iterable[str] | None = None):
        value, where = self._get(section, key)
        if value is _MISSING:
            return default
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: a list such as [a, b] is required, got {value!r}")
        if allowed is not None:
            bad = [v for v in value if v not in allowed]
            if bad:
                raise ConfigError(f"{where}: unknown value {bad[0]!r}; use {', '.join(allowed)}")
        return tuple(value)

    def text(self, section, key, default):
        value, _where = self._get(section, key)
        if value is _MISSING:
            return default
        return None if value is None else str(value)


_MISSING = object()


def load_scoring(*paths: Path) -> ScoringConfig:
    """Merge scoring files in order (later ones override per key); missing files are skipped.

    Errors are ``ConfigError`` naming the file, line and key: ``scoring.yaml:7: score.floor: 'x' is
    not a number``.
    """
    from duban.matrix.sources import config_files

    raw: dict[str, Any] = {}
    lines: dict[str, str] = {}
    used: list[str] = []
    for path, data in config_files(paths, what="scoring"):
        for key, value in data.items():
            line = data.lines.get(key) if hasattr(data, "lines") else None
            where = f"{path}:{line}" if line else str(path)
            if key not in _KEYS:
                raise ConfigError(f"{where}: unknown key {key!r}; keys are {', '.join(_KEYS)}")
            lines[key] = where
            allowed = _KEYS[key]
            if allowed is None:
                continue
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {key} must be a mapping")
            for sub in value:
                sub_line = value.lines.get(sub) if hasattr(value, "lines") else None
                sub_where = f"{path}:{sub_line}" if sub_line else where
                if sub not in allowed:
                    raise ConfigError(f"{sub_where}: unknown key {key}.{sub!r}; keys are {', '.join(sorted(allowed))}")
                lines[f"{key}.{sub}"] = sub_where
        raw = merge_overrides(raw, dict(data))
        used.append(str(path))
    return _build(raw, lines, " + ".join(used) or "built-in defaults")


def _build(raw: dict[str, Any], lines: dict[str, str], source: str) -> ScoringConfig:
    d = ScoringConfig()
    r = _Reader(raw, lines)
    escalation = d.escalation_points
    value, where = r._get("score", "escalation")
    if value is not _MISSING:
        if value is None:
            escalation = ()
        elif not isinstance(value, dict):
            raise ConfigError(f"{where}: a mapping of level to points is required, such as {{2: 5, 3: 10}}")
        else:
            pairs = []
            for level, points in value.items():
                try:
                    lv, pts = int(str(level)), Decimal(str(points))
                except (ValueError, InvalidOperation):
                    raise ConfigError(f"{where}: {level!r}: {points!r} is not level: points") from None
                if lv < 1 or not pts.is_finite() or pts < 0:
                    raise ConfigError(f"{where}: {level!r}: {points!r} needs a level ≥ 1 and points ≥ 0")
                pairs.append((lv, pts))
            escalation = tuple(sorted(pairs))
    recipients = d.report.recipients
    value, where = r._get("report", "recipients")
    if value is not _MISSING:
        if value is None:
            recipients = ()
        elif not isinstance(value, list):
            raise ConfigError(f"{where}: a list of {{name, email}} is required")
        else:
            out = []
            for entry in value:
                if isinstance(entry, str):
                    entry = {"name": "", "email": entry}
                if not isinstance(entry, dict) or not entry.get("email"):
                    raise ConfigError(f"{where}: each recipient needs an email, got {entry!r}")
                email = str(entry["email"]).strip()
                if any(c in email for c in "\r\n<>,;\"' ") or email.count("@") != 1:
                    raise ConfigError(f"{where}: {email!r} is not an email address")
                out.append(Recipient(name=str(entry.get("name") or ""), email=email))
            recipients = tuple(out)
    report = ReportConfig(
        title=r.text("report", "title", d.report.title),
        recipients=recipients,
        to_office=r.flag("report", "to_office", d.report.to_office),
        chart_weeks=r.number("report", "chart_weeks", d.report.chart_weeks, allow_null=True, whole=True, minimum=Decimal(1)),
        table_weeks=r.number("report", "table_weeks", d.report.table_weeks, whole=True, minimum=Decimal(1)),
        max_lines_per_unit=r.number("report", "max_lines_per_unit", d.report.max_lines_per_unit, allow_null=True,
                                    whole=True, minimum=Decimal(1)),
        max_rows=r.number("report", "max_rows", d.report.max_rows, allow_null=True, whole=True, minimum=Decimal(1)),
    )
    return ScoringConfig(
        period_days=r.number(None, "period_days", d.period_days, whole=True, minimum=Decimal(1)),
        start=r.number("score", "start", d.start),
        floor=r.number("score", "floor", d.floor, allow_null=True, minimum=Decimal("-1e9")),
        per_overdue_day=r.number("score", "overdue_per_working_day", d.per_overdue_day),
        overdue_cap=r.number("score", "overdue_cap_per_item", d.overdue_cap, allow_null=True),
        missing_report=r.number("score", "missing_report", d.missing_report),
        late_report=r.number("score", "late_report", d.late_report),
        late_ack=r.number("score", "late_acknowledgement", d.late_ack),
        escalation_points=escalation,
        supporting_weight=r.number("score", "supporting_weight", d.supporting_weight),
        veto_rank_last=r.flag("veto", "rank_last", d.veto_rank_last),
        veto_score=r.number("veto", "score", d.veto_score, allow_null=True, minimum=Decimal("-1e9")),
        reports_every_days=r.number("reports", "expected_every_days", d.reports_every_days, whole=True),
        ack_kinds=r.words("acknowledgements", "kinds", d.ack_kinds, allowed=NOTICE_KINDS),
        ack_within=r.number("acknowledgements", "within_working_days", d.ack_within, whole=True),
        exclude_kinds=r.words("ranking", "exclude_kinds", d.exclude_kinds),
        criticism_min_level=r.number("criticism", "min_level", d.criticism_min_level, whole=True),
        criticism_min_overdue=r.number("criticism", "min_overdue_items", d.criticism_min_overdue, whole=True),
        criticism_missed_in_a_row=r.number("criticism", "missed_reports_in_a_row", d.criticism_missed_in_a_row, whole=True),
        criticism_on_veto=r.flag("criticism", "on_veto", d.criticism_on_veto),
        rectify_within=r.number("criticism", "rectify_within_working_days", d.rectify_within, whole=True, minimum=Decimal(1)),
        praise_top=r.number("praise", "top", d.praise_top, whole=True),
        praise_require_achievement=r.flag("praise", "require_achievement", d.praise_require_achievement),
        report=report,
        source=source,
    )


# --------------------------------------------------------------------------------------------
# Inputs: the facts of one period


@dataclass(frozen=True, slots=True)
class Period:
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
    items: tuple[ItemFact, ...] = ()
    reports: tuple[ReportFact, ...] = ()
    acks: tuple[AckFact, ...] = ()


@dataclass(frozen=True, slots=True)
class UnitFacts:
    unit: str
    kind: str = "department"
    lead: RoleFacts = RoleFacts()
    supporting: RoleFacts = RoleFacts()


# --------------------------------------------------------------------------------------------
# Outputs


@dataclass(frozen=True, slots=True)
class Line:
    """One fact line: a deduction in a unit's breakdown, or a fact of a criticism or praise."""

    kind: str  # overdue | escalation | missing_report | late_report | late_ack | veto | met_on_time | closed | reported
    role: str  # lead | supporting
    task_code: str
    task_title: str
    points: Decimal = _ZERO  # deducted from the score (after the supporting weight)
    raw: Decimal = _ZERO  # before the weight
    cap: Decimal | None = None  # the per-item cap in force (overdue lines)
    weight: Decimal = Decimal(1)
    item: ItemFact | None = None
    report: ReportFact | None = None
    ack: AckFact | None = None

    def text(self, lang: str = "zh", *, points: bool = True) -> str:
        """The line in Chinese (``zh``, written in traditional script like the data; an output
        converts it) or English (``en``); without ``points`` as a circulation states a fact."""
        return (_text_en if lang == "en" else _text_zh)(self, points)


@dataclass(frozen=True, slots=True)
class Counts:
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

    @property
    def change(self) -> int | None:
        """Places moved up since last week (negative: down); None when not ranked both weeks."""
        if self.rank is None or self.previous_rank is None:
            return None
        return self.previous_rank - self.rank


@dataclass(frozen=True, slots=True)
class Circulation:
    kind: str  # criticism | praise
    unit: str
    reasons: tuple[str, ...]  # criticism: level, overdue_items, missed_reports, veto; praise: top
    facts: tuple[Line, ...]
    rank: int | None = None
    score: Decimal | None = None

    def texts(self, lang: str = "zh") -> list[str]:
        return [f.text(lang, points=False) for f in self.facts]


@dataclass(frozen=True, slots=True)
class Scoreboard:
    period: Period
    units: tuple[UnitScore, ...]  # ranked units in rank order, then the unranked ones by name
    criticised: tuple[Circulation, ...]  # lowest score first
    praised: tuple[Circulation, ...]  # in rank order
    config: ScoringConfig

    def ranks(self) -> dict[str, int]:
        return {u.unit: u.rank for u in self.units if u.rank is not None}

    def unit(self, name: str) -> UnitScore:
        for u in self.units:
            if u.unit == name:
                return u
        raise KeyError(name)


# --------------------------------------------------------------------------------------------
# Scoring


@lru_cache(maxsize=65536)
def task_order(code: str) -> tuple:
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
    weight = Decimal(1) if role == "lead" else config.supporting_weight
    out: list[Line] = []

    def add(kind: str, raw: Decimal, code: str, title: str, **kw: Any) -> None:
        if raw > 0 and weight > 0:
            out.append(Line(kind, role, code, title, points=raw * weight, raw=raw, weight=weight, **kw))

    for item in sorted(facts.items, key=lambda i: (task_order(i.task_code), i.due, i.item)):
        if not item.overdue:
            continue
        raw = config.per_overdue_day * item.overdue_days
        if config.overdue_cap is not None:
            raw = min(raw, config.overdue_cap)
        add("overdue", raw, item.task_code, item.task_title, item=item, cap=config.overdue_cap)
        if item.level:
            add("escalation", config.escalation_for(item.level), item.task_code, item.task_title, item=item)
    for report in sorted(facts.reports, key=lambda r: (task_order(r.task_code), r.kind)):
        if report.kind == "missing":
            add("missing_report", config.missing_report, report.task_code, report.task_title, report=report)
        elif report.kind == "late":
            add("late_report", config.late_report, report.task_code, report.task_title, report=report)
    for ack in sorted(facts.acks, key=lambda a: (task_order(a.task_code), a.planned_for, a.notice_kind, a.level)):
        add("late_ack", config.late_ack, ack.task_code, ack.task_title, ack=ack)
    return out


def _veto_line(facts: RoleFacts) -> Line | None:
    missed = sorted((i for i in facts.items if i.veto and i.overdue), key=lambda i: (task_order(i.task_code), i.due))
    if not missed:
        return None
    item = missed[0]
    return Line("veto", "lead", item.task_code, item.task_title, item=item)


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
        lines = _deductions(facts.lead, "lead", config) + _deductions(facts.supporting, "supporting", config)
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
    from dataclasses import replace

    ranked = [s for s in scores if s.ranked]
    unranked = sorted((s for s in scores if not s.ranked), key=lambda s: s.unit)

    def group(s: UnitScore) -> tuple:
        return (s.vetoed and config.veto_rank_last, -s.score)

    ranked.sort(key=lambda s: (*group(s), s.unit))
    out: list[UnitScore] = []
    rank = 0
    for position, s in enumerate(ranked, start=1):
        if not out or group(out[-1]) != group(s):
            rank = position
        out.append(replace(s, rank=rank, previous_rank=previous.get(s.unit)))
    return out + [replace(s, rank=None, previous_rank=None) for s in unranked]


def _criticism(facts: UnitFacts, score: UnitScore, config: ScoringConfig) -> Circulation | None:
    lead = facts.lead
    overdue = sorted((i for i in lead.items if i.overdue), key=lambda i: (task_order(i.task_code), i.due, i.item))
    missing = sorted((r for r in lead.reports if r.kind == "missing"), key=lambda r: task_order(r.task_code))
    reasons = []
    if config.criticism_min_level and any(i.level >= config.criticism_min_level for i in overdue):
        reasons.append("level")
    if config.criticism_min_overdue and len(overdue) >= config.criticism_min_overdue:
        reasons.append("overdue_items")
    if config.criticism_missed_in_a_row and any(r.streak >= config.criticism_missed_in_a_row for r in missing):
        reasons.append("missed_reports")
    if config.criticism_on_veto and score.vetoed:
        reasons.append("veto")
    if not reasons:
        return None
    lines = [Line("overdue", "lead", i.task_code, i.task_title, item=i) for i in overdue]
    lines += [Line("missing_report", "lead", r.task_code, r.task_title, report=r) for r in missing]
    lines += [line for line in score.lines if line.kind == "veto"]
    return Circulation("criticism", facts.unit, tuple(reasons), tuple(lines), rank=score.rank, score=score.score)


def _achievements(facts: UnitFacts) -> list[Line]:
    out: list[Line] = []
    for i in sorted(facts.lead.items, key=lambda i: (task_order(i.task_code), i.due, i.item)):
        if i.met_on_time:
            out.append(Line("met_on_time", "lead", i.task_code, i.task_title, item=i))
        elif i.closed_in_period and not i.overdue:
            out.append(Line("closed", "lead", i.task_code, i.task_title, item=i))
    late = {r.task_code for r in facts.lead.reports if r.kind == "late"}
    for r in sorted(facts.lead.reports, key=lambda r: task_order(r.task_code)):
        if r.kind == "sent" and r.task_code not in late:  # a late report is no merit ("按時報送")
            out.append(Line("reported", "lead", r.task_code, r.task_title, report=r))
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
                candidates.append(Circulation("praise", s.unit, ("top",), tuple(achievements), rank=s.rank, score=s.score))
    praised = candidates[:config.praise_top]
    criticised.sort(key=lambda c: (c.score, c.unit))  # the worst first
    return Scoreboard(period=period, units=tuple(units), criticised=tuple(criticised), praised=tuple(praised),
                      config=config)


# --------------------------------------------------------------------------------------------
# Words


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
    return f"{chinese_number(level)}級（{LEVEL_COLOURS.get(level, '')}色）督辦" if level in LEVEL_COLOURS else f"{chinese_number(level)}級督辦"


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
    i, r, a = line.item, line.report, line.ack
    if points:  # a breakdown line: terse, with the points
        head = f"{'（配合）' if line.role == 'supporting' else ''}{line.task_code} {line.task_title} "
    else:  # a fact stated in a circulation
        role = "配合" if line.role == "supporting" else "牽頭負責"
        head = f"{role}的第{line.task_code}項“{line.task_title}”工作，"
    if line.kind == "overdue":
        late = f"逾期{i.overdue_days}個工作日"
        if i.closed_on is not None and i.closed_in_period:
            late += f"後於{chinese_date(i.closed_on)}辦結"
        elif not points:
            late += "仍未辦結"
        if not points:
            level = f"，已予{_level_zh(i.level)}" if i.level else ""
            return f"{head}{_milestone_zh(i)}{late}{level}"
        cap = f"（封頂{points_text(line.cap)}分）" if line.cap is not None else ""
        return f"{head}{_milestone_zh(i)}{late}，扣{points_text(line.raw)}分{cap}{_weighted_zh(line)}"
    if line.kind == "escalation":
        return f"{head}{_milestone_zh(i)}已升級為{_level_zh(i.level)}，扣{points_text(line.raw)}分{_weighted_zh(line)}"
    if line.kind == "missing_report":
        if not points:
            streak = f"（已連續{r.streak}期未報送）" if r.streak >= 2 else ""
            return f"{head}本期未按要求報送進展{streak}"
        streak = f"（連續{r.streak}期）" if r.streak >= 2 else ""
        return f"{head}本期未報送進展{streak}，扣{points_text(line.raw)}分"
    if line.kind == "late_report":
        tail = f"，扣{points_text(line.raw)}分" if points else ""
        return f"{head}進展報送延遲（{chinese_date(r.on)}報送，距上次{r.gap_days}天）{tail}"
    if line.kind == "late_ack":
        what = "督辦通知" if a.notice_kind == "escalation" else ("催辦通知" if a.notice_kind == "chase" else "提醒函")
        when = f"，{chinese_date(a.acknowledged_on)}方簽收" if a.acknowledged_on else "，至今未簽收"
        tail = f"，扣{points_text(line.raw)}分" if points else ""
        return f"{head}{chinese_date(a.planned_for)}{what}應於{chinese_date(a.deadline)}前簽收{when}{tail}"
    if line.kind == "veto":
        return f"{head}為一票否決事項，{_milestone_zh(i)}逾期未完成，實行一票否決"
    if line.kind == "met_on_time":
        return f"{head}{_milestone_zh(i)}於{chinese_date(i.closed_on)}按期辦結"
    if line.kind == "closed":
        return f"{head}{_milestone_zh(i)}於{chinese_date(i.closed_on)}提前辦結"
    if line.kind == "reported":
        done = (f"，累計完成{_qty(r.done)}/{_qty(r.quantity)}{r.measure or ''}" if r.quantity is not None else "")
        return f"{head}於{chinese_date(r.on)}按時報送進展{done}"
    raise ValueError(line.kind)


def _text_en(line: Line, points: bool) -> str:
    if points:
        head = f"{'(supporting) ' if line.role == 'supporting' else ''}{line.task_code} {line.task_title}: "
    else:
        head = f"As {'a supporting' if line.role == 'supporting' else 'lead'} unit of task {line.task_code} “{line.task_title}”, "
    i, r, a = line.item, line.report, line.ack
    if line.kind == "overdue":
        late = f"{i.overdue_days} working days overdue"
        if i.closed_on is not None and i.closed_in_period:
            late += f", closed on {english_date(i.closed_on)}"
        elif not points:
            late += ", still open"
        if not points:
            level = f", escalated to level {i.level} ({_level_en(i.level)})" if i.level else ""
            return f"{head}{_milestone_en(i)} {late}{level}"
        cap = f" (cap {points_text(line.cap)})" if line.cap is not None else ""
        return f"{head}{_milestone_en(i)} {late}, −{points_text(line.raw)} points{cap}{_weighted_en(line)}"
    if line.kind == "escalation":
        return (f"{head}{_milestone_en(i)} escalated to level {i.level} ({_level_en(i.level)}), "
                f"−{points_text(line.raw)} points{_weighted_en(line)}")
    if line.kind == "missing_report":
        streak = f" ({r.streak} periods in a row)" if r.streak >= 2 else ""
        tail = f", −{points_text(line.raw)} points" if points else ""
        return f"{head}no progress report this period{streak}{tail}"
    if line.kind == "late_report":
        tail = f", −{points_text(line.raw)} points" if points else ""
        return f"{head}progress report late (sent {english_date(r.on)}, {r.gap_days} days after the previous one){tail}"
    if line.kind == "late_ack":
        when = f", acknowledged {english_date(a.acknowledged_on)}" if a.acknowledged_on else ", not acknowledged"
        tail = f", −{points_text(line.raw)} points" if points else ""
        return f"{head}{a.notice_kind} notice of {english_date(a.planned_for)} due for acknowledgement by {english_date(a.deadline)}{when}{tail}"
    if line.kind == "veto":
        return f"{head}a veto task (一票否決): {_milestone_en(i)} missed; vetoed"
    if line.kind == "met_on_time":
        return f"{head}{_milestone_en(i)} closed on time on {english_date(i.closed_on)}"
    if line.kind == "closed":
        return f"{head}{_milestone_en(i)} closed early on {english_date(i.closed_on)}"
    if line.kind == "reported":
        done = f", {_qty(r.done)} of {_qty(r.quantity)} {r.measure or ''} done".rstrip() if r.quantity is not None else ""
        return f"{head}progress reported on {english_date(r.on)}{done}"
    raise ValueError(line.kind)
