"""Retention (``duban prune``, workflows.prune_service) on SQLite and PostgreSQL, in process: a plan past
retention loses its evidence files (rows and disk), its messages' bytes and addresses and its events' client
addresses, and one ``retention.pruned`` event says how many; a file another plan still lists stays; a plan
within retention is untouched; a dry run changes nothing; a second run removes nothing; a crash between the
commit and the deletion leaves orphan files the next run deletes. One CLI run shows the dry run's report."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from duban.config.settings import Settings
from duban.matrix.errors import ConfigError
from duban.matrix.policy import PolicySet, Retention, load_policy
from duban.store.db import open_database, transaction
from duban.store.evidence import EvidenceStore
from duban.store.outbox import requeue_failed
from duban.store.tables import EventRow, PlanRow
from duban.workflows import link_service as L
from duban.workflows.closing_service import request_closing
from duban.workflows.delivery_service import deliver
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.prune_service import plan_ends, prune
from duban.workflows.sweep_service import sweep
from duban.workflows.user_service import add_user, authenticate
from tests.support import PLANS, POLICY, at

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"  # listed by both plans
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40  # the district's closing request's only
TXT = "18个村已完成硬化".encode()  # the district's progress report's only
AS_OF = dt.date(2020, 6, 1)  # district-2015 ended 2016-12-31: kept until 2019-12-31; village-2018 later
NOW = at(2020, 6, 1)
RETENTION = Retention()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> EvidenceStore:
    return EvidenceStore(tmp_path / "evidence", max_bytes=10_000)


def unit_link(engine, plan: str, unit: str, now: dt.datetime) -> L.Link:
    return L.verify(engine, L.list_links(engine, unit=unit, plan=plan, now=now)[0]["url"], now=now)


def first_item(engine, link: L.Link, now: dt.datetime) -> dict:
    token = L.issue(engine, plan=link.plan, unit=link.unit, on=link.issued_on)["token"]
    return next(i for i in L.page(engine, token, now=now)["items"] if i["notices"])


@pytest.fixture
def two_plans(engine, store, tmp_path: Path):
    """district-2015 (past retention on AS_OF) and village-2018 (within), each with notices mailed (.eml),
    a link used from a client address and evidence files, one PDF listed by both; a login with an address."""
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    import_file(engine, PLANS / "village-2018.yaml", PlanOptions(), now=at(2018, 1, 2))
    settings = Settings(database_url="sqlite://", outbox_dir=tmp_path / "outbox", config_dir=tmp_path / "cfg",
                        messages_per_minute=0)
    for when, plan, unit in ((at(2015, 7, 10, 8), "district-2015", "區扶貧辦"), (at(2018, 12, 24, 8), "village-2018", "局駐村工作組")):
        sweep(engine, now=when, policies=POLICY, plan=plan)
        deliver(engine, now=when, settings=settings)
        link = unit_link(engine, plan, unit, when)
        item = first_item(engine, link, when)
        L.acknowledge(engine, link, item["key"], now=when, client="203.0.113.7")
        if plan == "district-2015":
            L.report(engine, link, item["key"], now=when, client="203.0.113.8", done="1", files=[("说明.txt", TXT)],
                     store=store)
            request_closing(engine, task=item["task"], unit=unit, files=[("驗收報告.pdf", PDF), ("照片.png", PNG)],
                            plan=plan, now=when, store=store)
        else:
            request_closing(engine, task=item["task"], unit=unit, files=[("驗收報告.pdf", PDF)], plan=plan, now=when,
                            store=store)
    add_user(engine, name="lin", password="a long enough password 1", role="office", offices=[], now=at(2016, 1, 1),
             actor="")
    authenticate(engine, name="lin", password="a long enough password 1", now=at(2016, 1, 2), client="198.51.100.9")
    return engine


def snapshot(engine, store: EvidenceStore) -> dict:
    """Everything prune may touch, per plan, plus the tables it must never shrink."""
    with engine.connect() as conn:
        q = conn.execute
        out: dict = {t: q(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in (
            "plan", "task", "milestone", "progress_report", "closing_request", "notice", "delivery", "message",
            "closing_evidence", "progress_evidence", "evidence_file")}
        for code in ("district-2015", "village-2018"):
            mine = ("SELECT DISTINCT d.message_pk FROM delivery d JOIN notice n ON n.id = d.notice_id "
                    f"WHERE n.plan_id = (SELECT id FROM plan WHERE code = '{code}')")
            out[code] = {
                "messages": sorted((r.status, r.address, bytes(r.body)) for r in q(sa.text(
                    f"SELECT status, address, body FROM message WHERE id IN ({mine})"))),
                "clients": sorted(e.data.get("client", "") for e in q(sa.select(EventRow).where(
                    EventRow.plan_id == sa.select(PlanRow.id).where(PlanRow.code == code).scalar_subquery(),
                    EventRow.kind == "link.used"))),
            }
        out["events"] = q(sa.text("SELECT count(*) FROM event")).scalar()
        out["logins"] = sorted(e.data["client"] for e in q(sa.select(EventRow).where(EventRow.kind == "user_login")))
    out["files"] = sorted(p.name for p in store.root.rglob("*") if p.is_file())
    return out


def test_a_plan_past_retention_loses_evidence_messages_and_addresses_once_and_nothing_else(two_plans, store) -> None:
    engine = two_plans
    with engine.connect() as conn:
        district_id = conn.execute(sa.text("SELECT id FROM plan WHERE code = 'district-2015'")).scalar()
    with engine.begin() as conn:  # one district letter the server refused: failed, its bytes and address kept so far
        conn.execute(sa.text(f"UPDATE message SET status = 'failed' WHERE id = (SELECT min(d.message_pk) FROM delivery d "
                             f"JOIN notice n ON n.id = d.notice_id WHERE n.plan_id = {district_id})"))
        # one district letter that also carried a village notice (as a digest to a shared address would)
        shared = conn.execute(sa.text(f"SELECT max(d.message_pk) FROM delivery d JOIN notice n ON n.id = d.notice_id "
                                      f"WHERE n.plan_id = {district_id}")).scalar()
        conn.execute(sa.text(f"UPDATE delivery SET message_pk = {shared} WHERE id = (SELECT min(d.id) FROM delivery d "
                             f"JOIN notice n ON n.id = d.notice_id WHERE n.plan_id <> {district_id})"))
    before = snapshot(engine, store)
    assert before["files"] == sorted([sha(PDF), sha(PNG), sha(TXT)])
    assert before["district-2015"]["messages"] and before["village-2018"]["messages"]
    assert before["district-2015"]["clients"] == ["203.0.113.7", "203.0.113.8"] and before["logins"] == ["198.51.100.9"]

    dry = prune(engine, retention=RETENTION, store=store, as_of=AS_OF, now=NOW, dry_run=True)
    assert snapshot(engine, store) == before, "a dry run changes nothing"
    plans = {p["plan"]: p for p in dry["plans"]}
    district = plans["district-2015"]
    assert (district["status"], district["end"], district["kept_until"]["evidence"]) == ("pruned", "2016-12-31", "2019-12-31")
    assert district["counts"]["evidence_links"] == 3 and district["counts"]["evidence_files"] == 2
    assert district["counts"]["messages"] == len(before["district-2015"]["messages"]) - 1, "all but the shared one"
    assert district["counts"]["client_addresses"] == 2 and dry["logins"] == {"client_addresses": 1}
    assert plans["village-2018"]["status"] == "within_retention" and plans["village-2018"]["counts"]["messages"] == 0
    assert dry["files_deleted"] == 2

    done = prune(engine, retention=RETENTION, store=store, as_of=AS_OF, now=NOW, actor="lin")
    assert [p["counts"] for p in done["plans"]] == [p["counts"] for p in dry["plans"]], "the dry run told the truth"
    after = snapshot(engine, store)
    assert after["files"] == [sha(PDF)], "the PDF the village still lists stays; the district's own files go"
    assert (after["closing_evidence"], after["progress_evidence"], after["evidence_file"]) == (1, 0, 1)
    kept = [m for m in after["district-2015"]["messages"] if m[2]]
    assert len(kept) == 1 and kept[0] in after["village-2018"]["messages"], "a letter a kept plan's notice shares stays"
    assert all((m[1], m[2]) == ("", b"") for m in after["district-2015"]["messages"] if m not in kept)
    assert [s for s, _, _ in after["district-2015"]["messages"]] == [s for s, _, _ in before["district-2015"]["messages"]]
    assert "failed" in [s for s, _, _ in after["district-2015"]["messages"]]
    assert requeue_failed(engine) == 0, "a pruned message is never sent again (it has no bytes left)"
    assert after["district-2015"]["clients"] == ["", ""] and after["logins"] == [""]
    assert after["village-2018"] == before["village-2018"], "a plan within retention is untouched"
    for table in ("plan", "task", "milestone", "progress_report", "closing_request", "notice", "delivery", "message"):
        assert after[table] == before[table], f"{table}: the supervision record stays"
    with engine.connect() as conn:
        pruned = conn.execute(sa.text("SELECT address, display_name FROM delivery WHERE message_pk IN "
                                      "(SELECT id FROM message WHERE address = '')")).all()
    assert len(pruned) == district["counts"]["deliveries"] > 0
    assert all(a.startswith("pruned:") and "@" not in a and name == "" for a, name in pruned)
    with transaction(engine) as s:
        events = s.execute(sa.select(EventRow).where(EventRow.kind == "retention.pruned").order_by(EventRow.id)).scalars().all()
    assert len(events) == 2 and after["events"] == before["events"] + 2
    plan_event, login_event = events
    assert plan_event.plan_id is not None and plan_event.actor == "lin"
    assert {k: plan_event.data[k] for k in district["counts"]} == district["counts"]
    assert plan_event.data["end"] == "2016-12-31" and plan_event.data["as_of"] == "2020-06-01"
    assert login_event.plan_id is None and login_event.data["client_addresses"] == 1

    again = prune(engine, retention=RETENTION, store=store, as_of=AS_OF, now=NOW)
    assert again["removed"] == 0 and {p["plan"]: p["status"] for p in again["plans"]}["district-2015"] == "already_pruned"
    assert snapshot(engine, store) == after, "a second run removes nothing and writes no event"


def test_a_crash_after_the_commit_leaves_orphans_the_next_run_deletes(engine, store) -> None:
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    request_closing(engine, task="3.2.1", unit="區交委", files=[("照片.png", PNG)], now=at(2016, 1, 9), store=store,
                    plan="district-2015")
    store.path(sha(PDF)).parent.mkdir(parents=True, exist_ok=True)
    store.path(sha(PDF)).write_bytes(PDF)  # as a crash leaves it: on disk, no row lists it
    old = time.time() - 7200
    os.utime(store.path(sha(PDF)), (old, old))
    fresh = hashlib.sha256(b"in flight").hexdigest()  # an upload whose row is not committed yet
    store.path(fresh).parent.mkdir(parents=True, exist_ok=True)
    store.path(fresh).write_bytes(b"in flight")
    within = prune(engine, retention=RETENTION, store=store, as_of=dt.date(2019, 12, 31), now=at(2019, 12, 31))
    assert within["plans"][0]["status"] == "within_retention" and within["orphans"] == 1
    assert not store.path(sha(PDF)).exists(), "the orphan is deleted even while every plan is kept"
    assert store.path(sha(PNG)).exists() and store.path(fresh).exists()


def test_a_plans_end_is_its_stored_end_or_last_due_date_whichever_is_later(engine) -> None:
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    with transaction(engine) as s:
        assert plan_ends(s)[1] == ("district-2015", dt.date(2016, 12, 31))
        s.execute(sa.update(PlanRow).values(end=dt.date(2031, 6, 30)))
    with transaction(engine) as s:
        assert plan_ends(s)[1] == ("district-2015", dt.date(2031, 6, 30))
    def status(day: dt.date) -> tuple[str, str]:
        plan = prune(engine, retention=Retention(1, 1, 1, 1), store=EvidenceStore("/nonexistent"), as_of=day,
                     now=at(day.year, day.month, day.day), dry_run=True)["plans"][0]
        return plan["status"], plan["kept_until"]["evidence"]

    assert status(dt.date(2032, 6, 30)) == ("within_retention", "2032-06-30"), "kept through its last day"
    assert status(dt.date(2032, 7, 1)) == ("already_pruned", "2032-06-30"), "past retention the day after (nothing to remove)"


def test_retention_policy_defaults_per_kind_and_refusals(tmp_path: Path) -> None:
    assert POLICY.retention == Retention(3, 3, 3, 3)
    assert PolicySet(base={"retention": {"years_after_plan_end": 5, "messages": 1}}).retention == Retention(5, 5, 1, 5)
    bad = tmp_path / "policy.yaml"
    bad.write_text("retention:\n  years_after_plan_end: three\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"retention.years_after_plan_end: 'three' is not a whole number"):
        load_policy(bad)
    bad.write_text("retention:\n  files: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown policy key 'files'"):
        load_policy(bad)


def test_cli_dry_run_lists_what_would_go_and_changes_nothing(tmp_path: Path, sqlite_url: str) -> None:
    from tests.e2e.test_cli import run

    engine = open_database(sqlite_url)
    store = EvidenceStore(tmp_path / "var" / "evidence")
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    import_file(engine, PLANS / "village-2018.yaml", PlanOptions(), now=at(2018, 1, 2))
    request_closing(engine, task="3.2.1", unit="區交委", files=[("照片.png", PNG)], now=at(2016, 1, 9), store=store,
                    plan="district-2015")
    before = snapshot(engine, store)
    engine.dispose()
    out = run(["prune", "--dry-run", "--as-of", "2020-06-01"], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "prune as of 2020-06-01 (dry run: nothing is changed)" in out
    assert "district-2015: ended 2016-12-31, past retention: would remove 1 evidence links, 1 evidence files" in out
    assert "village-2018: ended 2021-01-01, within retention (kept until 2024-01-01): untouched" in out
    assert "files on disk: would remove 1" in out
    engine = open_database(sqlite_url)
    assert snapshot(engine, store) == before
    engine.dispose()
