"""Status lights (``duban status``): each task's light, the worst of its open items', and each item's.

Reads the items the sweep supervises (``store.supervision.load_open_items``, closed ones too) and asks
the pure planner for each one's light at ``now``. Recurring obligations are shown up to the one
instance horizon (``matrix.vocabulary.INSTANCE_HORIZON``) ahead, as far as the sweep creates them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine

from duban.matrix.calendar import WorkCalendar
from duban.matrix.planner import StatusLight, SupervisedItem, light, worst
from duban.matrix.policy import PolicySet
from duban.matrix.vocabulary import INSTANCE_HORIZON, ItemKind, Light
from duban.store import repository as repo
from duban.store.db import transaction
from duban.store.supervision import ensure_instances, load_open_items
from duban.workflows.calendar_service import work_calendar


def status(engine: Engine, *, now: dt.datetime, policies: PolicySet, plan: str | None = None, unit: str | None = None,
           calendar: WorkCalendar | None = None) -> list[dict[str, Any]]:
    """Each task's light (its worst open item's) and each item's, at ``now``."""
    out = list(evaluate(engine, now=now, policies=policies, plan=plan, unit=unit, calendar=calendar).values())
    order = {Light.RED: 0, Light.YELLOW: 1, Light.GREEN: 2, Light.CLOSED: 3}
    out.sort(key=lambda r: (r["plan"], order[r["light"]], [int(x) if x.isdigit() else x for x in r["code"].split(".")]))
    return out


def evaluate(engine: Engine, *, now: dt.datetime, policies: PolicySet, plan: str | None = None, unit: str | None = None,
             task_ids: list[int] | None = None, calendar: WorkCalendar | None = None) -> dict[int, dict[str, Any]]:
    """``status``'s tasks by task id, of ``plan``, ``unit`` and ``task_ids`` when given (the stored lights
    are computed with it: ``lights_service``)."""
    today = now.date()
    cal = calendar or work_calendar(engine)
    with transaction(engine) as session:
        if unit is not None:
            task_ids = [tid for _, tid in repo.query_task_ids(session, plan_code=plan, unit=unit)
                        if task_ids is None or tid in task_ids]
        ensure_instances(session, through=today, calendar=cal)
        items = load_open_items(session, plan_code=plan, include_closed=True, task_ids=task_ids, as_of=today)
    by_task: dict[int, list[tuple[SupervisedItem, StatusLight]]] = defaultdict(list)
    for o in items:
        if o.item.kind == ItemKind.INSTANCE and o.item.due > today + INSTANCE_HORIZON:
            continue
        by_task[o.task_id].append((o, light(o.item, today, cal, policies.for_task(o.plan_code, o.task.code))))
    out: dict[int, dict[str, Any]] = {}
    for task_id, pairs in by_task.items():
        o0 = pairs[0][0]
        open_colours = [lt.colour for _, lt in pairs if lt.colour != Light.CLOSED]
        out[task_id] = {
            "plan": o0.plan_code, "code": o0.task.code, "title": o0.title, "lead_unit": o0.task.lead_unit,
            "co_lead_units": list(o0.task.co_lead_units), "light": worst(open_colours).value,
            "items": [{
                "kind": o.item.kind.value, "id": o.item.id, "due": o.item.due.isoformat(), "label": o.label,
                "ongoing": o.ongoing,
                "beneficiary": o.beneficiary, "min_amount": _num(o.item.min_amount), "done_amount": _num(o.item.done_amount),
                "quantity": _num(o.item.quantity), "measure": o.item.measure, "done_quantity": _num(o.item.done_quantity),
                "min_count": o.item.min_count, "done_count": o.item.done_count if o.item.kind == ItemKind.INSTANCE else None,
                "light": lt.colour.value, "reason": lt.reason.value, "working_days_overdue": lt.working_days_overdue,
                "working_days_left": lt.working_days_left, "expected": _num(lt.expected),
            } for o, lt in pairs],
        }
    return out


def _num(v: Decimal | None) -> int | float | None:
    if v is None:
        return None
    return int(v) if v == v.to_integral() else float(v)
