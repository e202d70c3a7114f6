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


_T: sa.Table = RulesVersionRow.__table__  # type: ignore[attr-defined]  # SQLModel sets it
# (kind, number, sha256) of every version, newest last: a handful of rows (a version per change of the rules).
_HEADS = sa.select(_T.c.kind, _T.c.number, _T.c.sha256, _T.c.from_date, _T.c.stored_at).order_by(_T.c.kind, _T.c.number)


def _latest(session: Session) -> dict[str, RulesVersion]:
    """The last stored version of each kind (without content), in one query."""
    out = {}
    for kind, number, sha, from_date, stored_at in session.execute(_HEADS).all():
        stored = stored_at if stored_at.tzinfo else stored_at.replace(tzinfo=dt.UTC)
        out[kind] = RulesVersion(kind=kind, number=number, sha256=sha, from_date=from_date, stored_at=stored)
    return out


def record(engine: Engine, contents: dict[str, str], *, as_of: dt.date, today: dt.date,
           now: dt.datetime) -> list[RulesVersion]:
    """Store each kind's ``content`` as its next version unless it is the last stored one, all in one
    transaction; the new versions (none when nothing changed)."""
    for _attempt in range(3):
        try:
            with transaction(engine) as session:
                out = []
                heads = _latest(session)
                for kind, content in contents.items():
                    sha = digest(content)
                    latest = heads.get(kind)
                    if not needs_version(latest, sha):
                        continue
                    new = RulesVersionRow(kind=kind, number=(latest.number + 1) if latest else 1, content=content,
                                          sha256=sha, from_date=first_from_date(latest, as_of=as_of, today=today),
                                          stored_at=now.astimezone(dt.UTC))
                    session.add(new)
                    session.flush()
                    out.append(_version(new))
                return out
        except IntegrityError:
            continue  # another process stored a version meanwhile: look again
    return []
