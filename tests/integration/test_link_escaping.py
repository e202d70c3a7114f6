"""What a unit writes through its link is text wherever duban shows it: a note with a script tag, Markdown
emphasis and a javascript: link, a spreadsheet formula and a terminal escape, sent with 报送进展 and 申请办结
(and an evidence file named alike), reads as written — escaped, never markup — on the link page, the
console's task and closing pages, the weekly report (HTML, Markdown and the console's view of it, DOCX)
and the next letter to the unit (the 退回 notice: the .eml's HTML and text parts). In process (the app
through httpx's ASGI transport), on a SQLite file."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from duban.store.db import open_database, transaction
from duban.store.tables import MilestoneRow, TaskRow
from duban.workflows import link_service as L
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.sweep_service import sweep
from tests.link_web import Web
from tests.support import PLANS, POLICY, at

PLAN = "district-2015"
PUBLIC = "https://duban.example.gov.cn"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PASSWORD = "correct horse battery"
SCRIPT = "<script>alert(1)</script>"
BOLD = "**bold**"
LINK = "[x](javascript:alert(1))"
FORMULA = '=HYPERLINK("http://evil")'
ESC = "\x1b[31m"
NOTE = f"{SCRIPT} {BOLD} {LINK} {FORMULA} {ESC}红字"
# a file's name keeps only its last path part (no "/"), so its tag is one without a closing slash
FILE = "<img src=x onerror=alert(1)> **bold** [x](javascript:alert(1)) =HYPERLINK(1).pdf"


def assert_text_in_html(html: str, *, where: str) -> None:
    """The note is in the HTML as escaped text: no tag, no emphasis, no link, no raw escape character."""
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, f"{where}: the script tag is not shown as text"
    assert "<script>alert" not in html and "<strong>bold" not in html and "<em>" not in html, where
    assert not re.search(r"href=[\"']?\s*javascript:", html, re.I), f"{where}: a javascript: link"
    assert BOLD in html and LINK in html, f"{where}: the Markdown is not shown as written"
    assert "=HYPERLINK(" in html, where
    assert "\x1b" not in html and "\u241b[31m红字" in html, f"{where}: the terminal escape is not shown as text (␛)"


def assert_file_in_html(html: str, *, where: str) -> None:
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html, where


@pytest.fixture
def site(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'duban.db'}"
    engine = open_database(url)
    import_file(engine, PLANS / f"{PLAN}.yaml", PlanOptions(), now=at(2015, 7, 1))
    sweep(engine, now=at(2016, 1, 15, 8), policies=POLICY)
    from duban.workflows.user_service import add_user

    add_user(engine, name="lin", password=PASSWORD, role="office", offices=[], now=at(2016, 1, 15), actor="test")
    web = Web(url, tmp_path, public_url=PUBLIC, as_of_day=dt.date(2016, 1, 15), evidence_dir=tmp_path / "evidence",
              allow_replay_mail=True, mail_from="督辦系統 <duban@example.org>")
    try:
        yield engine, web, tmp_path
    finally:
        web.close()
        engine.dispose()


def milestone_key(engine, task: str) -> str:
    with transaction(engine) as s:
        return "m" + str(s.execute(sa.select(MilestoneRow.id).join(TaskRow, TaskRow.id == MilestoneRow.task_id)
                                   .where(TaskRow.code == task).order_by(MilestoneRow.seq)).scalars().first())


def test_a_note_written_through_a_link_is_text_in_every_output(site) -> None:
    from docx import Document

    from duban.workflows.closing_service import list_closing_requests, return_request
    from duban.workflows.delivery_service import deliver

    engine, web, tmp = site
    token = L.issue(engine, plan=PLAN, unit="區水務局", on=dt.date(2016, 1, 15))["token"]
    item = milestone_key(engine, "3.2.2")
    page = web.get(f"/u/{token}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    ok = {"csrf": csrf, "confirm": "yes", "item": item}
    r = web.post(f"/u/{token}/report", data={**ok, "done": "18", "note": NOTE}, files=[("files", (FILE, PDF, "application/pdf"))])
    assert r.status_code == 303, r.text
    r = web.post(f"/u/{token}/close", data={**ok, "note": NOTE}, files=[("files", (FILE, PDF, "application/pdf"))])
    assert r.status_code == 303, r.text
    [request] = [c for c in list_closing_requests(engine) if c["unit"] == "區水務局"]
    assert request["note"] == NOTE, "the note is kept as written"

    # the console: the task's page (progress history) and the closing request's page
    web.login("lin", PASSWORD)
    task_page = web.get(f"/tasks/{PLAN}/3.2.2")
    assert task_page.status_code == 200
    assert_text_in_html(task_page.text, where="the console's task page")
    assert_file_in_html(task_page.text, where="the console's task page")
    closing_page = web.get(f"/closing/{request['id']}").text
    assert_text_in_html(closing_page, where="the console's closing page")
    assert_file_in_html(closing_page, where="the console's closing page")

    # the weekly report, written from the console: its files and the console's view of its Markdown
    r = web.post("/reports/generate", data={"csrf": re.search(r'name="csrf" value="([^"]+)"', web.get("/reports").text).group(1),
                                            "as_of": "2016-01-15", "confirm": "1"})
    assert r.status_code == 303, r.text
    reports = tmp / "reports"
    html_file = reports / "weekly-2016-01-15.html"
    md_file = reports / "weekly-2016-01-15.md"
    docx_file = reports / "weekly-2016-01-15.docx"
    html, md = html_file.read_text(encoding="utf-8"), md_file.read_text(encoding="utf-8")
    # the report names a task's evidence files (not its notes): the unit's file name, escaped
    assert_file_in_html(html, where="the report's HTML")
    assert "<script>" not in html and "\x1b" not in html
    assert r"&lt;img src=x onerror=alert(1)&gt; \*\*bold\*\* \[x\](javascript:alert(1)) =HYPERLINK(1).pdf" in md
    assert "<script>" not in md and "\x1b" not in md
    view = web.get("/reports/2016-01-15").text
    assert_file_in_html(view, where="the console's view of the report")
    assert "<strong>bold" not in view and "**bold** [x](javascript:alert(1))" in view
    assert not re.search(r"href=[\"']?\s*javascript:", view, re.I)
    cells = [c.text for t in Document(str(docx_file)).tables for row in t.rows for c in row.cells]
    assert any(FILE in c for c in cells), "the DOCX names the file as it was sent"
    assert NOTE not in html + md and all(NOTE not in c for c in cells), (
        "a progress note is not in the weekly report (if it ever is, check its escaping here)")

    # the next letter to the unit: the office returns the request; the notice's .eml, HTML and text parts
    return_request(engine, request_id=request["id"], reason="照片不清晰", now=at(2016, 1, 15, 11), actor="lin")
    settings = web.app.settings
    sent = deliver(engine, now=at(2016, 1, 15, 17), settings=settings)
    assert sent.sent >= 1
    letters = []
    for path in sorted((tmp / "outbox").rglob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if "shuiwu@example.org" in str(msg["To"]) and "办结申请退回" in str(msg["Subject"]):
            letters.append(msg)
    [letter] = letters
    html_part = letter.get_body(("html",)).get_content()
    text_part = letter.get_body(("plain",)).get_content()
    assert_text_in_html(html_part, where="the letter's HTML part")
    assert_file_in_html(html_part, where="the letter's HTML part")
    for part in (SCRIPT, BOLD, LINK, FORMULA):
        assert part in text_part, f"the letter's text part shows {part!r} as written"
    assert "\x1b" not in text_part and "\u241b[31m红字" in text_part, "the letter's text part shows the escape as ␛"
