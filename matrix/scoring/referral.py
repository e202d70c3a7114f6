"""Referral to the leadership group (提請領導小組研究): criticism that has run too long without the leader told.

A unit criticised week after week while nobody above it is told is noise, not supervision. With
``criticism.max_weeks_running`` (8) a unit whose *criticism streak* — the consecutive weekly periods,
ending on the report's day, in which the criticism condition (``board.criticism_reasons``, uncapped) held
— is longer than that, and for none of whose tasks (as lead unit) the last level of the escalation ladder
in force has been issued by the report's day, is not criticised again: the report refers it to the
leadership group instead, naming how many weeks running and since when, and its tasks concerned with
their lead officials. Once the last-level escalation exists, the leader has been told and the unit is
criticised as before. ``report_facts.criticism_streaks`` computes the streaks from the stored facts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from duban.matrix.scoring.lines import Line

if TYPE_CHECKING:
    from duban.matrix.scoring.board import Circulation, Scoreboard


@dataclass(frozen=True, slots=True)
class ReferredTask:
    """A task of a referred unit that its criticism concerns, with the task's lead officials (牵头领导)."""

    code: str
    title: str
    officials: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Referral:
    """A unit referred to the leadership group instead of criticised again."""

    unit: str
    weeks: int  # consecutive weekly periods, this one included, in which the criticism condition held
    since: dt.date  # the report day of the first of them
    reasons: tuple[str, ...]  # as a criticism's: level, overdue_items, missed_reports, veto
    facts: tuple[Line, ...]  # this period's facts, as its criticism would list them
    tasks: tuple[ReferredTask, ...]  # the tasks those facts concern, in task order
    rank: int | None = None
    score: Decimal | None = None
    tied: bool = False


def _referral(c: Circulation, weeks: int, since: dt.date,
              officials: Mapping[str, tuple[str, ...]]) -> Referral:
    from duban.matrix.scoring.board import task_order

    seen: dict[str, ReferredTask] = {}
    for line in c.facts:
        if line.task_code not in seen:
            seen[line.task_code] = ReferredTask(line.task_code, line.task_title, officials.get(line.task_code, ()))
    return Referral(unit=c.unit, weeks=weeks, since=since, reasons=c.reasons, facts=c.facts,
                    tasks=tuple(sorted(seen.values(), key=lambda t: task_order(t.code))), rank=c.rank, score=c.score, tied=c.tied)


def refer(board: Scoreboard, streaks: Mapping[str, tuple[int, dt.date]],
          officials: Mapping[str, Mapping[str, tuple[str, ...]]] | None = None) -> Scoreboard:
    """The board with every criticised unit whose streak (``streaks``: unit → weeks running, since) is longer
    than ``criticism.max_weeks_running`` moved from ``criticised`` to ``referred``. The caller leaves out
    of ``streaks`` the units whose last-level escalation exists (they stay criticised). ``officials``: per
    unit, each task code's lead officials as shown."""
    cap = board.config.criticism_max_weeks
    if not cap:
        return board
    kept: list[Circulation] = []
    referred: list[Referral] = []
    for c in board.criticised:
        weeks, since = streaks.get(c.unit, (0, board.period.end))
        if weeks > cap:
            referred.append(_referral(c, weeks, since, (officials or {}).get(c.unit, {})))
        else:
            kept.append(c)
    if not referred:
        return board
    referred.sort(key=lambda r: (-r.weeks, r.unit))
    return replace(board, criticised=tuple(kept), referred=(*board.referred, *referred))
