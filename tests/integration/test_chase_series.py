"""A chase series over a year of daily sweeps: it decays (every 3 working days twice, then weekly) and ends
at the ladder's last level; supporting units are copied on the first chase and on levels 2 and 3 only."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from duban.store.db import open_database
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.notice_service import list_notices
from duban.workflows.sweep_service import sweep
from tests.support import POLICY, SHANGHAI, at


@pytest.fixture
def one_milestone(tmp_path: Path, sqlite_url: str):
    (tmp_path / "u.yaml").write_text(
        "units:\n  - {name: 區金融辦, emails: [jrb@example.org]}\n  - {name: 工商銀行, emails: [icbc@example.org]}\n"
        "  - {name: 農業銀行, emails: [abc@example.org]}\n", encoding="utf-8")
    plan = tmp_path / "p.yaml"
    plan.write_text("plan: {code: bank, title: 金融扶貧, base_year: 2015}\ndirectory: u.yaml\n"
                    "tasks:\n  - {code: '3.2.7', title: 金融扶貧, lead_unit: 區金融辦, supporting_units: [工商銀行, 農業銀行],"
                    " deadline: 2015年12月31日}\n", encoding="utf-8")
    engine = open_database(sqlite_url)
    import_file(engine, plan, PlanOptions(), now=at(2015, 7, 1))
    yield engine
    engine.dispose()


def test_a_year_of_daily_sweeps_chases_an_overdue_milestone_five_times(one_milestone) -> None:
    day = dt.date(2016, 1, 1)
    while day <= dt.date(2016, 12, 31):
        sweep(one_milestone, now=dt.datetime.combine(day, dt.time(8, 30), SHANGHAI), policies=POLICY)
        day += dt.timedelta(days=1)
    rows = list_notices(one_milestone)
    chases = [(r["days"], r["planned_for"]) for r in rows if r["kind"] == "chase"]
    # 1, 4, 7 working days overdue, then weekly (12, 17); level 3 comes on the 20th (2016-01-29): no more.
    assert chases == [(1, "2016-01-04"), (4, "2016-01-07"), (7, "2016-01-12"), (12, "2016-01-19"), (17, "2016-01-26")]
    banks = [{"role": "unit", "name": "工商銀行"}, {"role": "unit", "name": "農業銀行"}]
    assert [r["cc"] for r in rows if r["kind"] == "chase"] == [banks, [], [], [], []]
    escalations = {r["level"]: r for r in rows if r["kind"] == "escalation"}
    assert sorted(escalations) == [1, 2, 3] and escalations[3]["planned_for"] == "2016-01-29"
    assert escalations[1]["cc"] == [] and escalations[2]["cc"] == [{"role": "office", "name": ""}, *banks]
    assert escalations[3]["cc"] == banks
    # What each bank is sent over the year: the first chase and levels 2 and 3 (was 87 chases in the demo).
    assert sum(1 for r in rows for c in r["cc"] if c["name"] == "工商銀行") == 3
