"""The scoring configuration: config/scoring.yaml (the packaged defaults) and the office's own file.

``load_scoring(*paths)`` merges the files in order and returns a ``ScoringConfig``; every error is a
``ConfigError`` naming the file, line and key. The defaults here are config/scoring.yaml's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from duban.matrix.errors import ConfigError
from duban.matrix.policy import merge_overrides
from duban.matrix.vocabulary import ACK_KINDS, NOTICE_KINDS

_ZERO = Decimal(0)


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
    # Weeks running a unit may be criticised before, without its level-3 escalation, it is referred to the
    # leadership group instead (提請領導小組研究); None: no cap.
    criticism_max_weeks: int | None = 8
    rectify_within: int = 5
    praise_top: int = 3
    praise_require_achievement: bool = True
    report: ReportConfig = field(default_factory=ReportConfig)
    source: str = "built-in defaults"
    # The merged rules as one YAML document: what a stored version holds (matrix.rules). Not compared:
    # the rules are the fields above.
    text: str = field(default="", compare=False)

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
    "criticism": {"min_level", "min_overdue_items", "missed_reports_in_a_row", "on_veto", "rectify_within_working_days",
                  "max_weeks_running"},
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

    def number(self, section: str | None, key: str, default: Any, *, allow_null: bool = False, whole: bool = False,
               minimum: Decimal = _ZERO) -> Any:
        """A Decimal (an int when ``whole``), the default when absent, None when null and allowed."""
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

    def flag(self, section: str | None, key: str, default: bool) -> bool:
        value, where = self._get(section, key)
        if value is _MISSING:
            return default
        text = str(value).strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
        raise ConfigError(f"{where}: {value!r} is not true or false")

    def words(self, section: str | None, key: str, default: tuple[str, ...], *,
              allowed: Iterable[str] | None = None) -> tuple[str, ...]:
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
        return tuple(str(v) for v in value)

    def text(self, section: str | None, key: str, default: str | None) -> str | None:
        value, _where = self._get(section, key)
        if value is _MISSING:
            return default
        return None if value is None else str(value)


_MISSING = object()


def load_scoring(*paths: Path) -> ScoringConfig:
    """Merge scoring files in order (later ones override per key); missing files are skipped.

    Errors are ``ConfigError`` naming the file, line and key: ``scoring.yaml:7: score.floor: 'x' is
    not a number``. The result's ``text`` is the merged rules as one YAML document (``matrix.rules``).
    """
    from duban.matrix.sources import config_files

    return _from_mappings(config_files(paths, what="scoring"))


def load_scoring_text(text: str, where: str) -> ScoringConfig:
    """The scoring rules from stored text (a version's content: a whole scoring file), ``where`` naming it."""
    from duban.matrix.errors import MatrixError
    from duban.matrix.sources import yaml_text

    try:
        data = yaml_text(text, where)
    except MatrixError as e:
        raise ConfigError(str(e)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a scoring file is a mapping")
    return _from_mappings([(where, data)])


def _from_mappings(sources: Iterable[tuple[Any, Any]]) -> ScoringConfig:
    from duban.matrix.rules import canonical_text

    raw: dict[str, Any] = {}
    lines: dict[str, str] = {}
    used: list[str] = []
    for path, data in sources:
        _check_keys(path, data, lines)
        raw = merge_overrides(raw, dict(data))
        used.append(str(path))
    config = _build(raw, lines, " + ".join(used) or "built-in defaults")
    return replace(config, text=canonical_text(raw))


def _check_keys(path: Any, data: Any, lines: dict[str, str]) -> None:
    """Every key of a scoring file known, sections mappings; each key's place noted in ``lines``."""
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


def _escalation_points(r: _Reader, default: tuple[tuple[int, Decimal], ...]) -> tuple[tuple[int, Decimal], ...]:
    """score.escalation: a mapping of level to points ({2: 5, 3: 10}), null for none."""
    value, where = r._get("score", "escalation")
    if value is _MISSING:
        return default
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: a mapping of level to points is required, such as {{2: 5, 3: 10}}")
    pairs = []
    for level, points in value.items():
        try:
            lv, pts = int(str(level)), Decimal(str(points))
        except (ValueError, InvalidOperation):
            raise ConfigError(f"{where}: {level!r}: {points!r} is not level: points") from None
        if lv < 1 or not pts.is_finite() or pts < 0:
            raise ConfigError(f"{where}: {level!r}: {points!r} needs a level ≥ 1 and points ≥ 0")
        pairs.append((lv, pts))
    return tuple(sorted(pairs))


def _recipients(r: _Reader, default: tuple[Recipient, ...]) -> tuple[Recipient, ...]:
    """report.recipients: a list of {name, email} (or bare addresses), null for none."""
    value, where = r._get("report", "recipients")
    if value is _MISSING:
        return default
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(f"{where}: a list of {{name, email}} is required")
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
    return tuple(out)


def _build(raw: dict[str, Any], lines: dict[str, str], source: str) -> ScoringConfig:
    d = ScoringConfig()
    r = _Reader(raw, lines)
    escalation = _escalation_points(r, d.escalation_points)
    recipients = _recipients(r, d.report.recipients)
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
        criticism_max_weeks=r.number("criticism", "max_weeks_running", d.criticism_max_weeks, allow_null=True,
                                     whole=True) or None,
        rectify_within=r.number("criticism", "rectify_within_working_days", d.rectify_within, whole=True, minimum=Decimal(1)),
        praise_top=r.number("praise", "top", d.praise_top, whole=True),
        praise_require_achievement=r.flag("praise", "require_achievement", d.praise_require_achievement),
        report=report,
        source=source,
    )
