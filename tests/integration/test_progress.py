"""Progress reports, closing (辦結) and extension requests on SQLite and PostgreSQL: refusals change nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from duban.matrix.errors import NotFound, Refused, ValidationFailed
from duban.store import repository as repo
from duban.store.db import transaction
from duban.store.tables import ExtensionRow, MilestoneRow, RecurrenceInstanceRow, TaskRow
from duban.workflows.extension_service import decide_extension, list_extensions, request_extension
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.progress_service import close_item, import_progress, report_progress
from tests.support import PLANS, at

DISTRICT = "district-2015"
ITEM_KEYS = {"kind", "id", "seq", "period", "due", "planned_due", "extended_due", "quantity", "measure", "done_quantity",
             "percent", "beneficiary", "min_count", "min_amount", "amount_unit", "done_count", "done_amount", "closed", "closed_at",
             "closed_by", "evidence"}


@pytest.fixture
def district(engine):
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    return engine


@pytest.fixture
def village(engine):
    import_file(engine, PLANS / "village-2018.yaml", PlanOptions(), now=at(2018, 1, 1))
    return engine


def state(engine) -> dict:
    """Everything a report, close or extension could touch."""
    with engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
                  for t in ("progress_report", "event", "extension", "recurrence_instance")}
        milestones = conn.execute(sa.select(MilestoneRow.id, MilestoneRow.done_quantity, MilestoneRow.done_percent,
                                            MilestoneRow.closed_at, MilestoneRow.extended_due, MilestoneRow.last_report_at)
                                  .order_by(MilestoneRow.id)).all()
        instances = conn.execute(sa.select(RecurrenceInstanceRow.id, RecurrenceInstanceRow.done_count,
                                           RecurrenceInstanceRow.done_amount, RecurrenceInstanceRow.closed_at)
                                 .order_by(RecurrenceInstanceRow.id)).all()
    return {"counts": counts, "milestones": milestones, "instances": instances}


def milestone(engine, code: str, seq: int = 0, plan: str = DISTRICT) -> MilestoneRow:
    with transaction(engine) as s:
        plan_id = repo.plan_row(s, plan).id
        return s.execute(sa.select(MilestoneRow).join(TaskRow, TaskRow.id == MilestoneRow.task_id)
                         .where(TaskRow.plan_id == plan_id, TaskRow.code == code, MilestoneRow.seq == seq)).scalar_one()


def history(engine, code: str, plan: str = DISTRICT) -> list:
    with transaction(engine) as s:
        return repo.history(s, plan, code)


# --------------------------------------------------------------------------------------------
# Evidence files with a report (佐證材料): checked and stored as closing requests' files are

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


@pytest.fixture
def store(tmp_path: Path):
    from duban.store.evidence import EvidenceStore

    return EvidenceStore(tmp_path / "evidence", max_bytes=1000)


def stored(store) -> list[str]:
    return sorted(p.name for p in store.root.rglob("*") if p.is_file()) if store.root.exists() else []


def evidence_rows(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT e.report_id, e.position, e.name, f.size, f.content_type FROM progress_evidence e "
            "JOIN evidence_file f ON f.sha256 = e.sha256 ORDER BY e.report_id, e.position"))]


def test_a_report_carries_evidence_files_listed_on_the_task_page_and_downloadable(district, store) -> None:
    import hashlib

    from duban.matrix.calendar import WorkCalendar
    from duban.workflows.progress_service import evidence_file
    from duban.workflows.task_pages_service import task_page
    from tests.support import POLICY

    r = report_progress(district, task="3.2.1", unit="區交委", done="18", note="18個村完成", reported_by="張三",
                        files=[("驗收報告.pdf", PDF), ("現場照片.png", PNG), ("副本.pdf", PDF)], store=store,
                        now=at(2015, 11, 2))
    assert [(f["name"], f["content_type"], f["size"]) for f in r["files"]] == [
        ("驗收報告.pdf", "application/pdf", len(PDF)), ("現場照片.png", "image/png", len(PNG))]  # same contents once
    pdf, png = hashlib.sha256(PDF).hexdigest(), hashlib.sha256(PNG).hexdigest()
    assert stored(store) == sorted([pdf, png]) and store.read(pdf) == PDF
    assert evidence_rows(district) == [(r["report_id"], 0, "驗收報告.pdf", len(PDF), "application/pdf"),
                                       (r["report_id"], 1, "現場照片.png", len(PNG), "image/png")]
    (event,) = [e for e in history(district, "3.2.1") if e.kind == "progress.reported"]
    assert event.actor == "張三" and event.data["files"] == ["驗收報告.pdf", "現場照片.png"]
    # a report with files alone is a note-only report; reaching the target closes with the files as evidence
    report_progress(district, task="3.2.1", unit="區交委", files=[("照片2.png", PNG)], store=store, now=at(2015, 11, 3))
    closing = report_progress(district, task="3.2.1", unit="區交委", done="25", files=[("竣工.pdf", PDF)], store=store,
                              now=at(2015, 12, 20))
    assert closing["item"]["closed"] is True and milestone(district, "3.2.1").evidence == "竣工.pdf"
    assert stored(store) == sorted([pdf, png])  # the same contents are kept once across reports
    page = task_page(district, now=at(2015, 12, 21), policies=POLICY, calendar=WorkCalendar(), plans=[DISTRICT],
                     plan=DISTRICT, code="3.2.1")
    assert [[f["name"] for f in x["files"]] for x in page["reports"]] == [
        ["驗收報告.pdf", "現場照片.png"], ["照片2.png"], ["竣工.pdf"]]
    assert page["reports"][0]["files"][0]["sha256"] == pdf
    info = evidence_file(district, pdf)  # the download route's permission: the plans whose reports list it
    assert info is not None and info["plans"] == [DISTRICT] and info["names"] == ["驗收報告.pdf", "竣工.pdf"]
    assert evidence_file(district, "0" * 64) is None


@pytest.mark.parametrize("name, data, message", [
    ("setup.exe", b"MZ\x90\x00", r"evidence file setup\.exe: type \.exe is not accepted; evidence may be PDF, PNG"),
    ("big.pdf", PDF + b"0" * 1000, r"evidence file big\.pdf: is 1\d\d\d bytes, more than the 1000 bytes"),
    ("報告.pdf", b"MZ\x90\x00 not a pdf", r"evidence file 報告\.pdf: its contents are not a PDF"),
], ids=["exe", "too-large", "renamed"])
def test_a_refused_evidence_file_changes_nothing(district, store, name: str, data: bytes, message: str) -> None:
    report_progress(district, task="3.2.1", unit="區交委", done="5", now=at(2015, 10, 1))
    before = state(district)
    with pytest.raises(Refused, match=message):
        report_progress(district, task="3.2.1", unit="區交委", done="18", note="x",
                        files=[("ok.pdf", PDF), (name, data)], store=store, now=at(2015, 11, 2))
    # a good file with a report refused for another reason is not kept either
    with pytest.raises(NotFound, match="no task '9.9'"):
        report_progress(district, task="9.9", unit="區交委", done="18", files=[("ok.pdf", PDF)], store=store,
                        now=at(2015, 11, 2))
    assert state(district) == before and evidence_rows(district) == [] and stored(store) == []


def test_the_weekly_report_lists_progress_evidence_with_closing_evidence_each_name_once(district, store,
                                                                                         tmp_path: Path) -> None:
    from duban.config.settings import Settings
    from duban.workflows.closing_service import request_closing
    from duban.workflows.report_service import weekly_report
    from tests.support import POLICY

    request_closing(district, task="3.2.1", unit="區交委", files=[("驗收報告.pdf", PDF)], now=at(2015, 12, 15),
                    store=store)
    report_progress(district, task="3.2.1", unit="區交委", done="20",
                    files=[("驗收報告.pdf", PDF), ("照片.png", PNG)], store=store, now=at(2015, 12, 16))
    report_progress(district, task="3.3", unit="區審計局", percent="50", files=[("審計.pdf", PDF)], store=store,
                    now=at(2015, 12, 16))
    report_progress(district, task="3.3", unit="區審計局", percent="60", files=[("later.pdf", PDF)], store=store,
                    now=at(2015, 12, 19))  # after the report's day: not listed
    result = weekly_report(district, now=at(2015, 12, 18, 18), policies=POLICY,
                           settings=Settings(config_dir=tmp_path / "cfg"), out_dir=tmp_path / "out", formats=["md"])
    evidence = {t.code: t.evidence for t in result["model"].tasks if t.evidence}
    assert evidence == {"3.2.1": ("驗收報告.pdf", "照片.png"), "3.3": ("審計.pdf",)}
    md = Path(result["files"]["md"]).read_text(encoding="utf-8")
    assert "佐证材料：验收报告.pdf、照片.png" in md and "later.pdf" not in md


# --------------------------------------------------------------------------------------------
# Reports on milestones


def test_report_updates_the_milestone_and_is_in_history(district) -> None:
    result = report_progress(district, task="3.2.1", unit="区交委", done="18", note="18個村完成道路硬化",
                             reported_by="張三", now=at(2015, 11, 2))
    assert set(result) == {"task", "plan", "unit", "item", "report_id", "warnings", "files", "state"}
    assert set(result["item"]) == ITEM_KEYS
    assert (result["task"], result["plan"], result["unit"]) == ("3.2.1", DISTRICT, "區交委")
    item = result["item"]
    assert item["kind"] == "milestone" and item["seq"] == 1 and item["due"] == "2015-12-31"
    assert (item["quantity"], item["measure"], item["done_quantity"], item["percent"]) == (25, "村", 18, 72)
    assert item["closed"] is False and result["warnings"] == []
    m = milestone(district, "3.2.1")
    assert m.done_quantity == 18 and m.last_report_at == at(2015, 11, 2) and m.closed_at is None
    events = history(district, "3.2.1")
    reported = [e for e in events if e.kind == "progress.reported"]
    assert len(reported) == 1 and reported[0].actor == "張三"
    assert reported[0].data["done"] == 18 and reported[0].data["milestone"] == 1
    assert reported[0].data["reported_on"] == "2015-11-02" and reported[0].data["report_id"] == result["report_id"]


def test_quantity_is_cumulative_and_25_of_25_closes(district) -> None:
    report_progress(district, task="3.2.1", unit="區交委", done="10", now=at(2015, 9, 1))
    assert report_progress(district, task="3.2.1", unit="區交委", done="18", now=at(2015, 10, 1))["item"]["done_quantity"] == 18
    result = report_progress(district, task="3.2.1", unit="區交委", done="２５", note="25個村全部完成",
                             now=at(2015, 12, 20))  # full-width digits too
    assert result["item"]["done_quantity"] == 25 and result["item"]["closed"] is True
    m = milestone(district, "3.2.1")
    assert m.closed_at == at(2015, 12, 20) and m.closed_by == "區交委" and m.evidence == "25個村全部完成"
    closed = [e for e in history(district, "3.2.1") if e.kind == "item.closed"]
    assert len(closed) == 1 and closed[0].data["reason"] == "target reached"
    # the next report goes to the next open milestone (40 村 by 2016年底)
    nxt = report_progress(district, task="3.2.1", unit="區交委", done="27", now=at(2016, 1, 10))
    assert nxt["item"]["seq"] == 2 and nxt["item"]["due"] == "2016-12-31" and nxt["item"]["quantity"] == 40
    # an explicit report on the closed milestone is refused and changes nothing
    before = state(district)
    with pytest.raises(Refused, match="milestone 1 of task 3.2.1 is already closed"):
        report_progress(district, task="3.2.1", unit="區交委", done="26", milestone=1, now=at(2016, 1, 11))
    assert state(district) == before


def test_a_lower_cumulative_quantity_is_recorded_as_a_correction(district) -> None:
    report_progress(district, task="3.2.1", unit="區交委", done="18", now=at(2015, 11, 1))
    result = report_progress(district, task="3.2.1", unit="區交委", done="16", now=at(2015, 11, 2))
    assert result["item"]["done_quantity"] == 16
    assert result["warnings"] and "below the previous report (18)" in result["warnings"][0]
    last = [e for e in history(district, "3.2.1") if e.kind == "progress.reported"][-1]
    assert last.data["lowered_from"] == 18 and last.data["done"] == 16


def test_percent_without_quantity_and_a_note_only_report(district) -> None:
    result = report_progress(district, task="3.3", unit="區審計局", percent="40%", now=at(2015, 11, 1))
    assert result["item"]["percent"] == 40 and result["item"]["quantity"] is None
    note_only = report_progress(district, task="3.3", unit="區審計局", note="跟蹤審計進行中", now=at(2015, 11, 5))
    assert note_only["item"]["percent"] == 40 and note_only["item"]["closed"] is False
    done = report_progress(district, task="3.3", unit="區審計局", percent="100", note="審計完成", now=at(2016, 6, 1))
    assert done["item"]["closed"] is True  # a milestone without a quantity closes at 100 %


REFUSALS = [
    (dict(plan="nope"), NotFound, "no plan 'nope'"),
    (dict(task="9.9"), NotFound, "no task '9.9' in plan district-2015"),
    (dict(unit="區不存在局"), NotFound, "no unit '區不存在局'"),
    (dict(unit="區水務局"), Refused, "區水務局 is not responsible for task 3.2.1"),
    (dict(done="十八"), Refused, "done: '十八' is not a number"),
    (dict(done="-3"), Refused, "done: '-3' is negative"),
    (dict(done=None, percent="120"), Refused, "percent: '120' is more than 100"),
    (dict(done=None, percent="abc"), Refused, "percent: 'abc' is not a number"),
    (dict(done=None, count="1.5"), Refused, "count: '1.5' is not a whole number"),
    (dict(done=None, count="兩"), Refused, "count: '兩' is not a number"),
    (dict(done=None, amount="-5"), Refused, "amount: '-5' is negative"),
    (dict(done=None, count="1"), Refused, "task 3.2.1 has no recurring obligation"),
    (dict(done="3", count="1"), Refused, "cannot be reported together"),
    (dict(reported_on=dt.date(2015, 12, 5)), Refused, "reported_on 2015-12-05 is after --as-of 2015-12-04"),
    (dict(milestone=3), Refused, "milestone 3 does not exist: task 3.2.1 has 2 milestone(s)"),
    (dict(milestone=1, period=dt.date(2015, 12, 1)), Refused, "not both"),
    (dict(done=None), Refused, "nothing to report on task 3.2.1"),
]


@pytest.mark.parametrize("change, error, message", REFUSALS, ids=[m for _c, _e, m in REFUSALS])
def test_each_refusal_changes_nothing(district, change: dict, error: type, message: str) -> None:
    report_progress(district, task="3.2.1", unit="區交委", done="5", now=at(2015, 10, 1))
    before = state(district)
    kwargs = {"plan": DISTRICT, "task": "3.2.1", "unit": "區交委", "done": "18", "now": at(2015, 12, 4, 10), **change}
    with pytest.raises(error) as info:
        report_progress(district, **kwargs)
    assert message in str(info.value)
    assert state(district) == before


def test_an_archived_task_takes_no_reports(district, plans_dir: Path) -> None:
    doc = yaml.safe_load((plans_dir / "district-2015.yaml").read_text(encoding="utf-8"))
    doc["tasks"] = [t for t in doc["tasks"] if t["code"] != "3.5"]
    (plans_dir / "district-2015.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    import_file(district, plans_dir / "district-2015.yaml", PlanOptions(), now=at(2015, 8, 1))
    before = state(district)
    with pytest.raises(Refused, match="task 3.5 of plan district-2015 is archived"):
        report_progress(district, task="3.5", unit="區委組織部", percent="50", now=at(2015, 9, 1))
    assert state(district) == before


def test_a_supporting_unit_reports_but_only_the_lead_unit_closes(district) -> None:
    result = report_progress(district, task="3.2.1", unit="區農委", done="12", now=at(2015, 10, 1))
    assert result["unit"] == "區農委" and result["item"]["done_quantity"] == 12
    before = state(district)
    with pytest.raises(Refused, match=r"only the lead unit \(區交委\) may close task 3.2.1"):
        close_item(district, task="3.2.1", unit="區農委", evidence="驗收單", now=at(2015, 10, 2))
    with pytest.raises(Refused, match="needs evidence"):
        close_item(district, task="3.2.1", unit="區交委", evidence="  ", now=at(2015, 10, 2))
    assert state(district) == before
    closed = close_item(district, task="3.2.1", unit="區交委", evidence="交通局驗收單 2015-10-02", closed_by="李四",
                        now=at(2015, 10, 2))
    assert set(closed) == {"task", "plan", "unit", "item", "report_id", "warnings", "files", "state"}
    assert closed["item"]["closed"] is True and closed["item"]["seq"] == 1
    m = milestone(district, "3.2.1")
    assert m.closed_by == "李四" and m.evidence == "交通局驗收單 2015-10-02" and m.done_quantity == 12
    event = [e for e in history(district, "3.2.1") if e.kind == "item.closed"][-1]
    assert event.data["reason"] == "closed" and event.data["evidence"] == "交通局驗收單 2015-10-02"
    with pytest.raises(Refused, match="already closed"):
        close_item(district, task="3.2.1", unit="區交委", evidence="again", milestone=1, now=at(2015, 10, 3))


def test_a_member_of_a_supporting_group_can_report(district) -> None:
    # 3.3 is supported by 區級各部門; 區水務局 is one of its members
    result = report_progress(district, task="3.3", unit="区水务局", percent="30", note="水利項目資金跟蹤", now=at(2015, 11, 1))
    assert result["unit"] == "區水務局" and result["item"]["percent"] == 30
    with pytest.raises(Refused, match="only the lead unit"):
        close_item(district, task="3.3", unit="區水務局", evidence="x", now=at(2015, 11, 2))


# --------------------------------------------------------------------------------------------
# Recurring obligations


def test_a_monthly_visit_closes_that_months_instance(village) -> None:
    result = report_progress(village, plan="village-2018", task="2.3", unit="駐村工作組", count="1",
                             note="走訪全村貧困戶", now=at(2018, 3, 15))
    item = result["item"]
    assert item["kind"] == "instance" and item["period"] == "2018-03-01" and item["due"] == "2018-03-31"
    assert (item["done_count"], item["min_count"], item["closed"]) == (1, 1, True)
    assert item["seq"] is None and item["done_quantity"] is None
    with transaction(village) as s:
        march = s.execute(sa.select(RecurrenceInstanceRow).where(RecurrenceInstanceRow.id == item["id"])).scalar_one()
        assert march.closed_at == at(2018, 3, 15) and march.evidence == "走訪全村貧困戶"
        others = s.execute(sa.select(RecurrenceInstanceRow).where(RecurrenceInstanceRow.id != item["id"])).scalars().all()
    assert all(o.closed_at is None for o in others) and all(o.due < dt.date(2018, 5, 1) for o in others)
    before = state(village)
    with pytest.raises(Refused, match="already closed"):
        report_progress(village, plan="village-2018", task="2.3", unit="局駐村工作組", count="1", now=at(2018, 3, 20))
    with pytest.raises(Refused, match="no period of task 2.3 contains 2017-12-20"):
        report_progress(village, plan="village-2018", task="2.3", unit="局駐村工作組", count="1",
                        period=dt.date(2017, 12, 20), now=at(2018, 3, 20))
    with pytest.raises(Refused, match="count and amount are for a recurring obligation"):
        report_progress(village, plan="village-2018", task="2.3", unit="局駐村工作組", count="1", milestone=1,
                        now=at(2018, 3, 20))
    assert state(village) == before
    # a February visit reported late, by period
    feb = report_progress(village, plan="village-2018", task="2.3", unit="局駐村工作組", count="1",
                          period=dt.date(2018, 2, 10), reported_on=dt.date(2018, 3, 20), now=at(2018, 3, 20))
    assert feb["item"]["period"] == "2018-02-01" and feb["item"]["closed"] is True


def test_amounts_accumulate_per_period(engine) -> None:
    import_file(engine, PLANS / "branch-2011.yaml", PlanOptions(), now=at(2011, 7, 14))
    first = report_progress(engine, plan="branch-2011", task="2.1", unit="應用外語系黨支部", amount="200",
                            note="第一批捐款", now=at(2012, 1, 5), beneficiary="貧困戶之一")
    assert first["item"]["done_amount"] == 200 and first["item"]["min_amount"] == 300
    assert first["item"]["amount_unit"] == "元" and first["item"]["closed"] is False
    second = report_progress(engine, plan="branch-2011", task="2.1", unit="應用外語系黨支部", amount="150.5",
                             note="第二批捐款", now=at(2012, 1, 10), beneficiary="貧困戶之一")
    assert second["item"]["id"] == first["item"]["id"]
    assert second["item"]["done_amount"] == 350.5 and second["item"]["closed"] is True
    with transaction(engine) as s:
        inst = s.get(RecurrenceInstanceRow, first["item"]["id"])
        assert Decimal(str(inst.done_amount)) == Decimal("350.5") and inst.evidence == "第二批捐款"


# --------------------------------------------------------------------------------------------
# Bulk import


GOOD_ROWS = [
    ["编号", "单位", "完成数量", "百分比", "进展情况", "报送人", "报送日期", "办结", "佐证"],
    ["3.2.1", "区交委", "18", "", "18个村道路硬化", "张三", "2015-11-02", "", ""],
    ["3.3", "区水务局", "", "30", "资金跟踪", "", "2015-11-03", "", ""],
    ["3.2.1", "區交委", "20", "", "累计20个村", "", "2015-11-05", "", ""],
    ["3.3", "区审计局", "", "", "", "王五", "2015-11-06", "是", "审计报告"],
]


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    path.write_bytes("\n".join(",".join(r) for r in rows).encode(encoding) + b"\n")
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_import_a_good_sheet_writes_every_row(district, tmp_path: Path, encoding: str) -> None:
    sheet = write_csv(tmp_path / f"reports-{encoding}.csv", GOOD_ROWS, encoding)
    before = state(district)["counts"]
    rows = import_progress(district, sheet, now=at(2015, 11, 6, 18), plan=DISTRICT)
    assert [r["row"] for r in rows] == [2, 3, 4, 5]
    assert rows[2]["item"]["done_quantity"] == 20 and rows[2]["item"]["seq"] == 1
    assert rows[3]["report_id"] is None and rows[3]["close_id"] and rows[3]["item"]["closed"] is True
    after = state(district)["counts"]
    assert after["progress_report"] == before["progress_report"] + 4  # three reports and one close
    m = milestone(district, "3.3")
    assert m.closed_by == "王五" and m.evidence == "审计报告"
    reported = [e for e in history(district, "3.2.1") if e.kind == "progress.reported"]
    assert [e.data["reported_on"] for e in reported] == ["2015-11-02", "2015-11-05"]
    assert reported[0].data["source"] == f"import {sheet.name}" and reported[0].actor == "张三"


def test_import_with_bad_rows_writes_nothing_and_lists_every_bad_row(district, tmp_path: Path) -> None:
    rows = [
        ["編號", "報送單位", "完成數量", "進展情況", "報送日期", "辦結"],
        ["3.2.1", "區交委", "18", "good row", "2015-11-02", ""],
        ["3.2.1", "區交委", "十八", "bad number", "2015-11-02", ""],
        ["3.2.1", "區不存在局", "3", "unknown unit", "2015-11-02", ""],
        ["3.3", "區審計局", "", "date after as-of", "2015-11-30", ""],
        ["3.2.1", "區水務局", "2", "not responsible", "2015-11-02", ""],
        ["9.9", "區交委", "2", "no such task", "2015-11-02", ""],
        ["3.2.1", "區交委", "25", "another good row", "2015-11-03", ""],
        ["3.3", "區審計局", "", "審計報告", "2015-11-03", "也許"],
        ["3.3", "區財政局", "", "a supporting unit cannot close", "2015-11-03", "是"],
    ]
    sheet = write_csv(tmp_path / "bad.csv", rows, "gbk")
    before = state(district)
    with pytest.raises(ValidationFailed) as info:
        import_progress(district, sheet, now=at(2015, 11, 6), plan=DISTRICT)
    problems = info.value.problems
    assert [(p.line, p.field) for p in problems] == [
        (3, "done"), (4, "unit"), (5, "reported_on"), (6, "unit"), (7, "code"), (9, "close"), (10, "unit")]
    assert all(p.file == str(sheet) and p.row_kind == "row" for p in problems)
    assert problems[0].text == "十八" and "not a number" in problems[0].message
    assert problems[2].text == "2015-11-30"
    assert "row 3" in str(info.value) and "nothing was changed" in str(info.value)
    assert state(district) == before


def test_import_an_xlsx_sheet_with_numbers_dates_and_a_close_column(district, tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["全區扶貧攻堅進展報送表"])  # a title row above the header
    ws.append(["code", "unit", "milestone", "done", "note", "reported_on", "close"])
    ws.append(["3.2.1", "區交委", 1, 25, "25個村完成", dt.datetime(2015, 12, 20), "yes"])
    ws.append(["3.2.1", "區交委", 2, 5, "第二批開工", dt.datetime(2015, 12, 21), None])
    path = tmp_path / "reports.xlsx"
    wb.save(path)
    rows = import_progress(district, path, now=at(2015, 12, 22), plan=DISTRICT)
    assert [r["row"] for r in rows] == [3, 4]
    assert rows[0]["item"]["closed"] is True and rows[0]["close_id"] is None  # the quantity closed it already
    assert rows[1]["item"]["seq"] == 2 and rows[1]["item"]["done_quantity"] == 5


# --------------------------------------------------------------------------------------------
# Extensions


def test_extension_before_due_then_approved_moves_the_due_date_and_keeps_history(district) -> None:
    requested = request_extension(district, task="3.2.1", unit="區交委", new_due=dt.date(2016, 3, 31),
                                  reason="雨季施工受阻", requested_by="張三", now=at(2015, 12, 31, 20))
    assert set(requested) == {"id", "plan", "task", "unit", "item", "reason", "old_due", "new_due", "requested_on",
                              "requested_by", "status", "decided_on", "decided_by", "decision_note"}
    assert requested["status"] == "pending" and requested["old_due"] == "2015-12-31"
    assert requested["item"]["seq"] == 1
    before = state(district)
    with pytest.raises(Refused, match="already has a pending extension request"):
        request_extension(district, task="3.2.1", unit="區交委", new_due=dt.date(2016, 4, 30), reason="再延",
                          now=at(2015, 12, 31, 21))
    assert state(district) == before
    # the sweep had started an overdue cycle; approval clears it
    with transaction(district) as s:
        m = s.get(MilestoneRow, requested["item"]["id"])
        m.first_overdue_on, m.ladder = dt.date(2016, 1, 1), [{"level": 1}]
    approved = decide_extension(district, extension_id=requested["id"], approve=True, decided_by="辦公室",
                                note="同意", now=at(2016, 1, 4))
    assert approved["status"] == "approved" and approved["decided_on"] == "2016-01-04"
    assert approved["item"]["due"] == "2016-03-31" and approved["item"]["planned_due"] == "2015-12-31"
    m = milestone(district, "3.2.1")
    assert m.extended_due == dt.date(2016, 3, 31) and m.due == dt.date(2015, 12, 31)
    assert m.first_overdue_on is None and m.ladder is None
    kinds = [e.kind for e in history(district, "3.2.1")]
    assert kinds[-2:] == ["extension.requested", "extension.approved"]
    last = history(district, "3.2.1")[-1]
    assert (last.data["old_due"], last.data["new_due"], last.actor) == ("2015-12-31", "2016-03-31", "辦公室")
    with pytest.raises(Refused, match="already approved"):
        decide_extension(district, extension_id=requested["id"], approve=True, now=at(2016, 1, 5))
    assert [e["status"] for e in list_extensions(district, status="approved")] == ["approved"]
    assert list_extensions(district, status="pending") == []
    # a second extension counts from the extended due date
    with pytest.raises(Refused, match="not after the current due date 2016-03-31"):
        request_extension(district, task="3.2.1", unit="區交委", new_due=dt.date(2016, 2, 28), reason="x",
                          now=at(2016, 2, 1))


def test_a_refused_extension_keeps_the_due_date(district) -> None:
    req = request_extension(district, task="3.3", unit="區審計局", new_due=dt.date(2017, 6, 30), reason="項目多",
                            now=at(2016, 11, 1))
    refused = decide_extension(district, extension_id=req["id"], approve=False, note="不同意", now=at(2016, 11, 2))
    assert refused["status"] == "refused" and refused["decision_note"] == "不同意"
    assert milestone(district, "3.3").extended_due is None
    assert history(district, "3.3")[-1].kind == "extension.refused"


def test_a_late_request_is_recorded_and_refused_as_such(district) -> None:
    before = state(district)["counts"]
    with pytest.raises(Refused, match="late extension request: 3.2.1 milestone 1 was due 2015-12-31") as info:
        request_extension(district, task="3.2.1", unit="區交委", new_due=dt.date(2016, 3, 31), reason="遲了",
                          now=at(2016, 1, 5))
    assert "refused as such" in str(info.value)
    after = state(district)["counts"]
    assert after["extension"] == before["extension"] + 1 and after["event"] == before["event"] + 1
    (late,) = list_extensions(district, plan=DISTRICT)
    assert late["status"] == "refused" and late["decided_on"] == "2016-01-05"
    assert late["decision_note"].startswith("late: filed after the due date 2015-12-31")
    assert history(district, "3.2.1")[-1].kind == "extension.refused"
    assert milestone(district, "3.2.1").extended_due is None
    with pytest.raises(Refused, match="already refused"):
        decide_extension(district, extension_id=late["id"], approve=True, now=at(2016, 1, 6))


@pytest.mark.parametrize("change, error, message", [
    (dict(unit="區農委"), Refused, r"only the lead unit \(區交委\) may request an extension"),
    (dict(reason="  "), Refused, "needs a reason"),
    (dict(new_due=dt.date(2015, 12, 31)), Refused, "is not after the current due date 2015-12-31"),
    (dict(milestone=5), Refused, "milestone 5 does not exist"),
    (dict(task="9.9"), NotFound, "no task '9.9'"),
])
def test_extension_refusals_change_nothing(district, change: dict, error: type, message: str) -> None:
    before = state(district)
    with pytest.raises(error, match=message):
        request_extension(district, **{"task": "3.2.1", "unit": "區交委", "new_due": dt.date(2016, 3, 31),
                                       "reason": "雨季", "now": at(2015, 12, 1), **change})
    assert state(district) == before


def test_deciding_an_unknown_request_is_not_found(district) -> None:
    with pytest.raises(NotFound, match="no extension request #42"):
        decide_extension(district, extension_id=42, approve=True, now=at(2016, 1, 1))
    with pytest.raises(Refused, match="status: 'done' is not one of pending, approved, refused"):
        list_extensions(district, status="done")
    with transaction(district) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(ExtensionRow)).scalar() == 0
