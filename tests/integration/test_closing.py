"""Closing requests (辦結申請) with evidence files on SQLite and PostgreSQL: requested by the lead or a
co-lead unit, closed (辦結) or returned (退回) by the office once; refusals store nothing."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from duban.matrix.errors import NotFound, Refused
from duban.store import repository as repo
from duban.store.db import transaction
from duban.store.evidence import EvidenceStore, check
from duban.store.tables import (
    TASK_UNIT_CO_LEAD,
    ClosingRequestRow,
    MilestoneRow,
    NoticeRow,
    PlanRow,
    TaskRow,
    TaskUnitRow,
    UnitRow,
)
from duban.workflows.closing_service import (
    close_request,
    evidence_file,
    get_closing_request,
    list_closing_requests,
    request_closing,
    return_request,
)
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.progress_service import close_item
from tests.support import PLANS, at

DISTRICT = "district-2015"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def docx_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


@pytest.fixture
def district(engine):
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    return engine


@pytest.fixture
def store(tmp_path: Path) -> EvidenceStore:
    return EvidenceStore(tmp_path / "evidence", max_bytes=1000)


def counts(engine) -> dict:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
                for t in ("closing_request", "closing_evidence", "evidence_file", "event", "progress_report")}


def stored(store: EvidenceStore) -> list[str]:
    return sorted(p.name for p in store.root.rglob("*") if p.is_file()) if store.root.exists() else []


def milestone(engine, code: str) -> MilestoneRow:
    with transaction(engine) as s:
        plan_id = repo.plan_row(s, DISTRICT).id
        return s.execute(sa.select(MilestoneRow).join(TaskRow, TaskRow.id == MilestoneRow.task_id)
                         .where(TaskRow.plan_id == plan_id, TaskRow.code == code).order_by(MilestoneRow.seq)).scalars().first()


def make_co_lead(engine, code: str, unit: str) -> None:
    with transaction(engine) as s:
        task_id = s.execute(sa.select(TaskRow.id).where(TaskRow.code == code)).scalar_one()
        unit_id = s.execute(sa.select(UnitRow.id).where(UnitRow.name == unit)).scalar_one()
        s.execute(sa.update(TaskUnitRow).where(TaskUnitRow.task_id == task_id, TaskUnitRow.unit_id == unit_id)
                  .values(role=TASK_UNIT_CO_LEAD))


def test_request_then_close_closes_the_item_with_its_evidence(district, store) -> None:
    r = request_closing(district, task="3.2.1", unit="区交委", note="25個村道路硬化完成",
                        files=[("驗收報告.pdf", PDF), ("現場照片.png", PNG)], now=at(2015, 12, 20), actor="李四", store=store)
    assert (r["status"], r["unit"], r["task"], r["requested_by"]) == ("pending", "區交委", "3.2.1", "李四")
    assert [(f["name"], f["content_type"], f["size"]) for f in r["files"]] == [
        ("驗收報告.pdf", "application/pdf", len(PDF)), ("現場照片.png", "image/png", len(PNG))]
    assert stored(store) == sorted([hashlib.sha256(PDF).hexdigest(), hashlib.sha256(PNG).hexdigest()])
    assert store.read(hashlib.sha256(PDF).hexdigest()) == PDF
    assert milestone(district, "3.2.1").closed_at is None  # waits for the office's review
    done = close_request(district, request_id=r["id"], now=at(2015, 12, 21), actor="王五", note="複核通過")
    assert (done["status"], done["decided_by"], done["decision_note"]) == ("closed", "王五", "複核通過")
    m = milestone(district, "3.2.1")
    assert m.closed_at is not None and m.closed_by == "區交委"
    assert "驗收報告.pdf" in m.evidence and "現場照片.png" in m.evidence
    with transaction(district) as s:
        events = [(e.kind, e.actor, e.data) for e in repo.history(s, DISTRICT, "3.2.1")]
    requested = next(e for e in events if e[0] == "closing.requested")
    assert requested[1] == "李四" and [f["name"] for f in requested[2]["files"]] == ["驗收報告.pdf", "現場照片.png"]
    assert [(k, a) for k, a, _ in events[-2:]] == [("closing.closed", "王五"), ("item.closed", "王五")]
    assert events[-2][2]["files"] == ["驗收報告.pdf", "現場照片.png"]
    with pytest.raises(Refused, match=r"closing request #1 is already closed on 2015-12-21 by 王五"):
        return_request(district, request_id=r["id"], reason="x", now=at(2015, 12, 22), actor="王五")
    with pytest.raises(Refused, match="already closed"):
        request_closing(district, task="3.2.1", unit="區交委", note="again", now=at(2015, 12, 22), store=store,
                        milestone=1)


def test_a_return_needs_a_reason_and_is_told_in_the_history(district, store) -> None:
    r = request_closing(district, task="3.2.1", unit="區交委", files=[("a.pdf", PDF)], now=at(2015, 12, 20), store=store)
    before = counts(district)
    with pytest.raises(Refused, match=r"returning closing request #1 needs a reason \(退回理由\)"):
        return_request(district, request_id=r["id"], reason="  ", now=at(2015, 12, 21), actor="王五")
    assert counts(district) == before
    back = return_request(district, request_id=r["id"], reason="照片不清晰，請補充驗收報告", now=at(2015, 12, 21), actor="王五")
    assert (back["status"], back["decision_note"], back["decided_by"]) == ("returned", "照片不清晰，請補充驗收報告", "王五")
    assert milestone(district, "3.2.1").closed_at is None
    with transaction(district) as s:
        last = repo.history(s, DISTRICT, "3.2.1")[-1]
    assert (last.kind, last.actor, last.data["reason"], last.data["unit"], last.data["files"]) == (
        "closing.returned", "王五", "照片不清晰，請補充驗收報告", "區交委", ["a.pdf"])
    with pytest.raises(Refused, match="is already returned"):
        close_request(district, request_id=r["id"], now=at(2015, 12, 22), actor="王五")
    # returned: the unit may ask again
    again = request_closing(district, task="3.2.1", unit="區交委", files=[("a.pdf", PDF)], now=at(2015, 12, 23), store=store)
    assert [x["id"] for x in list_closing_requests(district)] == [again["id"], r["id"]]  # pending first


def test_the_same_contents_are_stored_once(district, store) -> None:
    request_closing(district, task="3.2.1", unit="區交委", files=[("a.pdf", PDF), ("copy of a.pdf", PDF + b"")],
                    now=at(2015, 12, 20), store=store)
    r2 = request_closing(district, task="3.2.2", unit="區水務局", files=[("b.pdf", PDF)], now=at(2015, 12, 20), store=store)
    assert stored(store) == [hashlib.sha256(PDF).hexdigest()]
    assert counts(district)["evidence_file"] == 1 and counts(district)["closing_evidence"] == 2
    assert r2["files"][0]["name"] == "b.pdf"
    info = evidence_file(district, hashlib.sha256(PDF).hexdigest())
    assert info is not None and info["name"] == "a.pdf" and info["plans"] == [DISTRICT]
    assert info["content_type"] == "application/pdf"
    assert evidence_file(district, "0" * 64) is None


@pytest.mark.parametrize("name, data, message", [
    ("setup.exe", b"MZ\x90\x00", r"evidence file setup.exe: type \.exe is not accepted; evidence may be PDF, PNG"),
    ("報告.pdf", b"MZ\x90\x00 not a pdf", r"evidence file 報告.pdf: its contents are not a PDF"),
    ("photo.jpg", PNG, r"evidence file photo.jpg: its contents are not a JPEG image"),
    ("表.xlsx", docx_bytes(), r"evidence file 表.xlsx: its contents are not a .xlsx Office document"),
    ("big.pdf", PDF + b"0" * 1000, r"evidence file big.pdf: is 1\d\d\d bytes, more than the 1000 bytes"),
    ("empty.txt", b"", r"evidence file empty.txt: is empty"),
    ("bin.txt", b"abc\x00\x01def", r"evidence file bin.txt: its contents are not plain text"),
    ("noext", PDF, r"evidence file noext: a file without an extension is not accepted"),
])
def test_refused_files_store_nothing(district, store, name, data, message) -> None:
    before = counts(district)
    with pytest.raises(Refused, match=message):
        request_closing(district, task="3.2.1", unit="區交委", note="done", files=[("ok.pdf", PDF), (name, data)],
                        now=at(2015, 12, 20), store=store)
    assert counts(district) == before and stored(store) == []


def test_accepted_types() -> None:
    assert check("a.docx", docx_bytes()).content_type.endswith("wordprocessingml.document")
    assert check("說明.txt", "辦結說明".encode("gb18030")).content_type == "text/plain; charset=gb18030"
    assert check("說明.TXT", "辦結說明".encode()).content_type == "text/plain; charset=utf-8"
    assert check("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 20).content_type == "application/msword"
    assert check("p.JPEG", b"\xff\xd8\xff\xe0rest").content_type == "image/jpeg"
    assert check("../../etc/x.pdf", PDF).name == "x.pdf" and check("C:\\tmp\\y.pdf", PDF).name == "y.pdf"


def test_who_may_request_and_what(district, store) -> None:
    before = counts(district)
    with pytest.raises(Refused, match=r"only the lead unit \(區交委\) or a co-lead unit may request closing task 3.2.1; 區農委 is neither"):
        request_closing(district, task="3.2.1", unit="區農委", note="done", files=[("a.pdf", PDF)], now=at(2015, 12, 20),
                        store=store)
    with pytest.raises(Refused, match="needs evidence: a file or a note"):
        request_closing(district, task="3.2.1", unit="區交委", now=at(2015, 12, 20), store=store)
    with pytest.raises(NotFound, match="no task '9.9.9'"):
        request_closing(district, task="9.9.9", unit="區交委", note="x", now=at(2015, 12, 20), store=store)
    assert counts(district) == before and stored(store) == []
    make_co_lead(district, "3.2.1", "區農委")
    r = request_closing(district, task="3.2.1", unit="区农委", note="co-lead asks", now=at(2015, 12, 20), store=store)
    assert r["unit"] == "區農委" and r["files"] == []
    with pytest.raises(Refused, match=r"already has a pending closing request \(#1\)"):
        request_closing(district, task="3.2.1", unit="區交委", note="me too", now=at(2015, 12, 20), store=store)
    with pytest.raises(NotFound, match="no closing request #99"):
        close_request(district, request_id=99, now=at(2015, 12, 21), actor="王五")


def test_closing_an_item_closed_meanwhile_is_refused(district, store) -> None:
    r = request_closing(district, task="3.2.1", unit="區交委", note="done", now=at(2015, 12, 20), store=store)
    close_item(district, task="3.2.1", unit="區交委", evidence="驗收", now=at(2015, 12, 20, 10))
    before = counts(district)
    with pytest.raises(Refused, match="is already closed"):
        close_request(district, request_id=r["id"], now=at(2015, 12, 21), actor="王五")
    assert counts(district) == before and get_closing_request(district, r["id"])["status"] == "pending"
    assert return_request(district, request_id=r["id"], reason="已辦結", now=at(2015, 12, 21), actor="王五")["status"] == "returned"


def test_the_weekly_report_lists_a_tasks_evidence_only_when_it_has_some(district, store, tmp_path: Path) -> None:
    import datetime as dt

    from docx import Document

    from duban.config.settings import Settings
    from duban.workflows.report_service import weekly_report
    from tests.support import POLICY

    def report(out: str, day: int) -> dict:
        return weekly_report(district, now=at(2015, 12, day, 18), policies=POLICY, settings=Settings(config_dir=tmp_path / "cfg"),
                             out_dir=tmp_path / out, formats=["html", "md", "docx"])

    before = report("before", 18)
    assert "佐证材料" not in Path(before["files"]["md"]).read_text(encoding="utf-8")
    request_closing(district, task="3.2.1", unit="區交委", files=[("驗收報告.pdf", PDF), ("<照片>.png", PNG)],
                    now=at(2015, 12, 16), store=store)
    returned = request_closing(district, task="3.2.2", unit="區水務局", files=[("水質.pdf", PDF)], now=at(2015, 12, 16),
                               store=store)
    return_request(district, request_id=returned["id"], reason="缺檢測", now=at(2015, 12, 17), actor="王五")
    after = report("after", 18)
    md = Path(after["files"]["md"]).read_text(encoding="utf-8")
    html = Path(after["files"]["html"]).read_text(encoding="utf-8")
    # the report is written in the settings' script (zh-Hans), names too
    assert md.count("佐证材料") == 1 and "佐证材料：验收报告.pdf、" in md
    assert "佐证材料：验收报告.pdf、&lt;照片&gt;.png" in html and "水质.pdf" not in html
    cells = [c.text for t in Document(after["files"]["docx"]).tables for row in t.rows for c in row.cells]
    assert any("佐证材料：验收报告.pdf、<照片>.png" in c for c in cells)
    model = after["model"]
    assert {t.code: t.evidence for t in model.tasks if t.evidence} == {"3.2.1": ("驗收報告.pdf", "<照片>.png")}
    # the report of a day before the request lists nothing
    assert "佐证材料" not in Path(report("earlier", 15)["files"]["md"]).read_text(encoding="utf-8")
    assert dt.date(2015, 12, 18) == after["model"].as_of


# --------------------------------------------------------------------------------------------
# The unit is told: a 退回通知 / 辦結確認 notice, delivered like every notice (issue 14)


def mail_settings(tmp_path: Path, smtp_port: int | None = None, **kw):
    from duban.config.settings import Settings

    return Settings(database_url="sqlite://", smtp_url=f"smtp://127.0.0.1:{smtp_port}" if smtp_port else None,
                    outbox_dir=tmp_path / "outbox", config_dir=tmp_path / "cfg", mail_from="督辦系統 <duban@example.org>",
                    messages_per_minute=0, **kw)


def notices(engine) -> list[NoticeRow]:
    with transaction(engine) as s:
        return list(s.execute(sa.select(NoticeRow).order_by(NoticeRow.id)).scalars())


def test_a_return_tells_the_unit_once_with_the_reason_escaped(district, store, recorder, tmp_path: Path,
                                                              allow_replay_mail) -> None:
    from duban.store.tables import MessageRow
    from duban.workflows.closing_service import _tell_unit
    from duban.workflows.delivery_service import deliver
    from tests.integration.test_delivery import parse

    r = request_closing(district, task="3.2.1", unit="區交委", note="25个村完成", files=[("验收报告.pdf", PDF)],
                        now=at(2015, 12, 20), actor="李四", store=store)
    reason = '<b>照片</b>模糊 & "缺少验收"'
    return_request(district, request_id=r["id"], reason=reason, now=at(2015, 12, 21), actor="王五")
    [n] = notices(district)
    assert (n.key, n.kind, n.status, n.recipients, n.cc, n.planned_for.isoformat(), n.due.isoformat()) == (
        "closing-returned:1", "closing_returned", "pending", [{"role": "unit", "name": "區交委"}], [], "2015-12-21",
        "2015-12-31")
    assert n.data["closing"]["decision"] == reason and n.data["closing"]["requested_on"] == "2015-12-20"
    # A repeat is refused and a retry of the notice's insert (same key) writes nothing: still one notice.
    with pytest.raises(Refused, match="already returned"):
        return_request(district, request_id=r["id"], reason=reason, now=at(2015, 12, 21), actor="王五")
    with transaction(district) as s:
        req = s.get(ClosingRequestRow, r["id"])
        task = s.get(TaskRow, req.task_id)
        plan = s.get(PlanRow, task.plan_id)
        _tell_unit(s, "closing_returned", req, task, plan, "milestone", s.get(MilestoneRow, req.milestone_id),
                   "區交委", ["验收报告.pdf"], at(2015, 12, 22))
    assert [x.key for x in notices(district)] == ["closing-returned:1"]

    settings = mail_settings(tmp_path, recorder.port)
    result = deliver(district, now=at(2015, 12, 21, 17), settings=settings)
    assert result.sent == 1 and [rcpts for _, rcpts, _ in recorder.messages] == [["jiaowei@example.org"]]
    msg = parse(recorder.messages[0][2])
    assert msg["Subject"] == "【办结申请退回】3.2.1 交通建设"
    text = msg.get_body(("plain",)).get_content()
    assert "关于退回“交通建设”工作办结申请的通知" in text and "区交委：" in text
    assert "你单位于2015年12月20日报送的第3.2.1项“交通建设”工作办结申请（第1号" in text
    assert f"退回理由：“{reason}”。" in text
    assert "于2015年12月31日前重新提出办结申请" in text
    html = msg.get_body(("html",)).get_content()
    assert "&lt;b&gt;照片&lt;/b&gt;模糊 &amp; &#34;缺少验收&#34;" in html and "<b>照片</b>" not in html
    again = deliver(district, now=at(2015, 12, 21, 18), settings=settings)
    assert again.sent == 0 and again.planned_messages == 0 and len(recorder.messages) == 1
    assert [x.status for x in notices(district)] == ["sent"]
    with transaction(district) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(MessageRow)).scalar() == 1
        last = repo.history(s, DISTRICT, "3.2.1")[-1]
    assert (last.kind, last.data["notice_key"]) == ("closing.returned", "closing-returned:1")


def test_closing_tells_the_unit_when_its_notices_are_not_held_and_it_has_an_address(district, store,
                                                                                   tmp_path: Path) -> None:
    from duban.workflows.delivery_service import deliver
    from duban.workflows.notice_service import hold_notices, resume_notices

    settings = mail_settings(tmp_path)  # .eml files: a replay's mail is not held there
    hold_notices(district, plan=None, task="3.2.2", now=at(2015, 12, 19), actor="王五", reason="调整中")
    r = request_closing(district, task="3.2.2", unit="區水務局", note="完成", now=at(2015, 12, 20), store=store)
    close_request(district, request_id=r["id"], now=at(2015, 12, 21), actor="王五", note="复核通过")
    assert [(n.key, n.kind) for n in notices(district)] == [("closing-closed:1", "closing_closed")]
    assert deliver(district, now=at(2015, 12, 21, 17), settings=settings).planned_messages == 0
    assert [n.status for n in notices(district)] == ["pending"]  # held with the task's notices
    resume_notices(district, plan=None, task="3.2.2", now=at(2015, 12, 22), actor="王五")
    assert deliver(district, now=at(2015, 12, 22, 9), settings=settings).sent == 1
    [eml] = sorted((tmp_path / "outbox").rglob("*.eml"))
    import email
    import email.policy

    confirmed = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert confirmed["Subject"] == "【办结确认】3.2.2 饮水安全" and "shuiwu@example.org" in confirmed["To"]
    assert "于2015年12月21日予以办结。复核意见：“复核通过”。" in confirmed.get_body(("plain",)).get_content()

    # A unit with no address in the directory: the notice is held, saying why, until the directory has one.
    with transaction(district) as s:
        s.execute(sa.update(UnitRow).where(UnitRow.name == "區交委").values(emails=[]))
    r = request_closing(district, task="3.2.1", unit="區交委", note="完成", now=at(2015, 12, 20), store=store)
    return_request(district, request_id=r["id"], reason="缺少验收报告", now=at(2015, 12, 21), actor="王五")
    result = deliver(district, now=at(2015, 12, 22, 10), settings=settings)
    assert result.sent == 0 and [(h["task"], h["name"], h["reason"]) for h in result.held] == [
        ("3.2.1", "區交委", "no address for 區交委 (unit) in the directory")]
    returned = notices(district)[-1]
    assert (returned.key, returned.status, returned.last_error) == (
        "closing-returned:2", "held", "no address for 區交委 (unit) in the directory")
    with transaction(district) as s:
        s.execute(sa.update(UnitRow).where(UnitRow.name == "區交委").values(emails=["jiaowei@example.org"]))
    assert deliver(district, now=at(2015, 12, 23, 10), settings=settings).sent == 1
    assert notices(district)[-1].status == "sent"


def test_a_decision_for_a_replayed_day_waits_for_allow_replay_mail(district, store, recorder, tmp_path: Path,
                                                                   monkeypatch) -> None:
    import datetime as dt

    from duban.workflows.delivery_service import deliver
    from tests.support import SHANGHAI

    r = request_closing(district, task="3.2.1", unit="區交委", note="完成", now=at(2015, 12, 20), store=store)
    return_request(district, request_id=r["id"], reason="缺少验收报告", now=at(2015, 12, 21), actor="王五")
    result = deliver(district, now=at(2015, 12, 21, 17), settings=mail_settings(tmp_path, recorder.port))
    assert result.sent == 0 and recorder.messages == []
    assert [h["reason"].split(";")[0] for h in result.held] == [
        f"held: written for a replayed day (as of 2015-12-21, written {dt.datetime.now(SHANGHAI).date()})"]
    # Today's decision (no replay) goes out at once; the replay's only with DUBAN_ALLOW_REPLAY_MAIL=1.
    today = request_closing(district, task="3.2.2", unit="區水務局", note="完成", now=dt.datetime.now(SHANGHAI),
                            store=store)
    close_request(district, request_id=today["id"], now=dt.datetime.now(SHANGHAI), actor="王五")
    assert deliver(district, now=dt.datetime.now(SHANGHAI), settings=mail_settings(tmp_path, recorder.port)).sent == 1
    assert [rcpts for _, rcpts, _ in recorder.messages] == [["shuiwu@example.org"]]
    sent = deliver(district, now=at(2015, 12, 22), settings=mail_settings(tmp_path, recorder.port, allow_replay_mail=True))
    assert sent.sent == 1 and [rcpts for _, rcpts, _ in recorder.messages][-1] == ["jiaowei@example.org"]
