"""The supervision policy: when to remind, how often to chase, when to escalate to whom.

Read from ``config/policy.yaml`` (the packaged default), then the office's own policy file, each
able to override per plan and per task. Working days are counted on the official calendar.

    reminders:  {working_days_before: [5, 1], cc_supporting_units: true}
    chase:      {every_working_days: 3, repeats: 2, then_every_working_days: 5,
                 stop_after_last_level: true, cc_supporting_units: first}
    status:     {due_soon_working_days: 5, behind_pace_tolerance_percent: 10}
    escalation:
      - {level: 1, colour: 藍, after_working_days: 3,  to: [lead_unit_head]}
      - {level: 2, colour: 橙, after_working_days: 10, to: [lead_officials], cc: [office, supporting_units]}
      - {level: 3, colour: 紅, after_working_days: 20, to: [office_head, top_leader], cc: [supporting_units]}
    plans:
      district-2015:
        chase: {every_working_days: 2}
        tasks:
          "3.6": {escalation: [...]}

A chase series decays and ends: the first chase at 1 working day overdue, ``repeats`` more every
``every_working_days`` (1, 4, 7), then every ``then_every_working_days`` (12, 17, …), and none once the
item has reached its ladder's last level (``stop_after_last_level``). ``cc_supporting_units`` of a chase
is ``first`` (抄送 the supporting units on the series' first chase only; ``true`` means the same),
``every`` (every chase) or ``none`` (``false``).

``retention: {years_after_plan_end: 3}`` (whole-install) says how many years after a plan's end its evidence
files, stored messages and client addresses are kept before ``duban prune`` removes them; ``evidence``,
``messages`` and ``client_addresses`` may each name their own number of years.

Recipient roles: lead_unit, supporting_units, lead_unit_head, lead_officials, office, office_head,
top_leader. Pure: no clock, no database.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from duban.matrix.errors import ConfigError
from duban.matrix.vocabulary import LadderRole

ROLES = tuple(LadderRole)
TOP_KEYS = {"reminders", "chase", "status", "escalation", "plans", "reports", "links", "retention"}
REPORT_KEYS = {"require_approval"}  # reports: the weekly report's review (whole-install: not per plan)
LINK_KEYS = {"expire_days", "calendar_days"}  # links: the units' signed links in notices (whole-install)
DEFAULT_CALENDAR_DAYS = 400  # links.calendar_days: how long a link's read-only calendar feed is served
# retention: how long a plan's evidence and personal data are kept after its end (whole-install; `duban prune`)
RETENTION_KINDS = ("evidence", "messages", "client_addresses")
RETENTION_KEYS = {"years_after_plan_end", *RETENTION_KINDS}
MAX_RETENTION_YEARS = 100
OVERRIDE_KEYS = {"reminders", "chase", "status", "escalation"}
SECTION_KEYS = {
    "reminders": {"working_days_before", "cc_supporting_units"},
    "chase": {"every_working_days", "repeats", "then_every_working_days", "stop_after_last_level", "cc_supporting_units"},
    "status": {"due_soon_working_days", "behind_pace_tolerance_percent"},
}
# Whom of the supporting units a chase copies (抄送): the series' first chase only, every chase, none.
CHASE_CC = ("first", "every", "none")


@dataclass(frozen=True, slots=True)
class EscalationLevel:
    level: int
    after: int  # working days overdue
    colour: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "after_working_days": self.after, "colour": self.colour,
                "to": list(self.to), "cc": list(self.cc)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EscalationLevel:
        return cls(level=int(d["level"]), after=int(d["after_working_days"]), colour=str(d.get("colour") or ""),
                   to=tuple(d.get("to") or ()), cc=tuple(d.get("cc") or ()))


@dataclass(frozen=True, slots=True)
class Policy:
    reminder_days: tuple[int, ...] = (5, 1)
    reminder_cc_supporting: bool = True
    chase_every: int = 3  # working days between the first chases
    chase_repeats: int = 2  # chases after the first at that pace (1, 4, 7), then …
    chase_then_every: int = 5  # … every this many working days (12, 17, …)
    chase_stop_after_last_level: bool = True  # no chase once the ladder's last level is reached
    chase_cc_supporting: str = "first"  # one of CHASE_CC
    due_soon_days: int = 5
    pace_tolerance_percent: int = 10  # behind pace only when short of the linear pace by more than this share of the target
    ladder: tuple[EscalationLevel, ...] = (
        EscalationLevel(1, 3, "藍", ("lead_unit_head",)),
        EscalationLevel(2, 10, "橙", ("lead_officials",), ("office", "supporting_units")),
        EscalationLevel(3, 20, "紅", ("office_head", "top_leader"), ("supporting_units",)),
    )


@dataclass(frozen=True, slots=True)
class Retention:
    """Years after a plan's end that each kind of its data is kept (``retention:``): evidence files, stored
    messages (bytes and recipient addresses), client addresses in events. ``years`` is the default of all."""

    years: int = 3
    evidence: int = 3
    messages: int = 3
    client_addresses: int = 3

    def of(self, kind: str) -> int:
        """The years ``kind`` (one of RETENTION_KINDS) is kept after a plan's end."""
        if kind not in RETENTION_KINDS:
            raise KeyError(kind)
        return int(getattr(self, kind))


