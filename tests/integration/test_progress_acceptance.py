"""Supporting units' parts (配合单位报送，待确认) on SQLite and PostgreSQL, in process: a supporting unit's report
through its link waits, counts nothing and leaves the milestone chased; the lead unit (its link) or the office
accepts it — added to the cumulative figure, closing the milestone when the target is reached — or refuses it
with a reason; the lead's, a co-lead's and the office's own entries count at once as before."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from duban.matrix.errors import NotFound, Refused
from duban.store.db import transaction
from duban.store.tables import EventRow, MilestoneRow, NoticeRow, ProgressReportRow, TaskRow, TaskUnitRow, UnitRow
from duban.workflows import link_service as L
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.progress_service import accept_report, pending_reports, refuse_report, report_progress
from duban.workflows.sweep_service import sweep
from tests.support import PLANS, POLICY, at

PLAN = "district-2015"
NOW = at(2016, 1, 15, 10)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def district(engine):
    import_file(engine, PLANS / f"{PLAN}.yaml", PlanOptions(), now=at(2015, 7, 1))
    sweep(engine, now=at(2016, 1, 8, 8), policies=POLICY)
    return engine


def link_of(engine, unit: str) -> L.Link:
    return L.verify(engine, L.issue(engine, plan=PLAN, unit=unit, on=dt.date(2016, 1, 12))["token"], now=NOW)


def first_milestone(engine, task: str = "3.2.1") -> MilestoneRow:
    with transaction(engine) as s:
        return s.execute(sa.select(MilestoneRow).join(TaskRow, TaskRow.id == MilestoneRow.task_id)
                         .where(TaskRow.code == task).order_by(MilestoneRow.seq)).scalars().first()


def events(engine, *kinds: str) -> list[EventRow]:
    with transaction(engine) as s:
        return list(s.execute(sa.select(EventRow).where(EventRow.kind.in_(kinds)).order_by(EventRow.id)).scalars())


def test_a_supporting_units_part_waits_counts_nothing_and_the_milestone_stays_chased(district) -> None:
    m = first_milestone(district)
    assert m.closed_at is None and m.done_quantity is None and m.quantity == 25
    supporting = link_of(district, "區農委")
    result = L.report(district, supporting, f"m{m.id}", now=NOW, client="203.0.113.9", done="25", note="農委負責的25個村")
    assert result["state"] == "pending" and result["item"]["done_quantity"] is None and not result["item"]["closed"]
    assert "待确认" in result["warnings"][0]
    after = first_milestone(district)
    assert (after.done_quantity, after.closed_at, after.last_report_at) == (None, None, None)
    waiting = pending_reports(district, plan=PLAN)
    assert [(p["report_id"], p["task"], p["unit"], p["lead_unit"], p["done"], p["item"]) for p in waiting] == [
        (result["report_id"], "3.2.1", "區農委", "區交委", 25, "#1")]
    assert pending_reports(district, plan=PLAN, lead_unit="區交委") == waiting
    assert pending_reports(district, plan=PLAN, lead_unit="區農委") == []
    # the lead unit's link page lists it to decide; the supporting unit's its own part, waiting
    lead = link_of(district, "區交委")
    assert [p["report_id"] for p in L.parts(district, lead)["to_decide"]] == [result["report_id"]]
    mine = L.parts(district, supporting)
    assert mine["to_decide"] == [] and [p["state"] for p in mine["mine"]] == ["pending"]
    (ev,) = events(district, "progress.pending")
    assert ev.data["report_id"] == result["report_id"] and supporting.link_id in ev.actor
    assert events(district, "progress.reported", "item.closed") == []
    # still chased: the next sweep writes a notice for the milestone as it would without the report
    sweep(district, now=at(2016, 1, 19, 8), policies=POLICY)
    with transaction(district) as s:
        chased = s.execute(sa.select(NoticeRow.kind).where(
            NoticeRow.milestone_id == m.id, NoticeRow.planned_for == dt.date(2016, 1, 19))).scalars().all()
    assert chased == ["chase"]


def test_the_lead_units_acceptance_makes_the_part_count_and_can_close_the_milestone(district) -> None:
    m = first_milestone(district)
    report_progress(district, task="3.2.1", unit="區交委", done="20", now=at(2016, 1, 10))  # the lead's own: at once
    assert first_milestone(district).done_quantity == 20
    part = L.report(district, link_of(district, "區農委"), f"m{m.id}", now=NOW, client="c", done="3", note="3個村")
    assert part["state"] == "pending" and first_milestone(district).done_quantity == 20
    lead = link_of(district, "區交委")
    with pytest.raises(NotFound, match="不是"):  # a supporting unit's link cannot decide
        L.decide_part(district, link_of(district, "區農委"), part["report_id"], accept=True, now=NOW, client="c")
    accepted = L.decide_part(district, lead, part["report_id"], accept=True, now=NOW, client="198.51.100.4")
    assert accepted["state"] == "accepted" and accepted["counted_on"] == "2016-01-15"
    assert accepted["item"]["done_quantity"] == 23 and not accepted["item"]["closed"]  # parts add to the total
    second = L.report(district, link_of(district, "區農委"), f"m{m.id}", now=NOW, client="c", done="2", note="又2個村")
    closed = L.decide_part(district, lead, second["report_id"], accept=True, now=NOW, client="c")
    assert closed["item"]["done_quantity"] == 25 and closed["item"]["closed"]
    (ev, _) = events(district, "progress.accepted")
    assert lead.link_id in ev.actor and ev.data["part"] == 3 and ev.data["done"] == 23
    assert [e.data["action"] for e in events(district, "link.used")] == ["report", "accept", "report", "accept"]
    assert [e.data["reason"] for e in events(district, "item.closed")] == ["target reached"]
    with pytest.raises(Refused, match="already accepted"):
        accept_report(district, report_id=part["report_id"], now=NOW, actor="王五")
    assert pending_reports(district, plan=PLAN) == []


def make_co_lead(engine, task_id: int, unit: str) -> int:
    with transaction(engine) as s:
        unit_id = s.execute(sa.select(UnitRow.id).where(UnitRow.name == unit)).scalar_one()
        s.execute(sa.update(TaskUnitRow).where(TaskUnitRow.task_id == task_id, TaskUnitRow.unit_id == unit_id)
                  .values(role="co_lead"))
    return unit_id


def test_a_co_lead_unit_decides_parts_a_supporting_unit_never_and_no_unit_its_own(district) -> None:
    m = first_milestone(district)
    make_co_lead(district, m.task_id, "區城鄉建委")  # 共同牽頭 of 3.2.1
    part = L.report(district, link_of(district, "區農委"), f"m{m.id}", now=NOW, client="c", done="3", note="3個村")
    assert part["state"] == "pending"
    co_lead = link_of(district, "區城鄉建委")
    assert [p["report_id"] for p in L.parts(district, co_lead)["to_decide"]] == [part["report_id"]]
    # a supporting unit of the task cannot decide: not listed for it, refused by the service, nothing changed
    with transaction(district) as s:
        farm, other = (s.execute(sa.select(UnitRow.id).where(UnitRow.name == n)).scalar_one() for n in ("區農委", "區民宗委"))
    supporting = link_of(district, "區民宗委")  # another supporting unit of 3.2.1
    assert L.parts(district, supporting)["to_decide"] == []
    with pytest.raises(NotFound, match="不是"):
        L.decide_part(district, supporting, part["report_id"], accept=True, now=NOW, client="c")
    with pytest.raises(Refused, match="a co-lead unit or the office"):
        accept_report(district, report_id=part["report_id"], now=NOW, actor="x", lead_unit_id=other)
    with pytest.raises(Refused, match="own part"):  # the supporting unit itself
        refuse_report(district, report_id=part["report_id"], now=NOW, actor="x", reason="r", lead_unit_id=farm)
    with transaction(district) as s:
        assert s.get(ProgressReportRow, part["report_id"]).state == "pending"
    assert events(district, "progress.accepted", "progress.refused") == []
    assert first_milestone(district).done_quantity is None
    accepted = L.decide_part(district, co_lead, part["report_id"], accept=True, now=NOW, client="198.51.100.7")
    assert accepted["state"] == "accepted" and accepted["item"]["done_quantity"] == 3
    (ev,) = events(district, "progress.accepted")
    assert co_lead.link_id in ev.actor
    # a unit that became a co-lead after sending a part still may not decide its own part
    own = L.report(district, link_of(district, "區農委"), f"m{m.id}", now=NOW, client="c", done="2")
    make_co_lead(district, m.task_id, "區農委")
    farm_link = link_of(district, "區農委")
    assert L.parts(district, farm_link)["to_decide"] == []
    with pytest.raises(NotFound, match="不是"):
        L.decide_part(district, farm_link, own["report_id"], accept=True, now=NOW, client="c")
    with pytest.raises(Refused, match="own part"):
        accept_report(district, report_id=own["report_id"], now=NOW, actor="x", lead_unit_id=farm)
    assert [p["report_id"] for p in L.parts(district, co_lead)["to_decide"]] == [own["report_id"]]
    with transaction(district) as s:
        assert s.get(ProgressReportRow, own["report_id"]).state == "pending"


def test_the_offices_refusal_keeps_the_part_out_with_its_reason(district, tmp_path) -> None:
    from duban.store.evidence import EvidenceStore
    from duban.workflows.progress_service import evidence_by_task

    m = first_milestone(district)
    part = L.report(district, link_of(district, "區農委"), f"m{m.id}", now=NOW, client="c", done="25",
                    files=[("台账.pdf", PDF)], store=EvidenceStore(tmp_path / "evidence", max_bytes=10_000))
    assert evidence_by_task(district, plan=PLAN, until=at(2016, 2, 1)) == {}  # the weekly report: not while pending
    with pytest.raises(Refused, match="needs a reason"):
        refuse_report(district, report_id=part["report_id"], now=NOW, actor="王五", reason="  ")
    with pytest.raises(NotFound, match="no progress report #999999"):
        accept_report(district, report_id=999999, now=NOW, actor="王五")
    with transaction(district) as s:
        assert s.get(ProgressReportRow, part["report_id"]).state == "pending"
    refused = refuse_report(district, report_id=part["report_id"], now=NOW, actor="王五", reason="数字与台账不符")
    assert refused["state"] == "refused" and refused["reason"] == "数字与台账不符"
    assert first_milestone(district).done_quantity is None and first_milestone(district).closed_at is None
    (ev,) = events(district, "progress.refused")
    assert ev.actor == "王五" and ev.data["reason"] == "数字与台账不符" and ev.data["unit"] == "區農委"
    mine = L.parts(district, link_of(district, "區農委"))["mine"]
    assert [(p["state"], p["reason"], p["decided_by"]) for p in mine] == [("refused", "数字与台账不符", "王五")]
    assert [f["name"] for f in mine[0]["files"]] == ["台账.pdf"]
    assert evidence_by_task(district, plan=PLAN, until=at(2016, 2, 1)) == {}
    with pytest.raises(Refused, match="already refused"):
        accept_report(district, report_id=part["report_id"], now=NOW, actor="王五")


def test_the_lead_a_co_lead_and_the_offices_own_entries_count_at_once(district) -> None:
    m = first_milestone(district)
    lead = L.report(district, link_of(district, "區交委"), f"m{m.id}", now=NOW, client="c", done="10")
    assert lead["state"] == "counted" and lead["item"]["done_quantity"] == 10
    with transaction(district) as s:
        builder = s.execute(sa.select(UnitRow.id).where(UnitRow.name == "區城鄉建委")).scalar_one()
        s.execute(sa.update(TaskUnitRow).where(TaskUnitRow.task_id == m.task_id, TaskUnitRow.unit_id == builder)
                  .values(role="co_lead"))
    co = L.report(district, link_of(district, "區城鄉建委"), f"m{m.id}", now=NOW, client="c", done="12")
    assert co["state"] == "counted" and co["item"]["done_quantity"] == 12
    office = report_progress(district, task="3.2.1", unit="區農委", done="14", now=NOW)  # the office enters it
    assert office["state"] == "counted" and office["item"]["done_quantity"] == 14
    assert pending_reports(district) == [] and events(district, "progress.pending") == []


def test_the_task_page_lists_pending_parts_and_the_weekly_facts_count_only_accepted_ones(district) -> None:
    from duban.matrix.calendar import WorkCalendar
    from duban.store.report_queries import read_snapshot
    from duban.workflows.task_pages_service import task_page

    m = first_milestone(district)
    waiting = L.report(district, link_of(district, "區農委"), f"m{m.id}", now=NOW, client="c", done="4")
    page = task_page(district, now=NOW, policies=POLICY, calendar=WorkCalendar(), plans=[PLAN], plan=PLAN,
                     code="3.2.1")
    assert [(r["id"], r["state"]) for r in page["pending"]] == [(waiting["report_id"], "pending")]
    assert [r["state"] for r in page["reports"]] == ["pending"]
    report_progress(district, task="3.2.1", unit="區交委", done="20", now=at(2016, 1, 16))
    accept_report(district, report_id=waiting["report_id"], now=at(2016, 1, 18, 10), actor="王五")
    assert first_milestone(district).done_quantity == 24
    snap = read_snapshot(district, plan=PLAN, as_of=dt.date(2016, 1, 20), tz=dt.UTC, ack_kinds=[],
                         ack_since=dt.date(2016, 1, 1), period_start=dt.date(2016, 1, 14))
    (item,) = [i for t in snap.tasks for i in t.items if i.kind.value == "milestone" and i.id == m.id]
    assert item.done_at(dt.date(2016, 1, 15)) is None  # pending then: not counted
    assert item.done_at(dt.date(2016, 1, 17)) == 20
    assert item.done_at(dt.date(2016, 1, 18)) == 24  # counted from its acceptance, added


def test_the_command_line_lists_accepts_and_refuses_parts(district, db_url, tmp_path, monkeypatch) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the command line is exercised once, on SQLite")
    import json

    import typer
    from typer.testing import CliRunner

    import duban.workflows.cli_common as cli_common
    from duban.workflows.cli_progress import progress_app

    app = typer.Typer()
    app.add_typer(progress_app, name="progress")
    monkeypatch.setenv("DUBAN_DATABASE_URL", db_url)
    monkeypatch.setenv("DUBAN_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setattr(cli_common._State, "app", None)
    m = first_milestone(district)
    supporting = link_of(district, "區農委")
    one = L.report(district, supporting, f"m{m.id}", now=NOW, client="c", done="3", note="3個村")["report_id"]
    two = L.report(district, supporting, f"m{m.id}", now=NOW, client="c", done="30")["report_id"]
    run = CliRunner().invoke
    listed = run(app, ["progress", "pending", "--plan", PLAN])
    assert listed.exit_code == 0, listed.output
    assert f"#{one} 3.2.1 #1 區農委 (lead 區交委): 3村 on 2016-01-15 — 3個村 [pending]" in " ".join(listed.output.split())
    accepted = run(app, ["progress", "accept", str(one), "--by", "王五", "--as-of", "2016-01-16"])
    assert accepted.exit_code == 0, accepted.output
    assert "accepted: 區農委's part on 3.2.1 milestone 1 counts from 2016-01-16; now 3/25村" in " ".join(accepted.output.split())
    refused = run(app, ["progress", "accept", str(two), "--refuse", "--reason", "超出任务量", "--json"])
    assert refused.exit_code == 0, refused.output
    assert json.loads(refused.output)["state"] == "refused"
    bad = run(app, ["progress", "accept", str(two)])
    assert bad.exit_code != 0 and "already refused" in str(bad.exception)
    assert json.loads(run(app, ["progress", "pending", "--json"]).output) == []
    assert first_milestone(district).done_quantity == 3


def test_a_supporting_units_answer_by_document_through_its_link_waits_too(engine) -> None:
    from tests.support import FIXTURES

    plan = "county-spiritual"
    import_file(engine, FIXTURES / "progress_document" / f"{plan}.yaml", PlanOptions(), now=at(2018, 1, 2))
    day, now = dt.date(2018, 6, 1), at(2018, 6, 1, 10)
    link = L.verify(engine, L.issue(engine, plan=plan, unit="縣文明辦", on=day)["token"], now=now)
    made = L.propose_document(engine, link, ("文明辦進展.txt", "县文明办协助招募精神扶贫志愿者20名。\n".encode()),
                              max_bytes=10_000)
    (proposal,) = [p for p in made["proposals"] if p["task"] == "3"]
    (result,) = L.confirm_document(engine, link, carry=made["carry"], carry_sig=made["carry_sig"],
                                   chosen=[str(proposal["number"])], now=now, client="c")
    assert result["state"] == "pending" and result["item"]["done_quantity"] is None
    lead = L.verify(engine, L.issue(engine, plan=plan, unit="縣扶貧辦", on=day)["token"], now=now)
    (waiting,) = L.parts(engine, lead)["to_decide"]
    assert (waiting["report_id"], waiting["done"], waiting["source"]) == (result["report_id"], 20, "document")
    assert L.decide_part(engine, lead, waiting["report_id"], accept=True, now=now, client="c")["item"]["done_quantity"] == 20
