"""Weekly scoring of units for the circulation report (周通報): deductions, rank, 通報批評 and 通報表揚.

Pure: no database, no clock. The caller (workflows.report_service) gathers, per unit and role, the
facts of one period and hands them over as the dataclasses below; ``score_week`` returns every
unit's score with its breakdown (one line per deduction), the ranking, and who is criticised or
praised with the facts that say why. Last week's ranking is computed the same way for the period
ending seven days earlier and passed in as ``previous``.

The period is the ``period_days`` (default 7) days ending on the report's as-of day, both included:
for a Friday report, Saturday through Friday, so that consecutive weekly reports tile the calendar
(a make-up working Saturday belongs to a week too). "In the period" below means that.

Facts (per unit, separately as lead unit and as supporting unit of a task):

- *due*: an item (milestone or period of a recurring obligation) whose due date — the approved
  extension's once it was decided, else the plan's — falls in the period; *met on time* if it was
  closed (辦結) on or before that date.
- *closed*: an item closed on a day in the period.
- *overdue*: an item past its due date that was open on some day of the period: still open at the
  period's end, or closed late during it. Its *working days overdue* count to the period's end, or
  to the day it was closed, from its due date — or from the day its supervision began (its import's
  supervised-from day) when it was already overdue then. An item closed before the period began is no
  fact of this period.
- *escalation level*: the highest 督辦 level issued for the item (for its current due date) by the
  period's end, 0 when none; counted for items overdue in the period.
- *missing progress report*: a report that was actually due and did not come. A window of
  ``reports.expected_every_days`` days ending on the period's end asks for a report on a task when
  one of its quantity milestones required one: open (not closed before the window's first day) and
  begun at least one full interval before that day — begun on its start (its own, else the day after
  the previous milestone, else the plan start) or, if later, on the day its supervision began. A
  milestone begun less than an interval before has nothing to report yet (so a unit that closed its
  2015 milestone on 12-29 is first asked about the 2016 one in the window starting a week after 01-01),
  and a task whose milestones are all closed, or not begun, asks for nothing. The report is missing when
  the lead unit sent none (進展報送 or 辦結) on the task in the window. ``streak`` counts the consecutive
  windows (this one included) missed the same way; ``0`` days switches this off.
- *late progress report*: the first report of such a window came more than ``expected_every_days``
  days after the previous report on the task (or after the milestone started, if none before).
- *late acknowledgement*: a notice of the kinds listed (chase, escalation by default) about the
  unit's task, not superseded, whose acknowledgement (簽收) was due — ``within_working_days`` working
  days after its date — in the period and came later or not at all. Lead unit only.
- *veto* (一票否決): an item of a task marked ``veto`` overdue in the period, as lead unit.

The formula (config/scoring.yaml; the defaults here are the same):

    score = max(floor, start − Σ lead deductions − supporting_weight × Σ supporting deductions)
                        (supporting_weight is 0 by default: supporting facts are counted and shown only)
    per overdue item:   overdue_per_working_day × working days overdue, capped at overdue_cap_per_item
    per overdue item:   escalation points of the highest level it reached (level 2: 5, level 3: 10;
                        counted once: an item at level 3 loses 10, not 15)
    per task:           missing_report (10), late_report (0), and late_acknowledgement (0) per notice
    vetoed:             ranked after every unit that is not (and its score set to veto.score if given)

Ranks are competition ranks (1, 2, 2, 4) by score, vetoed units last; an equal score is broken by fewer
working days overdue, then more items met on time (as lead unit), and units equal in all three share a
rank (``tied``: shown as 并列, listed in name order); ``change``
is last week's rank minus this week's (positive: moved up), None for a unit not ranked last week.
Units of the kinds in ``ranking.exclude_kinds`` (groups such as 各鄉鎮人民政府 by default) are scored
but neither ranked, criticised nor praised.

Criticism (通報批評), as lead unit and for facts of this period only — so only a unit with an item
overdue, or a progress report missed that was actually due, is ever criticised: an item overdue at escalation
level ≥ ``min_level`` (2), or ≥ ``min_overdue_items`` (3) items overdue, or a task whose progress
report was missed ``missed_reports_in_a_row`` (2) windows in a row (or, with ``on_veto``, a veto).
The criticism lists the unit's facts of the period: each overdue item with its days and level, each
missed report with its streak, and the veto. Praise (通報表揚): the ``top`` (3) best-ranked units with
nothing overdue in either role, not vetoed, and — with ``require_achievement`` — at least one item met
on time or closed, or a progress report sent, in the period; it lists those achievements.

Referral (提請領導小組研究, ``referral``): a unit that met the criticism condition more than
``criticism.max_weeks_running`` (8) weekly periods running, ending on the report's day, and for none of
whose tasks (as lead unit) the ladder's last escalation level has been issued, is not criticised again
that week: the report refers it to the leadership group instead (0 or null: no cap).

The package: ``config`` (the scoring file), ``facts`` (the inputs), ``lines`` (a fact line — a tagged
union of item, report and acknowledgement lines — and its words), ``board`` (scoring and ranking).
Everything is importable from ``duban.matrix.scoring``.
"""

from duban.matrix.scoring.board import (
    Circulation,
    Counts,
    Scoreboard,
    UnitScore,
    criticism_reasons,
    score_unit,
    score_week,
    task_order,
)
from duban.matrix.scoring.config import Recipient, ReportConfig, ScoringConfig, load_scoring, load_scoring_text
from duban.matrix.scoring.facts import AckFact, ItemFact, Period, ReportFact, RoleFacts, UnitFacts
from duban.matrix.scoring.lines import AckLine, ItemLine, Line, ReportLine, points_text
from duban.matrix.scoring.referral import Referral, ReferredTask, refer

__all__ = [
    "AckFact", "AckLine", "Circulation", "Counts", "ItemFact", "ItemLine", "Line", "Period", "Recipient", "ReportConfig",
    "ReportFact", "ReportLine", "Referral", "ReferredTask", "RoleFacts", "Scoreboard", "ScoringConfig", "UnitFacts", "UnitScore", "load_scoring", "load_scoring_text",
    "criticism_reasons", "points_text", "refer", "score_unit", "score_week", "task_order",
]
