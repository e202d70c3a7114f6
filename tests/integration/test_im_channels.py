"""Group robots beside the mail (issue 15, "Channels offices read first"): DingTalk, WeCom and Feishu custom
robots, against a real HTTP receiver on 127.0.0.1 that checks each robot's payload and signature as the
robot would (the HMAC recomputed), answers their error codes, and counts."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
import yaml

from duban.config.settings import Settings
from duban.matrix.errors import ValidationFailed
from duban.notifications.channels.robots import RobotChannel
from duban.store.db import transaction
from duban.store.tables import MessageRow, NoticeRow
from duban.workflows.delivery_service import deliver, list_messages, requeue_failed
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.sweep_service import sweep
from tests.support import POLICY, SHANGHAI, at

SECRETS = {"DUBAN_TEST_DT": "SECdingtalk-secret-0123456789", "DUBAN_TEST_FS": "feishu-secret-abc"}
NOW = dt.datetime(2015, 7, 15, 9, 0, tzinfo=SHANGHAI)
HOSTILE = "*[x](javascript:alert(1))* <b>粗</b>"


class Receiver(ThreadingHTTPServer):
    """Three robots on one loopback server: /robot/send (DingTalk), /cgi-bin/webhook/send (WeCom),
    /open-apis/bot/v2/hook/<token> (Feishu). ``answers[kind]`` are error codes to answer, one per post,
    before accepting; ``got[kind]`` the accepted Markdown texts; ``posts`` counts every post."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.answers: dict[str, list[int]] = {"dingtalk": [], "wecom": [], "feishu": []}
        self.got: dict[str, list[dict]] = {"dingtalk": [], "wecom": [], "feishu": []}
        self.posts = 0
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        with self.server.lock:
            self.server.posts += 1
            if parts.path == "/robot/send":
                kind, answer = "dingtalk", self.dingtalk(query, parts.query, body)
            elif parts.path == "/cgi-bin/webhook/send":
                kind, answer = "wecom", self.wecom(query, body)
            else:
                kind, answer = "feishu", self.feishu(body)
            forced = self.server.answers[kind]
            if answer[0] == 0 and forced:
                answer = (forced.pop(0), "forced")
            if answer[0] == 0:
                self.server.got[kind].append(body)
        key = ("code", "msg") if kind == "feishu" else ("errcode", "errmsg")
        data = json.dumps({key[0]: answer[0], key[1]: answer[1]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    @staticmethod
    def dingtalk(query: dict, raw: str, body: dict) -> tuple[int, str]:
        if body.get("msgtype") != "markdown" or not body["markdown"].get("title") or not body["markdown"].get("text"):
            return 300001, "bad payload"
        token = query.get("access_token", [""])[0]
        secret = SECRETS["DUBAN_TEST_DT"] if token == "signed" else None
        if secret is None:
            return 0, "ok"
        ts = query.get("timestamp", [""])[0]
        if not ts.isdigit() or abs(int(ts) - time.time() * 1000) > 3600_000:
            return 310000, "timestamp invalid"
        want = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()).decode()
        # The sign is URL-encoded on the URL ("+" and "/" would otherwise be read as a space and a path).
        if query.get("sign", [""])[0] != want or "+" in raw.split("sign=", 1)[-1]:
            return 310000, "sign not match"
        return 0, "ok"

    @staticmethod
    def wecom(query: dict, body: dict) -> tuple[int, str]:
        if query.get("key", [""])[0] != "wk":
            return 93000, "invalid webhook url"
        if body.get("msgtype") != "markdown" or not isinstance(body["markdown"].get("content"), str):
            return 40008, "invalid message type"
        if len(body["markdown"]["content"].encode()) > 4096:
            return 40058, "markdown.content exceed max length 4096"
        return 0, "ok"

    @staticmethod
    def feishu(body: dict) -> tuple[int, str]:
        secret = SECRETS["DUBAN_TEST_FS"]
        ts = body.get("timestamp", "")
        if not str(ts).isdigit() or abs(int(ts) - time.time()) > 3600:
            return 19021, "sign match fail or timestamp is not within one hour from current time"
        want = base64.b64encode(hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()
        if body.get("sign") != want:
            return 19021, "sign match fail or timestamp is not within one hour from current time"
        card = body.get("card") or {}
        if body.get("msg_type") != "interactive" or card["elements"][0]["tag"] != "markdown":
            return 9499, "Bad Request"
        return 0, "ok"


def markdown_of(kind: str, body: dict) -> str:
    return {"dingtalk": lambda: body["markdown"]["text"], "wecom": lambda: body["markdown"]["content"],
            "feishu": lambda: body["card"]["elements"][0]["content"]}[kind]()


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def robots_channel(**kw) -> RobotChannel:
    return RobotChannel(environ=kw.pop("environ", SECRETS), trust_env=False, **kw)


def settings_for(tmp_path: Path, **kw) -> Settings:
    return Settings(database_url="sqlite://", outbox_dir=tmp_path / "outbox", config_dir=tmp_path / "cfg",
                    mail_from="督辦系統 <duban@example.org>", messages_per_minute=0,
                    allow_replay_mail=kw.pop("allow_replay_mail", True), **kw)


def plan_with_robots(engine, tmp_path: Path, base: str, *, tasks: int = 1, target: str = "完成25個村",
                     channels: list | None = None) -> None:
    """A plan whose lead unit 區交委 has mail and three robots; swept on 2015-07-15 (each task overdue)."""
    if channels is None:
        channels = [{"kind": "dingtalk", "webhook": f"{base}/robot/send?access_token=signed", "secret_env": "DUBAN_TEST_DT"},
                    {"kind": "wecom", "webhook": f"{base}/cgi-bin/webhook/send?key=wk"},
                    {"kind": "feishu", "webhook": f"{base}/open-apis/bot/v2/hook/fs-token", "secret_env": "DUBAN_TEST_FS"}]
    (tmp_path / "u.yaml").write_text(yaml.safe_dump({
        "office": {"name": "區扶貧辦", "emails": ["office@example.org"]},
        "units": [{"name": "區交委", "emails": ["jw@example.org"], "head": {"name": "張三", "email": "head.jw@example.org"},
                   "channels": channels}],
    }, allow_unicode=True), encoding="utf-8")
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({
        "plan": {"code": "im", "title": "交通建設方案", "base_year": 2015},
        "directory": "u.yaml",
        "tasks": [{"code": str(n), "title": HOSTILE if n == 1 else f"道路硬化第{n}段", "target": target,
                   "lead_unit": "區交委", "deadline": "2015年7月10日"} for n in range(1, tasks + 1)],
    }, allow_unicode=True), encoding="utf-8")
    import_file(engine, tmp_path / "p.yaml", PlanOptions(), now=at(2015, 7, 1))
    sweep(engine, now=dt.datetime(2015, 7, 15, 8, 30, tzinfo=SHANGHAI), policies=POLICY)


def robot_rows(engine) -> list[MessageRow]:
    with transaction(engine) as s:
        rows = list(s.execute(sa.select(MessageRow).where(MessageRow.channel != "email").order_by(MessageRow.id)).scalars())
        s.expunge_all()
        return rows


def test_each_robot_gets_its_signed_markdown_beside_the_mail_once(engine, tmp_path: Path, receiver) -> None:
    """A notice to a unit with three robots: its mail as before (.eml), and one message per robot with the
    documented payload and a signature the robot accepts; the plan's text shown literally; a second run
    posts nothing again."""
    plan_with_robots(engine, tmp_path, receiver.base)
    result = deliver(engine, now=NOW, settings=settings_for(tmp_path), robots=robots_channel())
    assert result.failed == 0 and result.retrying == 0
    assert {k: len(v) for k, v in receiver.got.items()} == {"dingtalk": 1, "wecom": 1, "feishu": 1}
    assert receiver.posts == 3
    mail = list((tmp_path / "outbox").glob("*.eml"))
    assert len(mail) == 2  # the unit's digest and its head's escalation: the robots came beside, not instead
    with transaction(engine) as s:
        chase = s.execute(sa.select(NoticeRow.id).where(NoticeRow.kind == "chase")).scalar_one()
        assert set(s.execute(sa.select(NoticeRow.status)).scalars()) == {"sent"}
    for kind, bodies in receiver.got.items():
        text = markdown_of(kind, bodies[0])
        assert f"通知编号 {chase}" in text, (kind, text)  # a rare resend is recognisable
        assert r"\*\[x\](javascript:alert(1))\* &lt;b&gt;粗&lt;/b&gt;" in text and "<b>" not in text
        assert "[签收" not in text  # no signed link given: no link shown
    assert receiver.got["dingtalk"][0]["markdown"]["title"].startswith("【催办】区交委")
    assert receiver.got["feishu"][0]["card"]["header"]["title"]["tag"] == "plain_text"
    rows = robot_rows(engine)
    assert sorted(r.channel for r in rows) == ["dingtalk", "feishu", "wecom"]
    assert all(r.status == "sent" and "access_token" not in r.address and "wk" not in r.address for r in rows)
    listed = [m for m in list_messages(engine) if m["channel"] != "email"]
    assert len(listed) == 3 and all(m["to"].split(":")[0] == m["channel"] for m in listed)
    # Again: nothing new is planned or posted (the outbox's keys), the mail neither.
    again = deliver(engine, now=NOW, settings=settings_for(tmp_path), robots=robots_channel())
    assert again.sent == 0 and again.planned_messages == 0 and receiver.posts == 3
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2


def test_rate_limit_answers_are_retried_later_and_a_bad_secret_fails(engine, tmp_path: Path, receiver) -> None:
    """DingTalk's 130101 and WeCom's 45009 put the message back with backoff (then it goes); Feishu refusing
    the signature (a wrong secret) fails its message with the robot's answer, and so does a secret missing
    from the environment — a clear reason, the other robots unaffected."""
    plan_with_robots(engine, tmp_path, receiver.base)
    receiver.answers["dingtalk"] = [130101]
    receiver.answers["wecom"] = [45009]
    wrong = {**SECRETS, "DUBAN_TEST_FS": "not-the-secret"}
    clock = [dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)]
    settings = settings_for(tmp_path, retry_base_seconds=60)
    result = deliver(engine, now=NOW, settings=settings, robots=robots_channel(environ=wrong), clock=lambda: clock[0])
    assert result.retrying == 2 and result.failed == 1 and result.sent == 2  # (the two mails)
    by_kind = {r.channel: r for r in robot_rows(engine)}
    assert by_kind["dingtalk"].status == by_kind["wecom"].status == "pending"
    assert "130101" in by_kind["dingtalk"].last_error and "45009" in by_kind["wecom"].last_error
    assert by_kind["dingtalk"].next_attempt_at is not None
    assert by_kind["feishu"].status == "failed" and "code 19021" in by_kind["feishu"].last_error
    assert receiver.got["dingtalk"] == receiver.got["wecom"] == receiver.got["feishu"] == []
    # Not due yet: nothing is posted; after the backoff both go.
    assert deliver(engine, now=NOW, settings=settings, robots=robots_channel(), clock=lambda: clock[0]).sent == 0
    clock[0] += dt.timedelta(minutes=2)
    assert deliver(engine, now=NOW, settings=settings, robots=robots_channel(), clock=lambda: clock[0]).sent == 2
    assert len(receiver.got["dingtalk"]) == len(receiver.got["wecom"]) == 1
    # The secret's variable missing from the environment: failed, saying which variable, not a traceback.
    assert requeue_failed(engine, now=NOW) == 1
    result = deliver(engine, now=NOW, settings=settings, robots=robots_channel(environ={}), clock=lambda: clock[0])
    assert result.failed == 1
    feishu = {r.channel: r for r in robot_rows(engine)}["feishu"]
    assert feishu.status == "failed" and "DUBAN_TEST_FS is not set in the environment" in feishu.last_error
    # With the right secret it goes.
    requeue_failed(engine, now=NOW)
    assert deliver(engine, now=NOW, settings=settings, robots=robots_channel(), clock=lambda: clock[0]).sent == 1
    assert len(receiver.got["feishu"]) == 1


