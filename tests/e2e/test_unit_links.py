"""A unit answers from its letter through a real `duban serve`: the link in a delivered .eml (DUBAN_PUBLIC_URL)
opens the unit's page without an account; opening it changes nothing; every form needs the link's form token
and the 确认 tick; the unit acknowledges, reports 18 of 25 村 with a PDF, requests closing with a PDF and an extension;
another unit's item, a tampered link and one the office revoked (console /links) are refused; every action is a link.used event with
the link and the client's address; and the page at 375 px in Chromium (Playwright)."""

from __future__ import annotations

import email
import email.policy
import json
import re
from collections.abc import Iterator
from contextlib import closing as closing_client
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.console import PASSWORD, add_user, cli, csrf_of, district, logged_in, served

PUBLIC = "https://duban.example.gov.cn"
PDF = b"%PDF-1.4\n%%EOF\n"
LINK = re.compile(re.escape(PUBLIC) + r"/u/([0-9-]+\.[A-Za-z0-9_-]+)")
FORM_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')
CHROMIUM = Path("/usr/bin/chromium")


def on_a_phone(base: str, token: str, item: str) -> None:
    """The link's page in Chromium at 375 px: no sideways scroll, the unit it acts as said, a report filed
    through the form (opened from its 报送进展 fold, 确认 ticked)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_context(viewport={"width": 375, "height": 740}, base_url=base, locale="zh-CN").new_page()
            page.goto(f"/u/{token}")
            assert page.evaluate("document.documentElement.scrollWidth") <= 375, "the page scrolls sideways on a phone"
            assert "本链接代表 區交委 单位" in page.locator(".unit-link-who").inner_text()
            card = page.locator(f"#item-{item}")
            card.get_by_text("报送进展").click()
            card.locator("input[name=done]").fill("20")
            card.locator("form.link-report").get_by_label("确认报送").check()
            assert page.evaluate("document.documentElement.scrollWidth") <= 375
            card.locator("form.link-report").get_by_role("button", name="报送").click()
            page.wait_for_url(lambda u: "done=report" in u)
            assert "进展已报送" in page.locator("main").inner_text()
            assert "20 / 25 村" in page.locator(f"#item-{item}").inner_text()
        finally:
            browser.close()


def counts(url: str) -> dict:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in
                    ("event", "progress_report", "closing_request", "extension", "link_revocation")} | {
                "acknowledged": conn.execute(sa.text("SELECT count(*) FROM notice WHERE acknowledged_at IS NOT NULL")).scalar()}
    finally:
        engine.dispose()


def link_events(url: str) -> list[dict]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT actor, data FROM event WHERE kind = 'link.used' ORDER BY id")).all()
    finally:
        engine.dispose()
    return [{"actor": a, **(d if isinstance(d, dict) else json.loads(d))} for a, d in rows]


def token_from_letter(outbox: Path, address: str) -> str:
    for path in sorted(outbox.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in str(msg["To"]):
            text = msg.get_body(("plain",)).get_content()
            html = msg.get_body(("html",)).get_content()
            found = LINK.search(text)
            assert found and "在线签收和报送" in text and found.group(0) in html
            return found.group(1)
    raise AssertionError(f"no letter to {address}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The district plan swept and delivered to 2016-01-15 (letters with links under DUBAN_PUBLIC_URL), an
    office user, and one `duban serve --as-of 2016-01-15` for the module's tests (each acts as another unit)."""
    cwd = tmp_path_factory.mktemp("links")
    url = f"sqlite:///{cwd / 'duban.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DUBAN_PUBLIC_URL", PUBLIC)
        mp.setenv("DUBAN_ALLOW_REPLAY_MAIL", "1")
        mp.setenv("DUBAN_EVIDENCE_MAX_BYTES", "1000")
        district(cwd, url, as_of="2016-01-15")
        cli(["deliver", "--as-of", "2016-01-15"], cwd=cwd, db_url=url)
        add_user("lin", "office", cwd=cwd, db_url=url)
        with served(cwd, url, "--as-of", "2016-01-15") as base:
            yield {"cwd": cwd, "url": url, "base": base}


