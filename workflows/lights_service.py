"""Stored lights: each task's and each item's light as of a day, kept so the console's pages count and
filter on them instead of counting working days for every item on every request.

They are computed by the same planner as ``duban status`` (``status_service.evaluate``) and stored per
plan with what they were computed from (``light_state``): the day, the last event seen, and a stamp of
the rules and the calendar. ``fresh`` brings a plan's lights up to date before a page reads them:

- a new day, other rules or another calendar: the plan is computed again, whole;
- events since the last mark (progress reported, a task closed, an extension decided, a re-import): only
  the tasks those events name are computed again (an event naming the plan and no task: the plan);
- nothing moved: nothing is computed.

The sweep job refreshes every plan after it runs, so the morning's first page reads stored rows. A task's
row also holds its code as a sortable key (``order_key``: 3.2.10 after 3.2.9) and how many items it has,
open and of each kind, so the task list filters, sorts and pages in SQL (``task_pages_service``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from duban.store.db import transaction
from duban.store.tables import EventRow, ItemLightRow, LightStateRow, PlanRow, TaskLightRow
from duban.workflows.calendar_service import calendar_stamp
from duban.workflows.status_service import evaluate

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from duban.matrix.calendar import WorkCalendar
    from duban.matrix.policy import PolicySet


def _rules_mark(stamp: tuple[int | None, ...], policies: PolicySet, plan: str) -> str:
    """The rules and calendar a plan's lights were computed with; ``stamp``: ``calendar_stamp`` (read once
    per call of ``fresh``, not once per plan)."""
    text = json.dumps([policies.base, policies.plans.get(plan, {}), list(stamp)],
                      sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def order_key(code: str) -> str:
    """A task code as text that sorts as ``matrix.scoring.board.task_order`` does (3.2.10 after 3.2.9, 3.2
    before 3.2.1): a number part is its digit count then its digits; another part is itself, ended by a
    character below any it holds, so a shorter part sorts first."""
    out = []
    for part in code.split("."):
        if part.isascii() and part.isdigit():
            digits = str(int(part))
            out.append(f"0{len(digits):02d}{digits}")
        else:
            out.append(f"1{part}\x01")
    return "".join(out)


def _rows(evaluated: dict[int, Any], plan_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """item_light and task_light rows from ``status_service.evaluate``'s tasks."""
    items, tasks = [], []
    for task_id, task in evaluated.items():
        open_items = [i for i in task["items"] if i["light"] != "closed"]
        for i in task["items"]:
            items.append({"plan_id": plan_id, "task_id": task_id, "item_kind": i["kind"], "item_id": i["id"],
                          "light": i["light"], "ongoing": bool(i["ongoing"]), "due": dt.date.fromisoformat(i["due"]),
                          "working_days_overdue": i["working_days_overdue"] or 0})
        ongoing = bool(open_items) and all(i["ongoing"] for i in open_items) and task["light"] == "green"
        tasks.append({"task_id": task_id, "plan_id": plan_id, "light": "ongoing" if ongoing else task["light"],
                      "next_due": min((dt.date.fromisoformat(i["due"]) for i in open_items), default=None),
                      "working_days_overdue": max((i["working_days_overdue"] or 0 for i in open_items), default=0),
                      "order_key": order_key(task["code"]), "items": len(task["items"]), "open_items": len(open_items),
                      "milestones": sum(i["kind"] == "milestone" for i in task["items"]),
                      "open_milestones": sum(i["kind"] == "milestone" for i in open_items)})
    return items, tasks


def refresh(engine: Engine, *, now: dt.datetime, policies: PolicySet, calendar: WorkCalendar, plan: str,
            task_ids: list[int] | None = None) -> int:
    """Compute and store the lights of ``plan`` (of ``task_ids`` only, when given) at ``now``; returns the
    number of tasks stored. The state's event mark is the last event before the computation began."""
    with transaction(engine) as s:
        mark = s.execute(sa.select(sa.func.max(EventRow.id))).scalar() or 0
        plan_id = s.execute(sa.select(PlanRow.id).where(PlanRow.code == plan)).scalar_one()
    evaluated = evaluate(engine, now=now, policies=policies, plan=plan, task_ids=task_ids, calendar=calendar)
    items, tasks = _rows(evaluated, plan_id)
    try:
        with transaction(engine) as s:
            conn = s.connection()
            for table in (ItemLightRow.__table__, TaskLightRow.__table__):
                where = [table.c.plan_id == plan_id] + ([table.c.task_id.in_(task_ids)] if task_ids is not None else [])
                conn.execute(sa.delete(table).where(*where))
            if items:
                conn.execute(sa.insert(ItemLightRow.__table__), items)
            if tasks:
                conn.execute(sa.insert(TaskLightRow.__table__), tasks)
            state = s.get(LightStateRow, plan_id)
            if state is None:
                state = LightStateRow(plan_id=plan_id, as_of=now.date())
                s.add(state)
            if task_ids is None:
                state.as_of, state.rules_mark = now.date(), _rules_mark(calendar_stamp(engine), policies, plan)
            state.event_mark = max(state.event_mark, mark) if task_ids is not None else mark
    except sa.exc.IntegrityError:
        return 0  # another process stored the same lights at the same moment
    return len(tasks)


def fresh(engine: Engine, *, now: dt.datetime, policies: PolicySet, calendar: WorkCalendar, plans: list[str]) -> None:
    """Bring the stored lights of ``plans`` up to date at ``now`` (see the module's docstring)."""
    with transaction(engine) as s:
        ids = dict(s.execute(sa.select(PlanRow.code, PlanRow.id).where(PlanRow.code.in_(plans))).all())
        states = {r.plan_id: (r.as_of, r.event_mark, r.rules_mark)
                  for r in s.execute(sa.select(LightStateRow).where(LightStateRow.plan_id.in_(ids.values()))).scalars()}
        low = min((m for _, m, _ in states.values()), default=0)
        moved = s.execute(sa.select(EventRow.id, EventRow.plan_id, EventRow.task_id)
                          .where(EventRow.id > low, EventRow.plan_id.in_(ids.values()))).all()
    stamp = calendar_stamp(engine)
    for code, plan_id in ids.items():
        state = states.get(plan_id)
        if state is None or state[0] != now.date() or state[2] != _rules_mark(stamp, policies, code):
            refresh(engine, now=now, policies=policies, calendar=calendar, plan=code)
            continue
        events = [(t, i) for i, p, t in moved if p == plan_id and i > state[1]]
        if any(t is None for t, _ in events):
            refresh(engine, now=now, policies=policies, calendar=calendar, plan=code)
        elif events:
            refresh(engine, now=now, policies=policies, calendar=calendar, plan=code,
                    task_ids=sorted({t for t, _ in events}))


def refresh_all(engine: Engine, *, now: dt.datetime, policies: PolicySet, calendar: WorkCalendar) -> int:
    """Every plan's lights computed again (after a sweep); returns the tasks stored."""
    with transaction(engine) as s:
        codes = list(s.execute(sa.select(PlanRow.code)).scalars())
    return sum(refresh(engine, now=now, policies=policies, calendar=calendar, plan=c) for c in codes)