def test_a_long_wecom_digest_is_split_into_numbered_messages_and_robots_are_paced(sqlite_url: str, tmp_path: Path,
                                                                                    receiver) -> None:
    """A digest over WeCom's 4096 bytes goes as several messages, (1/n)…, each within the limit and each
    naming its notices; DingTalk paced to its minute's limit leaves the rest for later, not failed."""
    from duban.store.db import open_database

    engine = open_database(sqlite_url)
    long_target = "贫困村村级道路硬化或油化1条以上，" * 12
    plan_with_robots(engine, tmp_path, receiver.base, tasks=8, target=long_target,
                     channels=[{"kind": "wecom", "webhook": f"{receiver.base}/cgi-bin/webhook/send?key=wk"},
                               {"kind": "dingtalk", "webhook": f"{receiver.base}/robot/send?access_token=open"}])
    result = deliver(engine, now=NOW, settings=settings_for(tmp_path), robots=robots_channel())
    parts = [b["markdown"]["content"] for b in receiver.got["wecom"]]
    assert len(parts) >= 2 and result.failed == 0
    assert all(len(p.encode()) <= 4096 for p in parts)
    assert [p.split(" ", 1)[0] for p in parts] == [f"({i}/{len(parts)})" for i in range(1, len(parts) + 1)]
    assert all("通知编号" in p for p in parts)
    # Per notice, DingTalk allowed 3 a minute: 3 go, the others wait (pending, no attempt counted).
    engine2 = open_database(f"sqlite:///{tmp_path / 'per-notice.db'}")
    receiver.got["dingtalk"].clear()
    (tmp_path / "n").mkdir()
    plan_with_robots(engine2, tmp_path / "n", receiver.base, tasks=5,
                     channels=[{"kind": "dingtalk", "webhook": f"{receiver.base}/robot/send?access_token=open"}])
    result = deliver(engine2, now=NOW, settings=settings_for(tmp_path / "n", delivery_mode="per_notice"),
                     robots=robots_channel(limits={"dingtalk": 3}))
    rows = robot_rows(engine2)
    assert len(rows) == 5 and len(receiver.got["dingtalk"]) == 3 and result.failed == 0
    waiting = [r for r in rows if r.status == "pending"]
    assert len(waiting) == 2 and all(r.attempts == 0 and "3 messages a minute" in r.last_error for r in waiting)
    engine.dispose()
    engine2.dispose()