@dataclass(slots=True)
class PolicySet:
    """The default policy and its per-plan and per-task overrides, as raw mappings merged on demand."""

    base: dict[str, Any] = field(default_factory=dict)
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = "built-in defaults"
    _cache: dict[tuple[str, str], Policy] = field(default_factory=dict)

    def for_task(self, plan_code: str, task_code: str) -> Policy:
        """The policy in force for one task: its own overrides, else its plan's, else the base."""
        plan = self.plans.get(plan_code, {})
        key = (plan_code, task_code if task_code in plan.get("tasks", {}) else "")
        found = self._cache.get(key)
        if found is None:
            merged = merge_overrides(self.base, {k: v for k, v in plan.items() if k != "tasks"})
            if key[1]:
                merged = merge_overrides(merged, plan["tasks"][key[1]])
            found = self._cache[key] = _build(merged, self.source)
        return found

    def max_reminder_days(self) -> int:
        """The earliest reminder any plan or task asks for, in working days before due."""
        policies = [self.default(), *(self.for_task(p, t) for p, over in self.plans.items() for t in ["", *over.get("tasks", {})])]
        return max((d for pol in policies for d in pol.reminder_days), default=0)

    def default(self) -> Policy:
        return _build(self.base, self.source)

    @property
    def require_report_approval(self) -> bool:
        """``reports.require_approval``: the weekly job writes the report as a draft, mailed only once a
        supervisor approves it (default false: mailed as it is written)."""
        return _report_approval(self.base, self.source)

    @property
    def link_expire_days(self) -> int:
        """``links.expire_days``: a unit's signed link works this many days from the day its notice was
        planned (default 30)."""
        return _link_expiry(self.base, self.source)

    @property
    def link_calendar_days(self) -> int:
        """``links.calendar_days``: a link's read-only calendar feed (``/u/{token}/calendar.ics``) is served this
        many days from the link's day (default 400), so a subscription outlives the link's actions; never fewer
        days than ``links.expire_days``. A revoked or tampered link gets no feed whatever its age."""
        return _link_calendar_days(self.base, self.source)

    @property
    def retention(self) -> Retention:
        """``retention:``: years after a plan's end its evidence and personal data are kept (default 3 each)."""
        return _retention(self.base, self.source)


def _retention(base: dict[str, Any], where: str) -> Retention:
    section = base.get("retention") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: retention must be a mapping such as {{years_after_plan_end: 3}}")
    _check_keys(section, RETENTION_KEYS, f"{where} retention")

    def years(key: str, default: int) -> int:
        n = _positive_int(section.get(key, default), f"{where}: retention.{key}", allow_zero=True)
        if n > MAX_RETENTION_YEARS:
            raise ConfigError(f"{where}: retention.{key} must be at most {MAX_RETENTION_YEARS} years, not {n}")
        return n

    default = years("years_after_plan_end", 3)
    return Retention(default, **{kind: years(kind, default) for kind in RETENTION_KINDS})


def _report_approval(base: dict[str, Any], where: str) -> bool:
    section = base.get("reports") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: reports must be a mapping such as {{require_approval: true}}")
    _check_keys(section, REPORT_KEYS, f"{where} reports")
    return _flag(section.get("require_approval", False), f"{where}: reports.require_approval")


