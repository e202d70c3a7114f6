"""Notice views from the store (SQLite and PostgreSQL): the district plan swept on 2015-12-04, rendered."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from duban.config.settings import Settings
from duban.matrix.calendar import WorkCalendar
from duban.matrix.errors import NotFound
from duban.matrix.policy import load_policy
from duban.notifications.render import Letterhead, RecipientView, Renderer
from duban.notifications.views import build_views, letterhead_for, preview_view
from duban.store.db import transaction
from duban.store.tables import NoticeRow
from duban.workflows.delivery_service import deliver
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.progress_service import report_progress
from duban.workflows.sweep_service import sweep
from tests.support import PLANS, POLICY, POLICY_FILE, at

CAL = WorkCalendar()
D = dt.date


@pytest.fixture
def district(engine):
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    return engine


def all_views(engine) -> dict:
    with transaction(engine) as s:
        ids = [i for (i,) in s.execute(sa.select(NoticeRow.id).order_by(NoticeRow.id))]
        return build_views(s, ids, calendar=CAL)


def test_views_of_the_district_plan_on_2015_12_04(district, tmp_path: Path) -> None:
    # An office policy that chases on after the ladder's last level and copies every chase (the shipped one
    # stops at level 3 and copies the first chase only), so that 12-04's catch-up chase is there to view.
    (tmp_path / "policy.yaml").write_text("chase: {stop_after_last_level: false, cc_supporting_units: every}\n",
                                          encoding="utf-8")
    sweep(district, now=at(2015, 12, 4), policies=load_policy(POLICY_FILE, tmp_path / "policy.yaml"))
    views = all_views(district)
    assert len(views) == 8  # 3.1 and 3.5: a chase and three escalation levels each
    chase = next(v for v in views.values() if v.kind == "chase" and v.task_code == "3.1")
    assert chase.plan_code == "district-2015" and chase.plan_title == "全區扶貧攻堅工作方案"
    assert chase.issuer == "區扶貧開發領導小組辦公室"
    assert chase.task_title == "扶貧對象精準,決戰目標到村到戶" and chase.target.startswith("充分運用扶貧開發建檔立卡成果")
    assert chase.lead_unit == "區扶貧辦" and chase.supporting_units == ("各鄉鎮人民政府", "街道辦事處")
    assert chase.lead_officials == ("林光(區人民政府副區長)",)
    assert chase.label == "2015年7月初" and chase.due == D(2015, 7, 10)
    assert chase.days == CAL.working_days_between(D(2015, 7, 10), D(2015, 12, 4)) == 100
    assert chase.planned_for == D(2015, 12, 4) and chase.required_by == CAL.add_working_days(D(2015, 12, 4), 3) == D(2015, 12, 9)
    assert chase.quantity is None and chase.level == 0 and chase.colour == "" and not chase.is_cc
    assert [(r.role, r.name) for r in chase.to] == [("unit", "區扶貧辦")]
    assert [(r.role, r.name) for r in chase.cc] == [("unit", "各鄉鎮人民政府"), ("unit", "街道辦事處")]

    ladder = sorted((v for v in views.values() if v.kind == "escalation" and v.task_code == "3.1"), key=lambda v: v.level)
    assert [(v.level, v.colour) for v in ladder] == [(1, "藍"), (2, "橙"), (3, "紅")]
    assert [(r.role, r.name, r.title) for r in ladder[0].to] == [("unit_head", "區扶貧辦", "主任")]
    assert [(r.role, r.name, r.title) for r in ladder[1].to] == [("official", "林光", "區人民政府副區長")]
    assert [(r.role, r.name) for r in ladder[1].cc] == [("office", "區扶貧開發領導小組辦公室"), ("unit", "各鄉鎮人民政府"),
                                                       ("unit", "街道辦事處")]  # level 2 copies the supporting units
    assert [(r.role, r.name) for r in ladder[2].to] == [("office_head", "區扶貧開發領導小組辦公室"), ("top_leader", "楊宏偉")]
    # Written by a catch-up sweep long after they were planned: dated the sweep's day, answer due after it.
    assert all(v.planned_for == D(2015, 12, 4) and v.required_by == D(2015, 12, 9) for v in ladder)

    with transaction(district) as s:
        letterhead = letterhead_for(s, D(2015, 12, 4))
    assert letterhead.issuer == "區扶貧開發領導小組辦公室" and letterhead.date == D(2015, 12, 4)

    mine = [v for v in views.values() if v.lead_unit == "區扶貧辦"]
    for language, unit, subject in (("zh-Hans", "区扶贫办", "【督办】区扶贫办 待办事项 4 项（2015年12月4日）"),
                                    ("zh-Hant", "區扶貧辦", "【督辦】區扶貧辦 待辦事項 4 項（2015年12月4日）")):
        digest = Renderer(language=language).digest(mine, RecipientView(name="區扶貧辦"), letterhead=letterhead)
        assert digest.subject == subject
        assert unit in digest.text and unit in digest.html
        text = digest.text
        assert text.index("紅】3.1" if language == "zh-Hant" else "红】3.1") < text.index("蓝】3.1" if language == "zh-Hans" else "藍】3.1")
        assert "100个工作日" in text or "100個工作日" in text
    en = Renderer(language="en").notice(chase, chase.to[0], letterhead=letterhead)
    assert en.subject == "[Supervision] 3.1 扶貧對象精準,決戰目標到村到戶" and "100 working days overdue" in en.text


def test_delivered_digests_ask_each_recipient_its_own_part(district, tmp_path: Path) -> None:
    """The digests as delivered, to recipients named by the directory ("林光(區人民政府副區長)", "區扶貧辦 主任"):
    each item asks what the letter of its kind and level asks of that recipient's role there."""
    sweep(district, now=at(2015, 12, 4), policies=POLICY)
    settings = Settings(database_url="sqlite://", outbox_dir=tmp_path / "outbox", config_dir=tmp_path / "cfg",
                        mail_from="督辦系統 <duban@example.org>", messages_per_minute=0, language="zh-Hans",
                        delivery_mode="digest")
    deliver(district, now=at(2015, 12, 4), settings=settings)
    mail = {}
    for path in (tmp_path / "outbox").glob("*.eml"):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        text, html = msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()
        # 督办 with an escalation in it, else 催办 (a supporting unit's copies of chases), never 督办 for less
        title = "督办事项汇总通知" if "【督办·" in text else "催办事项汇总通知"
        salutation = text.split(f"{title}\n\n", 1)[1].split("\n", 1)[0]
        items = re.findall(r"^   办理要求：(.*)$", text, re.M)
        assert items == re.findall(r"<b>办理要求：</b>(.*?)</td>", html)
        mail[msg["To"].addresses[0].addr_spec] = (msg["Subject"], salutation, items)

    office, by = "区扶贫开发领导小组办公室", "于2015年12月9日前"
    reports = f"{by}将办理情况和整改措施书面报送{office}"
    red = "逾期仍未办结的，将予以通报批评，并纳入年度目标考核。"
    further = "逾期仍未办结的，将按程序提级督办。"
    assert mail["lin.guang@example.org"] == ("【督办】林光同志 待办事项 1 项（2015年12月4日）", "林光同志：", [
        f"提请牵头领导督促落实。请督促区扶贫办{reports}。{further}"])
    assert mail["yang.hongwei@example.org"][1:] == ("杨宏伟同志：", [
        f"提请主要领导督办。请督促区扶贫办立即整改落实，{reports}。{red}",
        f"提请主要领导督办。请督促区委组织部立即整改落实，{reports}。{red}"])
    assert mail["head.fupin@example.org"][1:] == ("区扶贫办主任：", [
        f"请区扶贫办主要负责同志亲自过问、专题研究。请区扶贫办{reports}。{further}"])
    # 李衛東 heads 區委組織部 and leads task 3.5: the orange item as its lead official, the blue one as the unit's head.
    assert mail["li.weidong@example.org"][1:] == ("李卫东同志：", [
        f"提请牵头领导督促落实。请督促区委组织部{reports}。{further}",
        f"请区委组织部主要负责同志亲自过问、专题研究。请区委组织部{reports}。{further}"])
    # The office is copied on the orange items and addressed by the red ones: it follows them up, and is never
    # asked to cooperate with the lead unit or to report to itself.
    assert mail["office@example.org"][1:] == (f"{office}：", [
        f"请知悉，并跟踪督促区扶贫办{by}报送办理情况和整改措施。",
        f"请知悉，并跟踪督促区委组织部{by}报送办理情况和整改措施。"])
    assert mail["office.head@example.org"][1:] == (f"{office}主任：", [
        f"提请主要领导督办。请跟踪督促区扶贫办立即整改落实，{by}报送办理情况和整改措施。{red}",
        f"提请主要领导督办。请跟踪督促区委组织部立即整改落实，{by}报送办理情况和整改措施。{red}"])
    # 區扶貧辦: its own 3.1 is past level 3, so no longer chased; it supports 3.5 and is copied on its levels 2 and 3.
    assert mail["fupin@example.org"][1:] == ("区扶贫办：", ["你单位为该项工作的配合单位，请积极配合区委组织部抓好落实。"] * 2)


