"""The console's office actions, notices and mail, through a real `duban serve` over the district plan
replayed to 2016-01-15: each action works for an office user and writes its event with the user's name;
a viewer gets 403 and a form without the CSRF token 403, with nothing changed; a dry-run sweep writes
nothing; bad input is refused in one line with nothing changed."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.console import add_user, cli, csrf_of, district, logged_in, served

PLAN = "district-2015"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
ROW_ID = re.compile(r"<tr>\s*<td>(\d+)</td>")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The district plan swept to 2016-01-15 with an office user (lin) and a viewer (wang), made once."""
    folder = tmp_path_factory.mktemp("district")
    url = f"sqlite:///{folder / 'duban.db'}"
    district(folder, url)
    add_user("lin", "office", cwd=folder, db_url=url)
    add_user("wang", "viewer", cwd=folder, db_url=url)
    return folder


@pytest.fixture
def office(prepared: Path, tmp_path: Path) -> tuple[Path, str]:
    """A copy of the prepared folder for one test: (folder, database URL)."""
    folder = tmp_path / "office"
    shutil.copytree(prepared, folder)
    return folder, f"sqlite:///{folder / 'duban.db'}"


def rows(cwd: Path, sql: str, *args: Any) -> list[tuple]:
    with sqlite3.connect(cwd / "duban.db") as con:
        return con.execute(sql, args).fetchall()


def events(cwd: Path, kind: str) -> list[tuple[str, dict]]:
    """(actor, data) of each event of ``kind``, oldest first."""
    return [(actor, json.loads(data)) for actor, data in rows(cwd, "SELECT actor, data FROM event WHERE kind = ? ORDER BY id", kind)]


def counts(cwd: Path) -> tuple:
    """What an action may change: notices (and their acknowledgements), events (logins aside), sweeps, messages, holds,
    extensions decided, progress reports."""
    return rows(cwd, "SELECT (SELECT count(*) FROM notice), (SELECT count(*) FROM notice WHERE acknowledged_at IS NOT NULL),"
                     " (SELECT count(*) FROM event WHERE kind NOT LIKE 'user%'), (SELECT count(*) FROM sweep), (SELECT count(*) FROM message),"
                     " (SELECT group_concat(status) FROM message), (SELECT count(*) FROM task_hold),"
                     " (SELECT group_concat(status) FROM extension), (SELECT count(*) FROM progress_report)")[0]


def refused_alike(base: str, path: str, data: dict[str, str], cwd: Path) -> None:
    """A viewer (with a valid token) and an office user without one are refused 403; nothing changed."""
    before = counts(cwd)
    viewer = logged_in(base, "wang")
    token = csrf_of(viewer.get("/").text)
    r = viewer.post(path, data={**data, "csrf": token})
    assert r.status_code == 403, (path, r.status_code)
    lin = logged_in(base, "lin")
    r = lin.post(path, data=data)
    assert r.status_code == 403 and "CSRF" in r.text, (path, r.status_code)
    assert counts(cwd) == before


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_notices_filter_by_plan_kind_level_status_and_day_fifty_a_page(office) -> None:
    cwd, url = office
    with served(cwd, url) as base:
        client = logged_in(base, "wang")  # reading needs no more than a viewer
        page = client.get("/notices", params={"plan": PLAN, "kind": "escalation", "level": "1"})
        assert page.status_code == 200
        expected = [i for (i,) in rows(cwd, "SELECT id FROM notice WHERE kind = 'escalation' AND level = 1 ORDER BY id")]
        assert [int(i) for i in ROW_ID.findall(page.text)] == expected and len(expected) == 21
        held = client.get("/notices", params={"plan": PLAN, "status": "held,failed"})
        assert held.status_code == 200 and ROW_ID.findall(held.text) == [] and "没有符合条件的通知" in held.text
        everything = [i for (i,) in rows(cwd, "SELECT id FROM notice ORDER BY id")]
        first = client.get("/notices", params={"plan": PLAN})
        second = client.get("/notices", params={"plan": PLAN, "page": "2"})
        assert len(everything) > 50 and len(ROW_ID.findall(first.text)) == 50 and "第1/2页" in first.text
        assert "下一页" in first.text and "上一页" in second.text
        assert [int(i) for i in ROW_ID.findall(first.text) + ROW_ID.findall(second.text)] == everything
        days = client.get("/notices", params={"since": "2016-01-07", "until": "2016-01-12"})
        assert [int(i) for i in ROW_ID.findall(days.text)] == [i for (i,) in rows(
            cwd, "SELECT id FROM notice WHERE planned_for BETWEEN '2016-01-07' AND '2016-01-12' ORDER BY id")] != []
        one_day = client.get("/notices", params={"plan": PLAN, "date": "2016-01-12"})
        assert len(ROW_ID.findall(one_day.text)) == rows(cwd, "SELECT count(*) FROM notice WHERE planned_for = '2016-01-12'")[0][0] == 19
        for params, status, says in (({"level": "4"}, 400, "level: &#39;4&#39; is not 1, 2 or 3"),
                                     ({"since": "2016-13-01"}, 400, "since: &#39;2016-13-01&#39; is not a date"),
                                     ({"status": "lost"}, 400, "status: &#39;lost&#39; is not one of"),
                                     ({"plan": "elsewhere"}, 404, "no plan &#39;elsewhere&#39;")):
            r = client.get("/notices", params=params)
            assert r.status_code == status and says in r.text, (params, r.text)


