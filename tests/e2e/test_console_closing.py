"""The console's 办结复核 pages through a real `duban serve`: the office files a closing request for a unit
with evidence files (multipart), reviews the queue, downloads evidence, closes or returns; viewers read only,
other offices see nothing, every form needs its CSRF token and 确认, and every action is an event with the user."""

from __future__ import annotations

import hashlib
import json
from contextlib import closing
from pathlib import Path

import pytest

from tests.console import add_user, cli, csrf_of, logged_in, served
from tests.support import PLANS

PDF = b"%PDF-1.4\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
DISTRICT_OFFICE = "區扶貧開發領導小組辦公室"
TOWNSHIP_OFFICE = "鄉精神扶貧工作領導小組辦公室"


@pytest.fixture
def office(tmp_path: Path, sqlite_url: str, monkeypatch) -> tuple[Path, str]:
    monkeypatch.setenv("DUBAN_EVIDENCE_MAX_BYTES", "1000")
    for plan in ("district-2015", "township-spiritual"):
        cli(["matrix", "import", str(PLANS / f"{plan}.yaml"), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=sqlite_url)
    add_user("lin", "office", cwd=tmp_path, db_url=sqlite_url)
    add_user("kan", "viewer", cwd=tmp_path, db_url=sqlite_url, offices=(DISTRICT_OFFICE,))
    add_user("twp", "office", cwd=tmp_path, db_url=sqlite_url, offices=(TOWNSHIP_OFFICE,))
    return tmp_path, sqlite_url


def requests(cwd: Path, url: str) -> list[dict]:
    return json.loads(cli(["closing", "list", "--json"], cwd=cwd, db_url=url).stdout)


def history(cwd: Path, url: str) -> list[dict]:
    return json.loads(cli(["history", "3.2.1", "--plan", "district-2015", "--json"], cwd=cwd, db_url=url).stdout)


def stored(cwd: Path) -> list[str]:
    root = cwd / "var" / "evidence"
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def file_request(client, files, **fields) -> object:
    token = csrf_of(client.get("/closing/new").text)
    data = {"csrf": token, "plan": "district-2015", "task": "3.2.1", "unit": "区交委", "note": "", "confirm": "yes", **fields}
    return client.post("/closing/new", data=data, files=[("files", f) for f in files])


def test_the_office_files_reviews_returns_and_closes_with_evidence(office) -> None:
    cwd, url = office
    with served(cwd, url) as base, closing(logged_in(base, "lin")) as lin:
        r = file_request(lin, [("驗收報告.pdf", PDF, "application/pdf"), ("照片.png", PNG, "image/png")],
                         note="<b>25個村</b>完成")
        assert r.status_code == 303 and r.headers["location"] == "/closing/1"
        queue = lin.get("/closing").text
        sha = hashlib.sha256(PDF).hexdigest()
        assert f"/evidence/{sha}?name=" in queue and "驗收報告.pdf" in queue and "區交委" in queue
        assert "&lt;b&gt;25個村&lt;/b&gt;完成" in queue and "<b>25個村</b>" not in queue
        got = lin.get(f"/evidence/{sha}")
        assert got.status_code == 200 and got.content == PDF and got.headers["content-type"] == "application/pdf"
        assert got.headers["content-disposition"].startswith("attachment;")
        assert "filename*=UTF-8''%E9%A9%97%E6%94%B6%E5%A0%B1%E5%91%8A.pdf" in got.headers["content-disposition"]
        assert got.headers["x-content-type-options"] == "nosniff"
        assert lin.get("/evidence/" + "0" * 64).status_code == 404

        page = lin.get("/closing/1").text
        token = csrf_of(page)
        assert lin.post("/closing/1/return", data={"reason": "缺驗收", "confirm": "yes"}).status_code == 403  # no CSRF
        no_confirm = lin.post("/closing/1/return", data={"csrf": token, "reason": "缺驗收"})
        assert no_confirm.status_code == 400 and "确认" in no_confirm.text
        no_reason = lin.post("/closing/1/return", data={"csrf": token, "reason": " ", "confirm": "yes"})
        assert no_reason.status_code == 400 and "needs a reason" in no_reason.text
        assert [x["status"] for x in requests(cwd, url)] == ["pending"]
        r = lin.post("/closing/1/return", data={"csrf": token, "reason": "照片不清晰", "confirm": "yes"})
        assert r.status_code == 303
        assert "照片不清晰" in lin.get("/closing/1").text

        r = file_request(lin, [("again.pdf", PDF, "application/pdf")], note="補充")
        assert r.status_code == 303 and r.headers["location"] == "/closing/2"
        assert stored(cwd) == sorted([sha, hashlib.sha256(PNG).hexdigest()])  # the same PDF kept once
        r = lin.post("/closing/2/close", data={"csrf": token, "note": "複核通過", "confirm": "yes"})
        assert r.status_code == 303
        again = lin.post("/closing/2/close", data={"csrf": token, "note": "", "confirm": "yes"})
        assert again.status_code == 400 and "already closed" in again.text
        assert lin.get("/closing?status=pending").text.count("/closing/2\"") == 0
        # The unit is told of both decisions: a notice each, to 區交委, waiting for delivery.
        told = lin.get("/notices?kind=closing_returned,closing_closed").text
        assert "2 条" in told and told.count("区交委") + told.count("區交委") >= 2
        assert "办结申请退回" in told and "办结确认" in told
    rows = {x["id"]: x for x in requests(cwd, url)}
    assert (rows[1]["status"], rows[1]["decided_by"], rows[2]["status"], rows[2]["decided_by"]) == ("returned", "lin", "closed", "lin")
    assert rows[2]["item"]["closed"] is True
    kinds = [(e["kind"], e["actor"]) for e in history(cwd, url)]
    assert kinds[-5:] == [("closing.requested", "lin"), ("closing.returned", "lin"), ("closing.requested", "lin"),
                          ("closing.closed", "lin"), ("item.closed", "lin")]


def test_refused_files_viewers_and_other_offices(office) -> None:
    cwd, url = office
    with served(cwd, url) as base:
        with closing(logged_in(base, "lin")) as lin:
            r = file_request(lin, [("ok.pdf", PDF, "application/pdf"), ("tool.exe", b"MZ\x90", "application/octet-stream")])
            assert r.status_code == 400 and "evidence file tool.exe: type .exe is not accepted" in r.text
            r = file_request(lin, [("big.pdf", PDF + b"0" * 2000, "application/pdf")])
            assert r.status_code == 400 and "evidence file big.pdf: is 2015 bytes, more than the 1000 bytes" in r.text
            r = file_request(lin, [("fake.png", PDF, "image/png")])
            assert r.status_code == 400 and "evidence file fake.png: its contents are not a PNG image" in r.text
            r = file_request(lin, [("ok.pdf", PDF, "application/pdf")], unit="區農委")
            assert r.status_code == 400 and "區農委 is neither" in r.text
            assert requests(cwd, url) == [] and stored(cwd) == []
            r = file_request(lin, [("ok.pdf", PDF, "application/pdf")], confirm="")
            assert r.status_code == 400 and requests(cwd, url) == []
            assert file_request(lin, [("ok.pdf", PDF, "application/pdf")]).status_code == 303
        sha = hashlib.sha256(PDF).hexdigest()
        with closing(logged_in(base, "kan")) as kan:  # a viewer of the district's office
            assert "ok.pdf" in kan.get("/closing").text and kan.get(f"/evidence/{sha}").status_code == 200
            page = kan.get("/closing/1").text
            assert "/closing/1/close" not in page
            token = csrf_of(page)
            assert kan.post("/closing/1/close", data={"csrf": token, "confirm": "yes"}).status_code == 403
            assert kan.post("/closing/1/return", data={"csrf": token, "reason": "x", "confirm": "yes"}).status_code == 403
            assert kan.get("/closing/new").status_code == 403
            assert kan.post("/closing/new", data={"csrf": token, "plan": "district-2015", "task": "3.2.1",
                                                  "unit": "區交委", "note": "x", "confirm": "yes"}).status_code == 403
        with closing(logged_in(base, "twp")) as twp:  # another office: the district's requests are not there
            assert "ok.pdf" not in twp.get("/closing").text
            assert twp.get("/closing/1").status_code == 404 and twp.get(f"/evidence/{sha}").status_code == 404
            token = csrf_of(twp.get("/closing").text)
            assert twp.post("/closing/1/close", data={"csrf": token, "confirm": "yes"}).status_code == 404
    assert [x["status"] for x in requests(cwd, url)] == ["pending"]
    assert [e["kind"] for e in history(cwd, url)].count("closing.requested") == 1


def test_the_queue_is_paged_50_a_page_with_its_count_and_keeps_its_filter(office) -> None:
    """55 requests (filed and returned in turn, in-process: the service the console calls), the last one
    pending: two pages, the pending one first, each page link keeping the status filter."""
    from duban.store.db import open_database
    from duban.store.evidence import EvidenceStore
    from duban.workflows.closing_service import request_closing, return_request
    from tests.support import at

    cwd, url = office
    engine = open_database(url)
    store = EvidenceStore(cwd / "var" / "evidence", max_bytes=1000)
    try:
        for n in range(55):
            made = request_closing(engine, task="3.2.1", unit="區交委", note=f"第{n + 1}次", now=at(2015, 12, 20),
                                   store=store, plan="district-2015")
            if n < 54:
                return_request(engine, request_id=made["id"], reason="缺驗收", now=at(2015, 12, 21), actor="lin")
    finally:
        engine.dispose()
    with served(cwd, url) as base, closing(logged_in(base, "kan")) as kan:
        first = kan.get("/closing?status=").text
        assert 'data-requests="55"' in first and first.count('<tr class="closing-') == 50
        assert first.index('href="/closing/55"') < first.index('href="/closing/54"'), "pending first"
        assert 'href="/closing?page=2" rel="next"' in first
        second = kan.get("/closing?page=2").text
        assert second.count('<tr class="closing-') == 5 and 'href="/closing/1"' in second
        assert 'href="/closing/55"' not in second and 'href="/closing" rel="prev"' in second
        returned = kan.get("/closing?status=returned&page=2").text
        assert 'data-requests="54"' in returned and returned.count('<tr class="closing-returned">') == 4
        assert 'href="/closing?status=returned" rel="prev"' in returned
        assert kan.get("/closing?status=returned&page=99").text.count('<tr class="closing-returned">') == 4, "the last page"
        assert kan.get("/closing?page=x").status_code == 200
