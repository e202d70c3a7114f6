"""The stored versions of the rules in force (policy, scoring): read them, and store a new one.

``record`` stores a version when the content differs from the last stored one of its kind (the rules
of ``matrix.rules``), in its own short transaction; two processes storing the same content at once
store it once (the second finds it stored, or loses the race on the (kind, number) key and reads again).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from duban.matrix.rules import RulesVersion, digest, first_from_date, needs_version
from duban.store.db import transaction
from duban.store.tables import RulesVersionRow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["record", "versions", "version"]


def _version(row: RulesVersionRow, *, content: bool = True) -> RulesVersion:
    stored = row.stored_at if row.stored_at.tzinfo else row.stored_at.replace(tzinfo=dt.UTC)
    return RulesVersion(kind=row.kind, number=row.number, sha256=row.sha256, from_date=row.from_date,
                        stored_at=stored, content=row.content if content else "")


def versions(engine: Engine, kind: str | None = None, *, content: bool = False) -> list[RulesVersion]:
    """Every stored version (of ``kind``, or of all kinds), by kind and number."""
    with transaction(engine) as session:
        query = sa.select(RulesVersionRow).order_by(col(RulesVersionRow.kind), col(RulesVersionRow.number))
        if kind is not None:
            query = query.where(col(RulesVersionRow.kind) == kind)
        return [_version(r, content=content) for r in session.scalars(query).all()]


def version(engine: Engine, kind: str, number: int) -> RulesVersion | None:
    with transaction(engine) as session:
        row = session.scalars(sa.select(RulesVersionRow).where(col(RulesVersionRow.kind) == kind,
                                                               col(RulesVersionRow.number) == number)).first()
        return None if row is None else _version(row)


def _latest(session: Session, kind: str) -> RulesVersionRow | None:
    return session.scalars(sa.select(RulesVersionRow).where(col(RulesVersionRow.kind) == kind)
                           .order_by(col(RulesVersionRow.number).desc()).limit(1)).first()


def record(engine: Engine, kind: str, content: str, *, as_of: dt.date, today: dt.date,
           now: dt.datetime) -> RulesVersion | None:
    """Store ``content`` as the next version of ``kind`` unless it is the last stored one; the new version
    (None when nothing was stored)."""
    sha = digest(content)
    for _attempt in range(3):
        try:
            with transaction(engine) as session:
                row = _latest(session, kind)
                latest = None if row is None else _version(row, content=False)
                if not needs_version(latest, sha):
                    return None
                new = RulesVersionRow(kind=kind, number=(latest.number + 1) if latest else 1, content=content,
                                      sha256=sha, from_date=first_from_date(latest, as_of=as_of, today=today),
                                      stored_at=now.astimezone(dt.UTC))
                session.add(new)
                session.flush()
                return _version(new)
        except IntegrityError:
            continue  # another process stored a version meanwhile: look again
    return None
