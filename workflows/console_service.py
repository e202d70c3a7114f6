"""What the console's overview shows, per plan: tasks by light, this week's due items, overdue items by
working days, escalations by level, notices held and mail not delivered. Pages call this. Lights and
counts are read from the stored lights (``lights_service``, brought up to date first), with one grouped
query per figure, whatever the plan's size."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from duban.store.db import transaction
from duban.store.tables import ItemLightRow, MessageRow, NoticeRow, PlanRow, TaskLightRow
from duban.workflows.lights_service import fresh

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from duban.matrix.calendar import WorkCalendar
    from duban.matrix.policy import PolicySet

LIGHTS = ("red", "yellow", "green", "closed", "ongoing")
OVERDUE_BUCKETS = ((1, 5), (6, 20), (21, None))  # working days overdue


def bucket_name(low: int, high: int | None) -> str:
    return f"{low}-{high}" if high else f"{low}+"


def _by_plan(s: Any, query: Any) -> dict[Any, int]:
    return {tuple(row[:-1]) if len(row) > 2 else row[0]: row[-1] for row in s.execute(query).all()}


def _counts(s: Any, plan_ids: list[int], today: dt.date) -> dict[str, dict[Any, int]]:
    week_start = today - dt.timedelta(days=today.weekday())
    open_item = [ItemLightRow.plan_id.in_(plan_ids), ItemLightRow.light != "closed"]
    days = ItemLightRow.working_days_overdue
    overdue: dict[int, list[int]] = {}
    for plan_id, n_days, n in s.execute(  # counted per day on the index (plan, days, light); bucketed here
            sa.select(ItemLightRow.plan_id, days, sa.func.count()).where(*open_item, days >= OVERDUE_BUCKETS[0][0])
            .group_by(ItemLightRow.plan_id, days)).all():
        counts = overdue.setdefault(plan_id, [0] * len(OVERDUE_BUCKETS))
        for k, (low, high) in enumerate(OVERDUE_BUCKETS):
            if n_days >= low and (high is None or n_days <= high):
                counts[k] += n
    return {
        "lights": _by_plan(s, sa.select(TaskLightRow.plan_id, TaskLightRow.light, sa.func.count())
                           .where(TaskLightRow.plan_id.in_(plan_ids)).group_by(TaskLightRow.plan_id, TaskLightRow.light)),
        "week": _by_plan(s, sa.select(ItemLightRow.plan_id, sa.func.count()).where(
            *open_item, ItemLightRow.due.between(week_start, week_start + dt.timedelta(days=6))).group_by(ItemLightRow.plan_id)),
        "escalations": _by_plan(s, sa.select(NoticeRow.plan_id, NoticeRow.level, sa.func.count())
                                .where(NoticeRow.kind == "escalation", NoticeRow.plan_id.in_(plan_ids))
                                .group_by(NoticeRow.plan_id, NoticeRow.level)),
        "held": _by_plan(s, sa.select(NoticeRow.plan_id, sa.func.count())
                         .where(NoticeRow.status.in_(("held", "failed")), NoticeRow.plan_id.in_(plan_ids))
                         .group_by(NoticeRow.plan_id)),
        "overdue": overdue,  # type: ignore[dict-item]
    }


RANKED_SHOWN = (10, 3)  # the overview's ranking: the first ten units and the last three (the report has all)


def ranking(engine: Engine, *, today: dt.date, plans: list[str], every_plan: bool) -> dict[str, Any] | None:
    """Units ranked by the score of the newest weekly report up to ``today`` (as written: ``report_score``):
    the report of every plan when ``every_plan`` (a user of every office), else the newest report of one of
    ``plans``. ``{as_of, scope, ranked, shown: [{unit, score, rank}], left_out}``: the first and the last
    units (``RANKED_SHOWN``), with how many are left out between them; None before the first report."""
    from duban.store.report_scores import newest_board

    board = newest_board(engine, until=today, scopes=[*([""] if every_plan else []), *plans])
    if board is None:
        return None
    ranked = [u for u in board["units"] if u["rank"] is not None]
    first, last = RANKED_SHOWN
    shown = ranked if len(ranked) <= first + last else ranked[:first] + ranked[-last:]
    return {"as_of": board["as_of"].isoformat(), "scope": board["scope"], "ranked": len(ranked),
            "shown": [{**u, "score": _plain(u["score"])} for u in shown], "left_out": len(ranked) - len(shown),
            "cut": first if len(shown) < len(ranked) else None}


def _plain(value: Any) -> str:
    """A stored score as the report prints it: 95, 87.5 (no trailing zeros)."""
    from decimal import Decimal

    d = Decimal(value).normalize()
    return format(d.quantize(Decimal(1)) if d == d.to_integral() else d, "f")


def overview(engine: Engine, *, now: dt.datetime, policies: PolicySet, calendar: WorkCalendar,
             plans: list[str], every_plan: bool = True) -> dict[str, Any]:
    """The overview of ``plans`` (the codes the user may see) at ``now``; ``every_plan``: the user sees every
    office's plans (the ranking of the report of every plan is theirs to see)."""
    today = now.date()
    fresh(engine, now=now, policies=policies, calendar=calendar, plans=plans)
    with transaction(engine) as s:
        rows = s.execute(sa.select(PlanRow.id, PlanRow.code, PlanRow.title).where(PlanRow.code.in_(plans))
                         .order_by(PlanRow.code)).all()
        c = _counts(s, [r.id for r in rows], today)
        mail = dict(s.execute(sa.select(MessageRow.status, sa.func.count()).group_by(MessageRow.status)).all())
    result: dict[str, Any] = {"today": today.isoformat(), "plans": [], "mail": mail,
                              "ranking": ranking(engine, today=today, plans=plans, every_plan=every_plan) if plans else None}
    for plan_id, code, title in rows:
        lights = {k: c["lights"].get((plan_id, k), 0) for k in LIGHTS}
        overdue = c["overdue"].get(plan_id, [0] * len(OVERDUE_BUCKETS))
        result["plans"].append({
            "code": code, "title": title, "tasks": sum(lights.values()), "lights": lights,
            "due_this_week": c["week"].get(plan_id, 0),
            "overdue": {bucket_name(low, high): n for (low, high), n in zip(OVERDUE_BUCKETS, overdue, strict=True)},
            "escalations": {lv: c["escalations"].get((plan_id, lv), 0) for lv in (1, 2, 3)},
            "held_notices": c["held"].get(plan_id, 0)})
    return result
