"""A unit's calendar feed (workflows.calendar_feed_service, /u/{token}/calendar.ics) on SQLite and PostgreSQL:
it parses with icalendar and holds exactly the unit's open items with their due dates (no other unit's), each
with a UID that stays the same across fetches; a closed item drops out; a tampered, revoked or expired link
gets no feed; fetching writes nothing. The page itself is called in process (the console's FastAPI app over
the same database): content type, 304 for an unchanged feed, refusals as 403/404 with no calendar."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from icalendar import Calendar

from duban.store.db import transaction
from duban.store.tables import MilestoneRow, RecurrenceInstanceRow, TaskRow, UnitRow
from duban.workflows import link_service as L
from duban.workflows.calendar_feed_service import feed
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.sweep_service import sweep
from tests.link_web import Web
from tests.support import PLANS, POLICY, at

PLAN = "district-2015"
NOW = at(2016, 1, 15, 10)
ISSUED = dt.date(2016, 1, 15)
PUBLIC = "https://duban.example.gov.cn"
TABLES = ("event", "notice", "progress_report", "link_revocation", "app_secret")


@pytest.fixture
def district(engine):
    import_file(engine, PLANS / f"{PLAN}.yaml", PlanOptions(), now=at(2015, 7, 1))
    sweep(engine, now=at(2016, 1, 15, 8), policies=POLICY)
    return engine


def counts(engine) -> dict:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}


def token_of(engine, unit: str, plan: str = PLAN, on: dt.date = ISSUED) -> str:
    return L.issue(engine, plan=plan, unit=unit, on=on)["token"]


def events(body: bytes) -> dict[str, object]:
    cal = Calendar.from_ical(body)
    found = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert len(found) == len(cal.walk("VEVENT")), "a UID appears twice"
    return found


def unit_id(engine, name: str) -> int:
    with transaction(engine) as s:
        return s.execute(sa.select(UnitRow.id).where(UnitRow.name == name)).scalar_one()


def open_milestones_led_by(engine, unit: str) -> dict[int, dt.date]:
    with transaction(engine) as s:
        rows = s.execute(sa.select(MilestoneRow).join(TaskRow, TaskRow.id == MilestoneRow.task_id)
                         .join(UnitRow, UnitRow.id == TaskRow.lead_unit_id)
                         .where(UnitRow.name == unit, MilestoneRow.closed_at.is_(None))).scalars().all()
        return {m.id: m.due for m in rows}


def test_the_feed_holds_exactly_the_units_open_items_with_stable_uids_reads_only_and_dies_with_its_link(district) -> None:
    token = token_of(district, "區交委")
    page_url = f"{PUBLIC}/u/{token}"
    before = counts(district)
    body = feed(district, token, now=NOW, page_url=page_url, policies=POLICY)
    assert feed(district, token, now=NOW + dt.timedelta(hours=5), page_url=page_url, policies=POLICY) == body
    assert counts(district) == before, "fetching the feed writes nothing"

    cal = Calendar.from_ical(body)
    assert "區交委" in str(cal["X-WR-CALNAME"]) and "全區扶貧攻堅工作方案" in str(cal["X-WR-CALNAME"])
    found = events(body)
    me = unit_id(district, "區交委")
    page_items = L.unit_items(district, L.verify(district, token, now=NOW), now=NOW)  # what the link's page lists
    assert set(found) == {f"milestone-{i['key'][1:]}.unit-{me}@duban" for i in page_items}
    for item in page_items:
        event = found[f"milestone-{item['key'][1:]}.unit-{me}@duban"]
        assert event.decoded("DTSTART") == dt.date.fromisoformat(item["due"])
        assert event.decoded("DTEND") == dt.date.fromisoformat(item["due"]) + dt.timedelta(days=1)
    mine = open_milestones_led_by(district, "區交委")
    assert mine and {f"milestone-{m}.unit-{me}@duban" for m in mine} <= set(found)
    foreign = open_milestones_led_by(district, "區水務局")  # 3.2.2 飲水安全: not 區交委's
    assert foreign and not any(uid.startswith(f"milestone-{m}.") for m in foreign for uid in found)

    first = min(mine)  # 3.2.1's first milestone
    event = found[f"milestone-{first}.unit-{me}@duban"]
    assert str(event["SUMMARY"]) == "【督办】3.2.1 交通建設：2015年底完成25個村"
    description = str(event["DESCRIPTION"])
    assert "目标任务：貧困村村級道路硬化" in description and "牵头单位" in description
    assert "25 村" in description and page_url in description and str(event["URL"]) == page_url
    assert event.decoded("DTSTAMP") == dt.datetime(2016, 1, 15, tzinfo=dt.UTC)
    alarm = event.walk("VALARM")[0]
    assert alarm.decoded("TRIGGER") == dt.timedelta(days=-7, hours=9)  # 5 working days before Thu 31 Dec 2015: Thu 24

    # a supporting unit sees the task it supports with its role; the lead unit's report closing a milestone
    # drops it from the next fetch, every other event keeping its UID
    supporting = events(feed(district, token_of(district, "區農委"), now=NOW, policies=POLICY))
    farm = unit_id(district, "區農委")
    assert "配合单位" in str(supporting[f"milestone-{first}.unit-{farm}@duban"]["DESCRIPTION"])
    L.report(district, L.verify(district, token, now=NOW), f"m{first}", now=NOW, client="c", done="25")
    after = events(feed(district, token, now=NOW, page_url=page_url, policies=POLICY))
    assert set(after) == set(found) - {f"milestone-{first}.unit-{me}@duban"}
    # a later link of the same unit: the same UIDs (a new subscription replaces, it does not duplicate)
    later = events(feed(district, token_of(district, "區交委", on=dt.date(2016, 1, 20)), now=NOW, policies=POLICY))
    assert set(later) == set(after)

    # a tampered, expired or revoked link: no feed, nothing changed
    before = counts(district)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad, reason, now in [(tampered, "tampered", NOW), ("", "tampered", NOW),
                             (token, "expired", NOW + dt.timedelta(days=410))]:  # links.calendar_days (400)
        with pytest.raises(L.LinkRefused) as refused:
            feed(district, bad, now=now, policies=POLICY)
        assert refused.value.reason == reason
    assert counts(district) == before
    L.revoke(district, link_ids=[token.split(".")[0]], now=NOW, actor="office1", reason="转发有误")
    with pytest.raises(L.LinkRefused) as refused:
        feed(district, token, now=NOW, policies=POLICY)
    assert refused.value.reason == "revoked"


def test_the_feed_lists_every_open_period_of_a_recurring_task(engine) -> None:
    import_file(engine, PLANS / "village-2018.yaml", PlanOptions(), now=at(2018, 1, 1))
    sweep(engine, now=at(2018, 2, 28, 8), policies=POLICY)
    unit = "局駐村工作組"
    found = events(feed(engine, token_of(engine, unit, plan="village-2018", on=dt.date(2018, 2, 28)),
                        now=at(2018, 2, 28, 10), policies=POLICY))
    with transaction(engine) as s:
        instances = s.execute(sa.select(RecurrenceInstanceRow).join(TaskRow, TaskRow.id == RecurrenceInstanceRow.task_id)
                              .join(UnitRow, UnitRow.id == TaskRow.lead_unit_id)
                              .where(UnitRow.name == unit, RecurrenceInstanceRow.closed_at.is_(None))).scalars().all()
        due = {i.id: i.extended_due or i.due for i in instances}
    me = unit_id(engine, unit)
    assert due, "the sweep created the periods"
    shown = {uid: e for uid, e in found.items() if uid.startswith("instance-")}
    assert set(shown) == {f"instance-{i}.unit-{me}@duban" for i in due}
    for i, day in due.items():
        event = shown[f"instance-{i}.unit-{me}@duban"]
        assert event.decoded("DTSTART") == day and "本期自" in str(event["SUMMARY"])


@pytest.fixture
def web(district, db_url: str, tmp_path: Path):
    w = Web(db_url, tmp_path, public_url=PUBLIC, as_of_day=ISSUED)
    yield w
    w.close()


def test_the_feed_over_http_content_type_etag_and_refusals(district, web) -> None:
    token = token_of(district, "區交委")
    before = counts(district)
    page = web.get(f"/u/{token}")
    assert page.status_code == 200 and f'href="/u/{token}/calendar.ics"' in page.text and "订阅日历" in page.text
    assert f'href="webcal://duban.example.gov.cn/u/{token}/calendar.ics"' in page.text  # opens the calendar app
    r = web.get(f"/u/{token}/calendar.ics")
    assert r.status_code == 200 and r.headers["content-type"] == "text/calendar; charset=utf-8"
    assert "set-cookie" not in r.headers and r.headers["cache-control"] == "private, no-cache"
    uids = set(events(r.content))
    assert uids and f"{PUBLIC}/u/{token}" in r.content.decode().replace("\r\n ", "")
    again = web.get(f"/u/{token}/calendar.ics", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and not again.content
    assert set(events(web.get(f"/u/{token}/calendar.ics").content)) == uids
    head = web.request("HEAD", f"/u/{token}/calendar.ics")  # some calendar apps ask first
    assert head.status_code == 200 and head.headers["etag"] == r.headers["etag"] and not head.content
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    r = web.get(f"/u/{tampered}/calendar.ics")
    assert r.status_code == 403 and b"BEGIN:VCALENDAR" not in r.content
    with transaction(district) as s:
        unknown = L.token_in(s, plan_id=999, unit_id=1, issued_on=ISSUED)
    assert web.get(f"/u/{unknown}/calendar.ics").status_code == 404
    assert counts(district) == before, "polling the feed writes nothing"
    L.revoke(district, link_ids=[token.split(".")[0]], now=NOW, actor="office1")
    r = web.get(f"/u/{token}/calendar.ics")
    assert r.status_code == 403 and b"BEGIN:VCALENDAR" not in r.content and "撤销" in r.text
