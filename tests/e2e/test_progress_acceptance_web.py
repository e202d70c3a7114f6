"""A supporting unit's part through a real `duban serve`: 區農委 reports 3 村 on 3.2.1 from its link (pending,
not counted); the lead unit 區交委 sees it under 配合单位报送，待你单位确认 on its own link page and accepts it
(确认 and the link's form token needed), and it counts; a second part is refused by the office from the task
page (确认, CSRF, a reason) and 區農委 sees the reason; the lead's page at 375 px in Chromium."""

from __future__ import annotations

import datetime as dt
import re
from contextlib import closing as closing_client
from pathlib import Path

import httpx
import sqlalchemy as sa

from tests.console import add_user, csrf_of, district, logged_in, served

CHROMIUM = Path("/usr/bin/chromium")


def tokens(url: str) -> tuple[str, str]:
    from duban.store.db import open_database
    from duban.workflows.link_service import issue

    engine = open_database(url)
    try:
        return tuple(issue(engine, plan="district-2015", unit=u, on=dt.date(2016, 1, 12))["token"]  # type: ignore[return-value]
                     for u in ("區農委", "區交委"))
    finally:
        engine.dispose()


def done_quantity(url: str, milestone_id: int) -> object:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT done_quantity FROM milestone WHERE id = :m"), {"m": milestone_id}).scalar()
    finally:
        engine.dispose()


def test_a_supporting_units_part_is_accepted_by_the_lead_and_refused_by_the_office(tmp_path: Path, sqlite_url: str) -> None:
    district(tmp_path, sqlite_url, as_of="2016-01-15")
    add_user("lin", "office", cwd=tmp_path, db_url=sqlite_url)
    supporting, lead = tokens(sqlite_url)
    with served(tmp_path, sqlite_url, "--as-of", "2016-01-15") as base, httpx.Client(base_url=base, timeout=60) as web:
        page = web.get(f"/u/{supporting}").text
        form = csrf_of(page)
        card = page[page.index("交通建設") - 400:]
        item = re.search(r'id="item-(m\d+)"', card).group(1)
        assert "本单位本次完成" in page
        r = web.post(f"/u/{supporting}/report", data={"csrf": form, "confirm": "yes", "item": item, "done": "3",
                                                     "note": "<i>農委3個村</i>"})
        assert r.status_code == 303 and "done=pending" in r.headers["location"]
        shown = web.get(r.headers["location"]).text
        assert "待牵头单位确认后计入" in shown and "待牵头单位确认" in shown and "<i>農委" not in shown
        assert done_quantity(sqlite_url, int(item[1:])) is None

        lead_page = web.get(f"/u/{lead}").text
        assert "配合单位报送，待你单位确认" in lead_page and "&lt;i&gt;農委3個村" in lead_page
        part = re.search(r'name="report" value="(\d+)"', lead_page).group(1)
        lead_form = csrf_of(lead_page)
        assert web.post(f"/u/{lead}/part", data={"csrf": form, "report": part, "decision": "accept",
                                                 "confirm": "yes"}).status_code == 403  # another link's form token
        r = web.post(f"/u/{lead}/part", data={"csrf": lead_form, "report": part, "decision": "accept"})
        assert r.status_code == 400 and "确认" in r.text
        assert done_quantity(sqlite_url, int(item[1:])) is None
        r = web.post(f"/u/{lead}/part", data={"csrf": lead_form, "report": part, "decision": "accept", "confirm": "yes"})
        assert r.status_code == 303 and "done=accept" in r.headers["location"]
        after = web.get(r.headers["location"]).text
        assert "已确认" in after and "配合单位报送，待你单位确认" not in after and "3 / 25 村" in after
        assert float(done_quantity(sqlite_url, int(item[1:]))) == 3

        r = web.post(f"/u/{supporting}/report", data={"csrf": form, "confirm": "yes", "item": item, "done": "30"})
        assert r.status_code == 303
        with closing_client(logged_in(base, "lin")) as office:
            task = office.get("/tasks/district-2015/3.2.1").text
            assert "配合单位报送，待确认（未计入）" in task and "已确认计入" in task
            second = re.search(r'action="/actions/progress/(\d+)/decide"', task).group(1)
            decide = {"csrf": csrf_of(task), "decision": "refuse", "confirm": "yes"}
            assert office.post(f"/actions/progress/{second}/decide", data=decide).status_code == 400  # no reason
            assert office.post(f"/actions/progress/{second}/decide",
                               data={**decide, "reason": "超出任务量", "csrf": "x"}).status_code == 403
            r = office.post(f"/actions/progress/{second}/decide", data={**decide, "reason": "超出任务量"})
            assert r.status_code == 200 and "未采纳" in r.text
            assert office.post(f"/actions/progress/{second}/decide",
                               data={**decide, "reason": "again"}).status_code == 404  # decided once
        assert "未采纳" in web.get(f"/u/{supporting}").text and "超出任务量" in web.get(f"/u/{supporting}").text
        assert float(done_quantity(sqlite_url, int(item[1:]))) == 3

        if CHROMIUM.exists():
            r = web.post(f"/u/{supporting}/report", data={"csrf": form, "confirm": "yes", "item": item, "done": "1"})
            from playwright.sync_api import sync_playwright

            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM))
                try:
                    tab = browser.new_context(viewport={"width": 375, "height": 740}, base_url=base).new_page()
                    tab.goto(f"/u/{lead}")
                    assert "配合单位报送，待你单位确认" in tab.locator("#parts").inner_text()
                    assert tab.evaluate("document.documentElement.scrollWidth") <= 375, "the page scrolls sideways"
                finally:
                    browser.close()
