"""Units' signed links (workflows.link_service) on SQLite and PostgreSQL, in process: the same notice day
gives the same token (a replay, a restart); tampered, unknown, expired and revoked links are refused and
change nothing; opening a link's page writes nothing; a link acts only on its own unit's open items of its
plan; every action goes through the office's services and is a ``link.used`` event with the link and the
client's address."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from duban.matrix.errors import NotFound, Refused
from duban.store.db import open_database, transaction
from duban.store.evidence import EvidenceStore
from duban.store.tables import EventRow, MilestoneRow, NoticeRow, SweepRow, TaskRow, UnitRow
from duban.workflows import link_service as L
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.sweep_service import sweep
from tests.support import PLANS, POLICY, at

PLAN = "district-2015"
NOW = at(2016, 1, 15, 10)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
TABLES = ("event", "notice", "progress_report", "closing_request", "closing_evidence", "extension", "link_revocation",
          "app_secret")


@pytest.fixture
def district(engine):
    import_file(engine, PLANS / f"{PLAN}.yaml", PlanOptions(), now=at(2015, 7, 1))
    for day in (8, 15):  # two days of letters
        sweep(engine, now=at(2016, 1, day, 8), policies=POLICY)
    return engine


@pytest.fixture
def store(tmp_path: Path) -> EvidenceStore:
    return EvidenceStore(tmp_path / "evidence", max_bytes=10_000)


def counts(engine) -> dict:
    with engine.connect() as conn:
        out = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}
        out["acknowledged"] = conn.execute(sa.text("SELECT count(*) FROM notice WHERE acknowledged_at IS NOT NULL")).scalar()
        out["milestones"] = conn.execute(sa.text("SELECT sum(coalesce(done_quantity, 0)) FROM milestone")).scalar()
        return out


def latest_link(engine, unit: str) -> dict:
    return L.list_links(engine, unit=unit, plan=PLAN, now=NOW)[0]


def item_key(engine, task: str, seq_index: int = 0) -> str:
    with transaction(engine) as s:
        ids = s.execute(sa.select(MilestoneRow.id).join(TaskRow, TaskRow.id == MilestoneRow.task_id)
                        .where(TaskRow.code == task).order_by(MilestoneRow.seq)).scalars().all()
    return f"m{ids[seq_index]}"


def test_a_link_is_signed_from_its_notice_day_the_same_in_a_replay_and_after_a_restart(district, db_url, monkeypatch) -> None:
    links = L.list_links(district, unit="區交委", plan=PLAN, now=NOW)
    days = {row["issued_on"] for row in links}
    with transaction(district) as s:
        names = {"區交委", *s.execute(sa.select(UnitRow.member_of).where(UnitRow.name == "區交委")).scalar_one()}
        swept = dict(s.execute(sa.select(SweepRow.id, SweepRow.as_of)).all())
        notice_days = {max(n.planned_for, swept.get(n.sweep_id, n.planned_for)).isoformat()  # the letter's date
                       for n in s.execute(sa.select(NoticeRow)).scalars()
                       if any(r["name"] in names and r["role"] in ("unit", "unit_head") for r in n.recipients + n.cc)}
    assert days == notice_days and len(days) >= 2  # one link per day a letter reached the unit
    first = links[0]
    again = L.issue(district, plan=PLAN, unit="區交委", on=dt.date.fromisoformat(first["issued_on"]))
    assert again["token"] == first["url"] and again["link"] == first["link"]
    other = open_database(db_url)  # another process (a restart, a second worker): the key is in the database
    try:
        assert L.issue(other, plan=PLAN, unit="區交委", on=dt.date.fromisoformat(first["issued_on"]))["token"] == first["url"]
    finally:
        other.dispose()
    link = L.verify(district, first["url"], now=NOW)
    with transaction(district) as s:
        unit_id = s.execute(sa.select(UnitRow.id).where(UnitRow.name == "區交委")).scalar_one()
    assert (link.unit, link.plan, link.unit_id, link.link_id) == ("區交委", PLAN, unit_id, first["link"])
    assert link.issued_on.isoformat() == first["issued_on"] and link.expires_on == link.issued_on + dt.timedelta(days=30)

    # DUBAN_SECRET_KEY signs alike in every database (and the key kept in the database no longer verifies)
    on = dt.date(2016, 1, 12)
    stored = L.issue(district, plan=PLAN, unit="區交委", on=on)["token"]
    monkeypatch.setenv("DUBAN_SECRET_KEY", "a key the office keeps")
    given = L.issue(district, plan=PLAN, unit="區交委", on=on)["token"]
    assert given != stored and given == L.issue(district, plan=PLAN, unit="區交委", on=on)["token"]
    with pytest.raises(L.LinkRefused):
        L.verify(district, stored, now=NOW)
    assert L.verify(district, given, now=NOW).unit == "區交委"


def test_tampered_unknown_expired_and_revoked_links_are_refused_and_change_nothing(district) -> None:
    fresh = counts(district)  # no link signed yet: opening a forged one does not even make the key
    with pytest.raises(L.LinkRefused):
        L.page(district, "1-3-20160112." + "A" * 32, now=NOW)
    assert counts(district) == fresh
    token = latest_link(district, "區交委")["url"]
    link_id, sig = token.split(".")
    plan_id, unit_id, day = link_id.split("-")
    other_unit = f"{plan_id}-{int(unit_id) + 1}-{day}"
    with transaction(district) as s:
        unknown = L.token_in(s, plan_id=999, unit_id=int(unit_id), issued_on=dt.date(2016, 1, 12))
    before = counts(district)
    for bad, reason in [(token[:-1] + ("A" if token[-1] != "A" else "B"), "tampered"), (f"{other_unit}.{sig}", "tampered"),
                        (link_id, "tampered"), ("", "tampered"), ("1-1-20161399." + sig, "tampered"),
                        ("x" * 500, "tampered"), (unknown, "unknown")]:
        with pytest.raises(L.LinkRefused) as refused:
            L.page(district, bad, now=NOW)
        assert refused.value.reason == reason, bad
    with pytest.raises(L.LinkRefused) as refused:
        L.verify(district, token, now=NOW + dt.timedelta(days=40))
    assert refused.value.reason == "expired" and "过期" in str(refused.value)
    assert L.verify(district, token, now=NOW + dt.timedelta(days=40), expire_days=60).link_id == link_id  # policy links.expire_days
    assert counts(district) == before

    L.revoke(district, link_ids=[link_id], now=NOW, actor="office1", reason="转发到了外部")
    with pytest.raises(L.LinkRefused) as refused:
        L.page(district, token, now=NOW)
    assert refused.value.reason == "revoked" and "转发到了外部" in str(refused.value)
    listed = {row["link"]: row for row in L.list_links(district, unit="區交委", plan=PLAN, now=NOW)}
    assert listed[link_id]["status"] == "revoked" and listed[link_id]["revoked_by"] == "office1"
    with pytest.raises(Refused, match="already revoked"):
        L.revoke(district, link_ids=[link_id], now=NOW, actor="office1")
    with pytest.raises(Refused, match="not a link id"):
        L.revoke(district, link_ids=["1-2"], now=NOW, actor="office1")
    with transaction(district) as s:
        revoked = s.execute(sa.select(EventRow).where(EventRow.kind == "link.revoked")).scalars().all()
    assert [(e.actor, e.data["link"], e.data["unit"]) for e in revoked] == [("office1", link_id, "區交委")]


def test_opening_a_link_reads_only_and_lists_the_units_open_items(district) -> None:
    token = latest_link(district, "區農委")["url"] if L.list_links(district, unit="區農委", plan=PLAN, now=NOW) \
        else L.issue(district, plan=PLAN, unit="區農委", on=dt.date(2016, 1, 12))["token"]
    before = counts(district)
    page = L.page(district, token, now=NOW)
    page_again = L.page(district, token, now=NOW)
    assert counts(district) == before and page == page_again
    roles = {(i["task"], i["role"]) for i in page["items"]}
    assert ("3.2.1", "supporting") in roles and any(role == "lead" for _, role in roles)
    supporting = next(i for i in page["items"] if i["task"] == "3.2.1")
    assert supporting["can_report"] and not supporting["can_close"] and not supporting["can_extend"]

    # the page's form token is bound to its link: another link's is refused
    a = L.page(district, latest_link(district, "區交委")["url"], now=NOW)
    assert L.check_csrf(district, a["link"].token, a["csrf"])
    assert not L.check_csrf(district, a["link"].token, page["csrf"])
    assert not L.check_csrf(district, a["link"].token, "") and not L.check_csrf(district, a["link"].token, None)


def test_a_link_acts_through_the_services_and_every_use_is_an_event_with_the_link_and_the_client(district, store) -> None:
    token = latest_link(district, "區交委")["url"]
    link = L.verify(district, token, now=NOW)
    first, second = item_key(district, "3.2.1", 0), item_key(district, "3.2.1", 1)
    items = {i["key"]: i for i in L.page(district, token, now=NOW)["items"]}
    assert items[first]["notices"], "the overdue milestone has notices to acknowledge"

    acked = L.acknowledge(district, link, first, now=NOW, client="203.0.113.7")
    assert sorted(acked) == sorted(items[first]["notices"])
    with transaction(district) as s:
        notices = s.execute(sa.select(NoticeRow).where(NoticeRow.id.in_(acked))).scalars().all()
    assert all(n.acknowledged_by == "區交委" and n.acknowledged_at is not None for n in notices)
    with pytest.raises(Refused):
        L.acknowledge(district, link, first, now=NOW, client="203.0.113.7")  # nothing left to acknowledge

    reported = L.report(district, link, first, now=NOW, client="203.0.113.7", done="18", note="<b>已完成18个村</b>",
                        files=[("18个村.pdf", PDF)], store=store)
    assert reported["item"]["done_quantity"] == 18 and not reported["item"]["closed"]
    assert [f["name"] for f in reported["files"]] == ["18个村.pdf"]
    made = L.request_closing(district, link, first, now=NOW, client="203.0.113.7", note="已全部完成",
                             files=[("验收报告.pdf", PDF)], store=store)
    assert made["status"] == "pending" and [f["name"] for f in made["files"]] == ["验收报告.pdf"]
    assert link.link_id in made["requested_by"]
    ext = L.request_extension(district, link, second, now=NOW, client="198.51.100.2", new_due=dt.date(2017, 3, 31),
                              reason="冬季施工受限")
    assert ext["status"] == "pending" and ext["new_due"] == "2017-03-31"

    with transaction(district) as s:
        used = s.execute(sa.select(EventRow).where(EventRow.kind == "link.used").order_by(EventRow.id)).scalars().all()
        kinds = {e.kind: e.actor for e in s.execute(sa.select(EventRow).where(EventRow.kind.in_(
            ["notice.acknowledged", "progress.reported", "closing.requested", "extension.requested"]))).scalars()}
    assert [e.data["action"] for e in used] == ["acknowledge", "report", "request_closing", "request_extension"]
    assert {(e.data["link"], e.data["unit"]) for e in used} == {(link.link_id, "區交委")}
    assert [e.data["client"] for e in used] == ["203.0.113.7"] * 3 + ["198.51.100.2"]
    assert used[1].data["files"] == ["18个村.pdf"]
    assert all(link.link_id in actor for actor in kinds.values()), kinds
    assert L.list_links(district, unit="區交委", plan=PLAN, now=NOW)[0]["uses"] == 4


def test_a_link_cannot_act_on_another_units_item_nor_beyond_its_units_rights(district, store) -> None:
    link = L.verify(district, latest_link(district, "區交委")["url"], now=NOW)
    with transaction(district) as s:
        foreign = s.execute(sa.select(MilestoneRow.id).join(TaskRow, TaskRow.id == MilestoneRow.task_id)
                            .join(UnitRow, UnitRow.id == TaskRow.lead_unit_id)
                            .where(UnitRow.name == "區水務局", MilestoneRow.closed_at.is_(None))).scalars().first()
    before = counts(district)
    for act in (lambda key: L.acknowledge(district, link, key, now=NOW, client="c"),
                lambda key: L.report(district, link, key, now=NOW, client="c", done="1"),
                lambda key: L.request_closing(district, link, key, now=NOW, client="c", note="x", files=[], store=store),
                lambda key: L.request_extension(district, link, key, now=NOW, client="c", new_due=dt.date(2017, 1, 1),
                                                reason="x")):
        for key in (f"m{foreign}", "m999999", "i1", "' OR 1=1"):
            with pytest.raises(NotFound, match="不是區交委"):
                act(key)
    supporting = L.verify(district, L.issue(district, plan=PLAN, unit="區農委", on=dt.date(2016, 1, 12))["token"], now=NOW)
    own = item_key(district, "3.2.1", 0)
    with pytest.raises(Refused, match="lead"):
        L.request_closing(district, supporting, own, now=NOW, client="c", note="x", files=[], store=store)
    with pytest.raises(Refused, match="lead"):
        L.request_extension(district, supporting, own, now=NOW, client="c", new_due=dt.date(2017, 1, 1), reason="x")
    assert counts(district) == before
    # an extension after the due date is refused as for the office (recorded as such by the service)
    with pytest.raises(Refused, match="late extension request"):
        L.request_extension(district, link, own, now=NOW, client="c", new_due=dt.date(2016, 3, 1), reason="晚了")
    with transaction(district) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(EventRow).where(EventRow.kind == "link.used")).scalar() == 0


def test_letters_carry_each_recipient_units_link_when_the_public_address_is_set(district, tmp_path: Path, store) -> None:
    import email
    import email.policy

    from duban.config.settings import Settings
    from duban.workflows.closing_service import return_request
    from duban.workflows.delivery_service import deliver

    public = "https://duban.example.gov.cn/"
    link = L.verify(district, latest_link(district, "區交委")["url"], now=NOW)
    made = L.request_closing(district, link, item_key(district, "3.2.1", 0), now=NOW, client="c", note="完成",
                             files=[], store=store)
    return_request(district, request_id=made["id"], reason="缺少验收材料", now=NOW, actor="lin")  # 退回通知 to the unit
    deliver(district, now=at(2016, 1, 15, 9), settings=Settings(
        database_url="sqlite://", outbox_dir=tmp_path / "outbox", config_dir=tmp_path / "cfg", messages_per_minute=0,
        public_url=public))
    letters = []
    for path in sorted((tmp_path / "outbox").glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        letters.append((str(msg["To"]), msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()))
    text, html = next((t, h) for k, t, h in letters if "jiaowei@example.org" in k and "head." not in k and "汇总" in t)
    line = next(x for x in text.splitlines() if "在线签收和报送：" in x)
    url = line.split("在线签收和报送：", 1)[1].strip()
    assert url.startswith("https://duban.example.gov.cn/u/1-") and f'href="{url}"' in html
    token = url.rsplit("/", 1)[1]
    link = L.verify(district, token, now=NOW)
    assert link.unit == "區交委" and token == L.issue(district, plan=PLAN, unit="區交委", on=link.issued_on)["token"]
    officials = [t for k, t, _ in letters if "@" in k and "在线签收" not in t]
    assert officials, "a leader's letter (no unit) carries no link"
    returned = [t for k, t, _ in letters if "jiaowei@example.org" in k and "缺少验收材料" in t]
    assert returned and "在线签收和报送：https://duban.example.gov.cn/u/1-3-" in returned[0], \
        "the returned request's letter lets the unit answer again"


# --------------------------------------------------------------------------------------------
# Answer by document through the link (link_service.propose_document / confirm_document, /u/{token}/document)

COUNTY = "county-spiritual"
COUNTY_REPORT = ("臨潁縣精神扶貧工作進展\n"
                 "截至目前，县扶贫办共招募精神扶贫志愿者160名，分组包户开展志愿服务。\n"  # simplified
                 "全縣篩選精神扶貧戶113戶，由志願者結對包戶，實現精神扶貧結對幫扶全覆蓋。\n")  # traditional


def county_done(engine) -> dict[str, float]:
    with engine.connect() as conn:
        return {code: float(done or 0) for code, done in conn.execute(sa.text(
            "SELECT t.code, m.done_quantity FROM milestone m JOIN task t ON t.id = m.task_id"))}


def test_a_link_answers_by_document_confirming_only_the_chosen_entries(engine, db_url: str, tmp_path: Path) -> None:
    from tests.link_web import Web
    from tests.support import FIXTURES

    import_file(engine, FIXTURES / "progress_document" / f"{COUNTY}.yaml", PlanOptions(), now=at(2018, 1, 2))
    day, now = dt.date(2018, 6, 1), at(2018, 6, 1, 10)
    token = L.issue(engine, plan=COUNTY, unit="縣扶貧辦", on=day)["token"]
    link = L.verify(engine, token, now=now)
    before, done_before = counts(engine), county_done(engine)

    made = L.propose_document(engine, link, ("進展.txt", COUNTY_REPORT.encode()), max_bytes=10_000)
    assert counts(engine) == before, "reading the document writes nothing"
    by_task = {p["task"]: p for p in made["proposals"]}
    assert (by_task["3"]["quantity"], by_task["3"]["measure"]) == (160, "名") and "志愿者160名" in by_task["3"]["sentence"]
    assert (by_task["4"]["quantity"], by_task["4"]["measure"]) == (113, "户") and "113戶" in by_task["4"]["sentence"]

    # the proposals come back signed for this link: changed, or from another link (of another unit), refused
    other = L.verify(engine, L.issue(engine, plan=COUNTY, unit="縣委宣傳部", on=day)["token"], now=now)
    for lnk, carry, sig in [(link, made["carry"][:-4] + "AAAA", made["carry_sig"]), (link, made["carry"], ""),
                            (other, made["carry"], made["carry_sig"])]:
        with pytest.raises(Refused, match="upload the document again"):
            L.confirm_document(engine, lnk, carry=carry, carry_sig=sig, chosen=[str(by_task["3"]["number"])], now=now,
                               client="c")
    # another unit's milestone cannot be confirmed through a link, even in a proposal signed for it
    import base64
    import json

    forged = base64.urlsafe_b64encode(json.dumps({"document": "x.txt", "proposals": [
        {**by_task["3"], "number": 1}]}, ensure_ascii=False).encode()).decode()
    with transaction(engine) as s:
        forged_sig = L._carry_mac(s, other, forged)
    with pytest.raises(NotFound, match="不是縣委宣傳部"):
        L.confirm_document(engine, other, carry=forged, carry_sig=forged_sig, chosen=["1"], now=now, client="c")
    for chosen in ([], ["99"], ["x"]):
        with pytest.raises(Refused):
            L.confirm_document(engine, link, carry=made["carry"], carry_sig=made["carry_sig"], chosen=chosen, now=now,
                               client="c")
    assert counts(engine) == before and county_done(engine) == done_before

    # through the page: the link's form token and the 确认 tick on both POSTs; only the ticked entry counts
    web = Web(db_url, tmp_path, as_of_day=day, evidence_max_bytes=3000)
    before = counts(engine)  # the console's own session key made
    try:
        page = web.get(f"/u/{token}").text
        form = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        upload = {"files": [("document", ("進展報告.txt", COUNTY_REPORT.encode(), "text/plain"))]}
        assert web.post(f"/u/{token}/document", data={"confirm": "yes"}, **upload).status_code == 403
        assert web.post(f"/u/{token}/document", data={"csrf": "x" + form, "confirm": "yes"}, **upload).status_code == 403
        r = web.post(f"/u/{token}/document", data={"csrf": form}, **upload)
        assert r.status_code == 400 and "确认" in r.text
        r = web.post(f"/u/{token}/document", data={"csrf": form, "confirm": "yes"},
                     files=[("document", ("進展.pdf", b"%PDF-1.4", "application/pdf"))])
        assert r.status_code == 400 and "must be a .docx or .txt" in r.text
        r = web.post(f"/u/{token}/document", data={"csrf": form, "confirm": "yes"},  # over the evidence limit (3000)
                     files=[("document", ("進展.txt", COUNTY_REPORT.encode() * 20, "text/plain"))])
        assert r.status_code in (400, 413) and "3,000" in r.text
        r = web.post(f"/u/{token}/document", data={"csrf": form, "confirm": "yes"}, **upload)
        assert r.status_code == 200 and "志愿者160名" in r.text and "113戶" in r.text
        carry = r.text.split('name="carry" value="', 1)[1].split('"', 1)[0]
        sig = r.text.split('name="carry_sig" value="', 1)[1].split('"', 1)[0]
        numbers = dict(re.findall(r'name="choose" value="(\d+)">\s*<span><b>(\S+) ', r.text))
        volunteers = next(n for n, task in numbers.items() if task == "3")
        chosen = {"carry": carry, "carry_sig": sig, "choose": volunteers}
        assert counts(engine) == before, "the upload is read, not kept, and proposes only"
        r = web.post(f"/u/{token}/document/confirm", data={**chosen, "confirm": "yes"})
        assert r.status_code == 403  # no form token
        r = web.post(f"/u/{token}/document/confirm", data={**chosen, "csrf": form})
        assert r.status_code == 400 and "确认" in r.text and "志愿者160名" in r.text  # the proposals shown again
        assert counts(engine) == before
        r = web.post(f"/u/{token}/document/confirm", data={**chosen, "csrf": form, "confirm": "yes"})
        assert r.status_code == 303 and r.headers["location"] == f"/u/{token}?done=document#answer-document"
    finally:
        web.close()
    assert county_done(engine) == {**done_before, "3": 160.0}, "only the ticked entry counts"
    with transaction(engine) as s:
        used = s.execute(sa.select(EventRow).where(EventRow.kind == "link.used")).scalars().all()
        note, source, by = s.execute(sa.text("SELECT note, source, reported_by FROM progress_report")).one()
    assert [(e.data["action"], e.data["task"], e.data["link"], e.data["document"]) for e in used] == [
        ("report_document", "3", link.link_id, "進展報告.txt")]
    assert source == "document" and "志愿者160名" in note and link.link_id in by
