"""A calendar subscription outlives its 30-day link: the read-only feed (``/u/{token}/calendar.ics``) is served
``links.calendar_days`` days (policy, default 400) from the link's day, while the link's page and its actions
(POSTs) end after ``links.expire_days`` (30); a revoked or tampered link gets no feed whatever its age."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from duban.matrix.errors import ConfigError
from duban.matrix.policy import load_policy
from duban.store.tables import EventRow
from duban.workflows import link_service as L
from duban.workflows.calendar_feed_service import feed
from duban.workflows.matrix_service import PlanOptions, import_file
from tests.link_web import Web
from tests.support import PLANS, POLICY, at

PLAN = "district-2015"
ISSUED = dt.date(2016, 1, 15)
LATER = at(2016, 2, 24, 10)  # 40 days on: past the link's 30 days, inside the feed's 400


@pytest.fixture
def district(sqlite_url: str):
    from duban.store.db import open_database

    engine = open_database(sqlite_url)
    import_file(engine, PLANS / f"{PLAN}.yaml", PlanOptions(), now=at(2015, 7, 1))
    yield engine
    engine.dispose()


def test_the_feed_is_served_after_the_links_actions_end_until_calendar_days(district) -> None:
    token = L.issue(district, plan=PLAN, unit="區交委", on=ISSUED)["token"]
    assert (POLICY.link_expire_days, POLICY.link_calendar_days) == (30, 400)
    with pytest.raises(L.LinkRefused) as refused:  # the link's page and actions: 30 days
        L.verify(district, token, now=LATER, expire_days=POLICY.link_expire_days)
    assert refused.value.reason == "expired"
    body = feed(district, token, now=LATER, expire_days=POLICY.link_expire_days, policies=POLICY)
    assert body.startswith(b"BEGIN:VCALENDAR") and b"BEGIN:VEVENT" in body
    last = at(2017, 2, 18, 10)  # day 400
    assert feed(district, token, now=last, expire_days=30, policies=POLICY).startswith(b"BEGIN:VCALENDAR")
    with pytest.raises(L.LinkRefused) as refused:
        feed(district, token, now=last + dt.timedelta(days=1), expire_days=30, policies=POLICY)
    assert refused.value.reason == "expired"
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(L.LinkRefused) as refused:
        feed(district, tampered, now=LATER, expire_days=30, policies=POLICY)
    assert refused.value.reason == "tampered"
    L.revoke(district, link_ids=[token.split(".")[0]], now=LATER, actor="office1", reason="转发有误")
    with pytest.raises(L.LinkRefused) as refused:
        feed(district, token, now=LATER, expire_days=30, policies=POLICY)
    assert refused.value.reason == "revoked"


def test_over_http_the_page_and_its_posts_are_refused_while_the_feed_is_served(district, sqlite_url: str,
                                                                              tmp_path: Path) -> None:
    token = L.issue(district, plan=PLAN, unit="區交委", on=ISSUED)["token"]
    form_token = L.page(district, token, now=at(2016, 1, 16, 10))["csrf"]  # the page's form token, while valid
    web = Web(sqlite_url, tmp_path, public_url="https://duban.example.gov.cn", as_of_day=LATER.date())
    try:
        page = web.get(f"/u/{token}")
        assert page.status_code == 403 and 'data-reason="expired"' in page.text
        posted = web.post(f"/u/{token}/ack", data={"csrf": form_token, "confirm": "yes"})
        assert posted.status_code == 403 and 'data-reason="expired"' in posted.text  # actions: 30 days
        r = web.get(f"/u/{token}/calendar.ics")
        assert r.status_code == 200 and r.content.startswith(b"BEGIN:VCALENDAR")
        with district.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(EventRow)
                                .where(EventRow.kind == "link.used")).scalar() == 0
        L.revoke(district, link_ids=[token.split(".")[0]], now=LATER, actor="office1")
        r = web.get(f"/u/{token}/calendar.ics")
        assert r.status_code == 403 and b"BEGIN:VCALENDAR" not in r.content
    finally:
        web.close()


def test_calendar_days_is_read_from_the_policy_and_checked(tmp_path: Path) -> None:
    def policy(text: str):
        path = tmp_path / "policy.yaml"
        path.write_text(text, encoding="utf-8")
        return load_policy(path)

    assert policy("links: {expire_days: 30}\n").link_calendar_days == 400
    assert policy("links: {expire_days: 30, calendar_days: 90}\n").link_calendar_days == 90
    assert policy("links: {expire_days: 500}\n").link_calendar_days == 500  # never fewer than the link's days
    with pytest.raises(ConfigError, match="calendar_days .10. must be at least links.expire_days .30."):
        policy("links: {expire_days: 30, calendar_days: 10}\n")
    with pytest.raises(ConfigError, match="links.calendar_days"):
        policy("links: {calendar_days: -1}\n")
