"""Letters and criticisms per unit over a replay: how much mail each unit got and how long it was criticised.

``letter_stats(engine, criticisms=…)`` reads the store: every notice message that went out (a digest or a
per-notice mail; the weekly report's own message is not a letter to a unit), the units' addresses (the
unit's own and its head's), which units lead a task and which only support, and the level-3 escalations
sent. ``criticisms`` is what the weekly reports circulated (day → units criticised; the reports are files,
not rows, so whoever wrote them passes them in — ``duban demo`` does). The numbers judge a replay:
letters per unit and per working week, the most to one unit, the most to a unit that only supports,
and each unit's longest run of consecutive weekly criticisms with whether a level-3 escalation about a
task it leads had gone to the leaders before that run passed ``STREAK_LIMIT`` weeks.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from duban.matrix.calendar import WorkCalendar
from duban.matrix.script import unit_key
from duban.store.tables import DeliveryRow, MessageRow, NoticeRow, SweepRow, TaskRow, TaskUnitRow, UnitRow

STREAK_LIMIT = 8  # weeks of criticism in a row before the unit's level-3 escalation must have gone out


def _columns(row: Any) -> Any:
    """A table's columns (``sa.Column`` objects, as SQL expressions rather than the model's field types)."""
    return row.__table__.c


@dataclass(frozen=True)
class UnitStats:
    unit: str
    letters: int  # messages addressed To or Cc one of the unit's addresses (its own or its head's)
    to: int  # … of which To (主送)
    cc: int  # … of which only Cc (抄送)
    per_week: float  # letters per working week of the replay
    supporting_only: bool  # leads no task, supports some
    office: bool  # the supervising office itself
    criticised: int  # weekly reports that criticised it
    streak: int  # its longest run of consecutive weekly criticisms
    streak_from: dt.date | None
    level3_sent: dt.date | None  # the first level-3 escalation about a task it leads that went out (its day)
    level3_in_time: bool | None  # for a run longer than STREAK_LIMIT: that escalation went out before it passed it


@dataclass(frozen=True)
class LetterStats:
    start: dt.date | None  # the replay's first and last sweep day
    end: dt.date | None
    working_weeks: int
    units: tuple[UnitStats, ...]  # most letters first

    def _top(self, rows: Iterable[UnitStats], key) -> UnitStats | None:
        return max(rows, key=key, default=None)

    def summary(self) -> dict[str, Any]:
        """The headline numbers, as the targets are stated."""
        units = [u for u in self.units if not u.office]
        most = self._top(units, lambda u: (u.letters, u.unit))
        support = self._top((u for u in units if u.supporting_only), lambda u: (u.letters, u.unit))
        streak = self._top(self.units, lambda u: (u.streak, u.unit))
        late = [u.unit for u in self.units if u.streak > STREAK_LIMIT and not u.level3_in_time]
        return {
            "letters": sum(u.letters for u in units), "units_with_letters": sum(1 for u in units if u.letters),
            "most": most.letters if most else 0, "most_unit": most.unit if most else "",
            "max_per_week": max((u.per_week for u in units), default=0.0),
            "supporting_only_max": support.letters if support else 0, "supporting_only_unit": support.unit if support else "",
            "criticisms": sum(u.criticised for u in self.units),
            "criticised_units": sum(1 for u in self.units if u.criticised),
            "longest_streak": streak.streak if streak else 0, "longest_streak_unit": streak.unit if streak and streak.streak else "",
            "over_limit_without_level3": late, "office_letters": sum(u.letters for u in self.units if u.office),
            "working_weeks": self.working_weeks,
        }

    def totals_line(self) -> str:
        s = self.summary()
        line = (f"letters: {s['letters']} to {s['units_with_letters']} units, most {s['most']} to {s['most_unit']} "
                f"(max {s['max_per_week']:.2f} per working week over {s['working_weeks']}); "
                f"supporting-only units: max {s['supporting_only_max']}"
                f"{' (' + s['supporting_only_unit'] + ')' if s['supporting_only_unit'] else ''}; "
                f"criticisms: {s['criticisms']} to {s['criticised_units']} units, longest run {s['longest_streak']} weeks")
        if s["longest_streak_unit"]:
            line += f" ({s['longest_streak_unit']})"
        if s["over_limit_without_level3"]:
            line += f"; over {STREAK_LIMIT} weeks without a level-3 escalation first: {', '.join(s['over_limit_without_level3'])}"
        return line

    def to_json(self) -> dict[str, Any]:
        def row(u: UnitStats) -> dict[str, Any]:
            d = asdict(u)
            d["streak_from"] = u.streak_from.isoformat() if u.streak_from else None
            d["level3_sent"] = u.level3_sent.isoformat() if u.level3_sent else None
            d["per_week"] = round(u.per_week, 3)
            return d

        return {"start": self.start.isoformat() if self.start else None, "end": self.end.isoformat() if self.end else None,
                "working_weeks": self.working_weeks, "summary": self.summary(), "units": [row(u) for u in self.units]}


def working_weeks(start: dt.date | None, end: dt.date | None, calendar: WorkCalendar) -> int:
    """Calendar weeks (Monday to Sunday) from ``start`` to ``end`` with at least one working day."""
    if start is None or end is None:
        return 0
    weeks = set()
    day = start
    while day <= end:
        if calendar.is_working_day(day):
            weeks.add(day - dt.timedelta(days=day.weekday()))
        day += dt.timedelta(days=1)
    return len(weeks)


def longest_run(days: Iterable[dt.date]) -> tuple[int, dt.date | None]:
    """The longest run of report days a week apart (consecutive weekly reports), and its first day."""
    best, best_from, run, run_from, last = 0, None, 0, None, None
    for day in sorted(set(days)):
        if last is not None and (day - last).days <= 7:
            run += 1
        else:
            run, run_from = 1, day
        if run > best:
            best, best_from = run, run_from
        last = day
    return best, best_from


def _letters(conn: Any) -> tuple[dict[str, set[int]], dict[str, set[int]]]:
    """Address → the notice messages sent To it, and those sent Cc it (from the deliveries they carry)."""
    to: dict[str, set[int]] = defaultdict(set)
    cc: dict[str, set[int]] = defaultdict(set)
    d, m = _columns(DeliveryRow), _columns(MessageRow)
    rows = conn.execute(sa.select(m.id, d.address, d.is_cc).join(m.id.table, m.id == d.message_pk)
                        .where(m.status == "sent", sa.not_(m.key.like("report:%")))).all()
    for message, address, is_cc in rows:
        (cc if is_cc else to)[(address or "").strip().lower()].add(message)
    return to, cc


def _level3_sent(conn: Any) -> dict[int, dt.date]:
    """Unit id → the day of the first level-3 (or higher) escalation about a task it leads that went out:
    its issue day (the day it was planned for, or the later day a catching-up sweep wrote it)."""
    n, d, t, w = (_columns(r) for r in (NoticeRow, DeliveryRow, TaskRow, SweepRow))
    issued = sa.case((w.as_of > n.planned_for, w.as_of), else_=n.planned_for)
    rows = conn.execute(sa.select(t.lead_unit_id, sa.func.min(issued)).select_from(n.id.table).join(t.id.table, t.id == n.task_id)
                        .outerjoin(w.id.table, w.id == n.sweep_id)
                        .where(n.kind == "escalation", n.level >= 3,
                               sa.exists().where(d.notice_id == n.id, d.status == "sent"))
                        .group_by(t.lead_unit_id)).all()
    return {unit: _day(day) for unit, day in rows if unit is not None}


def _day(value: Any) -> dt.date:
    """A day as SQLite returns it from an expression (text) or as PostgreSQL does (a date)."""
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def letter_stats(engine: Engine, *, criticisms: Mapping[dt.date, Iterable[str]] | None = None,
                 calendar: WorkCalendar | None = None) -> LetterStats:
    """Per unit: letters received, letters per working week, supporting-only, criticisms and their longest
    run, and whether its level-3 escalation went out in time (see the module doc)."""
    cal = calendar or WorkCalendar()
    unit, task, task_unit, sweeps = (_columns(r) for r in (UnitRow, TaskRow, TaskUnitRow, SweepRow))
    with engine.connect() as conn:
        first, last = conn.execute(sa.select(sa.func.min(sweeps.as_of), sa.func.max(sweeps.as_of))).one()
        start, end = (_day(first) if first else None), (_day(last) if last else None)
        units = conn.execute(sa.select(unit.id, unit.name, unit.emails, unit.head_email, unit.is_office)).all()
        leads = {u for (u,) in conn.execute(sa.select(task.lead_unit_id).distinct())}
        supports = {u for (u,) in conn.execute(sa.select(task_unit.unit_id).distinct())}
        to, cc = _letters(conn)
        level3 = _level3_sent(conn)
    weeks = working_weeks(start, end, cal)
    criticised: dict[str, list[dt.date]] = defaultdict(list)
    for day, names in (criticisms or {}).items():
        for name in names:
            criticised[unit_key(name)].append(day)
    out = []
    for u in units:
        addresses = {a.strip().lower() for a in [*(u.emails or []), u.head_email or ""] if a and a.strip()}
        got_to = set().union(*(to.get(a, set()) for a in addresses))
        got = got_to | set().union(*(cc.get(a, set()) for a in addresses))
        days = criticised.get(unit_key(u.name), [])
        streak, streak_from = longest_run(days)
        sent = level3.get(u.id)
        in_time = None
        if streak > STREAK_LIMIT and streak_from is not None:
            in_time = sent is not None and sent <= streak_from + dt.timedelta(weeks=STREAK_LIMIT)
        out.append(UnitStats(unit=u.name, letters=len(got), to=len(got_to), cc=len(got - got_to),
                             per_week=len(got) / weeks if weeks else 0.0,
                             supporting_only=u.id in supports and u.id not in leads, office=bool(u.is_office),
                             criticised=len(set(days)), streak=streak, streak_from=streak_from, level3_sent=sent,
                             level3_in_time=in_time))
    out.sort(key=lambda s: (-s.letters, -s.streak, s.unit))
    return LetterStats(start=start, end=end, working_weeks=weeks, units=tuple(out))