def test_a_replays_robot_messages_are_held_even_when_mail_goes_to_files(sqlite_url: str, tmp_path: Path,
                                                                        receiver) -> None:
    """The .eml outbox reaches nobody, a robot reaches a group: a replay's robot messages wait for
    DUBAN_ALLOW_REPLAY_MAIL=1 while its mail is written to files."""
    from duban.store.db import open_database

    engine = open_database(sqlite_url)
    plan_with_robots(engine, tmp_path, receiver.base)
    result = deliver(engine, now=NOW, settings=settings_for(tmp_path, allow_replay_mail=False), robots=robots_channel())
    assert receiver.posts == 0 and len(list((tmp_path / "outbox").glob("*.eml"))) == 2 and result.sent == 2
    assert {r.status for r in robot_rows(engine)} == {"held"}
    result = deliver(engine, now=NOW, settings=settings_for(tmp_path, allow_replay_mail=True), robots=robots_channel())
    assert result.sent == 3 and receiver.posts == 3
    engine.dispose()


def test_bad_channels_in_the_directory_are_refused_naming_file_unit_and_field(sqlite_url: str, tmp_path: Path) -> None:
    from duban.store.db import open_database

    engine = open_database(sqlite_url)
    bad = [{"kind": "dingding", "webhook": "https://oapi.dingtalk.com/robot/send?access_token=a"},
           {"kind": "wecom", "webhook": "ftp://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"},
           {"kind": "feishu", "webhook": "https://open.feishu.cn/open-apis/bot/v2/hook/x", "secret": "plain"}]
    with pytest.raises(ValidationFailed) as e:
        plan_with_robots(engine, tmp_path, "https://example.org", channels=bad)
    text = str(e.value)
    assert "u.yaml" in text and "區交委: channels[1].kind: unknown channel kind" in text
    assert "channels[2].webhook: URL scheme 'ftp' is not allowed" in text
    assert "channels[3].secret: unknown field" in text and "secret_env" in text and "Traceback" not in text
    with transaction(engine) as s:
        assert s.execute(sa.text("SELECT count(*) FROM plan")).scalar() == 0
    engine.dispose()


