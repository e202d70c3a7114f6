"""The seed plans (shared/seeds, encoded by hand in config/plans) import, and say what the text says."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from duban.matrix.loaders import load_plan
from duban.store import repository as repo
from duban.store.db import transaction
from duban.workflows.matrix_service import PlanOptions, import_file
from tests.support import PLANS, at

D = dt.date


@pytest.mark.parametrize("name, tasks, stages", [
    ("district-2015", 23, 9),
    ("village-2018", 13, 0),
    ("township-spiritual", 10, 0),
    ("branch-2011", 7, 0),  # 2.1 owes each household the year, 春節 and 暑期 (they were 2.1, 2.2, 2.3)
])
def test_each_seed_plan_imports(engine, name: str, tasks: int, stages: int) -> None:
    loaded, result = import_file(engine, PLANS / f"{name}.yaml", PlanOptions(), now=at(2015, 7, 1))
    assert len(result.added) == tasks
    with transaction(engine) as s:
        plan = repo.read_plan(s, name)
    assert len(plan.tasks) == tasks and len(plan.stages) == stages
    for task in plan.tasks:
        assert task.milestones or task.recurrences, task.code


def test_district_plan_facts_match_the_text() -> None:
    plan = load_plan(PLANS / "district-2015.yaml").plan
    t = plan.task
    assert t("3.1").lead_unit == "區扶貧辦"
    assert [str(o) for o in t("3.1").lead_officials] == ["林光(區人民政府副區長)"]
    assert t("3.1").milestones[0].due == D(2015, 7, 10)  # 2015年7月初
    assert t("3.2.1").lead_unit == "區交委"
    assert len(t("3.2.1").supporting_units) == 8
    assert [(m.due, m.quantity, m.measure) for m in t("3.2.1").milestones] == [
        (D(2015, 12, 31), Decimal(25), "村"), (D(2016, 12, 31), Decimal(40), "村")]
    assert t("3.2.7").lead_officials == ()  # 金融扶貧 names no lead official
    assert len(t("3.2.7").supporting_units) == 16
    assert t("3.3").lead_unit == "區審計局" and "區紀委(監察局)" in t("3.3").supporting_units
    assert [m.due for m in t("3.3").milestones] == [D(2016, 12, 31)]
    assert [m.due for m in t("3.4.1").milestones] == [D(2015, 12, 31), D(2016, 12, 31)]
    assert t("3.5").milestones[0].due == D(2015, 7, 31)  # 2015年7月
    six = t("3.6")
    assert [(o.name, o.title) for o in six.lead_officials] == [("楊宏偉", "區委書記"), ("徐江", "區委副書記、區長")]
    assert six.lead_unit == "區扶貧開發領導小組" and six.veto
    assert [o.name for o in t("3.2.5").lead_officials] == ["夏于峰"]
    assert t("3.2.5").lead_officials[0].title == "區委常委、區人民政府常務副區長"
    stages = {s.code: s for s in plan.stages}
    assert [m.due for m in stages["S1"].milestones] == [D(2015, 7, 17)]
    assert [m.due for m in stages["S3"].milestones] == [D(2015, 12, 31), D(2016, 10, 31)]
    assert [m.due for m in stages["W2"].milestones] == [D(2015, 7, 20)]
    officials = {o.name: o for o in plan.officials}
    assert officials["林光"].email == "lin.guang@example.org"


def test_village_plan_measures_and_monthly_obligation() -> None:
    plan = load_plan(PLANS / "village-2018.yaml").plan
    t = plan.task
    visits = t("2.3").recurrences
    assert len(visits) == 1 and visits[0].freq == "monthly" and visits[0].min_count == 1
    assert t("2.5").milestones[0].due == D(2021, 1, 1)  # 三年時間內 from the plan start 2018-01-01
    assert t("3.1").lead_unit == "局機關黨委" and t("3.1").supporting_units == ("局駐村工作組",)
    assert t("3.2").lead_unit == "局駐村工作組" and t("3.2").supporting_units == ("市XXXXXX公司",)
    assert t("3.4").supporting_units == ("市XXX黨委", "局駐村工作組")


def test_branch_plan_recurring_money_and_visits() -> None:
    plan = load_plan(PLANS / "branch-2011.yaml").plan
    t = plan.task
    # 每年每戶不少於伍百元，其中春節不少於三百元，暑期時候不少於二百元, owed to each of four households
    owed = t("2.1").recurrences
    assert len(owed) == 12
    assert [r.beneficiary for r in owed[:3]] == ["貧困戶之一"] * 3 and owed[-1].beneficiary == "貧困戶之四"
    yearly, spring, summer = owed[:3]
    assert yearly.freq == "yearly" and yearly.min_amount == Decimal(500) and yearly.amount_unit == "元"
    assert spring.anchor == "spring_festival" and spring.min_amount == Decimal(300)
    assert summer.anchor == "summer" and summer.min_amount == Decimal(200)
    assert t("3.2").milestones[0].due == D(2012, 1, 23)  # 春節 2012
    assert t("3.1").milestones[0].due == D(2011, 8, 31)  # 暑期


def test_township_plan_is_owned_by_the_villages() -> None:
    plan = load_plan(PLANS / "township-spiritual.yaml").plan
    assert len(plan.tasks) == 10
    assert sum(t.lead_unit == "各村" for t in plan.tasks) >= 7