def test_views_are_read_with_a_handful_of_queries(district) -> None:
    sweep(district, now=at(2015, 12, 4), policies=POLICY)
    sweep(district, now=at(2015, 12, 24), policies=POLICY)  # reminders of every year-end milestone
    with transaction(district) as s:
        ids = [i for (i,) in s.execute(sa.select(NoticeRow.id))]
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    sa.event.listen(district, "before_cursor_execute", count)
    try:
        with transaction(district) as s:
            views = build_views(s, ids, calendar=CAL)
    finally:
        sa.event.remove(district, "before_cursor_execute", count)
    assert len(views) == len(ids) > 20
    assert len(statements) <= 12  # per table, not per notice


def test_quantities_done_show_in_the_digest(district) -> None:
    report_progress(district, task="3.2.1", unit="區交委", done=18, now=at(2015, 12, 20), note="已完成18個村")
    sweep(district, now=at(2015, 12, 24), policies=POLICY)
    views = all_views(district)
    road = next(v for v in views.values() if v.task_code == "3.2.1")
    assert road.kind == "reminder" and road.due == D(2015, 12, 31) and road.required_by == road.due
    assert (road.quantity, road.measure, road.done_quantity) == (Decimal(25), "村", Decimal(18))
    assert road.days == CAL.working_days_between(D(2015, 12, 24), D(2015, 12, 31))
    assert road.label == "2015年底完成25個村"
    with transaction(district) as s:
        letterhead = letterhead_for(s, D(2015, 12, 24))
    digest = Renderer(language="zh-Hans").digest([road], RecipientView(name="區交委"), letterhead=letterhead)
    assert "已完成18/25村" in digest.text and "已完成18/25村" in digest.html


