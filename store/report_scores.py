"""The scores each weekly report gave, as written (``report_score``): the unit page's score trend reads
them, so it shows what the office circulated, scored with the rules of that report, and costs one query.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from duban.store.db import transaction
from duban.store.tables import ReportScoreRow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from duban.matrix.scoring import Scoreboard

_S: Any = ReportScoreRow.__table__  # type: ignore[attr-defined]  # the columns, typed for SQL expressions


def store_scores(engine: Engine, *, as_of: dt.date, plan: str | None, board: Scoreboard, rules: str,
                 now: dt.datetime) -> int:
    """Keep ``board``'s scores as the report of ``as_of`` for ``plan`` (None: every plan) gave them,
    replacing those of the same report written before; the rows written."""
    scope = plan or ""
    ranked = sum(1 for u in board.units if u.rank is not None)
    rows = [{"as_of": as_of, "scope": scope, "unit": u.unit, "score": u.score, "rank": u.rank, "units": ranked,
             "rules": rules, "written_at": now.astimezone(dt.UTC)} for u in board.units]
    with transaction(engine) as s:
        conn = s.connection()
        conn.execute(sa.delete(_S).where(_S.c.as_of == as_of, _S.c.scope == scope))
        if rows:
            conn.execute(sa.insert(_S), rows)
    return len(rows)


def read_scores(engine: Engine, *, unit: str, since: dt.date, until: dt.date,
                scopes: list[str]) -> list[dict[str, Any]]:
    """``unit``'s stored scores in the reports of ``scopes`` ("" for every plan) written for a day from
    ``since`` to ``until``: ``{as_of, scope, score, rank, units, rules}``, oldest first (one query)."""
    with transaction(engine) as s:
        found = s.execute(sa.select(_S.c.as_of, _S.c.scope, _S.c.score, _S.c.rank, _S.c.units, _S.c.rules)
                          .where(_S.c.unit == unit, _S.c.scope.in_(scopes), _S.c.as_of >= since, _S.c.as_of <= until)
                          .order_by(_S.c.as_of, _S.c.scope)).all()
    return [dict(r._mapping) for r in found]


def newest_report(engine: Engine, *, unit: str, until: dt.date, scopes: list[str]) -> dt.date | None:
    """The day of the newest report of ``scopes`` up to ``until`` that gave ``unit`` a score (one query)."""
    with transaction(engine) as s:
        day = s.execute(sa.select(sa.func.max(_S.c.as_of))
                        .where(_S.c.unit == unit, _S.c.scope.in_(scopes), _S.c.as_of <= until)).scalar()
    return day


def newest_board(engine: Engine, *, until: dt.date, scopes: list[str]) -> dict[str, Any] | None:
    """The newest stored report of ``scopes`` written for a day up to ``until`` (the report of every plan,
    scope "", before a plan's own of the same day): ``{as_of, scope, units: [{unit, score, rank}]}``, ranked
    units first by rank, then the unranked by name; None when no report is stored (two queries)."""
    with transaction(engine) as s:
        day = s.execute(sa.select(sa.func.max(_S.c.as_of)).where(_S.c.scope.in_(scopes), _S.c.as_of <= until)).scalar()
        if day is None:
            return None
        scope = min(s.execute(sa.select(_S.c.scope).where(_S.c.as_of == day, _S.c.scope.in_(scopes)).distinct()).scalars())
        rows = s.execute(sa.select(_S.c.unit, _S.c.score, _S.c.rank).where(_S.c.as_of == day, _S.c.scope == scope)
                         .order_by(_S.c.rank.is_(None), _S.c.rank, _S.c.unit)).all()
    return {"as_of": day, "scope": scope, "units": [dict(r._mapping) for r in rows]}