def test_acknowledging_a_notice_on_a_units_behalf(office) -> None:
    cwd, url = office
    (notice,) = rows(cwd, "SELECT id FROM notice WHERE kind = 'chase' ORDER BY id LIMIT 1")[0]
    path = f"/notices/{notice}/acknowledge"
    with served(cwd, url) as base:
        refused_alike(base, path, {"by": "區交委", "confirm": "yes"}, cwd)
        assert logged_in(base, "wang").get(path).status_code == 403
        lin = logged_in(base, "lin")
        form = lin.get(path)
        assert form.status_code == 200 and "确认" in form.text
        token = csrf_of(form.text)
        before = counts(cwd)
        unticked = lin.post(path, data={"csrf": token, "by": "區交委"})
        unknown = lin.post("/notices/99999/acknowledge", data={"csrf": token, "by": "區交委", "confirm": "yes"})
        assert unticked.status_code == 400 and "确认" in unticked.text
        assert unknown.status_code == 404 and "no notice 99999" in unknown.text
        assert counts(cwd) == before
        done = lin.post(path, data={"csrf": token, "by": "區交委", "confirm": "yes"})
        assert done.status_code == 200 and "签收" in done.text
        again = lin.post(path, data={"csrf": token, "by": "區交委", "confirm": "yes"})
        assert again.status_code == 400 and "already acknowledged" in again.text
    assert rows(cwd, "SELECT acknowledged_by FROM notice WHERE id = ?", notice) == [("區交委",)]
    ((actor, data),) = events(cwd, "notice.acknowledged")
    assert actor == "lin" and data["by"] == "區交委" and data["notice"] == notice


