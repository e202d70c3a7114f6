"""Delivery over real SMTP (aiosmtpd on a free loopback port) and to .eml files; nothing lost or sent twice."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from duban.config.settings import Settings
from duban.notifications.sink import free_port, loopback_smtp
from duban.store.db import transaction
from duban.store.tables import DeliveryRow, MessageRow, NoticeRow, UnitRow
from duban.workflows.delivery_service import LEASE, deliver
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.sweep_service import sweep
from tests.support import PLANS, POLICY, ROOT, SHANGHAI, Recorder, at

# Every test here replays 2015 over a real SMTP server (or a channel that reaches people): mail is allowed.
pytestmark = pytest.mark.usefixtures("allow_replay_mail")


def settings_for(tmp_path: Path, url: str | None = None, **kw) -> Settings:
    return Settings(database_url="sqlite://", smtp_url=url, outbox_dir=tmp_path / "outbox",
                    config_dir=tmp_path / "cfg", mail_from="督辦系統 <duban@example.org>", messages_per_minute=0, **kw)


@pytest.fixture
def swept(engine):
    """The district plan swept as of 2015-12-04: 3.1 and 3.5 are overdue with all three levels."""
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    sweep(engine, now=dt.datetime(2015, 12, 4, 8, 30, tzinfo=SHANGHAI), policies=POLICY)
    return engine


NOW = dt.datetime(2015, 12, 4, 9, 0, tzinfo=SHANGHAI)


STRICT = email.policy.default.clone(raise_on_defect=True)
ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def parse(raw: bytes) -> email.message.EmailMessage:
    """A message as a mail client reads it, checked strictly: header lines of at most 78 characters,
    encoded words of at most 75, no defect anywhere (issue 10, defect 12)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        assert len(line) <= 78, f"a header line of {len(line)} characters: {line[:100]!r}…"
    for word in ENCODED_WORD.findall(head):
        assert len(word) <= 75, word
    msg = email.message_from_bytes(raw, policy=STRICT)
    for name, value in msg.items():
        assert not value.defects, (name, value.defects)
    for part in msg.walk():
        assert not part.defects, part.defects
        if not part.is_multipart():
            part.get_content()
    return msg


def decoded(raw: bytes, name: str) -> str:
    """A header's text as RFC 2047 says to read it (adjacent encoded words joined without the space
    between them, which Python's address parser keeps)."""
    from email.header import decode_header, make_header

    value = email.message_from_bytes(raw, policy=email.policy.compat32)[name]
    return str(make_header(decode_header(value)))


def test_digest_one_message_per_recipient(swept, smtp_server, tmp_path: Path) -> None:
    result = deliver(swept, now=NOW, settings=settings_for(tmp_path, f"smtp://127.0.0.1:{smtp_server.port}"))
    assert result.failed == 0 and result.retrying == 0
    rcpts = [r for _, rs, _ in smtp_server.messages for r in rs]
    assert len(rcpts) == len(set(rcpts)), "each address gets one digest"
    assert result.sent == len(smtp_server.messages) == len(set(rcpts))
    by_rcpt = {rs[0]: parse(raw) for _, rs, raw in smtp_server.messages}
    # The office is copied on both level-2 escalations: one digest listing both tasks.
    office = by_rcpt["office@example.org"]
    body = office.get_body(("plain",)).get_content()
    assert "3.1" in body and "3.5" in body
    with transaction(swept) as s:
        assert set(s.execute(sa.select(NoticeRow.status)).scalars()) == {"sent"}
        assert s.execute(sa.select(sa.func.count()).select_from(DeliveryRow).where(DeliveryRow.status != "sent")).scalar() == 0
    again = deliver(swept, now=NOW + dt.timedelta(minutes=5), settings=settings_for(tmp_path, f"smtp://127.0.0.1:{smtp_server.port}"))
    assert again.sent == 0 and len(smtp_server.messages) == result.sent  # nothing twice


def test_a_rendered_chinese_email_read_back_field_by_field(swept, smtp_server, tmp_path: Path) -> None:
    deliver(swept, now=NOW, settings=settings_for(tmp_path, f"smtp://127.0.0.1:{smtp_server.port}"))
    by_rcpt = {rs[0]: (frm, parse(raw)) for frm, rs, raw in smtp_server.messages}
    # 區扶貧辦's head, level 1 of 3.1 (3.1 is past level 3 on 12-04: no longer chased, escalated)
    frm, msg = by_rcpt["head.fupin@example.org"]
    assert frm == "duban@example.org"
    assert msg["From"].addresses[0].addr_spec == "duban@example.org" and msg["From"].addresses[0].display_name == "督办系统"  # in the letter's script
    assert [a.addr_spec for a in msg["To"].addresses] == ["head.fupin@example.org"]
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@example.org>")
    assert "Bcc" not in msg and msg["Auto-Submitted"] == "auto-generated"
    assert "区扶贫办" in msg["Subject"] or "扶贫" in msg["Subject"]  # zh-Hans by default
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for fact in ("3.1", "扶贫对象精准", "2015年7月10日", "区扶贫办"):
        assert fact in text, fact
    assert "<table" in html and "2015年7月10日" in html
    with transaction(swept) as s:
        overdue = s.execute(sa.select(NoticeRow.days).where(NoticeRow.kind == "escalation", NoticeRow.level == 1,
                                                            NoticeRow.key.like("%2015-07-10%"))).scalar_one()
    assert str(overdue) in text  # working days overdue


def test_server_down_at_first_then_back_everything_arrives_once(swept, tmp_path: Path) -> None:
    port = free_port()
    settings = settings_for(tmp_path, f"smtp://127.0.0.1:{port}", retry_base_seconds=60)
    # The backoff runs on the real clock (not the run's as-of): the test gives it one, to skip ahead.
    first = deliver(swept, now=NOW, settings=settings, clock=lambda: NOW)
    assert first.sent == 0 and first.retrying == first.planned_messages > 0
    with transaction(swept) as s:
        rows = s.execute(sa.select(MessageRow)).scalars().all()
        assert {m.status for m in rows} == {"pending"} and {m.attempts for m in rows} == {1}
        assert all("Connect" in m.last_error or "refused" in m.last_error.lower() for m in rows)
        ids_before = {m.id: m.message_id for m in rows}
    second = deliver(swept, now=NOW, settings=settings, clock=lambda: NOW + dt.timedelta(seconds=30))  # before the backoff
    assert second.sent == 0 and second.retrying == 0
    third = deliver(swept, now=NOW, settings=settings, clock=lambda: NOW + dt.timedelta(minutes=1))  # still down: backoff doubles
    assert third.retrying == first.retrying
    handler = Recorder()
    # The server comes back on the port the settings name: picked before, so it cannot bind port 0.
    controller = loopback_smtp(handler, port=port)
    try:
        back = deliver(swept, now=NOW, settings=settings, clock=lambda: NOW + dt.timedelta(minutes=5))
    finally:
        controller.stop()
    assert back.sent == first.planned_messages and back.failed == 0
    received = [parse(raw)["Message-ID"] for _, _, raw in handler.messages]
    assert sorted(received) == sorted(ids_before.values())  # all, once, with the Message-IDs planned at first