def test_the_markdown_notice_escapes_values_and_shows_the_signed_link_only_when_given() -> None:
    """(No database: the renderer alone.) The unit's signed link, another part of issue 15, is an optional
    ``link``: shown as a Markdown link when given, its target unable to end the link; absent otherwise."""
    from duban.notifications.render import Renderer
    from tests.unit.test_render import LETTERHEAD, UNIT, view

    v = view(task_title=HOSTILE, lead_unit="區交委](http://evil)")
    for language, word in (("zh-Hans", "通知编号：1"), ("en", "Notice no. 1")):
        renderer = Renderer(language=language)
        plain = renderer.markdown_notice(v, UNIT, letterhead=LETTERHEAD)
        assert word in plain.text and not re.search(r"(?<!\\)\]\(", plain.text)  # no link at all
        assert r"\*\[x\](javascript:alert(1))\*" in plain.text
        assert r"\](http://evil)" in plain.text and "&lt;b&gt;" in plain.text
        linked = renderer.markdown_notice(v, UNIT, letterhead=LETTERHEAD, link="https://duban.example.org/u/a b)c")
        assert re.findall(r"(?<!\\)\]\(([^)]*)\)", linked.text) == ["https://duban.example.org/u/a%20b%29c"]
    with pytest.raises(Exception, match="http"):
        Renderer().markdown_notice(v, UNIT, letterhead=LETTERHEAD, link="javascript:alert(1)")