def test_holding_a_tasks_notices_stops_the_sweep_and_delivery_for_it_until_resumed(office) -> None:
    cwd, url = office
    with served(cwd, url) as base:
        refused_alike(base, "/actions/hold", {"plan": PLAN, "task": "3.2.1", "do": "hold", "confirm": "yes"}, cwd)
        lin = logged_in(base, "lin")
        page = lin.get("/actions/hold", params={"plan": PLAN, "task": "3.2.1"})
        assert page.status_code == 200 and "暂停通知" in page.text
        token = csrf_of(page.text)
        unknown = lin.post("/actions/hold", data={"csrf": token, "plan": PLAN, "task": "9.9", "do": "hold", "confirm": "yes"})
        assert unknown.status_code == 404 and "no task &#39;9.9&#39; in plan district-2015" in unknown.text
        held = lin.post("/actions/hold", data={"csrf": token, "plan": PLAN, "task": "3.2.1", "do": "hold",
                                               "reason": "方案调整中", "confirm": "yes"})
        assert held.status_code == 200 and "已暂停" in held.text
        assert rows(cwd, "SELECT held_by, reason FROM task_hold") == [("lin", "方案调整中")]
        twice = lin.post("/actions/hold", data={"csrf": token, "plan": PLAN, "task": "3.2.1", "do": "hold", "confirm": "yes"})
        assert twice.status_code == 400 and "already held" in twice.text
        dry = text_of(lin.get("/actions/sweep", params={"plan": PLAN}).text)
        assert "3.2.1 交通建設" not in dry and "3.2.2 飲水安全" in dry
        # delivery leaves the held task's pending notices alone and sends the others
        cli(["deliver"], cwd=cwd, db_url=url)
        by_task = dict(rows(cwd, "SELECT t.code, group_concat(DISTINCT n.status) FROM notice n JOIN task t ON t.id = n.task_id "
                                 "WHERE t.code IN ('3.2.1', '3.2.2') GROUP BY t.code"))
        assert by_task == {"3.2.1": "pending", "3.2.2": "sent"}
        resumed = lin.post("/actions/hold", data={"csrf": token, "plan": PLAN, "task": "3.2.1", "do": "resume", "confirm": "yes"})
        assert resumed.status_code == 200 and "已恢复" in resumed.text
        assert "3.2.1 交通建設" in text_of(lin.get("/actions/sweep", params={"plan": PLAN}).text)
    assert rows(cwd, "SELECT count(*) FROM task_hold") == [(0,)]
    assert [a for a, _ in events(cwd, "task.notices_held")] == ["lin"]
    assert [a for a, _ in events(cwd, "task.notices_resumed")] == ["lin"]
    cli(["deliver"], cwd=cwd, db_url=url)
    assert rows(cwd, "SELECT DISTINCT n.status FROM notice n JOIN task t ON t.id = n.task_id WHERE t.code = '3.2.1'") == [("sent",)]


def test_a_dry_run_sweep_writes_nothing_and_the_confirmed_sweep_writes_what_it_showed(office) -> None:
    cwd, url = office
    with served(cwd, url) as base:
        assert logged_in(base, "wang").get("/actions/sweep", params={"plan": PLAN}).status_code == 403
        refused_alike(base, "/actions/sweep", {"plan": PLAN, "confirm": "yes"}, cwd)
        lin = logged_in(base, "lin")
        before = counts(cwd)
        dry = lin.get("/actions/sweep", params={"plan": PLAN})
        assert dry.status_code == 200 and "试运行未写入任何内容" in dry.text
        assert counts(cwd) == before
        shown = int(re.search(r"将写入\s*<b>(\d+)</b>", dry.text).group(1))
        assert shown > 0
        token = csrf_of(dry.text)
        unticked = lin.post("/actions/sweep", data={"csrf": token, "plan": PLAN})
        assert unticked.status_code == 400 and counts(cwd) == before
        run = lin.post("/actions/sweep", data={"csrf": token, "plan": PLAN, "confirm": "yes"})
        assert run.status_code == 200 and f"新写入 {shown} 条通知" in run.text
    assert rows(cwd, "SELECT count(*) FROM notice")[0][0] == before[0] + shown
    ((actor, data),) = events(cwd, "sweep.run")
    assert actor == "lin" and sum(data["created"].values()) == shown


def test_deliver_from_the_console_reports_what_was_sent(office) -> None:
    cwd, url = office
    with served(cwd, url) as base:
        refused_alike(base, "/actions/deliver", {"confirm": "yes"}, cwd)
        lin = logged_in(base, "lin")
        token = csrf_of(lin.get("/actions").text)
        assert lin.post("/actions/deliver", data={"csrf": token}).status_code == 400
        assert rows(cwd, "SELECT count(*) FROM message") == [(0,)]
        r = lin.post("/actions/deliver", data={"csrf": token, "confirm": "yes"})
        assert r.status_code == 200
        sent = rows(cwd, "SELECT count(*) FROM message WHERE status = 'sent'")[0][0]
        assert sent > 0 and f"{sent} sent, 0 held, 0 failed" in r.text
        mail = lin.get("/mail", params={"status": "sent"})
        assert len(ROW_ID.findall(mail.text)) == min(sent, 50) and "delivery.run" in mail.text
    ((actor, data),) = events(cwd, "delivery.run")
    assert actor == "lin" and data["sent"] == sent and f"{sent} sent" in data["summary"]


