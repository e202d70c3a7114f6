"""A refused part tells its unit (issue 15): refusing a supporting unit's part (配合单位报送) — by the lead or a
co-lead unit through its link, or by the office — writes one ``part_refused`` notice to the supporting unit,
delivered like every notice (its own letter, zh-Hans and en, text and HTML, the reason quoted and escaped, the
unit's signed link), held while the task's notices are held or the unit has no address, and held when decided
for a replayed day. Accepting writes none. As the closing request's answers (tests/integration/test_closing.py)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from pathlib import Path

import pytest
import sqlalchemy as sa

from duban.matrix.errors import Refused
from duban.store import repository as repo
from duban.store.db import transaction
from duban.store.evidence import EvidenceStore
from duban.store.tables import MessageRow, MilestoneRow, NoticeRow, PlanRow, ProgressReportRow, TaskRow, UnitRow
from duban.workflows import link_service as L
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.progress_service import refuse_report
from tests.support import PLANS, at

PLAN = "district-2015"
DISTRICT = PLAN
NOW = at(2016, 1, 15, 10)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
REASON = '<b>照片</b>模糊 & "台账不符"'


@pytest.fixture
def district(engine):
    import_file(engine, PLANS / f"{PLAN}.yaml", PlanOptions(), now=at(2015, 7, 1))  # no sweep: only our notices
    return engine


def link_of(engine, unit: str, now: dt.datetime = NOW) -> L.Link:
    return L.verify(engine, L.issue(engine, plan=PLAN, unit=unit, on=now.date() - dt.timedelta(days=3))["token"], now=now)


def milestone_id(engine, task: str = "3.2.1") -> int:
    with transaction(engine) as s:
        return s.execute(sa.select(MilestoneRow.id).join(TaskRow, TaskRow.id == MilestoneRow.task_id)
                         .where(TaskRow.code == task).order_by(MilestoneRow.seq)).scalars().first()


def part(engine, unit: str = "區農委", task: str = "3.2.1", now: dt.datetime = NOW, **kw) -> int:
    sent = L.report(engine, link_of(engine, unit, now), f"m{milestone_id(engine, task)}", now=now, client="c", **kw)
    assert sent["state"] == "pending"
    return sent["report_id"]


def notices(engine) -> list[NoticeRow]:
    with transaction(engine) as s:
        return list(s.execute(sa.select(NoticeRow).order_by(NoticeRow.id)).scalars())


def mail_settings(tmp_path: Path, smtp_port: int | None = None, **kw):
    from duban.config.settings import Settings

    return Settings(database_url="sqlite://", smtp_url=f"smtp://127.0.0.1:{smtp_port}" if smtp_port else None,
                    outbox_dir=tmp_path / "outbox", config_dir=tmp_path / "cfg", mail_from="督辦系統 <duban@example.org>",
                    messages_per_minute=0, **kw)


def test_a_refusal_tells_the_supporting_unit_once_with_the_reason_escaped(district, recorder, tmp_path: Path,
                                                                         allow_replay_mail) -> None:
    from duban.workflows.delivery_service import deliver
    from duban.workflows.progress_acceptance import _tell_refused
    from tests.integration.test_delivery import parse

    store = EvidenceStore(tmp_path / "evidence", max_bytes=10_000)
    accepted = part(district, done="2", note="2個村")
    L.decide_part(district, link_of(district, "區交委"), accepted, accept=True, now=at(2016, 1, 15, 11), client="c")
    assert notices(district) == []  # accepting tells nobody by notice
    refused = part(district, done="3", note="3個村", files=[("台账.pdf", PDF)], store=store)
    L.decide_part(district, link_of(district, "區交委"), refused, accept=False, now=at(2016, 1, 15, 11), client="c",
                  reason=REASON)
    [n] = notices(district)
    assert (n.key, n.kind, n.status, n.recipients, n.cc, n.planned_for.isoformat(), n.due.isoformat()) == (
        f"part-refused:{refused}", "part_refused", "pending", [{"role": "unit", "name": "區農委"}], [], "2016-01-15",
        "2015-12-31")
    facts = n.data["part"]
    assert (facts["reason"], facts["unit"], facts["done"], facts["files"], facts["decided_by"]) == (
        REASON, "區農委", "3村", ["台账.pdf"], "區交委")
    # Deciding again is refused, and a retry of the notice's insert (same key) writes nothing: still one notice.
    with pytest.raises(Refused, match="already refused"):
        refuse_report(district, report_id=refused, now=at(2016, 1, 15, 12), actor="王五", reason="again")
    with transaction(district) as s:
        report = s.get(ProgressReportRow, refused)
        task = s.get(TaskRow, report.task_id)
        _tell_refused(s, report, task, s.get(PlanRow, task.plan_id), "milestone", s.get(MilestoneRow, report.milestone_id),
                      None, "區農委", "區交委", at(2016, 1, 16))
    assert [x.key for x in notices(district)] == [f"part-refused:{refused}"]

    settings = mail_settings(tmp_path, recorder.port, public_url="https://duban.example.org")
    result = deliver(district, now=at(2016, 1, 15, 17), settings=settings)
    assert result.sent == 1 and [rcpts for _, rcpts, _ in recorder.messages] == [["nongwei@example.org"]]
    msg = parse(recorder.messages[0][2])
    assert msg["Subject"] == "【配合单位报送未予采纳】3.2.1 交通建设"
    text = msg.get_body(("plain",)).get_content()
    assert "关于“交通建设”工作配合单位报送未予采纳的通知" in text and "区农委：" in text
    assert f"你单位于2016年1月15日报送的第3.2.1项“交通建设”工作进展（第{refused}号，本次完成3村" in text
    assert f"经区交委审核，该报送未予采纳，不计入完成情况。未采纳理由：“{REASON}”。" in text
    assert "佐证材料：台账.pdf" in text
    assert "在线签收和报送：https://duban.example.org/u/" in text  # the unit's signed link
    token = text.split("在线签收和报送：https://duban.example.org/u/", 1)[1].split()[0]
    assert L.verify(district, token, now=at(2016, 1, 16)).unit == "區農委"
    html = msg.get_body(("html",)).get_content()
    assert "&lt;b&gt;照片&lt;/b&gt;模糊 &amp; &#34;台账不符&#34;" in html and "<b>照片</b>" not in html
    again = deliver(district, now=at(2016, 1, 15, 18), settings=settings)
    assert again.sent == 0 and again.planned_messages == 0 and len(recorder.messages) == 1
    assert [x.status for x in notices(district)] == ["sent"]
    with transaction(district) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(MessageRow)).scalar() == 1
        [decided] = [e for e in repo.history(s, DISTRICT, "3.2.1") if e.kind == "progress.refused"]
    assert decided.data["notice_key"] == f"part-refused:{refused}"


def test_the_letter_in_english_and_the_offices_refusal(district, tmp_path: Path) -> None:
    from duban.notifications.render import Letterhead, RecipientView, Renderer
    from duban.notifications.views import build_views

    refused = part(district, done="4")
    refuse_report(district, report_id=refused, now=at(2016, 1, 18, 10), actor="王五", reason="<i>no</i> ledger")
    [n] = notices(district)
    assert n.data["part"]["decided_by"] == ""  # the office
    with transaction(district) as s:
        view = build_views(s, [n.id])[n.id]
    recipient = RecipientView(name="區農委", email="nongwei@example.org", role="unit")
    en = Renderer(language="en").notice(view, recipient, letterhead=Letterhead(issuer="Office", date=dt.date(2016, 1, 18)))
    assert en.subject == "[Part not accepted] 3.2.1 交通建設"
    assert 'On review by the supervising office, it was not accepted' in en.text
    assert 'Reason: "<i>no</i> ledger"' in en.text and "&lt;i&gt;no&lt;/i&gt; ledger" in en.html
    zh = Renderer().notice(view, recipient, letterhead=Letterhead(issuer="督办室", date=dt.date(2016, 1, 18)))
    assert "经督办部门审核" in zh.text and "已逾期" in zh.text  # due 2015-12-31, refused in 2016
    md = Renderer().markdown_notice(view, recipient, letterhead=Letterhead(issuer="督办室", date=dt.date(2016, 1, 18)))
    assert md.title.startswith("【配合单位报送未予采纳】") and "<i>" not in md.text


def test_a_refusal_notice_is_held_with_the_tasks_notices_without_an_address_and_for_a_replayed_day(
        district, recorder, tmp_path: Path) -> None:
    from duban.workflows.delivery_service import deliver
    from duban.workflows.notice_service import hold_notices, resume_notices
    from tests.support import SHANGHAI

    eml = mail_settings(tmp_path)  # .eml files: a replay's mail is not held there
    hold_notices(district, plan=None, task="3.2.1", now=at(2016, 1, 14), actor="王五", reason="调整中")
    held = part(district, done="1")
    refuse_report(district, report_id=held, now=at(2016, 1, 15, 11), actor="王五", reason="重复")
    assert deliver(district, now=at(2016, 1, 15, 17), settings=eml).planned_messages == 0
    assert [n.status for n in notices(district)] == ["pending"]  # held with the task's notices
    resume_notices(district, plan=None, task="3.2.1", now=at(2016, 1, 16), actor="王五")
    assert deliver(district, now=at(2016, 1, 16, 9), settings=eml).sent == 1
    [sent] = sorted((tmp_path / "outbox").rglob("*.eml"))
    letter = email.message_from_bytes(sent.read_bytes(), policy=email.policy.default)
    assert letter["Subject"] == "【配合单位报送未予采纳】3.2.1 交通建设" and "nongwei@example.org" in letter["To"]

    # A unit with no address: held, saying why, until the directory has one.
    with transaction(district) as s:
        s.execute(sa.update(UnitRow).where(UnitRow.name == "區農委").values(emails=[]))
    second = part(district, done="2")
    refuse_report(district, report_id=second, now=at(2016, 1, 16, 11), actor="王五", reason="缺少台账")
    result = deliver(district, now=at(2016, 1, 16, 12), settings=eml)
    assert result.sent == 0 and [(h["task"], h["name"], h["reason"]) for h in result.held] == [
        ("3.2.1", "區農委", "no address for 區農委 (unit) in the directory")]
    assert (notices(district)[-1].key, notices(district)[-1].status) == (f"part-refused:{second}", "held")
    with transaction(district) as s:
        s.execute(sa.update(UnitRow).where(UnitRow.name == "區農委").values(emails=["nongwei@example.org"]))
    assert deliver(district, now=at(2016, 1, 17, 10), settings=eml).sent == 1

    # Decided for a replayed day: held from SMTP until DUBAN_ALLOW_REPLAY_MAIL=1; today's goes at once.
    third = part(district, done="3")
    refuse_report(district, report_id=third, now=at(2016, 1, 18, 11), actor="王五", reason="口径不一")
    smtp = mail_settings(tmp_path, recorder.port)
    result = deliver(district, now=at(2016, 1, 18, 17), settings=smtp)
    assert result.sent == 0 and recorder.messages == []
    assert [h["reason"].split(";")[0] for h in result.held] == [
        f"held: written for a replayed day (as of 2016-01-18, written {dt.datetime.now(SHANGHAI).date()})"]
    now = dt.datetime.now(SHANGHAI)
    today = part(district, task="3.2.2", unit="區發改委", now=now, note="今日")
    refuse_report(district, report_id=today, now=now, actor="王五", reason="今日")
    assert deliver(district, now=now, settings=smtp).sent == 1
    assert len(recorder.messages) == 1
    assert deliver(district, now=at(2016, 1, 19), settings=mail_settings(tmp_path, recorder.port,
                                                                         allow_replay_mail=True)).sent == 1
    assert len(recorder.messages) == 2