def test_a_550_for_one_recipient_fails_only_that_one(swept, smtp_server, tmp_path: Path) -> None:
    smtp_server.refuse["fupin@example.org"] = "550 5.1.1 <fupin@example.org>: mailbox unavailable"
    result = deliver(swept, now=NOW, settings=settings_for(tmp_path, f"smtp://127.0.0.1:{smtp_server.port}"))
    assert result.failed == 1 and result.sent == result.planned_messages - 1
    with transaction(swept) as s:
        failed = s.execute(sa.select(MessageRow).where(MessageRow.status == "failed")).scalar_one()
        assert failed.address == "fupin@example.org" and "550" in failed.last_error and "mailbox unavailable" in failed.last_error
        assert s.execute(sa.select(sa.func.count()).select_from(DeliveryRow).where(
            DeliveryRow.status == "failed", DeliveryRow.address == "fupin@example.org")).scalar() >= 1
    assert "fupin@example.org" not in [r for _, rs, _ in smtp_server.messages for r in rs]


def test_per_notice_mode_with_cc_and_a_refused_copy(swept, smtp_server, tmp_path: Path) -> None:
    """One message per notice, 主送 in To and 抄送 in Cc; a 550 for one Cc: the rest still get it."""
    smtp_server.refuse["townships@example.org"] = "550 no such user"
    settings = settings_for(tmp_path, f"smtp://127.0.0.1:{smtp_server.port}", delivery_mode="per_notice")
    result = deliver(swept, now=NOW, settings=settings)
    with transaction(swept) as s:
        n_notices = s.execute(sa.select(sa.func.count()).select_from(NoticeRow)).scalar()
    assert result.sent == len(smtp_server.messages) == n_notices
    # Level 2 of 3.1 goes to its lead official and copies the office and the supporting units (各鄉鎮人民政府 …).
    copied = next(parse(raw) for _, rs, raw in smtp_server.messages if "lin.guang@example.org" in rs)
    assert [a.addr_spec for a in copied["To"].addresses] == ["lin.guang@example.org"]
    assert "townships@example.org" in [a.addr_spec for a in copied["Cc"].addresses]
    assert result.recipients_refused >= 1
    with transaction(swept) as s:
        refused = s.execute(sa.select(DeliveryRow).where(DeliveryRow.address == "townships@example.org")).scalars().all()
        assert refused and all(d.status == "failed" and "550" in d.last_error for d in refused)
        assert set(s.execute(sa.select(NoticeRow.status)).scalars()) == {"sent"}
    subjects = {parse(raw)["Subject"] for _, _, raw in smtp_server.messages}
    assert all("\n" not in s for s in subjects)


