"""The outbox as the office sees it: notices listed and filtered (``duban notices``/``outbox``), and
acknowledgements (簽收), which stop the rest of a notice's series (never its escalation).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from duban.matrix.errors import NotFound, Refused
from duban.store.db import transaction
from duban.store.tables import EventRow, NoticeRow, PlanRow, TaskRow


def list_notices(engine: Engine, *, status_: str | None = None, kind: str | None = None, plan: str | None = None,
                 task: str | None = None, since: dt.date | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    with transaction(engine) as session:
        q = (sa.select(NoticeRow, PlanRow.code, TaskRow.code, TaskRow.title)
             .join(PlanRow, PlanRow.id == NoticeRow.plan_id).join(TaskRow, TaskRow.id == NoticeRow.task_id))
        if status_:
            q = q.where(NoticeRow.status.in_(status_.split(",")))
        if kind:
            q = q.where(NoticeRow.kind.in_(kind.split(",")))
        if plan:
            q = q.where(PlanRow.code == plan)
        if task:
            q = q.where(TaskRow.code == task)
        if since:
            q = q.where(NoticeRow.planned_for >= since)
        q = q.order_by(NoticeRow.id)
        if limit:
            q = q.limit(limit)
        return [notice_json(n, plan_code, task_code, title) for n, plan_code, task_code, title in session.execute(q).all()]


def notice_json(n: NoticeRow, plan_code: str, task_code: str, title: str) -> dict[str, Any]:
    return {
        "id": n.id, "key": n.key, "kind": n.kind, "level": n.level, "plan": plan_code, "task": task_code, "title": title,
        "item": ("m" if n.milestone_id else "i") + str(n.milestone_id or n.instance_id), "due": n.due.isoformat(),
        "days": n.days, "planned_for": n.planned_for.isoformat(), "to": n.recipients, "cc": n.cc, "status": n.status,
        "attempts": n.attempts, "created_at": n.created_at.isoformat(),
        "acknowledged_at": n.acknowledged_at.isoformat() if n.acknowledged_at else None,
        "acknowledged_by": n.acknowledged_by, "sweep": n.sweep_id,
    }


def acknowledge(engine: Engine, *, notice_id: int, now: dt.datetime, by: str = "") -> dict[str, Any]:
    """簽收: a recipient confirms a notice; the rest of its series is not sent. Escalation goes on."""
    with transaction(engine) as session:
        n = session.get(NoticeRow, notice_id)
        if n is None:
            raise NotFound(f"no notice {notice_id}")
        if n.acknowledged_at is not None:
            raise Refused(f"notice {notice_id} was already acknowledged on {n.acknowledged_at.date()} by {n.acknowledged_by or 'someone'}")
        n.acknowledged_at = now
        n.acknowledged_by = by
        session.add(EventRow(at=now, kind="notice.acknowledged", plan_id=n.plan_id, task_id=n.task_id, actor=by,
                             data={"notice": n.id, "key": n.key, "series": n.series}))
        session.flush()
        plan_code = session.get(PlanRow, n.plan_id).code
        task = session.get(TaskRow, n.task_id)
        return notice_json(n, plan_code, task.code, task.title)