def test_approving_and_refusing_extension_requests(office) -> None:
    cwd, url = office
    for task, unit in (("3.2.1", "區交委"), ("3.2.2", "區水務局")):
        cli(["extension", "request", task, "--unit", unit, "--milestone", "2", "--until", "2017-03-31",
             "--reason", "資金未到位", "--as-of", "2016-01-15"], cwd=cwd, db_url=url)
    (first, second) = [i for (i,) in rows(cwd, "SELECT id FROM extension ORDER BY id")]
    with served(cwd, url) as base:
        listed = logged_in(base, "wang").get("/extensions")
        assert listed.status_code == 200 and f"#{first}" in listed.text and "資金未到位" in listed.text
        assert "/decide" not in listed.text  # a viewer sees no form
        refused_alike(base, f"/extensions/{first}/decide", {"decision": "approve", "confirm": "yes"}, cwd)
        lin = logged_in(base, "lin")
        token = csrf_of(lin.get("/extensions").text)
        before = counts(cwd)
        unknown = lin.post("/extensions/999/decide", data={"csrf": token, "decision": "approve", "confirm": "yes"})
        odd = lin.post(f"/extensions/{first}/decide", data={"csrf": token, "decision": "maybe", "confirm": "yes"})
        assert unknown.status_code == 404 and "no extension request #999" in unknown.text
        assert odd.status_code == 400 and counts(cwd) == before
        ok = lin.post(f"/extensions/{first}/decide", data={"csrf": token, "decision": "approve", "note": "同意", "confirm": "yes"})
        no = lin.post(f"/extensions/{second}/decide", data={"csrf": token, "decision": "refuse", "note": "理由不足", "confirm": "yes"})
        assert ok.status_code == 200 and "已批准" in ok.text and no.status_code == 200 and "已驳回" in no.text
        again = lin.post(f"/extensions/{first}/decide", data={"csrf": token, "decision": "refuse", "confirm": "yes"})
        assert again.status_code == 400 and "already approved" in again.text
        assert "没有待审批的延期申请" in lin.get("/extensions").text
    assert rows(cwd, "SELECT status, decided_by, decision_note FROM extension ORDER BY id") == [
        ("approved", "lin", "同意"), ("refused", "lin", "理由不足")]
    assert [a for a, _ in events(cwd, "extension.approved")] == ["lin"]
    assert [a for a, _ in events(cwd, "extension.refused")] == ["lin"]
    assert rows(cwd, "SELECT extended_due FROM milestone WHERE extended_due IS NOT NULL") == [("2017-03-31",)]