def test_unknown_notice_ids_are_not_found(district) -> None:
    with transaction(district) as s:
        with pytest.raises(NotFound, match="999"):
            build_views(s, [999])
        assert build_views(s, []) == {}


def test_a_preview_reads_the_task_and_writes_nothing(district) -> None:
    with transaction(district) as s:
        before = s.execute(sa.select(sa.func.count()).select_from(NoticeRow)).scalar_one()
        v = preview_view(s, kind="escalation", task="3.2.1", today=D(2016, 1, 20), level=2, policies=POLICY, calendar=CAL)
        assert (v.kind, v.level, v.colour, v.lead_unit, v.due) == ("escalation", 2, "橙", "區交委", D(2015, 12, 31))
        assert v.days == CAL.working_days_between(D(2015, 12, 31), D(2016, 1, 20))
        assert [(r.role, r.name) for r in v.to] == [("official", "劉儀")]
        r = preview_view(s, kind="reminder", task="3.2.1", today=D(2015, 12, 24), policies=POLICY, calendar=CAL)
        assert r.required_by == D(2015, 12, 31) and [x.name for x in r.cc][:2] == ["區農委", "區城鄉建委"]
        with pytest.raises(NotFound, match="9.9"):
            preview_view(s, kind="chase", task="9.9", today=D(2016, 1, 20), policies=POLICY)
        assert s.execute(sa.select(sa.func.count()).select_from(NoticeRow)).scalar_one() == before
    letterhead = Letterhead(issuer="區扶貧開發領導小組辦公室", date=D(2016, 1, 20))
    text = Renderer(language="zh-Hant").notice(v, v.to[0], letterhead=letterhead).text
    assert "劉儀同志：" in text and "橙色督辦" in text


