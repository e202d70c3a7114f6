"""Weekly scoring: a hand-computed scenario (every number checked), the criticism and praise rules at
their edges, the period rules of the fact gathering, and the scoring file."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from duban.matrix.calendar import WorkCalendar
from duban.matrix.errors import ConfigError
from duban.matrix.scoring import (
    AckFact,
    ItemFact,
    Period,
    ReportFact,
    RoleFacts,
    ScoringConfig,
    UnitFacts,
    load_scoring,
    score_unit,
    score_week,
)
from duban.notifications.render import Renderer
from tests.support import ROOT

D = dt.date
# The lines' words are in notifications/templates/<lang>/_lines.j2: zh-Hant writes them in the data's script.
ZH, EN = Renderer(language="zh-Hant"), Renderer(language="en")
PERIOD = Period(D(2016, 1, 16), D(2016, 1, 22))  # Saturday … Friday
CONFIG = ScoringConfig()


def overdue(code: str, title: str, days: int, level: int = 0, *, due: dt.date = D(2015, 12, 31), label: str = "",
            closed_on: dt.date | None = None, veto: bool = False, item: str | None = None) -> ItemFact:
    return ItemFact(task_code=code, task_title=title, item=item or f"m{code}", due=due, label=label, veto=veto,
                    closed_on=closed_on, closed_in_period=closed_on is not None, overdue=True, overdue_days=days,
                    level=level)


def met(code: str, title: str, due: dt.date, closed_on: dt.date) -> ItemFact:
    return ItemFact(task_code=code, task_title=title, item=f"m{code}", due=due, due_in_period=True, met_on_time=True,
                    closed_on=closed_on, closed_in_period=True)


def missing(code: str, title: str, streak: int) -> ReportFact:
    return ReportFact(code, title, "missing", streak=streak)


def sent(code: str, title: str, on: dt.date, done: int, quantity: int) -> ReportFact:
    return ReportFact(code, title, "sent", on=on, done=Decimal(done), quantity=Decimal(quantity), measure="個村")


def lead(*items: ItemFact, reports=(), acks=()) -> RoleFacts:
    return RoleFacts(items=tuple(items), reports=tuple(reports), acks=tuple(acks))


X1 = overdue("3.2.1", "交通建設", 13, 2)  # 13 working days × 2 = 26 (under the cap of 30), level 2: 5
X2 = overdue("3.2.2", "飲水安全", 13, 2, closed_on=D(2016, 1, 20), label="2015年底完成25個村")  # closed late in the period
X3 = overdue("3.2.7", "金融扶貧", 20, 3)  # 40 → capped at 30, level 3: 10

SCENARIO = [
    UnitFacts("區交委", lead=lead(X1, reports=[missing("3.2.1", "交通建設", 1)])),
    UnitFacts("區水務局", lead=lead(X2, reports=[sent("3.2.2", "飲水安全", D(2016, 1, 20), 25, 25)])),
    UnitFacts("區金融辦", lead=lead(X3, reports=[missing("3.2.7", "金融扶貧", 3)],
                                 acks=[AckFact("3.2.7", "金融扶貧", "escalation", 3, D(2016, 1, 15), D(2016, 1, 19))])),
    UnitFacts("區教委", lead=lead(overdue("3.2.9", "教育", 3, 1, due=D(2016, 1, 19)),
                               overdue("3.4.2", "教育資助一批", 2, 0, due=D(2016, 1, 20)),
                               overdue("3.9", "學校建設", 1, 0, due=D(2016, 1, 21)))),
    UnitFacts("區扶貧辦", lead=lead(met("3.1", "扶貧對象精準", D(2016, 1, 20), D(2016, 1, 18))),
              supporting=RoleFacts(items=(X1, X3))),
    UnitFacts("區農委", lead=lead(met("3.2.6", "主導產業", D(2016, 1, 22), D(2016, 1, 22)),
                               reports=[sent("3.2.6", "主導產業", D(2016, 1, 21), 30, 40)])),
    UnitFacts("區環保局", lead=lead(reports=[sent("3.2.5", "村容村貌", D(2016, 1, 21), 12, 40)])),
    UnitFacts("區城鄉建委"),  # a lead unit with nothing in the period
    UnitFacts("區衛計委", lead=lead(overdue("3.2.10", "醫療衛生", 5, 1), overdue("3.2.12", "社會保障", 4, 1))),
    UnitFacts("區文化委", lead=lead(reports=[missing("3.2.11", "文化", 2)])),
    UnitFacts("區人力社保局", lead=lead(reports=[missing("3.2.8", "勞動力轉移", 1)])),
    UnitFacts("區扶貧開發領導小組", kind="office", lead=lead(overdue("3.6", "脫貧成效精準", 2, 0, veto=True))),
    UnitFacts("各鄉鎮人民政府", kind="group", supporting=RoleFacts(items=(X1,))),
]


@pytest.fixture(scope="module")
def board():
    return score_week(SCENARIO, PERIOD, CONFIG, previous={"區交委": 8, "區金融辦": 11, "區農委": 3})


def test_every_score_by_hand(board) -> None:
    scores = {u.unit: u.score for u in board.units}
    assert scores == {
        "區交委": 59,        # 100 − 26 (13 wd × 2) − 5 (level 2) − 10 (missing report)
        "區水務局": 69,      # 100 − 26 − 5: closed late during the period still counts this week
        "區金融辦": 50,      # 100 − 30 (20 wd × 2 = 40, capped) − 10 (level 3, not 5 + 10) − 10 (missing); late ack 0
        "區教委": 88,        # 100 − 6 − 4 − 2 (3, 2, 1 wd); level 1 costs nothing
        "區扶貧辦": 100,     # its supporting items are counted, not deducted (supporting_weight 0)
        "區農委": 100,
        "區環保局": 100,
        "區城鄉建委": 100,
        "區衛計委": 82,      # 100 − 10 − 8
        "區文化委": 90,
        "區人力社保局": 90,
        "區扶貧開發領導小組": 96,  # 100 − 4, and vetoed
        "各鄉鎮人民政府": 100,
    }
    assert board.unit("區金融辦").deducted == 50
    assert board.unit("區扶貧開發領導小組").vetoed and not board.unit("區教委").vetoed


def test_ranks_ties_veto_last_groups_unranked_and_change(board) -> None:
    order = [(u.rank, u.unit) for u in board.units]
    assert order == [
        # Four at 100, none overdue: the two that met an item on time first; equal in everything, a shared rank
        # (names in order).
        (1, "區扶貧辦"), (1, "區農委"), (3, "區城鄉建委"), (3, "區環保局"),
        (5, "區人力社保局"), (5, "區文化委"),
        (7, "區教委"), (8, "區衛計委"), (9, "區水務局"), (10, "區交委"), (11, "區金融辦"),
        (12, "區扶貧開發領導小組"),  # 96 points, but a veto task was missed: after everyone
        (None, "各鄉鎮人民政府"),  # a group: scored, not ranked
    ]
    assert board.unit("區交委").change == -2  # 8th last week, 10th now
    assert board.unit("區金融辦").change == 0
    assert board.unit("區農委").change == 2
    assert board.unit("區教委").change is None  # not ranked last week
    assert [u.unit for u in board.units if u.tied] == ["區扶貧辦", "區農委", "區城鄉建委", "區環保局", "區人力社保局",
                                                       "區文化委"]
    assert board.ranks()["區衛計委"] == 8 and "各鄉鎮人民政府" not in board.ranks()


def test_counts_per_role(board) -> None:
    fupin = board.unit("區扶貧辦")
    assert (fupin.lead.due, fupin.lead.met_on_time, fupin.lead.closed, fupin.lead.overdue) == (1, 1, 1, 0)
    assert (fupin.supporting.overdue, fupin.supporting.overdue_days, fupin.supporting.max_level) == (2, 33, 3)
    water = board.unit("區水務局")
    assert (water.lead.closed, water.lead.overdue, water.lead.overdue_days, water.lead.max_level) == (1, 1, 13, 2)
    finance = board.unit("區金融辦").lead
    assert (finance.missing_reports, finance.late_acks, finance.max_level) == (1, 1, 3)


def test_breakdown_lines_say_each_deduction(board) -> None:
    assert [ZH.fact(line) for line in board.unit("區交委").lines] == [
        "3.2.1 交通建設 2015年12月31日節點逾期13個工作日，扣26分（封頂30分）",
        "3.2.1 交通建設 2015年12月31日節點已升級為二級（橙色）督辦，扣5分",
        "3.2.1 交通建設 本期未報送進展，扣10分",
    ]
    assert [ZH.fact(line) for line in board.unit("區金融辦").lines] == [
        "3.2.7 金融扶貧 2015年12月31日節點逾期20個工作日，扣30分（封頂30分）",
        "3.2.7 金融扶貧 2015年12月31日節點已升級為三級（紅色）督辦，扣10分",
        "3.2.7 金融扶貧 本期未報送進展（連續3期），扣10分",
    ]  # the late acknowledgement costs 0 by default: no line
    assert [ZH.fact(line) for line in board.unit("區水務局").lines][0] == \
        "3.2.2 飲水安全 2015年12月31日節點（2015年底完成25個村）逾期13個工作日後於2016年1月20日辦結，扣26分（封頂30分）"
    assert ZH.fact(board.unit("區扶貧開發領導小組").lines[-1]) == \
        "3.6 脫貧成效精準 為一票否決事項，2015年12月31日節點逾期未完成，實行一票否決"
    assert board.unit("區扶貧辦").lines == ()
    assert EN.fact(board.unit("區金融辦").lines[0]) == \
        "3.2.7 金融扶貧: milestone due 31 December 2015 20 working days overdue, −30 points (cap 30)"


def test_criticism_lists_the_facts_of_the_period_worst_first(board) -> None:
    criticised = {c.unit: c for c in board.criticised}
    assert [c.unit for c in board.criticised] == ["區金融辦", "區交委", "區水務局", "區教委", "區文化委"]
    assert criticised["區金融辦"].reasons == ("level", "missed_reports")
    assert criticised["區交委"].reasons == ("level",)
    assert criticised["區水務局"].reasons == ("level",)  # at level 2 during the period, closed late in it
    assert criticised["區教委"].reasons == ("overdue_items",)
    assert criticised["區文化委"].reasons == ("missed_reports",)
    assert ZH.facts(criticised["區金融辦"]) == [
        "牽頭負責的第3.2.7項“金融扶貧”工作，2015年12月31日節點逾期20個工作日仍未辦結，已予三級（紅色）督辦",
        "牽頭負責的第3.2.7項“金融扶貧”工作，本期未按要求報送進展（已連續3期未報送）",
    ]
    assert ZH.facts(criticised["區水務局"]) == [
        "牽頭負責的第3.2.2項“飲水安全”工作，2015年12月31日節點（2015年底完成25個村）逾期13個工作日後於2016年1月20日辦結，"
        "已予二級（橙色）督辦",
    ]
    assert len(criticised["區教委"].facts) == 3
    assert criticised["區金融辦"].score == 50 and criticised["區金融辦"].rank == 11
    # Not criticised: two items at level 1 (區衛計委), one missed report (區人力社保局), a veto alone.
    assert not {"區衛計委", "區人力社保局", "區扶貧開發領導小組", "各鄉鎮人民政府"} & set(criticised)


def test_praise_top_units_with_nothing_overdue_and_an_achievement(board) -> None:
    # In rank order: 區農委 met an item on time (first of the units at 100), 區環保局 did not.
    assert [c.unit for c in board.praised] == ["區農委", "區環保局"]
    # 區扶貧辦 (100) supports two overdue tasks; 區城鄉建委 (100) did nothing this week.
    assert [ZH.facts(c) for c in board.praised] == [
        ["牽頭負責的第3.2.6項“主導產業”工作，2016年1月22日節點於2016年1月22日按期辦結",
         "牽頭負責的第3.2.6項“主導產業”工作，於2016年1月21日按時報送進展，累計完成30/40個村"],
        ["牽頭負責的第3.2.5項“村容村貌”工作，於2016年1月21日按時報送進展，累計完成12/40個村"],
    ]
    top1 = score_week(SCENARIO, PERIOD, replace(CONFIG, praise_top=1))
    assert [c.unit for c in top1.praised] == ["區農委"]
    anyone = score_week(SCENARIO, PERIOD, replace(CONFIG, praise_require_achievement=False, praise_top=10))
    # Without the achievement rule: every ranked unit with nothing overdue and not criticised, in rank order.
    assert [c.unit for c in anyone.praised] == ["區農委", "區城鄉建委", "區環保局", "區人力社保局"]


def test_supporting_weight_shares_the_deductions() -> None:
    half = replace(CONFIG, supporting_weight=Decimal("0.5"))
    fupin = score_week(SCENARIO, PERIOD, half).unit("區扶貧辦")
    # (26 + 5 + 30 + 10) × 0.5 = 35.5
    assert fupin.score == Decimal("64.5")
    assert ZH.fact(fupin.lines[0]) == \
        "（配合）3.2.1 交通建設 2015年12月31日節點逾期13個工作日，扣26分（封頂30分），配合單位按50%計13分"


def test_floor_cap_veto_score_and_escalation_points() -> None:
    many = UnitFacts("區農委", lead=lead(*(overdue(f"3.{k}", "任務", 40, 3, item=f"m{k}") for k in range(1, 5))))
    assert score_unit(many, CONFIG).score == 0  # 4 × (30 + 10) = 160: floored at 0
    assert score_unit(many, replace(CONFIG, floor=None)).score == -60
    assert score_unit(many, replace(CONFIG, overdue_cap=None, floor=None)).score == 100 - 4 * (80 + 10)
    assert score_unit(many, replace(CONFIG, escalation_points=((2, Decimal(5)),), floor=None)).score == 100 - 4 * 35
    vetoed = UnitFacts("區扶貧開發領導小組", lead=lead(overdue("3.6", "脫貧", 1, 0, veto=True)))
    assert score_unit(vetoed, replace(CONFIG, veto_score=Decimal(0))).score == 0
    assert score_unit(vetoed, CONFIG).score == 98


# --------------------------------------------------------------------------------------------
# The criticism rule at its edges


def _criticised(*units: UnitFacts, config: ScoringConfig = CONFIG) -> set[str]:
    return {c.unit for c in score_week(units, PERIOD, config).criticised}


def test_exactly_level_two_is_criticised_level_one_is_not() -> None:
    assert _criticised(UnitFacts("A", lead=lead(overdue("1", "t", 10, 2)))) == {"A"}
    assert _criticised(UnitFacts("A", lead=lead(overdue("1", "t", 9, 1)))) == set()
    assert _criticised(UnitFacts("A", lead=lead(overdue("1", "t", 9, 1))),
                       config=replace(CONFIG, criticism_min_level=1)) == {"A"}


def test_exactly_three_overdue_items_is_criticised_two_is_not() -> None:
    three = [overdue(str(k), "t", 1, item=f"m{k}") for k in range(3)]
    assert _criticised(UnitFacts("A", lead=lead(*three))) == {"A"}
    assert _criticised(UnitFacts("A", lead=lead(*three[:2]))) == set()


def test_two_missed_reports_in_a_row_is_criticised_one_is_not() -> None:
    assert _criticised(UnitFacts("A", lead=lead(reports=[missing("1", "t", 2)]))) == {"A"}
    assert _criticised(UnitFacts("A", lead=lead(reports=[missing("1", "t", 1)]))) == set()
    # One miss on each of two tasks is not "in a row".
    assert _criticised(UnitFacts("A", lead=lead(reports=[missing("1", "t", 1), missing("2", "u", 1)]))) == set()


def test_supporting_facts_never_lead_to_criticism() -> None:
    items = tuple(overdue(str(k), "t", 30, 3, item=f"m{k}") for k in range(4))
    assert _criticised(UnitFacts("A", supporting=RoleFacts(items=items))) == set()


def test_groups_are_neither_criticised_nor_praised() -> None:
    units = [UnitFacts("G", kind="group", lead=lead(overdue("1", "t", 30, 3))),
             UnitFacts("H", kind="group", lead=lead(reports=[sent("2", "u", D(2016, 1, 20), 1, 2)]))]
    board = score_week(units, PERIOD, CONFIG)
    assert board.criticised == () and board.praised == ()


def test_praise_needs_nothing_overdue_in_either_role() -> None:
    report = [sent("2", "u", D(2016, 1, 20), 1, 2)]
    units = [UnitFacts("A", lead=lead(reports=report)),
             UnitFacts("B", lead=lead(reports=report), supporting=RoleFacts(items=(overdue("1", "t", 1),))),
             UnitFacts("C", lead=lead(overdue("3", "v", 1), reports=report))]
    assert [c.unit for c in score_week(units, PERIOD, CONFIG).praised] == ["A"]



def test_a_late_report_is_not_praised_as_on_time() -> None:
    """A task whose report came late in the week has a "late" and a "sent" fact: the sent one is no
    achievement (its text would say 按時報送), so the unit has nothing to be praised for."""
    on = D(2016, 1, 20)
    late = ReportFact("2", "u", "late", gap_days=12, on=on)
    units = [UnitFacts("A", lead=lead(reports=[sent("1", "t", on, 1, 2)])),
             UnitFacts("B", lead=lead(reports=[late, sent("2", "u", on, 1, 2)]))]
    board = score_week(units, PERIOD, CONFIG)
    assert [c.unit for c in board.praised] == ["A"]
    assert [ZH.facts(c) for c in board.praised] == [["牽頭負責的第1項“t”工作，於2016年1月20日按時報送進展，累計完成1/2個村"]]

# --------------------------------------------------------------------------------------------
# Facts of a period (the gathering rules, matrix.report_facts)


def _item(**kw):
    from duban.matrix.report_facts import ItemHistory

    base = dict(kind="milestone", id=1, task_id=1, seq=0, due=D(2015, 12, 31), start=D(2015, 7, 1),
                quantity=Decimal(25), measure="個村")
    base.update(kw)
    return ItemHistory(**base)


def _task(items, reports=()):
    from duban.matrix.report_facts import TaskHistory

    return TaskHistory(id=1, plan_id=1, plan_code="p", code="3.2.1", title="交通建設", position=0, lead_unit_id=1,
                 veto=False, items=list(items), lead_reports=list(reports))


def test_facts_outside_the_period_do_not_count() -> None:
    from duban.matrix.report_facts import item_fact

    cal = WorkCalendar()
    # Closed late last week, at level 2 then: no fact of this period, so no criticism for it.
    last_week = _item(closed_on=D(2016, 1, 14), levels=[(D(2016, 1, 15), D(2015, 12, 31), 2)])
    assert item_fact(last_week, _task([last_week]), PERIOD, cal) is None
    # Closed late on the period's first day: overdue in the period, 11 working days, level 2 reached on 01-15.
    first_day = _item(closed_on=D(2016, 1, 18), levels=[(D(2016, 1, 15), D(2015, 12, 31), 2)])
    fact = item_fact(first_day, _task([first_day]), PERIOD, cal)
    assert (fact.overdue, fact.overdue_days, fact.level, fact.closed_in_period) == (True, 11, 2, True)
    # Closed after the period (the database is newer than the report): still open at its end.
    later = _item(closed_on=D(2016, 1, 25))
    fact = item_fact(later, _task([later]), PERIOD, cal)
    assert (fact.overdue, fact.overdue_days, fact.closed_on) == (True, 15, None)
    # A level reached after the period's end does not count yet.
    escalating = _item(levels=[(D(2016, 1, 15), D(2015, 12, 31), 2), (D(2016, 1, 29), D(2015, 12, 31), 3)])
    assert item_fact(escalating, _task([escalating]), PERIOD, cal).level == 2
    # An extension decided on 2015-12-16 moved the due date past the period: not overdue, not due.
    extended = _item(changes=[(D(2015, 12, 16), D(2016, 1, 29))])
    assert item_fact(extended, _task([extended]), PERIOD, cal) is None
    # Due and closed in the period, on time.
    on_time = _item(due=D(2016, 1, 20), closed_on=D(2016, 1, 20))
    fact = item_fact(on_time, _task([on_time]), PERIOD, cal)
    assert (fact.due_in_period, fact.met_on_time, fact.overdue) == (True, True, False)


def test_overdue_days_count_from_the_day_supervision_began() -> None:
    from duban.matrix.report_facts import item_fact

    cal = WorkCalendar()
    # Due 2015-12-31, imported (supervised from) 01-11 already overdue: counted from 01-11, not from 12-31.
    imported = _item(supervised_from=D(2016, 1, 11))
    fact = item_fact(imported, _task([imported]), PERIOD, cal)
    assert (fact.overdue, fact.overdue_days) == (True, cal.working_days_between(D(2016, 1, 11), D(2016, 1, 22))) \
        == (True, 9)
    # A report of a day before the import replays history: from the due date (5 working days by 01-08).
    replay = Period(D(2016, 1, 2), D(2016, 1, 8))
    assert item_fact(imported, _task([imported]), replay, cal).overdue_days == 5
    # Imported before the due date: the due date counts, as always.
    early = _item(supervised_from=D(2015, 12, 1))
    assert item_fact(early, _task([early]), PERIOD, cal).overdue_days == 15


def test_missing_report_windows_and_streaks() -> None:
    from duban.matrix.report_facts import progress_report_facts

    first = _item(closed_on=D(2016, 1, 12))  # closed before the period: the next milestone is in progress
    second = _item(id=2, seq=1, due=D(2016, 12, 31), start=D(2016, 1, 1), quantity=Decimal(40))

    def facts(*days):
        task = _task([first, second], [(d, k, "m2") for k, d in enumerate(days)])
        return [(r.kind, r.streak, r.gap_days) for r in progress_report_facts(task, PERIOD, CONFIG)]

    assert facts(D(2016, 1, 7), D(2016, 1, 14), D(2016, 1, 21)) == [("sent", 0, 0)]
    assert facts(D(2016, 1, 7), D(2016, 1, 14)) == [("missing", 1, 0)]  # none in 01-16 … 01-22
    assert facts(D(2016, 1, 7)) == [("missing", 2, 0)]  # none in 01-16 … 01-22 nor 01-09 … 01-15
    # Never reported: every window back to the plan's start (the first milestone was in progress from 07-01),
    # 28 of them: a report is due only in a window that starts a full interval after the milestone began,
    # 07-08 or later — 2015-07-11 … 07-17 is the earliest (07-04 … 07-10 began three days after 07-01).
    assert facts() == [("missing", 28, 0)]
    # Reported after a gap of more than 7 days: late (and sent); the first report counts from the start.
    assert facts(D(2016, 1, 7), D(2016, 1, 18)) == [("late", 0, 11), ("sent", 0, 0)]
    assert facts(D(2016, 1, 21)) == [("late", 0, 20), ("sent", 0, 0)]
    # No quantity milestone in progress, no expectation: nothing missing.
    done = _item(closed_on=D(2015, 12, 20))
    assert progress_report_facts(_task([done]), PERIOD, CONFIG) == []
    # Actually due only: the 2016 milestone began on 01-01, after the first closed on 12-28; by 01-15 it had
    # asked for one report (01-09 … 01-15), not two (01-02 … 01-08 began a day after it).
    closed = _item(closed_on=D(2015, 12, 28))
    early = Period(D(2016, 1, 9), D(2016, 1, 15))
    assert [(r.kind, r.streak) for r in progress_report_facts(_task([closed, second], [(D(2015, 12, 28), 0, "m1")]),
                                                              early, CONFIG)] == [("missing", 1)]
    # Nor before its supervision began: imported on 01-11, the milestone asks for its first report in a window
    # starting a full week later (01-18 or after), not in 01-09 … 01-15 nor 01-16 … 01-22.
    watched = _item(id=2, seq=1, due=D(2016, 12, 31), start=D(2015, 7, 1), quantity=Decimal(40),
                    supervised_from=D(2016, 1, 11))
    assert progress_report_facts(_task([watched]), early, CONFIG) == []
    assert progress_report_facts(_task([watched]), PERIOD, CONFIG) == []
    assert progress_report_facts(_task([watched]), Period(D(2016, 1, 23), D(2016, 1, 29)), CONFIG)[0].streak == 1
    # A report for a day before the import replays history: supervised from the start.
    assert progress_report_facts(_task([watched]), Period(D(2016, 1, 2), D(2016, 1, 8)), CONFIG)[0].streak == 26
    # The expectation switched off.
    assert progress_report_facts(_task([first, second]), PERIOD, replace(CONFIG, reports_every_days=0)) == []


# --------------------------------------------------------------------------------------------
# The scoring file


def test_packaged_file_equals_the_built_in_defaults() -> None:
    loaded = load_scoring(ROOT / "config" / "scoring.yaml")
    assert replace(loaded, source="") == replace(ScoringConfig(), source="")


def test_office_overrides_and_recipients(tmp_path: Path) -> None:
    office = tmp_path / "scoring.yaml"
    office.write_text("""\
