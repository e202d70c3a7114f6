"""Stored lights (``workflows.lights_service``) on SQLite and PostgreSQL: they agree with `duban status`,
are computed again whole on a new day or other rules, only for the tasks an event names otherwise, and
not at all when nothing moved."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
import sqlalchemy as sa

from duban.matrix.calendar import WorkCalendar
from duban.store.db import transaction
from duban.store.tables import LightStateRow, TaskLightRow, TaskRow
from duban.workflows import lights_service
from duban.workflows.console_service import overview
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.progress_service import close_item
from duban.workflows.status_service import status
from tests.support import PLANS, POLICY, at

CAL = WorkCalendar()


@pytest.fixture
def district(engine):
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    return engine


def _stored(engine) -> dict[str, str]:
    with transaction(engine) as s:
        return dict(s.execute(sa.select(TaskRow.code, TaskLightRow.light).join(TaskRow, TaskRow.id == TaskLightRow.task_id)).all())


def _overdue(engine) -> dict[int, int]:
    with transaction(engine) as s:
        return dict(s.execute(sa.select(TaskLightRow.task_id, TaskLightRow.working_days_overdue)).all())


def test_stored_lights_agree_with_status_and_the_overview_counts_them(district) -> None:
    now = at(2016, 1, 15)
    view = overview(district, now=now, policies=POLICY, calendar=CAL, plans=["district-2015"])
    (plan,) = view["plans"]
    rows = status(district, now=now, policies=POLICY, plan="district-2015", calendar=CAL)
    expected = Counter(r["light"] for r in rows)
    ongoing = sum(1 for r in rows if r["light"] == "green" and all(i["ongoing"] for i in r["items"] if i["light"] != "closed")
                  and any(i["light"] != "closed" for i in r["items"]))
    expected["green"] -= ongoing
    expected["ongoing"] += ongoing
    assert plan["lights"] == {k: expected.get(k, 0) for k in ("red", "yellow", "green", "closed", "ongoing")}
    assert plan["tasks"] == len(rows) == 23 and plan["lights"]["red"] > 0
    stored = _stored(district)
    assert {r["code"]: r["light"] for r in rows if r["light"] != "green"} == {c: lt for c, lt in stored.items() if lt not in ("green", "ongoing")}
    overdue = sum(1 for r in rows for i in r["items"] if i["light"] != "closed" and i["working_days_overdue"])
    assert sum(plan["overdue"].values()) == overdue > 0


def test_nothing_moved_nothing_computed_an_event_recomputes_its_task_a_new_day_the_plan(district, monkeypatch) -> None:
    now = at(2016, 1, 15)
    computed: list[list[int] | None] = []  # the task ids each computation was asked for (None: the plan)
    real = lights_service.evaluate

    def spy(engine, **kw):
        computed.append(kw.get("task_ids"))
        return real(engine, **kw)

    monkeypatch.setattr(lights_service, "evaluate", spy)

    def fresh(day=now, policies=POLICY):
        lights_service.fresh(district, now=day, policies=policies, calendar=CAL, plans=["district-2015"])
        return computed.pop() if computed else "nothing"

    assert fresh() is None  # first: the whole plan
    assert fresh() == "nothing"
    before = _stored(district)
    red = next(c for c, lt in before.items() if lt == "red")
    lead = next(r["lead_unit"] for r in status(district, now=now, policies=POLICY, plan="district-2015", calendar=CAL)
                if r["code"] == red)
    close_item(district, task=red, unit=lead, now=now, evidence="名冊已印發")
    with transaction(district) as s:
        red_id = s.execute(sa.select(TaskRow.id).where(TaskRow.code == red)).scalar_one()
    assert fresh() == [red_id]  # the event names the task: that task only
    after = _stored(district)
    assert after[red] == "closed"
    assert {c: lt for c, lt in after.items() if c != red} == {c: lt for c, lt in before.items() if c != red}
    assert fresh() == "nothing"
    overdue_then = _overdue(district)
    assert fresh(day=at(2016, 6, 1)) is None  # a new day: the whole plan again
    with transaction(district) as s:
        assert s.execute(sa.select(LightStateRow.as_of)).scalar_one() == at(2016, 6, 1).date()
    assert sum(_overdue(district).values()) > sum(overdue_then.values())  # months later, longer overdue
    other = dataclasses.replace(POLICY, base={**POLICY.base, "note": "changed"}, _cache={})
    assert fresh(day=at(2016, 6, 1), policies=other) is None  # other rules: again
