"""The console's 配合单位报送 page (``/parts``) through a real `duban serve`: every supporting unit's part waiting
in the plans the user may see, across tasks, 50 a page, with the task, unit, quantity, note, day and evidence;
the office accepts (it counts) or refuses with a reason (the unit is told by a notice), with its CSRF token and
确认; a viewer reads only; another office sees nothing of this plan's parts."""

from __future__ import annotations

import datetime as dt
import re
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.console import add_user, cli, csrf_of, logged_in, served
from tests.support import PLANS, at

DISTRICT_OFFICE = "區扶貧開發領導小組辦公室"
TOWNSHIP_OFFICE = "鄉精神扶貧工作領導小組辦公室"
PDF = b"%PDF-1.4\n%%EOF\n"
NOW = at(2016, 1, 15, 10)


def send_part(url: str, tmp_path: Path, plan: str, unit: str, task: str, **kw) -> int:
    """A supporting unit's part through its signed link, in this process (pending)."""
    from duban.store.db import open_database
    from duban.store.evidence import EvidenceStore
    from duban.workflows import link_service as L

    engine = open_database(url)
    try:
        link = L.verify(engine, L.issue(engine, plan=plan, unit=unit, on=dt.date(2016, 1, 12))["token"], now=NOW)
        item = next(i["key"] for i in L.unit_items(engine, link, now=NOW) if i["task"] == task)
        store = EvidenceStore(tmp_path / "var" / "evidence", max_bytes=10_000)
        sent = L.report(engine, link, item, now=NOW, client="c", store=store, **kw)
        assert sent["state"] == "pending"
        return int(sent["report_id"])
    finally:
        engine.dispose()


def state_of(url: str, report_id: int) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text("SELECT state FROM progress_report WHERE id = :r"), {"r": report_id}).scalar())
    finally:
        engine.dispose()