def test_no_smtp_configured_writes_eml_files(swept, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    result = deliver(swept, now=NOW, settings=settings)
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert result.sent == len(files) > 0 and result.target == str(tmp_path / "outbox")
    msg = parse(files[0].read_bytes())
    assert msg["Message-ID"] and msg.get_body(("plain",)).get_content()
    assert deliver(swept, now=NOW, settings=settings).sent == 0
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == len(files)


def test_recipients_with_no_address_are_held_and_do_not_stop_the_run(engine, tmp_path: Path, smtp_server) -> None:
    """(Issue 12: a recipient with no address is held — sent once the directory has one — not undeliverable.)"""
    units = yaml.safe_load((PLANS / "district-2015.units.yaml").read_text(encoding="utf-8"))
    for u in units["units"]:
        if u["name"] == "區扶貧辦":
            u["emails"] = []  # no address at all
    (tmp_path / "plan").mkdir()
    (tmp_path / "plan" / "district-2015.units.yaml").write_text(yaml.safe_dump(units, allow_unicode=True), encoding="utf-8")
    (tmp_path / "plan" / "district-2015.yaml").write_text((PLANS / "district-2015.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    import_file(engine, tmp_path / "plan" / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    sweep(engine, now=dt.datetime(2015, 12, 4, 8, 30, tzinfo=SHANGHAI), policies=POLICY)
    result = deliver(engine, now=NOW, settings=settings_for(tmp_path, f"smtp://127.0.0.1:{smtp_server.port}"))
    assert result.sent > 0 and result.failed == 0 and result.undeliverable == []
    assert {u["name"] for u in result.held} == {"區扶貧辦"}
    assert result.held[0]["reason"] == "no address for 區扶貧辦 (unit) in the directory"
    with transaction(engine) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(DeliveryRow).where(DeliveryRow.status == "held")).scalar() >= 1


def test_header_and_html_injection_cannot_get_through(engine, tmp_path: Path, smtp_server) -> None:
    (tmp_path / "u.yaml").write_text(yaml.safe_dump({
        "office": {"name": "辦公室", "emails": ["office@example.org"]},
        "units": [{"name": "區交委<script>alert(1)</script>", "emails": ["jw@example.org"],
                   "head": {"name": "張三\r\nBcc: evil@example.com", "email": "head.jw@example.org"}}],
    }, allow_unicode=True), encoding="utf-8")
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({
        "plan": {"code": "inj", "title": "注入\r\nX-Evil: 1", "base_year": 2015},
        "directory": "u.yaml",
        "tasks": [{"code": "1", "title": "標題\r\nBcc: evil@example.com", "target": "<img src=x onerror=alert(1)>",
                   "lead_unit": "區交委<script>alert(1)</script>", "deadline": "2015年7月10日"}],
    }, allow_unicode=True), encoding="utf-8")
    import_file(engine, tmp_path / "p.yaml", PlanOptions(), now=at(2015, 7, 1))
    sweep(engine, now=dt.datetime(2015, 7, 15, 8, 30, tzinfo=SHANGHAI), policies=POLICY)  # chase + level 1 (the head)
    result = deliver(engine, now=NOW, settings=settings_for(tmp_path, f"smtp://127.0.0.1:{smtp_server.port}"))
    assert result.sent == 2
    assert sorted(r for _, rs, _ in smtp_server.messages for r in rs) == ["head.jw@example.org", "jw@example.org"]
    for _, _, raw in smtp_server.messages:
        msg = parse(raw)
        assert "Bcc" not in msg and "X-Evil" not in msg
        assert all("\n" not in str(v) and "\r" not in str(v) for v in msg.values())
        html = msg.get_body(("html",)).get_content()
        assert "<script>" not in html and "<img src=x" not in html and "&lt;script&gt;" in html


def test_kill_during_delivery_then_rerun_nothing_lost_same_message_id(sqlite_url: str, tmp_path: Path) -> None:
    """A `duban deliver` process is killed while sending; the rerun sends the rest, repeats keep their Message-ID."""
    from duban.store.db import open_database

    engine = open_database(sqlite_url)
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    sweep(engine, now=dt.datetime(2015, 12, 4, 8, 30, tzinfo=SHANGHAI), policies=POLICY)
    handler = Recorder()
    handler.delay = 0.4  # a slow server, so the process dies mid-batch
    controller = loopback_smtp(handler)
    port = controller.port
    env = {**os.environ, "DUBAN_DATABASE_URL": sqlite_url, "DUBAN_SMTP_URL": f"smtp://127.0.0.1:{port}",
           "DUBAN_MAIL_FROM": "督辦系統 <duban@example.org>", "DUBAN_SMTP_CONCURRENCY": "1",
           "DUBAN_CONFIG_DIR": str(tmp_path / "cfg"), "PYTHONPATH": str(ROOT)}
    try:
        proc = subprocess.Popen([sys.executable, "-m", "duban.workflows.cli", "deliver"], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(handler.messages) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)  # reads and closes its pipes
        assert len(handler.messages) >= 2
        with transaction(engine) as s:
            states = s.execute(sa.select(MessageRow.status)).scalars().all()
        assert "sending" in states or "pending" in states  # the kill left work undone
        handler.delay = 0
        later = dt.datetime.now(SHANGHAI) + LEASE + dt.timedelta(minutes=1)  # the dead process's lease has run out
        result = deliver(engine, now=later, settings=settings_for(tmp_path, f"smtp://127.0.0.1:{port}"), clock=lambda: later)
        assert result.failed == 0
    finally:
        controller.stop()
    with transaction(engine) as s:
        planned = dict(s.execute(sa.select(MessageRow.message_id, MessageRow.status)).all())
    assert set(planned.values()) == {"sent"}
    received = [parse(raw)["Message-ID"] for _, _, raw in handler.messages]
    assert set(received) == set(planned)  # nothing lost
    repeats = [m for m in set(received) if received.count(m) > 1]
    assert len(received) - len(set(received)) == len(repeats) <= 1  # at most the one in flight, same Message-ID
    engine.dispose()


def test_smtp_url_parsing_and_password_never_shown() -> None:
    from duban.matrix.errors import ConfigError
    from duban.notifications.channels.smtp import SmtpConfig

    c = SmtpConfig.from_url("smtp+starttls://duban%40example.org@mail.example.org", password="s3cret")
    assert (c.host, c.port, c.username, c.security) == ("mail.example.org", 587, "duban@example.org", "starttls")
    assert "s3cret" not in c.describe() and "s3cret" not in repr(c.describe())
    assert SmtpConfig.from_url("smtps://mail.example.org").port == 465
    assert SmtpConfig.from_url("smtp://127.0.0.1:2525?verify=false").verify is False
    with pytest.raises(ConfigError, match="DUBAN_SMTP_PASSWORD"):
        SmtpConfig.from_url("smtp://u:pw@host")
    with pytest.raises(ConfigError, match="unknown scheme"):
        SmtpConfig.from_url("http://host")


@pytest.fixture
def tls_cert(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command line."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return key, cert


def test_starttls_and_login_with_the_password_from_settings(swept, tmp_path: Path, tls_cert) -> None:
    import ssl

    from aiosmtpd.smtp import AuthResult, LoginPassword

    key, cert = tls_cert
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    logins: list[tuple[str, str]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            logins.append((auth_data.login.decode(), auth_data.password.decode()))
            return AuthResult(success=auth_data.password == b"s3cret")
        return AuthResult(success=False)

    handler = Recorder()
    controller = loopback_smtp(handler, tls_context=context, require_starttls=True,
                            authenticator=authenticator, auth_required=True)
    port = controller.port
    try:
        settings = settings_for(tmp_path, f"smtp+starttls://duban@127.0.0.1:{port}?verify=false", smtp_password="s3cret")
        result = deliver(swept, now=NOW, settings=settings)
        wrong = settings_for(tmp_path, f"smtp+starttls://duban@127.0.0.1:{port}?verify=false", smtp_password="nope")
    finally:
        controller.stop()
    assert result.sent == len(handler.messages) > 0 and result.failed == 0
    assert logins and all(login == ("duban", "s3cret") for login in logins)
    assert "s3cret" not in result.target and "s3cret" not in repr(wrong)


def test_two_sweeps_before_a_delivery_send_the_newest_chase_only(engine, smtp_server, tmp_path: Path) -> None:
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    sweep(engine, now=dt.datetime(2015, 7, 13, 8, 30, tzinfo=SHANGHAI), policies=POLICY)  # chase n1 of 3.1
    sweep(engine, now=dt.datetime(2015, 7, 16, 8, 30, tzinfo=SHANGHAI), policies=POLICY)  # chase n2, level 1
    result = deliver(engine, now=NOW, settings=settings_for(tmp_path, f"smtp://127.0.0.1:{smtp_server.port}"))
    assert result.superseded == 1
    with transaction(engine) as s:
        rows = dict(s.execute(sa.select(NoticeRow.key, NoticeRow.status).where(NoticeRow.kind == "chase")).all())
    assert sorted(rows.values()) == ["sent", "superseded"] and rows[max(rows)] == "sent"


def test_a_notice_finished_while_another_worker_records_is_never_undeliverable(pg_url: str, tmp_path: Path) -> None:
    """Two workers on PostgreSQL: one closes its notices while the other commits its sent deliveries.

    Under READ COMMITTED every statement has its own snapshot. The other worker's commit is made to
    land right after the closing worker's first statement, the interleaving CI once hit by chance: a
    notice must then stay "sending" (its deliveries were in flight when looked at) and become "sent"
    at the next close, never "undeliverable"."""
    from duban.notifications.channels import Outcome
    from duban.notifications.recipients import Directory
    from duban.store.db import open_database
    from duban.store.outbox import finish_notices as _finish_notices
    from duban.store.outbox import record as _record
    from duban.workflows.delivery_service import DeliveryResult, _plan_messages, _resolve_pending_notices

    engine = open_database(pg_url)
    try:
        import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
        sweep(engine, now=dt.datetime(2015, 12, 4, 8, 30, tzinfo=SHANGHAI), policies=POLICY)
        settings, result = settings_for(tmp_path), DeliveryResult(target="test")
        with transaction(engine) as s:
            _resolve_pending_notices(s, Directory(s), NOW)
        with transaction(engine) as s:
            _plan_messages(s, now=NOW, settings=settings, result=result)
            queued = list(s.execute(sa.select(MessageRow.id)).scalars())
        assert queued and result.planned_messages == len(queued)

        landed: list[str] = []

        def other_worker_commits(conn, cursor, statement, parameters, context, executemany) -> None:
            if not landed and statement.lstrip().upper().startswith("UPDATE NOTICE"):
                landed.append(statement)
                _record(engine, [(pk, Outcome("sent")) for pk in queued], NOW, settings, result)

        sa.event.listen(engine, "after_cursor_execute", other_worker_commits)
        try:
            _finish_notices(engine)
        finally:
            sa.event.remove(engine, "after_cursor_execute", other_worker_commits)
        assert landed, "the other worker's commit came in while the notices were being closed"
        with transaction(engine) as s:
            assert "undeliverable" not in set(s.execute(sa.select(NoticeRow.status)).scalars())
        _finish_notices(engine)
        with transaction(engine) as s:
            statuses = set(s.execute(sa.select(NoticeRow.status)).scalars())
            undeliverable = s.execute(sa.select(sa.func.count()).select_from(DeliveryRow)
                                      .where(DeliveryRow.status == "undeliverable")).scalar_one()
        assert undeliverable == 0 and statuses == {"sent"}
    finally:
        engine.dispose()


def test_implicit_tls_verified_against_the_office_ca(swept, tmp_path: Path, tls_cert) -> None:
    """smtps:// to a real aiosmtpd TLS listener: the certificate is checked against ?cafile=…, and
    without it (the system's CAs) the server is refused: the run stops (a TLS failure concerns duban,
    not the messages) and every message waits, its attempts not counted."""
    import ssl

    key, cert = tls_cert
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    handler = Recorder()
    controller = loopback_smtp(handler, ssl_context=context)
    port = controller.port
    try:
        untrusted = deliver(swept, now=NOW, settings=settings_for(tmp_path, f"smtps://127.0.0.1:{port}"), clock=lambda: NOW)
        assert untrusted.sent == 0 and not handler.messages
        assert untrusted.halted and untrusted.retrying == 0 and untrusted.failed == 0
        assert all("CERTIFICATE_VERIFY_FAILED" in e or "certificate" in e.lower() for e in _last_errors(swept)), _last_errors(swept)
        assert {(st, n) for st, n, _ in _waiting(swept)} == {("pending", 0)}
        later = NOW + dt.timedelta(hours=1)  # past the retry backoff
        trusted = deliver(swept, now=later, settings=settings_for(tmp_path, f"smtps://127.0.0.1:{port}?cafile={cert}"),
                          clock=lambda: later)
    finally:
        controller.stop()
    assert trusted.sent == len(handler.messages) == untrusted.planned_messages and trusted.failed == 0
    with transaction(swept) as s:
        assert set(s.execute(sa.select(MessageRow.status)).scalars()) == {"sent"}
    from duban.matrix.errors import ConfigError
    from duban.notifications.channels.smtp import SmtpConfig

    with pytest.raises(ConfigError, match="cafile"):
        SmtpConfig.from_url(f"smtps://127.0.0.1:{port}?cafile={tmp_path / 'missing.pem'}")


def _last_errors(engine) -> list[str]:
    with transaction(engine) as s:
        return list(s.execute(sa.select(MessageRow.last_error).where(MessageRow.status != "sent")).scalars())


def test_several_plans_each_escalate_to_their_own_office_and_leader(engine, tmp_path: Path, plans_dir: Path) -> None:
    """The district plan and the village plan in one database: each plan's escalations go to its own
    office (and the district's to its top leader); the village directory names no top leader, so its
    level-3 escalation is undeliverable rather than sent to the district's party secretary. A unit in
    both directories keeps what the first one said. Digests are signed by each plan's own office: the
    one person heading both offices here gets one mail from each."""
    units = plans_dir / "village-2018.units.yaml"
    units.write_text(units.read_text(encoding="utf-8").replace("village.office.head@", "office.head@"), encoding="utf-8")
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    import_file(engine, plans_dir / "village-2018.yaml", PlanOptions(), now=at(2018, 1, 2))
    sweep(engine, now=dt.datetime(2015, 12, 4, 8, 30, tzinfo=SHANGHAI), policies=POLICY)
    sweep(engine, now=dt.datetime(2019, 3, 1, 8, 30, tzinfo=SHANGHAI), policies=POLICY)
    deliver(engine, now=dt.datetime(2019, 3, 1, 9, tzinfo=SHANGHAI), settings=settings_for(tmp_path))
    from duban.store.tables import PlanRow

    with transaction(engine) as s:
        rows = s.execute(sa.select(PlanRow.code, DeliveryRow.recipient_role, DeliveryRow.address, NoticeRow.level)
                         .join(NoticeRow, NoticeRow.id == DeliveryRow.notice_id).join(PlanRow, PlanRow.id == NoticeRow.plan_id)
                         .where(DeliveryRow.recipient_role.in_(("office", "office_head", "top_leader")))).all()
    got: dict[tuple[str, str], set[str]] = {}
    for code, role, address, _level in rows:
        got.setdefault((code, role), set()).add(address)
    assert got[("district-2015", "office")] == {"office@example.org"}
    assert got[("district-2015", "office_head")] == {"office.head@example.org"}
    assert got[("district-2015", "top_leader")] == {"yang.hongwei@example.org"}
    assert got[("village-2018", "office")] == {"village.office@example.org"}
    assert got[("village-2018", "office_head")] == {"office.head@example.org"}
    assert got[("village-2018", "top_leader")] == {""}  # no top leader in the village directory: undeliverable
    with transaction(engine) as s:
        links = s.execute(sa.select(DeliveryRow.address, DeliveryRow.message_pk, NoticeRow.plan_id)
                          .join(NoticeRow, NoticeRow.id == DeliveryRow.notice_id).where(DeliveryRow.message_pk.is_not(None))).all()
    plans_of_address: dict[str, set[int]] = {}
    plans_of_message: dict[int, set[int]] = {}
    for address, message_pk, plan_id in links:
        plans_of_address.setdefault(address, set()).add(plan_id)
        plans_of_message.setdefault(message_pk, set()).add(plan_id)
    assert [a for a, ps in plans_of_address.items() if len(ps) == 2] == ["office.head@example.org"]
    assert all(len(ps) == 1 for ps in plans_of_message.values()), "one office's letterhead per digest"


def test_two_databases_sharing_an_outbox_folder_lose_no_message(engine, tmp_path: Path) -> None:
    """Message 1 of a second database is not message 1 of the first: each .eml file is named by its
    number and its bytes, so neither takes the other's place (and a resend finds its own file)."""
    from duban.store.db import open_database

    settings = settings_for(tmp_path)
    other = open_database(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        for eng, day in ((engine, dt.datetime(2015, 12, 4, 8, 30, tzinfo=SHANGHAI)),
                         (other, dt.datetime(2015, 7, 14, 8, 30, tzinfo=SHANGHAI))):
            import_file(eng, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
            sweep(eng, now=day, policies=POLICY)
            result = deliver(eng, now=day, settings=settings)
            assert result.sent > 0
        with transaction(engine) as s:
            first = len(s.execute(sa.select(MessageRow.id)).all())
        with transaction(other) as s:
            second = len(s.execute(sa.select(MessageRow.id)).all())
    finally:
        other.dispose()
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == first + second
    assert len({p.name[:6] for p in files}) < len(files)  # the numbers do collide; the names do not


def test_two_claims_of_the_same_messages_take_each_message_once(engine, tmp_path: Path) -> None:
    """Another process claims between this one's SELECT of due ids and its UPDATE (SQLite has no
    SKIP LOCKED): the UPDATE re-checks, so every message is claimed by exactly one of them."""
    from duban.store.outbox import claim as _claim

    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    sweep(engine, now=dt.datetime(2015, 12, 4, 8, 30, tzinfo=SHANGHAI), policies=POLICY)
    from duban.notifications.recipients import Directory
    from duban.workflows.delivery_service import DeliveryResult, _plan_messages, _resolve_pending_notices

    result = DeliveryResult(target="test")
    with transaction(engine) as s:
        _resolve_pending_notices(s, Directory(s), NOW)
    with transaction(engine) as s:
        _plan_messages(s, now=NOW, settings=settings_for(tmp_path), result=result)
    other: list[list[int]] = []

    def the_other_process_claims(conn, cursor, statement, parameters, context, executemany) -> None:
        if not other and statement.lstrip().upper().startswith("SELECT MESSAGE.ID"):
            other.append([])  # (guards the nested claim)
            other[0] = [pk for pk, _, _ in _claim(engine, NOW)]

    sa.event.listen(engine, "after_cursor_execute", the_other_process_claims)
    try:
        mine = [pk for pk, _, _ in _claim(engine, NOW)]
    finally:
        sa.event.remove(engine, "after_cursor_execute", the_other_process_claims)
    with transaction(engine) as s:
        attempts = dict(s.execute(sa.select(MessageRow.id, MessageRow.attempts)).all())
    assert other and not set(mine) & set(other[0]), (mine, other)
    assert set(mine) | set(other[0]) == set(attempts) and set(attempts.values()) == {1}


def test_a_refused_login_stops_the_run_and_loses_no_attempt(swept, tmp_path: Path) -> None:
    """535 at login (a wrong password) is the configuration's fault, not the messages': the run
    stops after the first try, says why, and every message waits uncounted; with the right password
    everything goes."""
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"right"
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself

    handler = Recorder()
    controller = loopback_smtp(handler, authenticator=authenticator,
                            auth_required=True, auth_require_tls=False)
    port = controller.port
    try:
        wrong = deliver(swept, now=NOW, settings=settings_for(tmp_path, f"smtp://duban@127.0.0.1:{port}", smtp_password="wrong"))
        received_while_wrong = len(handler.messages)
        with transaction(swept) as s:
            after_wrong = s.execute(sa.select(MessageRow.status, MessageRow.attempts)).all()
        right = deliver(swept, now=NOW, settings=settings_for(tmp_path, f"smtp://duban@127.0.0.1:{port}", smtp_password="right"))
    finally:
        controller.stop()
    assert wrong.sent == 0 and wrong.failed == 0 and received_while_wrong == 0
    assert any("login refused" in e and "535" in e for e in wrong.errors), wrong.errors
    assert {(st, n) for st, n in after_wrong} == {("pending", 0)}
    assert right.sent == len(after_wrong) == len(handler.messages) and right.failed == 0


def test_a_refused_sender_address_stops_the_run(swept, tmp_path: Path) -> None:
    class RefusesSender(Recorder):
        async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
            return "553 5.7.1 sender not allowed"

    handler = RefusesSender()
    controller = loopback_smtp(handler)
    port = controller.port
    try:
        result = deliver(swept, now=NOW, settings=settings_for(tmp_path, f"smtp://127.0.0.1:{port}"))
    finally:
        controller.stop()
    assert result.sent == 0 and result.failed == 0
    assert any("sender address refused" in e and "553" in e for e in result.errors), result.errors
    with transaction(swept) as s:
        assert set(s.execute(sa.select(MessageRow.status)).scalars()) == {"pending"}


def test_failed_messages_go_back_in_the_queue_with_their_message_id(swept, smtp_server, tmp_path: Path) -> None:
    """A 550 for a recipient fails the message for good; once the office has fixed the mailbox,
    `deliver --retry-failed` sends the very same message again (same Message-ID), and every
    delivery ends sent."""
    from duban.workflows.delivery_service import requeue_failed

    url = f"smtp://127.0.0.1:{smtp_server.port}"
    smtp_server.refuse = {"fupin@example.org": "550 5.1.1 mailbox unavailable"}
    first = deliver(swept, now=NOW, settings=settings_for(tmp_path, url))
    assert first.failed >= 1
    with transaction(swept) as s:
        failed = dict(s.execute(sa.select(MessageRow.id, MessageRow.body).where(MessageRow.status == "failed")).all())
        assert "failed" in set(s.execute(sa.select(DeliveryRow.status)).scalars())
    smtp_server.refuse = {}
    before = len(smtp_server.messages)
    assert requeue_failed(swept, now=NOW) == len(failed)
    again = deliver(swept, now=NOW, settings=settings_for(tmp_path, url))
    assert again.sent == len(failed) and again.failed == 0
    resent = [parse(raw) for _, _, raw in smtp_server.messages[before:]]
    assert sorted(m["Message-ID"] for m in resent) == sorted(parse(b)["Message-ID"] for b in failed.values())
    with transaction(swept) as s:
        assert set(s.execute(sa.select(MessageRow.status)).scalars()) == {"sent"}
        assert "failed" not in set(s.execute(sa.select(DeliveryRow.status)).scalars())
        assert "failed" not in set(s.execute(sa.select(NoticeRow.status)).scalars())
    assert requeue_failed(swept, now=NOW) == 0


def test_a_copy_refused_again_and_again_ends_as_failed(swept, smtp_server, tmp_path: Path) -> None:
    """A 452 for one recipient while the others get the message: that recipient goes into a new
    message, which is retried with backoff like any other and given up after ``max_attempts``; a
    refusal never makes new messages for ever."""
    smtp_server.refuse["townships@example.org"] = "452 4.2.2 mailbox full"
    settings = settings_for(tmp_path, f"smtp://127.0.0.1:{smtp_server.port}", delivery_mode="per_notice", max_attempts=3)

    def townships_messages() -> list[tuple[str, int]]:
        with transaction(swept) as s:
            return s.execute(sa.select(MessageRow.status, MessageRow.attempts)
                             .where(MessageRow.address.contains("townships@example.org")).order_by(MessageRow.id)).all()

    for k in range(12):  # an hour of runs every five minutes, longer than the backoff of three attempts
        t = NOW + dt.timedelta(minutes=5 * k)
        deliver(swept, now=t, settings=settings, clock=lambda t=t: t)
    after_an_hour = townships_messages()
    for k in range(12, 24):
        t = NOW + dt.timedelta(minutes=5 * k)
        deliver(swept, now=t, settings=settings, clock=lambda t=t: t)
    assert townships_messages() == after_an_hour  # nothing new once given up
    assert [m.status for m in after_an_hour][-1] == "failed" and after_an_hour[-1].attempts == 3
    with transaction(swept) as s:
        refused = s.execute(sa.select(DeliveryRow).where(DeliveryRow.address == "townships@example.org")).scalars().all()
    assert refused and all(d.status == "failed" and d.refusals >= 1 and "452" in d.last_error for d in refused)
    assert not any("townships@example.org" in rs for _, rs, _ in smtp_server.messages)


def test_a_tasks_notices_share_one_subject_and_thread_and_escalations_are_flagged(swept, smtp_server, tmp_path: Path) -> None:
    """Per-notice mode: the chase and the three escalations of task 3.1 carry one subject and one
    thread id, so a mail client keeps them together; level 2 and 3 are marked important."""
    settings = settings_for(tmp_path, f"smtp://127.0.0.1:{smtp_server.port}", delivery_mode="per_notice")
    deliver(swept, now=NOW, settings=settings)
    mails = [parse(raw) for _, _, raw in smtp_server.messages]
    task31 = [m for m in mails if m["Subject"].endswith("3.1 扶贫对象精准，决战目标到村到户")]
    assert len(task31) >= 3 and len({m["Subject"] for m in task31}) == 1 and len({m["References"] for m in task31}) == 1
    flagged = [m for m in task31 if m["Importance"] == "high"]
    assert flagged and all(m["X-Priority"].startswith("1") for m in flagged)
    assert len(flagged) < len(task31)  # the chase and the level-1 escalation are not flagged


_SLOW_PLANNER = r'''
import sys, time
from pathlib import Path
import duban.notifications.render as render

real = render.Renderer.digest
marker = Path(sys.argv[1])
state = {"first": True}

def digest(self, *args, **kw):
    if state["first"]:  # the first message: say so, then take long enough for the other deliver to start
        state["first"] = False
        marker.write_text("planning")
        time.sleep(3)
    return real(self, *args, **kw)

render.Renderer.digest = digest
sys.argv = ["duban", "deliver", "--as-of", "2015-12-04"]
from duban.workflows.cli import main
main()
'''


def test_two_delivers_at_once_on_sqlite_plan_once_and_both_succeed(sqlite_url: str, tmp_path: Path) -> None:
    """A manual `duban deliver` beside `duban run`'s (issue 10, defect 6): the second one waits for the
    first one's plan, finds nothing left to plan, and exits 0; every message is written once."""
    from duban.store.db import open_database

    engine = open_database(sqlite_url)
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    sweep(engine, now=dt.datetime(2015, 12, 4, 8, 30, tzinfo=SHANGHAI), policies=POLICY)
    env = {**os.environ, "DUBAN_DATABASE_URL": sqlite_url, "DUBAN_OUTBOX_DIR": str(tmp_path / "outbox"),
           "DUBAN_CONFIG_DIR": str(tmp_path / "cfg"), "PYTHONPATH": str(ROOT)}
    env.pop("DUBAN_SMTP_URL", None)
    marker = tmp_path / "first-is-planning"
    first = subprocess.Popen([sys.executable, "-c", _SLOW_PLANNER, str(marker)], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.02)
    assert marker.exists(), first.communicate()
    second = subprocess.run([sys.executable, "-m", "duban.workflows.cli", "deliver", "--as-of", "2015-12-04", "--json"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in err + second.stderr
    assert json.loads(second.stdout)["planned_messages"] == 0  # the first one planned them all
    with transaction(engine) as s:
        messages = s.execute(sa.select(MessageRow.status)).scalars().all()
        notices = set(s.execute(sa.select(NoticeRow.status)).scalars())
    assert messages and set(messages) == {"sent"} and notices == {"sent"}
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == len(messages)
    engine.dispose()


def test_a_replay_and_a_live_deliver_at_once_send_nothing_twice(pg_url: str, tmp_path: Path) -> None:
    """`deliver --as-of 2015-12-04` (a replay) while a live `deliver` runs beside it, on PostgreSQL, to a
    real SMTP server (issue 10, defect 18): the replay's leases are on the real clock, so the live run
    does not take its messages in flight; every Message-ID arrives once."""
    from duban.store.db import open_database

    engine = open_database(pg_url)
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    sweep(engine, now=dt.datetime(2015, 12, 4, 8, 30, tzinfo=SHANGHAI), policies=POLICY)
    handler = Recorder()
    handler.delay = 0.4  # a slow server: the replay is still sending when the live run starts
    controller = loopback_smtp(handler)
    port = controller.port
    env = {**os.environ, "DUBAN_DATABASE_URL": pg_url, "DUBAN_SMTP_URL": f"smtp://127.0.0.1:{port}",
           "DUBAN_MAIL_FROM": "督辦系統 <duban@example.org>", "DUBAN_SMTP_CONCURRENCY": "1",
           "DUBAN_CONFIG_DIR": str(tmp_path / "cfg"), "PYTHONPATH": str(ROOT)}
    try:
        replay = subprocess.Popen([sys.executable, "-m", "duban.workflows.cli", "deliver", "--as-of", "2015-12-04"],
                                  cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while len(handler.messages) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(handler.messages) >= 3, replay.communicate()
        assert replay.poll() is None, "the replay is still sending"
        live = subprocess.run([sys.executable, "-m", "duban.workflows.cli", "deliver"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        out, err = replay.communicate(timeout=120)
    finally:
        controller.stop()
    assert replay.returncode == 0 and live.returncode == 0, (err, live.stderr)
    with transaction(engine) as s:
        planned = dict(s.execute(sa.select(MessageRow.message_id, MessageRow.status)).all())
    engine.dispose()
    received = [parse(raw)["Message-ID"] for _, _, raw in handler.messages]
    twice = {m for m in received if received.count(m) > 1}
    assert not twice, f"{len(twice)} of {len(planned)} Message-IDs received twice"
    assert set(received) == set(planned) and set(planned.values()) == {"sent"}


def test_retry_times_are_on_the_real_clock_whatever_day_a_replay_acts_for(swept, tmp_path: Path) -> None:
    """A replay's next day, a second later, does not retry a message the server just turned away: the
    backoff is counted on the real clock, not on the days the replay walks through (defect 18)."""
    settings = settings_for(tmp_path, f"smtp://127.0.0.1:{free_port()}", retry_base_seconds=60)  # nobody listens
    before = dt.datetime.now(dt.UTC)
    first = deliver(swept, now=NOW, settings=settings)
    assert first.retrying == first.planned_messages > 0
    next_day = deliver(swept, now=NOW + dt.timedelta(days=1), settings=settings)
    assert next_day.retrying == 0 and next_day.sent == 0
    with transaction(swept) as s:
        rows = s.execute(sa.select(MessageRow.attempts, MessageRow.next_attempt_at)).all()
    assert {a for a, _ in rows} == {1}
    assert all(before + dt.timedelta(seconds=59) <= t <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=61)
               for _, t in rows)


def _waiting(engine) -> list[tuple[str, int, str]]:
    with transaction(engine) as s:
        return [(st, n, err) for st, n, err in s.execute(sa.select(MessageRow.status, MessageRow.attempts, MessageRow.last_error))]


def test_a_user_for_a_server_without_login_halts_every_run_and_fails_no_message(swept, tmp_path: Path) -> None:
    """DUBAN_SMTP_URL names a user, the server offers no AUTH (issue 10, defect 11): each run stops at
    once with a clear error, the messages wait with their attempts not counted — after more runs than
    max_attempts none has failed — and without the user everything goes, once."""
    class CountsSessions(Recorder):
        sessions = 0

        async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
            CountsSessions.sessions += 1
            session.host_name = hostname
            return responses

    handler = CountsSessions()
    controller = loopback_smtp(handler)  # no authenticator: no AUTH offered
    port = controller.port
    try:
        settings = settings_for(tmp_path, f"smtp://duban@127.0.0.1:{port}", smtp_password="secret", max_attempts=3)
        runs = []
        for k in range(5):  # more runs than max_attempts, each past any backoff
            t = NOW + dt.timedelta(hours=k)
            runs.append(deliver(swept, now=t, settings=settings, clock=lambda t=t: t))
        waiting = _waiting(swept)
        sessions_while_wrong = CountsSessions.sessions
        fixed = deliver(swept, now=NOW, settings=settings_for(tmp_path, f"smtp://127.0.0.1:{port}"))
    finally:
        controller.stop()
    for r in runs:
        assert r.sent == 0 and r.failed == 0 and r.retrying == 0, r
        assert "offers no login (AUTH)" in r.halted and "remove the user" in r.halted, r.halted
        assert "secret" not in r.halted
    assert sessions_while_wrong <= 5 * settings.smtp_concurrency  # a session per connection and run, not per message
    assert {(st, n) for st, n, _ in waiting} == {("pending", 0)}
    assert all("offers no login" in err for _, _, err in waiting)  # `duban messages` says why they wait
    assert fixed.sent == len(handler.messages) == len(waiting) and fixed.failed == 0 and not fixed.halted


def test_tls_trouble_halts_the_run(swept, tmp_path: Path, tls_cert) -> None:
    """STARTTLS asked of a server that has none, and a certificate the client cannot verify: the
    run stops with the reason and a hint, every message waits uncounted (defect 11)."""
    import ssl

    key, cert = tls_cert
    plain = loopback_smtp(Recorder())
    plain_port = plain.port
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    starttls = loopback_smtp(Recorder(), tls_context=context, require_starttls=True)
    tls_port = starttls.port
    try:
        no_starttls = deliver(swept, now=NOW, settings=settings_for(tmp_path, f"smtp+starttls://127.0.0.1:{plain_port}"))
        after_first = _waiting(swept)
        untrusted = deliver(swept, now=NOW, settings=settings_for(tmp_path, f"smtp+starttls://127.0.0.1:{tls_port}"))
        after_second = _waiting(swept)
    finally:
        plain.stop()
        starttls.stop()
    assert no_starttls.sent == no_starttls.failed == 0 and "does not offer STARTTLS" in no_starttls.halted
    assert untrusted.sent == untrusted.failed == 0 and "certificate" in untrusted.halted and "cafile" in untrusted.halted
    for waiting in (after_first, after_second):
        assert {(st, n) for st, n, _ in waiting} == {("pending", 0)}


def test_deliver_says_so_and_exits_nonzero_when_the_server_refuses_duban(tmp_path: Path, sqlite_url: str) -> None:
    """`duban deliver` against a server that offers no login, with a user configured: one clear line on
    stderr, no traceback, exit status 2; `duban messages` shows the messages waiting."""
    from duban.store.db import open_database

    engine = open_database(sqlite_url)
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    sweep(engine, now=dt.datetime(2015, 12, 4, 8, 30, tzinfo=SHANGHAI), policies=POLICY)
    engine.dispose()
    controller = loopback_smtp(Recorder())
    port = controller.port
    env = {**os.environ, "DUBAN_DATABASE_URL": sqlite_url, "DUBAN_SMTP_URL": f"smtp://duban@127.0.0.1:{port}",
           "DUBAN_SMTP_PASSWORD": "secret", "DUBAN_CONFIG_DIR": str(tmp_path / "cfg"), "PYTHONPATH": str(ROOT)}
    try:
        proc = subprocess.run([sys.executable, "-m", "duban.workflows.cli", "deliver", "--as-of", "2015-12-04"], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)
    finally:
        controller.stop()
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "secret" not in proc.stdout + proc.stderr
    assert "offers no login (AUTH)" in proc.stderr and "wait" in proc.stderr, proc.stderr


HUGE = {"zh-Hans": "扶貧開發領導小組辦公室常務副主任兼" * 1180,  # ≈ 20,000 characters, as measured
        "en": ("Deputy Director of the Poverty Alleviation Office, \"acting\" " * 330).strip()}


@pytest.mark.parametrize("language", ["zh-Hans", "en"])
def test_a_huge_display_name_and_many_recipients_fold_into_short_lines(language: str) -> None:
    """A 20,000-character display name and 300 recipients (defect 12): every header line ≤ 78
    characters, encoded words ≤ 75, the message reads back without defect and every name exactly."""
    from duban.notifications.mail import build_message, check_message

    name = HUGE[language]
    people = [(name, "head@example.org"), ('Zhang, San "x" =?utf-8?q?no?=', "zs@example.org")]
    people += [(f"鄉鎮{i}人民政府" if language != "en" else f"Township {i} People's Government", f"t{i}@example.org")
               for i in range(300)]
    raw = build_message(sender="督辦系統 <duban@example.org>", to=people[:150], cc=people[150:],
                        subject="【督辦事項】" + name[:3000].strip(), text="正文", html="<p>正文</p>",
                        message_id="<k@example.org>", date=NOW, thread="<thread-x@example.org>", important=True)
    check_message(raw)
    msg = parse(raw)
    to, cc = msg["To"].addresses, msg["Cc"].addresses
    assert [a.addr_spec for a in (*to, *cc)] == [a for _, a in people]
    assert decoded(raw, "To").startswith(f"{name} <head@example.org>, ") and decoded(raw, "To").count("<") == 150
    assert decoded(raw, "Subject") == "【督辦事項】" + name[:3000].strip()
    assert to[1].display_name == 'Zhang, San "x" =?utf-8?q?no?='  # specials and a look-alike encoded word stay text


@pytest.mark.parametrize("mode", ["digest", "per_notice"])
@pytest.mark.parametrize("language", ["zh-Hans", "en"])
def test_every_delivered_message_reads_back_strictly_even_with_a_huge_name(swept, smtp_server, tmp_path: Path,
                                                                           language: str, mode: str) -> None:
    """Every unit head's title 20,000 characters long, delivered in each language and mode over real
    SMTP: every message received passes the strict read-back, the names intact."""
    from duban.matrix.script import for_language

    with transaction(swept) as s:
        s.execute(sa.update(UnitRow).values(head_title=HUGE[language]))
    settings = settings_for(tmp_path, f"smtp://127.0.0.1:{smtp_server.port}", language=language, delivery_mode=mode)
    result = deliver(swept, now=NOW, settings=settings)
    assert result.failed == 0 and result.sent == len(smtp_server.messages) > 0
    title = for_language(language)(HUGE[language])
    names = []
    for _, _, raw in smtp_server.messages:
        msg = parse(raw)
        names.append(decoded(raw, "To") + (" " + decoded(raw, "Cc") if "Cc" in msg else ""))
    assert any(title in n for n in names)  # the huge names went through whole, folded


def test_deliver_summarises_failures_and_held_recipients_per_reason(tmp_path: Path) -> None:
    """`duban deliver` after a run with many failures and undeliverable recipients (issue 10, end of
    defect 17: 5,002 lines for one run): a few lines per reason with counts and examples; --verbose
    lists every one, --json gives them all as data."""
    import shutil

    from duban.store.db import open_database
    from duban.store.tables import OfficialRow

    class RefusesEveryone(Recorder):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
            return f"550 5.1.1 <{address}>: Recipient address rejected"

    db = tmp_path / "duban.db"
    engine = open_database(f"sqlite:///{db}")
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    for day in (dt.date(2015, 11, 30), dt.date(2015, 12, 1), dt.date(2015, 12, 2), dt.date(2015, 12, 3), dt.date(2015, 12, 4)):
        sweep(engine, now=dt.datetime.combine(day, dt.time(8, 30), SHANGHAI), policies=POLICY)
    with transaction(engine) as s:  # half the units lose their addresses: their notices are held
        ids = s.execute(sa.select(UnitRow.id).order_by(UnitRow.id)).scalars().all()
        s.execute(sa.update(UnitRow).where(UnitRow.id.in_(ids[::2])).values(emails=[], head_email=""))
        s.execute(sa.update(OfficialRow).values(email=""))
    engine.dispose()
    for name in ("verbose", "json"):
        shutil.copy(db, tmp_path / f"{name}.db")
    controller = loopback_smtp(RefusesEveryone())
    port = controller.port
    env = {**os.environ, "DUBAN_SMTP_URL": f"smtp://127.0.0.1:{port}", "DUBAN_CONFIG_DIR": str(tmp_path / "cfg"),
           "PYTHONPATH": str(ROOT), "COLUMNS": "200", "DUBAN_DELIVERY_MODE": "per_notice"}
    runs = {}
    try:
        for name, db_file, extra in (("default", db, []), ("verbose", tmp_path / "verbose.db", ["--verbose"]),
                                     ("json", tmp_path / "json.db", ["--json"])):
            runs[name] = subprocess.run([sys.executable, "-m", "duban.workflows.cli", "deliver", "--as-of", "2015-12-04", *extra],
                                        cwd=tmp_path, env={**env, "DUBAN_DATABASE_URL": f"sqlite:///{db_file}"},
                                        capture_output=True, text=True, timeout=300)
    finally:
        controller.stop()
    for proc in runs.values():
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    data = json.loads(runs["json"].stdout)
    # (Issue 12: recipients with no address are held, no longer undeliverable; a group's members with no
    # address wait as one held recipient of the notice, so fewer than the 20 undeliverable counted before.
    # 3.1 and 3.5 are past level 3 in these days: their six escalations, no chase.)
    failed, held = data["failed"], data["held"]
    assert failed >= 4 and held >= 10 and failed + held > 12 and held == len(data["held_recipients"]), (failed, held)
    lines = runs["default"].stdout.splitlines()
    assert len(lines) <= 14, runs["default"].stdout
    text = runs["default"].stdout
    assert f"0 sent, {held} held, {failed} failed, 0 undeliverable" in text
    assert f"{failed} messages failed (1 reason)" in text
    assert f"{failed} × all recipients refused: 550 5.1.1 …: Recipient address rejected" in text
    assert f"{held} recipients held" in text
    assert "× no address in the directory (no email address in the unit directory): task " in text
    assert "--verbose" in text
    assert len(runs["verbose"].stdout.splitlines()) >= failed + held
    assert sum(g["count"] for g in data["by_reason"]["held"]) == held
    assert sum(g["count"] for g in data["by_reason"]["failed"]) == failed == len(data["errors"])


def test_a_message_planned_again_after_a_rollback_keeps_its_key_and_message_id(pg_url: str, sqlite_url: str,
                                                                             tmp_path: Path, monkeypatch) -> None:
    """A planning transaction killed on PostgreSQL used up sequence numbers; planned again, every
    message has the key and Message-ID an undisturbed run gives (here: the same plan on SQLite)."""
    from duban.store.db import open_database
    from duban.workflows import delivery_service

    def planned(url: str, fail_first: bool) -> set[tuple[str, str]]:
        engine = open_database(url)
        import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
        sweep(engine, now=dt.datetime(2015, 12, 4, 8, 30, tzinfo=SHANGHAI), policies=POLICY)
        settings = settings_for(tmp_path / url.split(":")[0])
        if fail_first:
            real = delivery_service._resolve_pending_notices

            def dies_after_inserting(*args, **kw):
                real(*args, **kw)
                raise KeyboardInterrupt  # the process stops: the transaction rolls back, the ids stay used

            monkeypatch.setattr(delivery_service, "_resolve_pending_notices", dies_after_inserting)
            with pytest.raises(KeyboardInterrupt):
                deliver(engine, now=NOW, settings=settings)
            monkeypatch.setattr(delivery_service, "_resolve_pending_notices", real)
        deliver(engine, now=NOW, settings=settings)
        with transaction(engine) as s:
            out = set(s.execute(sa.select(MessageRow.key, MessageRow.message_id)).all())
            assert fail_first is False or s.execute(sa.select(sa.func.min(DeliveryRow.id))).scalar() > 1
        engine.dispose()
        return out

    clean = planned(sqlite_url, fail_first=False)
    assert clean and planned(pg_url, fail_first=True) == clean