def _seen(v) -> tuple:
    """What a preview and a written notice must agree on."""
    return (v.kind, v.level, v.colour, v.due, v.days, v.label, v.min_count, v.done_count,
            [(r.role, r.name, r.email) for r in v.to], [(r.role, r.name, r.email) for r in v.cc])


def test_a_preview_agrees_with_the_notices_the_sweep_writes(district) -> None:
    """Every notice of the sweep of 2016-01-20 (chases, escalation levels 1-3 with the lead officials,
    the office and the top leader) previews as written."""
    sweep(district, now=at(2016, 1, 20), policies=POLICY, calendar=CAL)
    written = all_views(district)
    assert {v.level for v in written.values() if v.kind == "escalation"} == {1, 2, 3}
    with transaction(district) as s:
        for v in written.values():
            p = preview_view(s, kind=v.kind, task=v.task_code, today=D(2016, 1, 20), level=v.level or 1,
                             policies=POLICY, calendar=CAL)
            if p.due == v.due:  # the task's first open milestone (a later one may be overdue too)
                assert _seen(p) == _seen(v), (v.task_code, v.kind, v.level)


def test_a_preview_of_a_period_uses_its_extension_as_the_sweep_does(engine) -> None:
    """Decided by issue 11: ``notices preview`` asks the planner. Before, a period of a recurring
    obligation was previewed from the obligation's rule alone — due 2018-03-31 although its approved
    extension moved it to 2018-04-10 — while the sweep reminds (and chases) the extended date."""
    import_file(engine, PLANS / "village-2018.yaml", PlanOptions(), now=at(2018, 1, 1))
    sweep(engine, now=at(2018, 3, 20), policies=POLICY, calendar=CAL)  # creates the March and April periods
    with transaction(engine) as s:
        s.execute(sa.text("UPDATE recurrence_instance SET extended_due = :d WHERE due = :due"),
                  {"d": D(2018, 4, 10), "due": D(2018, 3, 31)})
    with transaction(engine) as s:
        early = preview_view(s, kind="reminder", task="2.3", today=D(2018, 3, 26), policies=POLICY, calendar=CAL)
    assert early.due == D(2018, 4, 10)  # the old preview said 2018-03-31
    day = CAL.add_working_days(D(2018, 4, 10), -5)
    sweep(engine, now=at(day.year, day.month, day.day), policies=POLICY, calendar=CAL)
    reminders = [v for v in all_views(engine).values() if v.kind == "reminder" and v.task_code == "2.3"]
    assert [v.due for v in reminders] == [D(2018, 4, 10)]
    with transaction(engine) as s:
        p = preview_view(s, kind="reminder", task="2.3", today=day, policies=POLICY, calendar=CAL)
    assert _seen(p) == _seen(reminders[0])


def test_a_previewed_circulation_states_facts_as_the_weekly_report_words_them(district) -> None:
    from duban.workflows.notice_service import preview

    zh = preview(district, POLICY, Renderer(language="zh-Hant"), kind="criticism", task="3.2.1", today=D(2016, 1, 20),
                 calendar=CAL)
    assert "牽頭負責的第3.2.1項“交通建設”工作，2015年12月31日節點（2015年底完成25個村）逾期13個工作日仍未辦結" in zh.text
    assert "牽頭負責的第3.2.1項“交通建設”工作，本期未按要求報送進展" in zh.text
    assert zh.subject == "【通報批評】區交委（2016年1月18日至1月22日）"
    en = preview(district, POLICY, Renderer(language="en"), kind="praise", task="3.2.1", today=D(2015, 12, 20),
                 calendar=CAL)
    assert "As lead unit of task 3.2.1 “交通建設”, progress reported on 20 December 2015, 0 of 25 村 done" in en.text