def test_a_unit_answers_from_the_link_in_its_letter(site) -> None:
    cwd, url, base = site["cwd"], site["url"], site["base"]
    token = token_from_letter(cwd / "var" / "outbox", "jiaowei@example.org")
    with httpx.Client(base_url=base, timeout=60) as unit:
        before = counts(url)
        page = unit.get(f"/u/{token}")
        assert page.status_code == 200 and "本链接代表 區交委 单位" in page.text and "交通建設" in page.text
        assert "set-cookie" not in page.headers and page.headers["referrer-policy"] == "no-referrer"
        unit.get(f"/u/{token}")
        feed = unit.get(f"/u/{token}/calendar.ics")  # the 订阅日历 feed a calendar app polls
        assert feed.headers["content-type"] == "text/calendar; charset=utf-8" and "【督办】3.2.1 交通建設" in feed.text
        assert counts(url) == before, "opening a link (a scanner, a preview) or its calendar changes nothing"
        form = FORM_TOKEN.search(page.text).group(1)
        first, second = re.findall(r'id="item-(m\d+)"', page.text)[:2]

        # every POST needs the link's form token and the 确认 tick
        for path in ("ack", "report", "close", "extend"):
            assert unit.post(f"/u/{token}/{path}", data={"item": first, "confirm": "yes", "done": "1"}).status_code == 403
            assert unit.post(f"/u/{token}/{path}", data={"csrf": "x" + form, "item": first, "confirm": "yes"}).status_code == 403
        r = unit.post(f"/u/{token}/report", data={"csrf": form, "item": first, "done": "18"})
        assert r.status_code == 400 and "确认" in r.text
        assert counts(url) == before

        ok = {"csrf": form, "confirm": "yes"}
        r = unit.post(f"/u/{token}/ack", data={**ok, "item": first})
        assert r.status_code == 303 and r.headers["location"].startswith(f"/u/{token}?done=ack")
        r = unit.post(f"/u/{token}/report", data={**ok, "item": first, "done": "18", "note": "<script>alert(1)</script>"},
                      files=[("files", ("18个村照片.pdf", PDF, "application/pdf"))])
        assert r.status_code == 303
        shown = unit.get(f"/u/{token}?done=report").text
        assert "进展已报送" in shown and "18 / 25 村" in shown and "<script>alert" not in shown
        r = unit.post(f"/u/{token}/close", data={**ok, "item": first, "note": "25個村已完成"},
                      files=[("files", ("驗收報告.pdf", PDF, "application/pdf"))])
        assert r.status_code == 303
        r = unit.post(f"/u/{token}/close", data={**ok, "item": first, "note": "大文件"},
                      files=[("files", ("big.pdf", PDF + b"0" * 2000, "application/pdf"))])
        assert r.status_code in (400, 413)
        r = unit.post(f"/u/{token}/extend", data={**ok, "item": first, "new_due": "2016-03-31", "reason": "晚了"})
        assert r.status_code == 400 and "late extension request" in r.text  # after the due date, as for the office
        r = unit.post(f"/u/{token}/extend", data={**ok, "item": second, "new_due": "2017-03-31", "reason": "冬季停工"})
        assert r.status_code == 303

        # another unit's item, a tampered link: refused, nothing changed
        after = counts(url)
        r = unit.post(f"/u/{token}/report", data={**ok, "item": "m1", "done": "1"})
        assert r.status_code == 404
        tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
        r = unit.get(f"/u/{tampered}")
        assert r.status_code == 403 and 'data-reason="tampered"' in r.text
        assert unit.post(f"/u/{tampered}/report", data={**ok, "item": first, "done": "20"}).status_code == 403
        assert counts(url) == after

        events = link_events(url)
        assert [e["action"] for e in events] == ["acknowledge", "report", "request_closing", "request_extension"]
        assert events[1]["files"] == ["18个村照片.pdf"], "the report's evidence file"
        assert {(e["link"], e["unit"], e["client"]) for e in events} == {(token.split(".")[0], "區交委", "127.0.0.1")}
        closing = json.loads(cli(["closing", "list", "--json"], cwd=cwd, db_url=url).stdout)
        assert [(c["unit"], c["status"], [f["name"] for f in c["files"]]) for c in closing] == [
            ("區交委", "pending", ["驗收報告.pdf"])]

        if CHROMIUM.exists():
            on_a_phone(base, token, first)

        # the office revokes the link: refused from then on
        listed = json.loads(cli(["links", "list", "--unit", "區交委", "--json", "--as-of", "2016-01-15"], cwd=cwd,
                                db_url=url).stdout)
        mine = next(row for row in listed if row["url"] == f"{PUBLIC}/u/{token}")
        assert mine["status"] == "valid" and mine["uses"] == len(link_events(url)) >= len(events)
        with closing_client(logged_in(base, "lin")) as office:  # the console's 单位链接 page (/links)
            listing = office.get("/links", params={"unit": "区交委"}).text
            assert mine["link"] in listing and f"{PUBLIC}/u/{token}" in listing
            form = {"csrf": csrf_of(listing), "unit": "区交委", "link": mine["link"], "reason": "转发有误"}
            assert office.post("/links/revoke", data=form).status_code == 400  # no 确认 tick
            assert unit.get(f"/u/{token}").status_code == 200
            assert office.post("/links/revoke", data={**form, "confirm": "yes"}).status_code == 303
        r = unit.get(f"/u/{token}")
        assert r.status_code == 403 and 'data-reason="revoked"' in r.text and "转发有误" in r.text
        assert unit.get(f"/u/{token}/calendar.ics").status_code == 403, "the calendar ends with its link"


