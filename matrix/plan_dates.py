"""Dates that make no sense for a plan: warnings, never refusals.

A plan's dates are read as written; some are still likely slips: a header dated 2100年7月14日 in a plan
about 2011 (seed part 4), a start years from the base year, a deadline before the plan starts or years
away from its base year. Each is said with the file:line it comes from, so the office can check it, and
nothing is changed or refused. Pure: the checks take the plan (or the years a text names) and the places
of its dates; ``matrix.loaders`` runs ``plan_date_warnings`` on every plan it loads and ``matrix.extract``
runs ``stray_year`` on a document's issue date.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from duban.matrix.model import Milestone, Plan

__all__ = ["YEARS_AWAY", "plan_date_warnings", "stray_year"]

#: A date more than this many years from the plan's base year is "years away".
YEARS_AWAY = 5


def _away(year: int, base_year: int) -> int:
    return abs(year - base_year) if abs(year - base_year) > YEARS_AWAY else 0


def stray_year(year: int, others: Iterable[int]) -> int | None:
    """The nearest of ``others`` when ``year`` is years away from every one of them, else None.

    A document dated 2100年7月14日 whose text names only 2011 gives 2011; one with no other year, or with
    a year near ``year``, gives None (nothing to compare, or nothing odd)."""
    known = sorted(set(others), key=lambda y: (abs(y - year), y))
    if not known or not _away(year, known[0]):
        return None
    return known[0]


def plan_date_warnings(plan: Plan, where: Mapping[str, str]) -> list[str]:
    """Warnings about the plan's own dates and its tasks' and stages' due dates.

    ``where`` gives the place of each date as ``file:line`` (``file row N`` in a sheet): ``"start"`` and
    ``"end"`` for the header, a task's or stage's code for its deadline; a missing place is the plan's file.
    One warning per task or stage: the first of its dates that makes no sense."""
    here = where.get("plan", plan.source)
    out: list[str] = []
    for name, day in (("start", plan.start), ("end", plan.end)):
        if day is not None and _away(day.year, plan.base_year):
            out.append(f"{where.get(name, here)}: the plan's {name} {day.isoformat()} is {_away(day.year, plan.base_year)} "
                       f"years from its base year {plan.base_year}: check the date (a slip such as 2100 for 2011?)")
    items = [("task", t.code, t.milestones) for t in plan.tasks] + [("stage", s.code, s.milestones) for s in plan.stages]
    for kind, code, milestones in items:
        said = _odd_milestone(plan, milestones)
        if said:
            out.append(f"{where.get(code, here)}: {kind} {code}: {said}")
    return out


def _odd_milestone(plan: Plan, milestones: Iterable[Milestone]) -> str:
    """What is odd about the first odd one of ``milestones`` (due before the plan starts, or years away)."""
    for m in milestones:
        shown = f"{m.label} ({m.due.isoformat()})" if m.label else m.due.isoformat()
        if plan.start is not None and m.due < plan.start:
            return f"the deadline {shown} is before the plan starts ({plan.start.isoformat()}): check the year"
        if _away(m.due.year, plan.base_year):
            return (f"the deadline {shown} is {_away(m.due.year, plan.base_year)} years from the plan's base year "
                    f"{plan.base_year}: check the year")
    return ""