score:
  overdue_per_working_day: 3
  escalation: {2: 8}
  supporting_weight: 0.25
criticism: {min_overdue_items: 0}
report:
  recipients:
    - {name: 區委督查室, email: ducha@example.org}
    - zfducha@example.org
""", encoding="utf-8")
    c = load_scoring(ROOT / "config" / "scoring.yaml", office)
    assert (c.per_overdue_day, c.overdue_cap, c.escalation_points, c.supporting_weight) == \
        (3, 30, ((2, Decimal(8)),), Decimal("0.25"))
    assert c.criticism_min_overdue == 0 and c.criticism_min_level == 2
    assert [(r.name, r.email) for r in c.report.recipients] == [("區委督查室", "ducha@example.org"), ("", "zfducha@example.org")]


@pytest.mark.parametrize("text, message", [
    ("score: {overdue_per_working_day: two}\n", "scoring.yaml:1: score.overdue_per_working_day: 'two' is not a number"),
    ("score:\n  floor: 0\n  bonus: 5\n", "scoring.yaml:3: unknown key score.'bonus'"),
    ("praise: {top: 1.5}\n", "praise.top: '1.5' is not a whole number"),
    ("acknowledgements: {kinds: [chase, phone]}\n", "unknown value 'phone'"),
    ("report: {recipients: [{name: x, email: 'not an address'}]}\n", "is not an email address"),
    ("weights: {}\n", "scoring.yaml:1: unknown key 'weights'"),
    ("score: [1, 2]\n", "score must be a mapping"),
    ("criticism:\n  max_weeks_running: many\n", "scoring.yaml:2: criticism.max_weeks_running: 'many' is not a number"),
    ("criticism: {max_weeks_running: -2}\n", "criticism.max_weeks_running: '-2' must be a number ≥ 0"),
])
def test_errors_name_the_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "scoring.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_scoring(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_scores_without_detail_are_the_same_scores_and_ranks(board) -> None:
    quick = score_week(SCENARIO, PERIOD, replace(CONFIG, supporting_weight=Decimal("0.3")), detail=False)
    full = score_week(SCENARIO, PERIOD, replace(CONFIG, supporting_weight=Decimal("0.3")))
    assert [(u.unit, u.score, u.rank) for u in quick.units] == [(u.unit, u.score, u.rank) for u in full.units]
    assert quick.criticised == () and all(u.lines == () for u in quick.units)


def test_max_weeks_running_defaults_to_8_and_0_or_null_is_no_cap(tmp_path: Path) -> None:
    assert load_scoring(ROOT / "config" / "scoring.yaml").criticism_max_weeks == 8
    for text in ("criticism: {max_weeks_running: 0}\n", "criticism: {max_weeks_running: null}\n"):
        (tmp_path / "scoring.yaml").write_text(text, encoding="utf-8")
        assert load_scoring(tmp_path / "scoring.yaml").criticism_max_weeks is None


def test_refer_moves_only_streaks_longer_than_the_cap(board) -> None:
    from duban.matrix.scoring import refer

    units = [c.unit for c in board.criticised]
    streaks = {"區金融辦": (9, D(2015, 10, 2)), "區交委": (8, D(2015, 11, 6))}
    referred = refer(board, streaks, {"區金融辦": {"3.2.7": ("林光(區人民政府副區長)",)}})
    assert [c.unit for c in referred.criticised] == [u for u in units if u != "區金融辦"]
    [x] = referred.referred
    assert (x.unit, x.weeks, x.since, x.reasons) == ("區金融辦", 9, D(2015, 10, 2), ("level", "missed_reports"))
    assert [(t.code, t.officials) for t in x.tasks] == [("3.2.7", ("林光(區人民政府副區長)",))]
    assert refer(replace(board, config=replace(board.config, criticism_max_weeks=None)), streaks).referred == ()