def letters_to(outbox: Path, address: str) -> list[email.message.EmailMessage]:
    out = []
    for path in sorted(outbox.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in str(msg["To"]):
            out.append(msg)
    return out


def notices_of_milestone(url: str, milestone_id: int) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM notice WHERE milestone_id = :m"), {"m": milestone_id}).scalar()
    finally:
        engine.dispose()


def milestone_of(url: str, task: str, number: int) -> int:
    """The id of the task's ``number``th milestone (1 = its first), as the unit page's ``#item-m{id}``."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT m.id FROM milestone m JOIN task t ON t.id = m.task_id "
                                        "WHERE t.code = :t ORDER BY m.seq LIMIT 1 OFFSET :n"), {"t": task, "n": number - 1}).scalar()
    finally:
        engine.dispose()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (CI installs Debian's chromium)")
def test_the_loop_from_letter_to_closed_in_a_browser(site) -> None:
    """區水務局, on a phone (375 px), opens its link from its delivered letter, reports 18 of 25 村 (3.2.2's first
    milestone) with a PDF and requests closing; the office, logged in to the console, returns it with a reason;
    the unit sees the reason on its page and the return notice goes out as a letter; the unit asks again; the
    office closes it; the next day's sweep writes nothing more for that milestone (another overdue one is chased)."""
    from playwright.sync_api import sync_playwright

    cwd, url, base = site["cwd"], site["url"], site["base"]
    outbox = cwd / "var" / "outbox"
    token = token_from_letter(outbox, "shuiwu@example.org")
    milestone = milestone_of(url, "3.2.2", 1)
    item = f"m{milestone}"
    reason = "照片看不出是哪个村，请补充村名"

    def pdf(name: str) -> dict[str, Any]:
        return {"name": name, "mimeType": "application/pdf", "buffer": PDF}

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            phone = browser.new_context(viewport={"width": 375, "height": 740}, base_url=base, locale="zh-CN").new_page()
            desk = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=base, locale="zh-CN").new_page()

            def unit_asks_to_close(note: str, file: str) -> None:
                card = phone.locator(f"#item-{item}")
                card.get_by_text("申请办结", exact=True).click()
                form = card.locator("form.link-close")
                form.locator("textarea[name=note]").fill(note)
                form.locator("input[name=files]").set_input_files(pdf(file))
                form.get_by_label("确认提交，等待复核").check()
                form.get_by_role("button", name="提交办结申请").click()
                phone.wait_for_url(lambda u: "done=close" in u)
                assert "办结申请已提交" in phone.locator("main").inner_text()
                assert card.locator(".link-closing").get_attribute("data-status") == "pending"

            def pending_request() -> int:
                rows = json.loads(cli(["closing", "list", "--status", "pending", "--json"], cwd=cwd, db_url=url).stdout)
                mine = [r for r in rows if r["unit"] == "區水務局"]
                assert len(mine) == 1 and mine[0]["task"] == "3.2.2", mine
                return int(mine[0]["id"])

            # the unit: its page from the letter, a report of 18 of 25 村 with a PDF, a closing request
            phone.goto(f"/u/{token}")
            assert "本链接代表 區水務局 单位" in phone.locator(".unit-link-who").inner_text()
            card = phone.locator(f"#item-{item}")
            assert "0 / 25 村" in card.inner_text()
            card.get_by_text("报送进展", exact=True).click()
            report = card.locator("form.link-report")
            report.locator("input[name=done]").fill("18")
            report.locator("input[name=files]").set_input_files(pdf("18个村验收照片.pdf"))
            report.get_by_label("确认报送").check()
            report.get_by_role("button", name="报送").click()
            phone.wait_for_url(lambda u: "done=report" in u)
            assert "18 / 25 村" in phone.locator(f"#item-{item}").inner_text()
            unit_asks_to_close("25个村已完成", "验收报告.pdf")
            assert phone.evaluate("document.documentElement.scrollWidth") <= 375, "the page scrolls sideways on a phone"
            first = pending_request()

            # the office returns it with a reason (the console's login form, then the request's page)
            desk.goto("/login")
            desk.get_by_label("用户名").fill("lin")
            desk.get_by_label("密码").fill(PASSWORD)
            desk.get_by_role("button", name="登录").click()
            desk.wait_for_url(lambda u: "/login" not in u)
            desk.goto(f"/closing/{first}")
            assert "验收报告.pdf" in desk.locator("main").inner_text()
            desk.get_by_label("退回理由（必填，将告知单位）").fill(reason)
            desk.get_by_label("确认退回此申请").check()
            desk.get_by_role("button", name="退回").click()
            desk.wait_for_load_state()
            assert reason in desk.locator("main").inner_text()

            # the unit sees the reason on its page, and the return notice goes out as a letter
            phone.goto(f"/u/{token}")
            shown = phone.locator(f"#item-{item} .link-closing")
            assert shown.get_attribute("data-status") == "returned" and reason in shown.inner_text()
            cli(["deliver", "--as-of", "2016-01-15"], cwd=cwd, db_url=url)
            returned = [m for m in letters_to(outbox, "shuiwu@example.org") if "办结申请退回" in str(m["Subject"])]
            assert len(returned) == 1 and reason in returned[0].get_body(("plain",)).get_content()

            # asked again, closed by the office: the item leaves the unit's page
            unit_asks_to_close("25个村已完成，照片已标注村名", "验收报告（补充）.pdf")
            second = pending_request()
            assert second != first
            desk.goto(f"/closing/{second}")
            desk.get_by_label("确认办结此事项").check()
            desk.get_by_role("button", name="办结").click()
            desk.wait_for_load_state()
            rows = {r["id"]: r for r in json.loads(cli(["closing", "list", "--json"], cwd=cwd, db_url=url).stdout)}
            assert (rows[first]["status"], rows[second]["status"], rows[second]["decided_by"]) == ("returned", "closed", "lin")
            phone.goto(f"/u/{token}")
            assert phone.locator(f"#item-{item}").count() == 0, "a closed item is no longer open on the unit's page"
        finally:
            browser.close()

    # a later day's sweep (the CLI, as a user runs it) writes nothing more for the closed milestone, while it
    # does chase an overdue one still open (3.2.3's first, 區城鄉建委's): the day is one the sweep acts on
    other = milestone_of(url, "3.2.3", 1)
    before, other_before = notices_of_milestone(url, milestone), notices_of_milestone(url, other)
    cli(["sweep", "--as-of", "2016-02-15"], cwd=cwd, db_url=url)
    assert notices_of_milestone(url, other) > other_before, "the sweep chases an open overdue milestone that day"
    assert notices_of_milestone(url, milestone) == before, "no notice for a milestone closed through its link"
