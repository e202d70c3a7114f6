"""The pure planner: lights, reminder → chase → escalation on the official calendar, catch-up, acknowledgement."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duban.matrix.calendar import WorkCalendar
from duban.matrix.planner import Item, TaskInfo, before_supervision, light, plan_notices, recipients_for, worst
from duban.matrix.policy import EscalationLevel, Policy
from duban.matrix.vocabulary import ItemKind

D = dt.date
CAL = WorkCalendar()
POLICY = Policy()
TASK = TaskInfo(code="3.2.1", lead_unit="區交委", supporting_units=("區農委", "各鄉鎮人民政府"), lead_officials=("劉儀",))


def item(due: dt.date, **kw) -> Item:
    return Item(kind="milestone", id=7, due=due, **kw)


def keys(day: dt.date, it: Item, policy: Policy = POLICY, acked=frozenset(), task: TaskInfo = TASK) -> list[str]:
    notices, _ = plan_notices(it, task, day, CAL, policy, acked)
    return [n.key for n in notices]


# A Thursday in an ordinary stretch of working days: 2015-12-31.
DUE = D(2015, 12, 31)


@pytest.mark.parametrize("day, expected", [
    (D(2015, 12, 23), []),                                   # 6 working days before: nothing yet
    (D(2015, 12, 24), ["reminder:m7:2015-12-31:d5"]),        # 5 working days before
    (D(2015, 12, 29), ["reminder:m7:2015-12-31:d5"]),        # still the same reminder (idempotent key)
    (D(2015, 12, 30), ["reminder:m7:2015-12-31:d1"]),        # 1 working day before
    (DUE, ["reminder:m7:2015-12-31:d1"]),                    # due today: not overdue yet
    (D(2016, 1, 1), []),                                     # 元旦: overdue by 0 working days, the ladder freezes
    (D(2016, 1, 4), ["chase:m7:2015-12-31:n1"]),             # first working day overdue
    (D(2016, 1, 6), ["chase:m7:2015-12-31:n1", "escalation:m7:2015-12-31:L1"]),
    (D(2016, 1, 7), ["chase:m7:2015-12-31:n2", "escalation:m7:2015-12-31:L1"]),  # every 3 working days (twice)
    (D(2016, 1, 15), ["chase:m7:2015-12-31:n3", "escalation:m7:2015-12-31:L1", "escalation:m7:2015-12-31:L2"]),
    (D(2016, 1, 19), ["chase:m7:2015-12-31:n4", "escalation:m7:2015-12-31:L1", "escalation:m7:2015-12-31:L2"]),  # then weekly
    (D(2016, 1, 28), ["chase:m7:2015-12-31:n5", "escalation:m7:2015-12-31:L1", "escalation:m7:2015-12-31:L2"]),
    # The ladder's last level is reached: the chase series has ended.
    (D(2016, 1, 29), ["escalation:m7:2015-12-31:L1", "escalation:m7:2015-12-31:L2", "escalation:m7:2015-12-31:L3"]),
])
def test_reminder_chase_escalation_sequence(day: dt.date, expected: list[str]) -> None:
    assert keys(day, item(DUE)) == expected


def test_planned_for_dates_and_recipients() -> None:
    chase = plan_notices(item(DUE), TASK, D(2016, 1, 28), CAL, POLICY)[0][0]
    assert chase.key.endswith(":n5") and chase.planned_for == D(2016, 1, 26)  # chase 5 is on the 1 + 2·3 + 2·5 = 17th working day overdue
    assert chase.recipients == (("unit", "區交委"),) and chase.cc == ()  # supporting units: on the first chase only
    notices, freeze = plan_notices(item(DUE), TASK, D(2016, 1, 29), CAL, POLICY)
    by_kind = {n.key.split(":")[0] + (str(n.level) if n.level else ""): n for n in notices}
    supporting = (("unit", "區農委"), ("unit", "各鄉鎮人民政府"))
    assert by_kind["escalation1"].planned_for == D(2016, 1, 6) and by_kind["escalation1"].recipients == (("unit_head", "區交委"),)
    assert by_kind["escalation1"].cc == ()
    assert by_kind["escalation2"].recipients == (("official", "劉儀"),) and by_kind["escalation2"].cc == (("office", ""), *supporting)
    assert by_kind["escalation3"].recipients == (("office_head", ""), ("top_leader", "")) and by_kind["escalation3"].cc == supporting
    assert by_kind["escalation3"].days == 20
    assert freeze == POLICY.ladder  # not frozen yet: the sweep freezes the ladder in force


def test_a_task_without_lead_official_escalates_to_the_office() -> None:
    task = TaskInfo(code="3.2.7", lead_unit="區金融辦")
    assert recipients_for(("lead_officials",), task) == (("office", ""),)


def test_closed_items_owe_nothing() -> None:
    assert keys(D(2016, 1, 29), item(DUE, closed=True)) == []


def test_acknowledgement_stops_the_series_not_escalation() -> None:
    acked = {"chase:m7:2015-12-31"}
    assert keys(D(2016, 1, 15), item(DUE), acked=acked) == ["escalation:m7:2015-12-31:L1", "escalation:m7:2015-12-31:L2"]
    assert keys(D(2015, 12, 30), item(DUE), acked={"reminder:m7:2015-12-31"}) == []


def test_frozen_ladder_wins_over_a_changed_policy() -> None:
    """Editing the policy never re-fires or skips a level of an item that is already overdue."""
    frozen = POLICY.ladder
    stricter = Policy(ladder=(EscalationLevel(1, 1, "藍", ("lead_unit_head",)), EscalationLevel(2, 2, "橙", ("office",))))
    day = D(2016, 1, 6)  # 3 working days overdue
    assert keys(day, item(DUE, ladder=frozen), policy=stricter) == ["chase:m7:2015-12-31:n1", "escalation:m7:2015-12-31:L1"]
    # An item that goes overdue after the change takes the new ladder (whose last level, reached, ends the chases).
    assert keys(day, item(DUE), policy=stricter) == ["escalation:m7:2015-12-31:L1", "escalation:m7:2015-12-31:L2"]


def test_an_extension_starts_new_series() -> None:
    assert keys(D(2016, 1, 6), item(D(2016, 1, 29))) == []  # the new due date is weeks away
    assert keys(D(2016, 1, 28), item(D(2016, 1, 29))) == ["reminder:m7:2016-01-29:d1"]


# --------------------------------------------------------------------------------------------
# Holiday weeks on the official calendar


def test_national_day_2015_is_not_counted() -> None:
    due = D(2015, 9, 30)
    assert keys(D(2015, 10, 7), item(due)) == []  # the whole holiday: 0 working days overdue
    assert keys(D(2015, 10, 8), item(due)) == ["chase:m7:2015-09-30:n1"]
    # Saturday 10-10 is a make-up working day (調休): the 3rd working day overdue → level 1.
    assert keys(D(2015, 10, 10), item(due)) == ["chase:m7:2015-09-30:n1", "escalation:m7:2015-09-30:L1"]
    assert light(item(due), D(2015, 10, 10), CAL, POLICY).working_days_overdue == 3
    # Reminders count back over the holiday too: 1 working day before 10-08 is 09-30.
    assert keys(D(2015, 9, 30), item(D(2015, 10, 8))) == ["reminder:m7:2015-10-08:d1"]


def test_spring_festival_2016_is_not_counted() -> None:
    due = D(2016, 2, 5)  # Friday before the holiday
    assert light(item(due), D(2016, 2, 6), CAL, POLICY).working_days_overdue == 1  # Saturday make-up day
    assert light(item(due), D(2016, 2, 13), CAL, POLICY).working_days_overdue == 1  # 02-07..02-13 off
    assert light(item(due), D(2016, 2, 14), CAL, POLICY).working_days_overdue == 2  # Sunday make-up day
    assert light(item(due), D(2016, 2, 15), CAL, POLICY).working_days_overdue == 3
    assert keys(D(2016, 2, 13), item(due)) == ["chase:m7:2016-02-05:n1"]
    assert keys(D(2016, 2, 15), item(due)) == ["chase:m7:2016-02-05:n1", "escalation:m7:2016-02-05:L1"]


# --------------------------------------------------------------------------------------------
# Lights


def test_lights() -> None:
    start = D(2015, 7, 1)
    q = dict(start=start, quantity=Decimal(25), measure="村")
    assert light(item(DUE, **q, done_quantity=Decimal(10)), D(2015, 9, 1), CAL, POLICY).colour == "green"
    behind = light(item(DUE, **q, done_quantity=Decimal(2)), D(2015, 10, 1), CAL, POLICY)
    assert (behind.colour, behind.reason) == ("yellow", "behind_pace") and behind.expected == Decimal("12.57")  # 25 × 92/183 days
    # within the tolerance (10 % of 25 = 2.5 below the pace of 12.57) it is still on track; just past it, not
    assert light(item(DUE, **q, done_quantity=Decimal(11)), D(2015, 10, 1), CAL, POLICY).colour == "green"
    assert light(item(DUE, **q, done_quantity=Decimal(10)), D(2015, 10, 1), CAL, POLICY).colour == "yellow"
    soon = light(item(DUE, **q, done_quantity=Decimal(25)), D(2015, 12, 28), CAL, POLICY)
    assert (soon.colour, soon.reason, soon.working_days_left) == ("yellow", "due_soon", 3)
    late = light(item(DUE), D(2016, 1, 5), CAL, POLICY)
    assert (late.colour, late.working_days_overdue) == ("red", 2)
    assert light(item(DUE, closed=True), D(2016, 1, 5), CAL, POLICY).colour == "closed"
    assert worst(["green", "red", "yellow"]) == "red" and worst([]) == "closed"


def test_recurrence_instance_is_supervised_like_a_milestone() -> None:
    inst = Item(kind="instance", id=3, due=D(2018, 3, 31), start=D(2018, 3, 1), min_count=1)
    notices, _ = plan_notices(inst, TASK, D(2018, 4, 3), CAL, POLICY)
    assert [n.key for n in notices] == ["chase:i3:2018-03-31:n1"]


# --------------------------------------------------------------------------------------------
# The chase series decays and ends; supporting units are copied on the first chase only


def _chases_over(it: Item, days: int, policy: Policy = POLICY) -> dict[str, tuple[int, dt.date, tuple]]:
    """Every chase a daily sweep plans for ``days`` calendar days from the due date: key → (days, planned_for, cc)."""
    seen: dict[str, tuple[int, dt.date, tuple]] = {}
    for k in range(1, days + 1):
        day = it.due + dt.timedelta(days=k)
        for n in plan_notices(it, TASK, day, CAL, policy)[0]:
            if n.kind == "chase" and n.key not in seen:
                seen[n.key] = (n.days, n.planned_for, n.cc)
    return seen


def test_a_chase_series_runs_every_3_working_days_twice_then_weekly_and_ends_at_the_last_level() -> None:
    chases = _chases_over(item(DUE), 365)
    assert [d for d, _p, _c in chases.values()] == [1, 4, 7, 12, 17]  # none after level 3 at 20
    assert [p for _d, p, _c in chases.values()] == [CAL.add_working_days(DUE, d) for d in (1, 4, 7, 12, 17)]
    assert list(chases) == [f"chase:m7:2015-12-31:n{n}" for n in range(1, 6)]
    supporting = (("unit", "區農委"), ("unit", "各鄉鎮人民政府"))
    assert [c for _d, _p, c in chases.values()] == [supporting, (), (), (), ()]


def test_chase_policy_keys_change_the_series() -> None:
    forever = Policy(chase_every=3, chase_repeats=0, chase_then_every=3, chase_stop_after_last_level=False,
                     chase_cc_supporting="every")
    chases = _chases_over(item(DUE), 60, forever)
    assert [d for d, _p, _c in chases.values()][:8] == [1, 4, 7, 10, 13, 16, 19, 22]  # the old series, for ever
    assert all(c for _d, _p, c in chases.values())
    quiet = _chases_over(item(DUE), 60, Policy(chase_cc_supporting="none"))
    assert [c for _d, _p, c in quiet.values()] == [(), (), (), (), ()]
    # Without a ladder the series never reaches a last level: it goes on weekly.
    unladdered = _chases_over(item(DUE), 100, Policy(ladder=()))
    assert [d for d, _p, _c in unladdered.values()][:7] == [1, 4, 7, 12, 17, 22, 27]


def test_the_stop_uses_the_ladder_frozen_on_the_item() -> None:
    longer = (*POLICY.ladder, EscalationLevel(4, 40, "", ("top_leader",)))
    day = CAL.add_working_days(DUE, 22)
    assert keys(day, item(DUE, ladder=longer)) == ["chase:m7:2015-12-31:n6", *(f"escalation:m7:2015-12-31:L{n}" for n in (1, 2, 3))]
    assert keys(day, item(DUE)) == [f"escalation:m7:2015-12-31:L{n}" for n in (1, 2, 3)]


# --------------------------------------------------------------------------------------------
# Supervised from the import day

IMPORTED = D(2016, 3, 15)  # a Tuesday, months after DUE


def test_an_item_overdue_when_supervision_begins_gets_one_chase_then_the_ladder_from_that_day() -> None:
    it = item(DUE, supervised_from=IMPORTED)
    first, freeze = plan_notices(it, TASK, IMPORTED, CAL, POLICY)
    assert [n.key for n in first] == ["chase:m7:2015-12-31:n1"] and freeze == POLICY.ladder
    real = CAL.working_days_between(DUE, IMPORTED)
    assert first[0].days == real > 20 and first[0].planned_for == IMPORTED  # the letter says since when
    assert first[0].cc == (("unit", "區農委"), ("unit", "各鄉鎮人民政府"))
    after = lambda n: CAL.add_working_days(IMPORTED, n)  # noqa: E731
    assert keys(after(2), it) == ["chase:m7:2015-12-31:n1"]
    assert keys(after(3), it) == ["chase:m7:2015-12-31:n1", "escalation:m7:2015-12-31:L1"]
    assert keys(after(4), it) == ["chase:m7:2015-12-31:n2", "escalation:m7:2015-12-31:L1"]
    assert keys(after(10), it) == ["chase:m7:2015-12-31:n3", "escalation:m7:2015-12-31:L1", "escalation:m7:2015-12-31:L2"]
    assert keys(after(20), it) == [f"escalation:m7:2015-12-31:L{n}" for n in (1, 2, 3)]
    level1 = plan_notices(it, TASK, after(3), CAL, POLICY)[0][1]
    assert level1.planned_for == after(3) and level1.days == real + 3


def test_a_sweep_before_the_supervised_from_day_replays_history() -> None:
    day = D(2016, 1, 29)  # 20 working days overdue, before the import day
    assert keys(day, item(DUE, supervised_from=IMPORTED)) == keys(day, item(DUE))
    assert keys(day, item(DUE, supervised_from=IMPORTED)) == [f"escalation:m7:2015-12-31:L{n}" for n in (1, 2, 3)]


def test_an_item_due_after_its_supervised_from_day_is_supervised_as_before() -> None:
    it = item(DUE, supervised_from=D(2015, 12, 1))
    for day in (D(2015, 12, 24), D(2016, 1, 4), D(2016, 1, 15), D(2016, 1, 29)):
        assert plan_notices(it, TASK, day, CAL, POLICY) == plan_notices(item(DUE), TASK, day, CAL, POLICY)


def test_a_period_that_ended_before_supervision_began_is_not_owed_a_milestone_is() -> None:
    def instance(due: dt.date, **kw) -> Item:
        return Item(kind=ItemKind.INSTANCE, id=7, due=due, **kw)

    period = instance(DUE, supervised_from=IMPORTED)
    assert before_supervision(period.kind, DUE, IMPORTED, IMPORTED)
    for n in (0, 3, 20):
        assert keys(CAL.add_working_days(IMPORTED, n), period) == []
    assert keys(D(2016, 1, 29), period) == keys(D(2016, 1, 29), instance(DUE))  # a replay owes it
    running = instance(IMPORTED, supervised_from=IMPORTED)  # due on the import day: owed
    assert keys(CAL.add_working_days(IMPORTED, 1), running) == ["chase:i7:2016-03-15:n1"]
    assert not before_supervision(ItemKind.MILESTONE, DUE, IMPORTED, IMPORTED)
    assert not before_supervision(ItemKind.INSTANCE, DUE, None, IMPORTED)  # rows from before supervised-from days


def test_no_reminder_is_planned_before_the_supervised_from_day() -> None:
    due = D(2016, 3, 18)  # 3 working days after the import day
    reminder = plan_notices(item(due, supervised_from=IMPORTED), TASK, IMPORTED, CAL, POLICY)[0][0]
    assert reminder.key.endswith(":d5") and reminder.planned_for == IMPORTED
    replayed = plan_notices(item(due, supervised_from=IMPORTED), TASK, D(2016, 3, 11), CAL, POLICY)[0][0]
    assert replayed.planned_for == CAL.add_working_days(due, -5)


@settings(max_examples=200, deadline=None)
@given(due=st.dates(D(2015, 1, 1), D(2018, 12, 31)), lag=st.integers(1, 400), later=st.integers(0, 2))
def test_no_escalation_on_the_first_days_of_supervision(due: dt.date, lag: int, later: int) -> None:
    """Whatever was overdue when supervision began, the first sweeps (up to 2 working days on) plan no
    escalation and exactly one chase (the first) for it."""
    begun = due + dt.timedelta(days=lag)
    it = item(due, supervised_from=begun)
    today = CAL.add_working_days(begun, later) if later else begun
    notices = plan_notices(it, TASK, today, CAL, POLICY)[0]
    assert [n.kind for n in notices if n.kind == "escalation"] == []
    if CAL.working_days_between(due, begun) >= 1:
        assert [n.key for n in notices] == [f"chase:m7:{due.isoformat()}:n1"]
