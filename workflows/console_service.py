"""What the console's overview shows, per plan: tasks by light, this week's due items, overdue items by
working days, escalations by level, notices held and mail not delivered. Pages call this; it calls the
services the CLI uses (status) and reads counts with one grouped query each."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from duban.store.db import transaction
from duban.store.tables import MessageRow, NoticeRow, PlanRow
from duban.workflows.status_service import status

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from duban.matrix.calendar import WorkCalendar
    from duban.matrix.policy import PolicySet

LIGHTS = ("red", "yellow", "green", "closed", "ongoing")
OVERDUE_BUCKETS = ((1, 5), (6, 20), (21, None))  # working days overdue


def _bucket(days: int) -> str:
    for low, high in OVERDUE_BUCKETS:
        if days >= low and (high is None or days <= high):
            return f"{low}-{high}" if high else f"{low}+"
    return "0"


def _plan_lights(rows: list[dict[str, Any]], today: dt.date) -> dict[str, Any]:
    week_start = today - dt.timedelta(days=today.weekday())
    week_end = week_start + dt.timedelta(days=6)
    lights: Counter[str] = Counter()
    overdue: Counter[str] = Counter()
    due_this_week = 0
    for task in rows:
        open_items = [i for i in task["items"] if i["light"] != "closed"]
        ongoing = bool(open_items) and all(i["ongoing"] for i in open_items)
        lights["ongoing" if ongoing and task["light"] == "green" else task["light"]] += 1
        for item in open_items:
            if week_start.isoformat() <= item["due"] <= week_end.isoformat():
                due_this_week += 1
            if item["working_days_overdue"]:
                overdue[_bucket(item["working_days_overdue"])] += 1
    return {"tasks": len(rows), "lights": {k: lights.get(k, 0) for k in LIGHTS}, "due_this_week": due_this_week,
            "overdue": {_bucket(low): overdue.get(_bucket(low), 0) for low, _ in OVERDUE_BUCKETS}}


def overview(engine: Engine, *, now: dt.datetime, policies: PolicySet, calendar: WorkCalendar,
             plans: list[str]) -> dict[str, Any]:
    """The overview of ``plans`` (the codes the user may see) at ``now``."""
    today = now.date()
    result: dict[str, Any] = {"today": today.isoformat(), "plans": []}
    with transaction(engine) as s:
        titles = dict(s.execute(sa.select(PlanRow.code, PlanRow.title).where(PlanRow.code.in_(plans))).all())
        escalations = Counter({(code, level): n for code, level, n in s.execute(
            sa.select(PlanRow.code, NoticeRow.level, sa.func.count()).select_from(NoticeRow).join(PlanRow, PlanRow.id == NoticeRow.plan_id)
            .where(NoticeRow.kind == "escalation", PlanRow.code.in_(plans))
            .group_by(PlanRow.code, NoticeRow.level)).all()})
        held = dict(s.execute(
            sa.select(PlanRow.code, sa.func.count()).select_from(NoticeRow).join(PlanRow, PlanRow.id == NoticeRow.plan_id)
            .where(NoticeRow.status.in_(("held", "failed")), PlanRow.code.in_(plans)).group_by(PlanRow.code)).all())
        result["mail"] = dict(s.execute(sa.select(MessageRow.status, sa.func.count()).group_by(MessageRow.status)).all())
    for code in plans:
        rows = status(engine, now=now, policies=policies, plan=code, calendar=calendar)
        entry = {"code": code, "title": titles.get(code, code), **_plan_lights(rows, today),
                 "escalations": {lv: escalations.get((code, lv), 0) for lv in (1, 2, 3)},
                 "held_notices": held.get(code, 0)}
        result["plans"].append(entry)
    return result
