"""Supervised items in the database: milestones and recurrence instances, read together for the engine.

A recurring obligation (每月…不少於1次) becomes one ``recurrence_instance`` row per period, created here
as periods come within reach (``ensure_instances``); from then on it is supervised like a milestone.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from duban.matrix.deadlines import instances
from duban.matrix.model import Recurrence
from duban.store.tables import PlanRow, RecurrenceInstanceRow, RecurrenceRow, TaskRow


def _recurrence(row: RecurrenceRow) -> Recurrence:
    return Recurrence(freq=row.freq, rule=row.rule, anchor=row.anchor, min_count=row.min_count,
                      min_amount=None if row.min_amount is None else Decimal(str(row.min_amount)),
                      amount_unit=row.amount_unit, start=row.start, until=row.until, label=row.label)


def ensure_instances(session: Session, *, through: dt.date, task_ids: Iterable[int] | None = None) -> int:
    """Create the recurrence instances due on or before ``through`` that do not exist yet; returns how many.

    Idempotent and safe to run concurrently: rows are keyed by (recurrence, due) and inserted with
    ON CONFLICT DO NOTHING. A period starts the day after the previous instance's due date (the first
    at the recurrence's start, else the plan's start, else 30 days before its due date).
    """
    q = (sa.select(RecurrenceRow, TaskRow.id, PlanRow.start)
         .join(TaskRow, TaskRow.id == RecurrenceRow.task_id)
         .join(PlanRow, PlanRow.id == TaskRow.plan_id)
         .where(RecurrenceRow.archived_at.is_(None), TaskRow.archived_at.is_(None)))
    if task_ids is not None:
        q = q.where(TaskRow.id.in_(list(task_ids)))
    rows: list[dict] = []
    for rec_row, task_id, plan_start in session.execute(q).all():
        rec = _recurrence(rec_row)
        start = rec.start or plan_start
        first = start or through - dt.timedelta(days=366)
        dues = instances(rec, first, through)
        previous = None
        for due in dues:
            period_start = (previous + dt.timedelta(days=1)) if previous else (start or due - dt.timedelta(days=30))
            rows.append({"recurrence_id": rec_row.id, "task_id": task_id, "period_start": period_start, "due": due,
                         "done_count": 0, "closed_by": "", "evidence": ""})
            previous = due
    if not rows:
        return 0
    existing = set(session.execute(
        sa.select(RecurrenceInstanceRow.recurrence_id, RecurrenceInstanceRow.due)
        .where(RecurrenceInstanceRow.recurrence_id.in_({r["recurrence_id"] for r in rows}))).all())
    new = [r for r in rows if (r["recurrence_id"], r["due"]) not in existing]
    if not new:
        return 0
    session.connection().execute(_insert_ignore(session, RecurrenceInstanceRow.__table__, ("recurrence_id", "due")), new)
    return len(new)


def _insert_ignore(session: Session, table, keys: tuple[str, ...]):
    """INSERT … ON CONFLICT (keys) DO NOTHING for SQLite and PostgreSQL."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing(index_elements=list(keys))