def _link_expiry(base: dict[str, Any], where: str) -> int:
    section = base.get("links") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: links must be a mapping such as {{expire_days: 30}}")
    _check_keys(section, LINK_KEYS, f"{where} links")
    days = _positive_int(section.get("expire_days", 30), f"{where}: links.expire_days")
    if days > 3660:
        raise ConfigError(f"{where}: links.expire_days must be at most 3660 days (ten years), not {days}")
    return days


def _link_calendar_days(base: dict[str, Any], where: str) -> int:
    expire = _link_expiry(base, where)
    section = base.get("links") or {}
    days = _positive_int(section.get("calendar_days", DEFAULT_CALENDAR_DAYS), f"{where}: links.calendar_days")
    if days > 3660:
        raise ConfigError(f"{where}: links.calendar_days must be at most 3660 days (ten years), not {days}")
    if "calendar_days" in section and days < expire:
        raise ConfigError(f"{where}: links.calendar_days ({days}) must be at least links.expire_days ({expire}): "
                          "the calendar feed may outlive a link's actions, not end before them")
    return max(days, expire)


def merge_overrides(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """A config mapping with ``over`` laid on ``base``: sections (mappings) merge key by key."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = {**out[k], **v}
        else:
            out[k] = copy.deepcopy(v)
    return out


def _positive_int(value: Any, where: str, allow_zero: bool = False) -> int:
    try:
        n = int(str(value))
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not a whole number") from None
    if n < 0 or (n == 0 and not allow_zero):
        raise ConfigError(f"{where}: {value!r} must be {'zero or more' if allow_zero else 'at least 1'}")
    return n


def _flag(value: Any, where: str) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise ConfigError(f"{where}: {value!r} is not true or false")


def _chase_cc(value: Any, where: str) -> str:
    """A chase's ``cc_supporting_units``: first | every | none; true (as old files say) is first, false none."""
    text = str(value).strip().lower()
    if text in CHASE_CC:
        return text
    try:
        return "first" if _flag(value, where) else "none"
    except ConfigError:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(CHASE_CC)} (or true = first, false = none)") from None


def _chase(chase: dict[str, Any], d: Policy, where: str) -> dict[str, Any]:
    """The chase series' fields of a Policy from the ``chase`` section (defaults from ``d``)."""
    return dict(
        chase_every=_positive_int(chase.get("every_working_days", d.chase_every), f"{where}: chase.every_working_days"),
        chase_repeats=_positive_int(chase.get("repeats", d.chase_repeats), f"{where}: chase.repeats", allow_zero=True),
        chase_then_every=_positive_int(chase.get("then_every_working_days", d.chase_then_every),
                                       f"{where}: chase.then_every_working_days"),
        chase_stop_after_last_level=_flag(chase.get("stop_after_last_level", d.chase_stop_after_last_level),
                                          f"{where}: chase.stop_after_last_level"),
        chase_cc_supporting=_chase_cc(chase.get("cc_supporting_units", d.chase_cc_supporting), f"{where}: chase.cc_supporting_units"),
    )


def _ladder(ladder_raw: Any, where: str) -> tuple[EscalationLevel, ...]:
    """The escalation ladder from its list of levels, checked: known roles, levels in order of days."""
    if not isinstance(ladder_raw, list):
        raise ConfigError(f"{where}: escalation must be a list of levels")
    levels = []
    for item in ladder_raw:
        if not isinstance(item, dict) or "level" not in item or "after_working_days" not in item:
            raise ConfigError(f"{where}: each escalation level needs level and after_working_days, got {item!r}")
        for role in [*(item.get("to") or []), *(item.get("cc") or [])]:
            if role not in ROLES:
                raise ConfigError(f"{where}: escalation level {item['level']}: unknown recipient role {role!r}; "
                                  f"roles are {', '.join(ROLES)}")
        levels.append(EscalationLevel(
            level=_positive_int(item["level"], f"{where}: escalation level"),
            after=_positive_int(item["after_working_days"], f"{where}: escalation after_working_days"),
            colour=str(item.get("colour") or ""), to=tuple(item.get("to") or ()), cc=tuple(item.get("cc") or ())))
    levels.sort(key=lambda lv: lv.level)
    for a, b in zip(levels, levels[1:]):
        if b.after < a.after or b.level == a.level:
            raise ConfigError(f"{where}: escalation level {b.level} must come after level {a.level} "
                              "(higher levels need more working days overdue)")
    return tuple(levels)