def test_a_closing_requests_answer_reaches_the_units_robot_as_a_letter_of_its_own(sqlite_url: str, tmp_path: Path,
                                                                                   receiver) -> None:
    """A 退回通知 (another helper's closing notices) goes to the unit's robot beside its mail, never in a
    digest, the office's reason shown literally."""
    from duban.store.db import open_database
    from duban.store.evidence import EvidenceStore
    from duban.store.tables import UnitRow
    from duban.workflows.closing_service import request_closing, return_request
    from tests.support import PLANS

    engine = open_database(sqlite_url)
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    with transaction(engine) as s:
        unit = s.execute(sa.select(UnitRow).where(UnitRow.name == "區交委")).scalar_one()
        unit.channels = [{"kind": "wecom", "webhook": f"{receiver.base}/cgi-bin/webhook/send?key=wk", "secret_env": ""}]
    store = EvidenceStore(tmp_path / "evidence", max_bytes=1000)
    r = request_closing(engine, task="3.2.1", unit="區交委", note="25个村完成", files=[("a.pdf", b"%PDF-1.4\n%%EOF\n")],
                        now=at(2015, 12, 20), actor="李四", store=store)
    return_request(engine, request_id=r["id"], reason="**照片**模糊 [补](http://x)", now=at(2015, 12, 21), actor="王五")
    result = deliver(engine, now=at(2015, 12, 21, 17), settings=settings_for(tmp_path), robots=robots_channel())
    assert result.sent == 2 and result.failed == 0  # its mail (.eml) and its robot message
    [body] = receiver.got["wecom"]
    text = body["markdown"]["content"]
    assert text.startswith("#### 【办结申请退回】3.2.1 交通建设") and r"\*\*照片\*\*模糊 \[补\](http://x)" in text
    engine.dispose()


def test_with_a_public_url_the_robot_message_carries_the_units_signed_link(sqlite_url: str, tmp_path: Path,
                                                                           receiver) -> None:
    """DUBAN_PUBLIC_URL set: the robot's Markdown links the unit's signed page (link_service), once."""
    from duban.store.db import open_database

    engine = open_database(sqlite_url)
    plan_with_robots(engine, tmp_path, receiver.base,
                     channels=[{"kind": "wecom", "webhook": f"{receiver.base}/cgi-bin/webhook/send?key=wk"}])
    deliver(engine, now=NOW, settings=settings_for(tmp_path, public_url="https://duban.example.org"),
            robots=robots_channel())
    [body] = receiver.got["wecom"]
    links = re.findall(r"(?<!\\)\]\(([^)]*)\)", body["markdown"]["content"])
    assert len(links) == 1 and links[0].startswith("https://duban.example.org/u/")
    engine.dispose()