def notice_keys(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT key FROM notice WHERE kind = 'part_refused' ORDER BY id")).scalars())
    finally:
        engine.dispose()


def copies(url: str, report_id: int, n: int) -> None:
    """``n`` more pending parts like ``report_id`` (to fill pages), in one statement."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            names = ", ".join(c["name"] for c in sa.inspect(conn).get_columns("progress_report") if c["name"] != "id")
            for _ in range(n):
                conn.execute(sa.text(f"INSERT INTO progress_report ({names}) SELECT {names} FROM progress_report "
                                     "WHERE id = :r"), {"r": report_id})
    finally:
        engine.dispose()


@pytest.fixture
def parts(tmp_path: Path, sqlite_url: str) -> tuple[Path, str, int, int, int]:
    for plan in ("district-2015", "township-spiritual"):
        cli(["matrix", "import", str(PLANS / f"{plan}.yaml"), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=sqlite_url)
    add_user("lin", "office", cwd=tmp_path, db_url=sqlite_url)
    add_user("kan", "viewer", cwd=tmp_path, db_url=sqlite_url, offices=(DISTRICT_OFFICE,))
    add_user("twp", "office", cwd=tmp_path, db_url=sqlite_url, offices=(TOWNSHIP_OFFICE,))
    first = send_part(sqlite_url, tmp_path, "district-2015", "區農委", "3.2.1", done="3", note="<b>農委3個村</b>",
                      files=[("台账.pdf", PDF)])
    second = send_part(sqlite_url, tmp_path, "district-2015", "區發改委", "3.2.2", done="2", note="發改委")
    township = send_part(sqlite_url, tmp_path, "township-spiritual", "各村", "3.10", note="圖片已收集")
    return tmp_path, sqlite_url, first, second, township


def test_the_office_lists_accepts_and_refuses_parts_across_tasks(parts) -> None:
    cwd, url, first, second, township = parts
    with served(cwd, url, "--as-of", "2016-01-15") as base, closing(logged_in(base, "lin")) as lin:
        page = lin.get("/parts").text
        assert '<a href="/parts">' in page  # the nav entry
        assert 'data-parts="3"' in page
        for part in (first, second, township):
            assert f'action="/parts/{part}/decide"' in page
        row = page[page.index(f'id="part-{first}"'):page.index(f'id="part-{second}"')]
        assert "district-2015 3.2.1" in row and "區農委" in row and "3村" in row and "2016-01-15" in row
        assert "&lt;b&gt;農委3個村&lt;/b&gt;" in row and "<b>農委" not in row
        assert "台账.pdf" in row and "/evidence/" in row
        token = csrf_of(page)

        # CSRF missing or wrong, no 确认, a refusal without a reason: refused, nothing changed
        assert lin.post(f"/parts/{first}/decide", data={"decision": "accept", "confirm": "yes"}).status_code == 403
        assert lin.post(f"/parts/{first}/decide", data={"csrf": "x", "decision": "accept", "confirm": "yes"}).status_code == 403
        r = lin.post(f"/parts/{first}/decide", data={"csrf": token, "decision": "accept"})
        assert r.status_code == 400 and "确认" in r.text
        r = lin.post(f"/parts/{second}/decide", data={"csrf": token, "decision": "refuse", "confirm": "yes", "reason": " "})
        assert r.status_code == 400 and "needs a reason" in r.text
        assert (state_of(url, first), state_of(url, second), notice_keys(url)) == ("pending", "pending", [])

        r = lin.post(f"/parts/{first}/decide", data={"csrf": token, "decision": "accept", "confirm": "yes"})
        assert r.status_code == 303 and r.headers["location"] == f"/parts?decided=accepted&part={first}"
        after = lin.get(r.headers["location"]).text
        assert f"#{first} 已确认" in after and 'data-parts="2"' in after and f'id="part-{first}"' not in after
        r = lin.post(f"/parts/{second}/decide", data={"csrf": token, "decision": "refuse", "confirm": "yes",
                                                      "reason": "数字与台账不符"})
        assert r.status_code == 303 and "decided=refused" in r.headers["location"]
        assert (state_of(url, first), state_of(url, second)) == ("accepted", "refused")
        assert notice_keys(url) == [f"part-refused:{second}"]  # the supporting unit is told
        assert lin.post(f"/parts/{second}/decide", data={"csrf": token, "decision": "accept",
                                                         "confirm": "yes"}).status_code == 404  # decided once

        # Another office sees only its own plan's parts and may not decide this plan's.
        with closing(logged_in(base, "twp")) as twp:
            mine = twp.get("/parts").text
            assert 'data-parts="1"' in mine and f'id="part-{township}"' in mine and "district-2015" not in mine
            r = twp.post(f"/parts/{township}/decide", data={"csrf": csrf_of(mine), "decision": "accept", "confirm": "yes"})
            assert r.status_code == 303 and state_of(url, township) == "accepted"
        # A viewer reads (its offices' plans only) and may not decide.
        third = send_part(url, cwd, "district-2015", "區農委", "3.2.1", done="1")
        with closing(logged_in(base, "kan")) as kan:
            seen = kan.get("/parts").text
            assert f'id="part-{third}"' in seen and 'action="/parts/' not in seen and "township" not in seen
            r = kan.post(f"/parts/{third}/decide", data={"csrf": csrf_of(seen), "decision": "accept", "confirm": "yes"})
            assert r.status_code == 403 and state_of(url, third) == "pending"

        # 50 a page: 51 waiting make two pages; past the last shows the last.
        copies(url, third, 50)
        one = lin.get("/parts").text
        assert 'data-parts="51"' in one and len(re.findall(r'<tr class="part-pending"', one)) == 50
        assert 'href="/parts?page=2"' in one
        two = lin.get("/parts?page=9").text
        assert len(re.findall(r'<tr class="part-pending"', two)) == 1 and "<b>2</b>" in two
