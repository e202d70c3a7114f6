"""A task's history (``duban history``): its events, oldest first, each written notice with where it
stands now, and the notices written before notice events existed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from duban.matrix.vocabulary import NOTICE_EVENTS
from duban.store import repository as repo
from duban.store.db import transaction
from duban.store.tables import EventRow, NoticeRow, TaskRow


def task_history(engine: Engine, *, task: str, plan: str | None = None) -> list[dict[str, Any]]:
    """Everything that happened to a task, oldest first: its events and the notices planned for it."""
    with transaction(engine) as session:
        events = repo.history(session, plan, task)
        plan_row = repo.plan_row(session, plan)
        task_id = session.execute(sa.select(TaskRow.id).where(TaskRow.plan_id == plan_row.id, TaskRow.code == task)).scalar_one()
        notices = session.execute(sa.select(NoticeRow).where(NoticeRow.task_id == task_id).order_by(NoticeRow.id)).scalars().all()
        by_key = {n.key: n for n in notices}
        out = []
        for e in events:
            data = dict(e.data or {})
            n = by_key.pop(data.get("notice_key", ""), None)
            if n is not None:  # the event as written, and its notice: to whom, for when, where it stands now
                data.update(notice=n.id, planned_for=n.planned_for.isoformat(), status=n.status,
                            to=[f"{r['role']}:{r['name']}" if r["name"] else r["role"] for r in n.recipients])
            out.append({"at": e.at.isoformat(), "kind": e.kind, "actor": e.actor, "data": data})
        # Notices written before notice events existed (schema 0003 and earlier): shown from their rows.
        out += [{"at": n.created_at.isoformat(), "kind": NOTICE_EVENTS[n.kind], "actor": "sweep",
                 "data": {"notice": n.id, "notice_key": n.key, "level": n.level, "due": n.due.isoformat(), "days": n.days,
                          "planned_for": n.planned_for.isoformat(), "status": n.status,
                          "to": [f"{r['role']}:{r['name']}" if r["name"] else r["role"] for r in n.recipients]}}
                for n in by_key.values()]
    out.sort(key=lambda e: e["at"])  # stable: events before notices of the same moment
    return out


def record_action(engine: Engine, kind: str, *, now: dt.datetime, actor: str, data: dict[str, Any]) -> None:
    """An event of an office action on no one task: a sweep or a delivery run from the console, a retry of
    failed mail (``actor``: the console's user)."""
    with transaction(engine) as session:
        session.add(EventRow(at=now, kind=kind, actor=actor, data=data))


def recent_actions(engine: Engine, *, kinds: tuple[str, ...], limit: int = 20) -> list[dict[str, Any]]:
    """The latest events of ``kinds``, newest first: {at, kind, actor, data}."""
    with transaction(engine) as session:
        t = EventRow.__table__.c  # type: ignore[attr-defined]
        rows = session.execute(sa.select(EventRow).where(t.kind.in_(kinds)).order_by(t.id.desc()).limit(limit)).scalars().all()
        return [{"at": e.at.isoformat(), "kind": e.kind, "actor": e.actor, "data": e.data} for e in rows]