def _section(raw: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    """One section (reminders, chase, status) of a merged policy: a mapping of known keys."""
    section = raw.get(name) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: {name} must be a mapping such as {{{sorted(SECTION_KEYS[name])[0]}: …}}")
    for key in section:
        if key not in SECTION_KEYS[name]:
            raise ConfigError(f"{where}: unknown policy key {name}.{key!s}; keys of {name} are {', '.join(sorted(SECTION_KEYS[name]))}")
    return section


def _build(raw: dict[str, Any], source: str) -> Policy:
    d = Policy()
    where = f"{source}"
    rem, chase, status = (_section(raw, name, where) for name in ("reminders", "chase", "status"))
    days = rem.get("working_days_before", list(d.reminder_days))
    if not isinstance(days, list):
        raise ConfigError(f"{where}: reminders.working_days_before must be a list such as [5, 1]")
    reminder_days = tuple(sorted({_positive_int(x, f"{where}: reminders.working_days_before", allow_zero=True) for x in days}, reverse=True))
    ladder_raw = raw.get("escalation")
    return Policy(
        reminder_days=reminder_days,
        reminder_cc_supporting=_flag(rem.get("cc_supporting_units", d.reminder_cc_supporting), f"{where}: reminders.cc_supporting_units"),
        **_chase(chase, d, where),
        due_soon_days=_positive_int(status.get("due_soon_working_days", d.due_soon_days), f"{where}: status.due_soon_working_days", allow_zero=True),
        pace_tolerance_percent=_positive_int(status.get("behind_pace_tolerance_percent", d.pace_tolerance_percent),
                                             f"{where}: status.behind_pace_tolerance_percent", allow_zero=True),
        ladder=d.ladder if ladder_raw is None else _ladder(ladder_raw, where),
    )


def _check_keys(mapping: dict[str, Any], allowed: set[str], where: str) -> None:
    for key in mapping:
        if key not in allowed:
            line = getattr(mapping, "lines", {}).get(key)
            at = f":{line}" if line else ""
            raise ConfigError(f"{where}{at}: unknown policy key {key!r}; keys are {', '.join(sorted(allowed))}")


def load_policy(*paths: Path) -> PolicySet:
    """Merge policy files in order (later files override earlier ones); missing files are skipped."""
    from duban.matrix.sources import config_files

    policy = PolicySet()
    used: list[str] = []
    for path, raw in config_files(paths, what="policy"):
        _check_keys(raw, TOP_KEYS, str(path))
        for plan_code, plan_over in (raw.get("plans") or {}).items():
            _check_keys(plan_over, OVERRIDE_KEYS | {"tasks"}, f"{path} plans.{plan_code}")
            for task_code, task_over in (plan_over.get("tasks") or {}).items():
                _check_keys(task_over, OVERRIDE_KEYS, f"{path} plans.{plan_code}.tasks.{task_code}")
            current = policy.plans.setdefault(str(plan_code), {})
            tasks = {**current.get("tasks", {}), **(plan_over.get("tasks") or {})}
            policy.plans[str(plan_code)] = {**merge_overrides(current, {k: v for k, v in plan_over.items() if k != "tasks"}), "tasks": tasks}
        policy.base = merge_overrides(policy.base, {k: v for k, v in raw.items() if k != "plans"})
        used.append(str(path))
    policy.source = " + ".join(used) or "built-in defaults"
    policy.default()  # validate the base now, so a broken file fails at start, not mid-sweep
    _report_approval(policy.base, policy.source)
    _link_expiry(policy.base, policy.source)
    _link_calendar_days(policy.base, policy.source)
    _retention(policy.base, policy.source)
    for plan_code, over in policy.plans.items():
        for task_code in ["", *over.get("tasks", {})]:
            policy.for_task(plan_code, task_code)
    return policy
