"""The imported calendar days (table ``calendar_day``): read them, stamp them, replace one year's."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from duban.store.tables import CalendarDayRow, EventRow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

DAY: sa.Table = CalendarDayRow.__table__  # type: ignore[attr-defined]  # SQLModel sets it on the class


class StoredDay(NamedTuple):
    day: dt.date
    year: int
    working: bool
    name: str
    source: str
    imported_at: dt.datetime


def stamp(engine: Engine) -> tuple[int | None, ...]:
    """What changes when a year is imported or replaced: how many days are stored and the latest import
    time (microseconds). One small aggregate query, asked every time a process's calendar is used: plain
    SQL (0.3 ms on SQLite, a fifth of what the same statement built with SQLAlchemy's expressions costs)."""
    with engine.connect() as conn:
        count, latest = conn.exec_driver_sql("SELECT count(*), max(imported_at) FROM calendar_day").one()
    if isinstance(latest, str):  # SQLite hands back the stored text (no column type applies to an aggregate)
        latest = dt.datetime.fromisoformat(latest)
    return (int(count), None if latest is None else int(latest.timestamp() * 1_000_000))


def stored_days(bind: Engine | Session, year: int | None = None) -> list[StoredDay]:
    """Every stored day (or those of one notice year), by date; read in ``bind``'s transaction when a session."""
    query = sa.select(DAY).order_by(DAY.c.day)
    if year is not None:
        query = query.where(DAY.c.year == year)
    if isinstance(bind, Session):
        rows = bind.execute(query).all()
    else:
        with bind.connect() as conn:
            rows = conn.execute(query).all()
    return [StoredDay(r.day, r.year, r.working, r.name, r.source, r.imported_at) for r in rows]


def replace_year(session: Session, year: int, days: dict[dt.date, tuple[bool, str]], *, source: str,
                 now: dt.datetime, actor: str, event: dict) -> None:
    """Store ``days`` as notice year ``year``'s, dropping what that year had, and record an event; the
    caller's transaction makes it all or nothing."""
    session.execute(sa.delete(DAY).where(DAY.c.year == year))
    session.execute(sa.insert(DAY), [
        {"day": d, "year": year, "working": working, "name": name, "source": source, "imported_at": now}
        for d, (working, name) in sorted(days.items())])
    session.add(EventRow(at=now, kind="calendar.imported", actor=actor, data=event))


def taken_by_other_years(session: Session, year: int, days: list[dt.date]) -> dict[dt.date, int]:
    """Those of ``days`` that another notice year already stored (date → that year)."""
    if not days:
        return {}
    rows = session.execute(sa.select(DAY.c.day, DAY.c.year).where(DAY.c.day.in_(days), DAY.c.year != year))
    return {d: y for d, y in rows}