def test_recording_progress_on_a_units_behalf(office, monkeypatch) -> None:
    import hashlib

    monkeypatch.setenv("DUBAN_EVIDENCE_MAX_BYTES", "1000")
    cwd, url = office
    good = {"plan": PLAN, "task": "3.2.1", "unit": "區交委", "milestone": "2", "done": "10", "note": "完成10个村", "confirm": "yes"}
    pdf = b"%PDF-1.4\n%%EOF\n"
    with served(cwd, url) as base:
        refused_alike(base, "/actions/progress", good, cwd)
        lin = logged_in(base, "lin")
        form = lin.get("/actions/progress", params={"plan": PLAN, "task": "3.2.1"})
        assert form.status_code == 200
        token = csrf_of(form.text)
        before = counts(cwd)
        for change, says in (({"done": "十八個"}, "done: &#39;十八個&#39; is not a number"),
                             ({"task": "9.9"}, "no task &#39;9.9&#39; in plan district-2015"),
                             ({"milestone": "二"}, "milestone: &#39;二&#39; is not a milestone number"),
                             ({"unit": "區某局"}, "區某局"),
                             ({"confirm": ""}, "确认")):
            r = lin.post("/actions/progress", data={**good, **change, "csrf": token})
            assert r.status_code == 400 and says in r.text, (change, text_of(r.text)[-300:])
            assert 'value="完成10个村"' in r.text or "完成10个村" in r.text  # the form keeps what was typed
        for files, says in (([("验收.pdf", pdf, "application/pdf"), ("tool.exe", b"MZ\x90", "application/octet-stream")],
                             "evidence file tool.exe: type .exe is not accepted; evidence may be PDF"),
                            ([("big.pdf", pdf + b"0" * 2000, "application/pdf")],
                             "evidence file big.pdf: is 2015 bytes, more than the 1000 bytes")):
            r = lin.post("/actions/progress", data={**good, "csrf": token}, files=[("files", f) for f in files])
            assert r.status_code == 400 and says in r.text, text_of(r.text)[-300:]
            assert "完成10个村" in r.text
        assert counts(cwd) == before and not (cwd / "var" / "evidence").exists()
        ok = lin.post("/actions/progress", data={**good, "csrf": token},
                      files=[("files", ("验收.pdf", pdf, "application/pdf")), ("files", ("照片.png", PNG, "image/png"))])
        assert ok.status_code == 200 and "10/40村" in ok.text and "验收.pdf、照片.png" in ok.text
        sha = hashlib.sha256(pdf).hexdigest()
        with closing(logged_in(base, "wang")) as wang:  # a viewer sees the files on the task page and may download them
            page = wang.get(f"/tasks/{PLAN}/3.2.1")
            assert page.status_code == 200 and f'href="/evidence/{sha}?name=%E9%AA%8C%E6%94%B6.pdf"' in page.text
            got = wang.get(f"/evidence/{sha}")
            assert got.status_code == 200 and got.content == pdf and got.headers["content-type"] == "application/pdf"
    ((actor, data),) = events(cwd, "progress.reported")
    assert actor == "lin" and data["source"] == "console" and data["done"] == 10
    assert data["files"] == ["验收.pdf", "照片.png"]
    assert rows(cwd, "SELECT done_quantity FROM milestone WHERE done_quantity IS NOT NULL") == [(10,)]


def test_mail_shows_the_servers_reply_and_retries_failed_messages(office, start_smtp, monkeypatch) -> None:
    cwd, url = office
    server = start_smtp()
    server.handler.refuse["fupin@example.org"] = "550 5.1.1 <fupin@example.org>: mailbox unavailable"
    with monkeypatch.context() as env:
        env.setenv("DUBAN_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
        env.setenv("DUBAN_ALLOW_REPLAY_MAIL", "1")
        cli(["deliver"], cwd=cwd, db_url=url, check=False)
    ((failed,),) = rows(cwd, "SELECT id FROM message WHERE status = 'failed'")
    with served(cwd, url) as base:
        page = logged_in(base, "wang").get("/mail", params={"status": "failed"})
        assert page.status_code == 200 and "fupin@example.org" in page.text and "mailbox unavailable" in page.text
        assert [int(i) for i in re.findall(r"<tr>\s*<td>(\d+)</td>", page.text)] == [failed]
        assert 'name="message"' not in page.text  # a viewer gets no retry form
        refused_alike(base, "/mail/retry", {"message": str(failed), "confirm": "yes"}, cwd)
        lin = logged_in(base, "lin")
        listed = lin.get("/mail", params={"status": "failed"})
        token = csrf_of(listed.text)
        assert f'name="message" value="{failed}"' in listed.text
        bad = lin.post("/mail/retry", data={"csrf": token, "message": "x", "confirm": "yes"})
        assert bad.status_code == 400 and "is not a message number" in bad.text
        r = lin.post("/mail/retry", data={"csrf": token, "message": str(failed), "confirm": "yes"})
        assert r.status_code == 200 and "1 封失败邮件已重新排队" in r.text
    assert rows(cwd, "SELECT status, attempts FROM message WHERE id = ?", failed) == [("pending", 0)]
    ((actor, data),) = events(cwd, "mail.requeued")
    assert actor == "lin" and data == {"messages": [failed], "count": 1}
