"""The sweep on real databases: idempotent, crash-safe, concurrent-safe, catch-up, ladder frozen."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from duban.matrix.policy import load_policy
from duban.store.db import open_database, transaction
from duban.store.tables import EventRow, MilestoneRow, NoticeRow, RecurrenceInstanceRow, SweepRow, TaskRow
from duban.workflows import sweep_service
from duban.workflows.history_service import task_history
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.notice_service import acknowledge, list_notices
from duban.workflows.status_service import status
from duban.workflows.sweep_service import sweep
from tests.support import PLANS, POLICY, ROOT, SHANGHAI, at


def morning(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(8, 30), SHANGHAI)


@pytest.fixture
def district(engine):
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    return engine


def outbox(engine) -> list[tuple]:
    with engine.connect() as c:
        return sorted(c.execute(sa.select(NoticeRow.key, NoticeRow.kind, NoticeRow.level, NoticeRow.planned_for)).all())


def test_sweep_twice_gives_the_same_outbox(district) -> None:
    first = sweep(district, now=morning(dt.date(2015, 12, 4)), policies=POLICY)
    before = outbox(district)
    second = sweep(district, now=morning(dt.date(2015, 12, 4)), policies=POLICY)
    assert sum(first.created.values()) == len(before) > 0
    assert sum(second.created.values()) == 0
    assert outbox(district) == before
    with transaction(district) as s:
        sweeps = s.execute(sa.select(SweepRow).order_by(SweepRow.id)).scalars().all()
        assert [w.status for w in sweeps] == ["done", "done"]
        assert sweeps[0].counts["chase"] == first.created["chase"] and sweeps[1].counts["chase"] == 0


def test_what_the_district_plan_owes_on_2015_12_04(district) -> None:
    """3.1 (due 2015-07-10) and 3.5 (due 2015-07-31) are long overdue; the year-end milestones are ahead."""
    sweep(district, now=morning(dt.date(2015, 12, 4)), policies=POLICY)
    keys = {k for k, *_ in outbox(district)}
    with transaction(district) as s:
        m31 = s.execute(sa.select(MilestoneRow.id).join(TaskRow).where(TaskRow.code == "3.1")).scalar_one()
    assert f"escalation:m{m31}:2015-07-10:L1" in keys and f"escalation:m{m31}:2015-07-10:L3" in keys
    # Both have reached the ladder's last level: their chase series have ended (no catch-up chase).
    assert sum(k.startswith(f"chase:m{m31}:") for k in keys) == 0
    kinds = [kind for _, kind, *_ in outbox(district)]
    assert kinds.count("escalation") == 6 and kinds.count("chase") == 0  # 3.1 and 3.5, three levels each
    assert kinds.count("reminder") == 0  # 2015-12-31 is 19 working days away


def test_daily_sweeps_walk_up_the_ladder_once(district) -> None:
    day = dt.date(2015, 7, 1)
    while day <= dt.date(2015, 8, 31):
        sweep(district, now=morning(day), policies=POLICY, plan="district-2015")
        day += dt.timedelta(days=1)
    rows = list_notices(district, task="3.1")
    assert [r["kind"] for r in rows][:4] == ["reminder", "reminder", "chase", "escalation"]
    assert [(r["planned_for"], r["key"].split(":")[-1]) for r in rows if r["kind"] != "chase"] == [
        ("2015-07-03", "d5"), ("2015-07-09", "d1"), ("2015-07-15", "L1"), ("2015-07-24", "L2"), ("2015-08-07", "L3")]
    chases = [r["planned_for"] for r in rows if r["kind"] == "chase"]
    # 1, 4 and 7 working days overdue, then weekly (12, 17), and none once level 3 is reached (08-07).
    assert chases == ["2015-07-13", "2015-07-16", "2015-07-21", "2015-07-28", "2015-08-04"]
    assert len(chases) == len(set(chases))
    history = task_history(district, task="3.1")
    events = [e["kind"] for e in history]
    assert events.count("notice.escalation") == 3 and events.count("item.overdue") == 1
    assert events[0] == "task.added" and events.count("notice.reminder") == 2
    # Each notice is an append-only event row, written once however often the day is swept again.
    from duban.store.db import transaction
    from duban.store.tables import EventRow

    sweep(district, now=morning(dt.date(2015, 8, 31)), policies=POLICY, plan="district-2015")
    with transaction(district) as s:
        rows = s.execute(sa.select(EventRow.kind, EventRow.key).where(EventRow.kind.like("notice.%"))).all()
    assert len(rows) == len({k for _, k in rows}) == len(list_notices(district))
    escalations = [e["data"] for e in history if e["kind"] == "notice.escalation"]
    assert [d["level"] for d in escalations] == [1, 2, 3] and all(d["status"] == "pending" and d["notice"] for d in escalations)


def test_a_missed_day_is_caught_up_once(district) -> None:
    sweep(district, now=morning(dt.date(2015, 7, 13)), policies=POLICY)  # chase 1 of 3.1
    # Nothing runs on 07-14 and 07-15 (level 1 was due on 07-15); the sweep on 07-16 catches up.
    r = sweep(district, now=morning(dt.date(2015, 7, 16)), policies=POLICY)
    assert r.created == {"reminder": 0, "chase": 1, "escalation": 1}
    keys = [k for k, *_ in outbox(district)]
    assert any(k.endswith(":L1") for k in keys)
    assert sum(k.startswith("chase:") for k in keys) == 2  # n1 and n2, never twice
    assert sweep(district, now=morning(dt.date(2015, 7, 16)), policies=POLICY).created == {"reminder": 0, "chase": 0, "escalation": 0}


def test_a_crash_between_planning_and_commit_leaves_nothing_and_a_rerun_completes(district, monkeypatch) -> None:
    def crash(*a, **kw):
        raise RuntimeError("killed")

    monkeypatch.setattr(sweep_service, "_record_events", crash)
    with pytest.raises(RuntimeError, match="killed"):
        sweep(district, now=morning(dt.date(2015, 12, 4)), policies=POLICY)
    assert outbox(district) == []
    with transaction(district) as s:
        failed = s.execute(sa.select(SweepRow)).scalar_one()
        assert failed.status == "failed" and "killed" in failed.error
        assert s.execute(sa.select(sa.func.count()).select_from(MilestoneRow).where(MilestoneRow.ladder.is_not(None))).scalar() == 0
    monkeypatch.undo()
    r = sweep(district, now=morning(dt.date(2015, 12, 4)), policies=POLICY)
    assert sum(r.created.values()) == len(outbox(district)) == 6  # 3 levels each of 3.1 and 3.5: no chase after level 3


def test_policy_change_mid_flight_keeps_the_frozen_ladder(district, tmp_path: Path) -> None:
    sweep(district, now=morning(dt.date(2015, 7, 13)), policies=POLICY)  # 3.1 goes overdue: default ladder frozen
    stricter = tmp_path / "policy.yaml"
    stricter.write_text("escalation:\n  - {level: 1, after_working_days: 1, to: [lead_unit_head]}\n"
                        "  - {level: 2, after_working_days: 2, to: [lead_officials]}\n", encoding="utf-8")
    new_policy = load_policy(ROOT / "config" / "policy.yaml", stricter)
    sweep(district, now=morning(dt.date(2015, 7, 14)), policies=new_policy)
    keys = [k for k, *_ in outbox(district)]
    assert not any(":L" in k for k in keys)  # 2 working days overdue: the frozen ladder says level 1 at 3
    sweep(district, now=morning(dt.date(2015, 7, 15)), policies=new_policy)
    assert [k.split(":")[-1] for k in (k for k, *_ in outbox(district)) if ":L" in k] == ["L1"]
    # 3.5 (due 07-31) goes overdue after the change: it takes the new ladder.
    sweep(district, now=morning(dt.date(2015, 8, 4)), policies=new_policy)
    with transaction(district) as s:
        m35 = s.execute(sa.select(MilestoneRow).join(TaskRow).where(TaskRow.code == "3.5")).scalar_one()
        assert [lv["after_working_days"] for lv in m35.ladder] == [1, 2]
    keys = [k for k, *_ in outbox(district)]
    assert f"escalation:m{m35.id}:2015-07-31:L2" in keys


def test_acknowledgement_stops_chases_but_not_escalation(district) -> None:
    sweep(district, now=morning(dt.date(2015, 7, 13)), policies=POLICY)
    chase = next(r for r in list_notices(district) if r["kind"] == "chase")
    acked = acknowledge(district, notice_id=chase["id"], now=morning(dt.date(2015, 7, 13)), by="區扶貧辦 張三")
    assert acked["acknowledged_by"] == "區扶貧辦 張三"
    for d in range(14, 32):
        sweep(district, now=morning(dt.date(2015, 7, d)), policies=POLICY, plan="district-2015")
    rows = list_notices(district, task="3.1")
    assert [r["kind"] for r in rows].count("chase") == 1
    assert [r["level"] for r in rows if r["kind"] == "escalation"] == [1, 2]
    from duban.matrix.errors import Refused

    with pytest.raises(Refused, match="already acknowledged"):
        acknowledge(district, notice_id=chase["id"], now=morning(dt.date(2015, 7, 14)))


def test_recurring_obligations_get_one_instance_per_period(engine) -> None:
    import_file(engine, PLANS / "village-2018.yaml", PlanOptions(), now=at(2018, 1, 1))
    sweep(engine, now=morning(dt.date(2018, 4, 3)), policies=POLICY)
    sweep(engine, now=morning(dt.date(2018, 4, 3)), policies=POLICY)
    with transaction(engine) as s:
        dues = s.execute(sa.select(RecurrenceInstanceRow.due).join(TaskRow, TaskRow.id == RecurrenceInstanceRow.task_id)
                         .where(TaskRow.code == "2.3").order_by(RecurrenceInstanceRow.due)).scalars().all()
    assert [d.isoformat() for d in dues] == ["2018-01-31", "2018-02-28", "2018-03-31", "2018-04-30"]
    rows = [r for r in list_notices(engine, task="2.3")]
    # January, February and March were never reported: each period is escalated on its own; January's and
    # February's have reached level 3 (their chase series have ended), March's is chased.
    assert {r["due"] for r in rows if r["kind"] == "chase"} == {"2018-03-31"}
    assert {(r["due"], r["level"]) for r in rows if r["kind"] == "escalation"} == {
        (due, level) for due in ("2018-01-31", "2018-02-28") for level in (1, 2, 3)}  # March's: 2 working days late
    lights = {r["code"]: r["light"] for r in status(engine, now=morning(dt.date(2018, 4, 3)), policies=POLICY)}
    assert lights["2.3"] == "red"


def test_holiday_week_national_day_2015(engine, tmp_path: Path) -> None:
    plan = tmp_path / "p.yaml"
    (tmp_path / "u.yaml").write_text("units:\n  - {name: 區交委, emails: [a@example.org]}\n", encoding="utf-8")
    plan.write_text("plan: {code: nd, title: 國慶, base_year: 2015}\ndirectory: u.yaml\n"
                    "tasks:\n  - {code: '1', title: 節前完成, lead_unit: 區交委, deadline: 2015年9月30日}\n", encoding="utf-8")
    import_file(engine, plan, PlanOptions(), now=at(2015, 9, 1))
    for d in range(1, 8):
        assert sweep(engine, now=morning(dt.date(2015, 10, d)), policies=POLICY).created["chase"] == 0
    assert sweep(engine, now=morning(dt.date(2015, 10, 8)), policies=POLICY).created["chase"] == 1
    r = sweep(engine, now=morning(dt.date(2015, 10, 10)), policies=POLICY)  # Saturday, a make-up working day
    assert r.created["escalation"] == 1


def _concurrent_sweeps(url: str, day: dt.date, n: int) -> list:
    errors: list = []
    barrier = threading.Barrier(n)

    def run() -> None:
        eng = open_database(url)
        try:
            barrier.wait()
            sweep(eng, now=morning(day), policies=POLICY)
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)
        finally:
            eng.dispose()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.mark.postgres
def test_concurrent_sweeps_on_postgres_never_duplicate(pg_url) -> None:
    engine = open_database(pg_url)
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    for day in (dt.date(2015, 7, 13), dt.date(2015, 7, 24), dt.date(2015, 12, 4)):
        assert _concurrent_sweeps(pg_url, day, 4) == []
    rows = outbox(engine)
    assert len(rows) == len({k for k, *_ in rows})
    with transaction(engine) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(SweepRow).where(SweepRow.status == "done")).scalar() == 12
        keyed = s.execute(sa.select(EventRow.key).where(EventRow.key.is_not(None))).scalars().all()
        assert len(keyed) == len(set(keyed))
    # The same days swept one by one on a fresh schema give exactly this outbox.
    engine.dispose()


@pytest.mark.postgres
def test_concurrent_and_serial_sweeps_agree(pg_url, sqlite_url) -> None:
    pg = open_database(pg_url)
    lite = open_database(sqlite_url)
    for eng in (pg, lite):
        import_file(eng, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    for day in (dt.date(2015, 7, 13), dt.date(2015, 12, 4)):
        assert _concurrent_sweeps(pg_url, day, 3) == []
        sweep(lite, now=morning(day), policies=POLICY)
    strip = lambda rows: sorted((k.split(":", 1)[0], k.split(":", 2)[2], kind, level, p) for k, kind, level, p in rows)  # noqa: E731
    assert strip(outbox(pg)) == strip(outbox(lite))
    pg.dispose()
    lite.dispose()


def test_a_sweep_record_says_when_it_really_ran_and_for_which_day(district) -> None:
    before = dt.datetime.now(dt.UTC)
    sweep(district, now=morning(dt.date(2015, 7, 13)), policies=POLICY)
    record = sweep_service.list_sweeps(district)[0]
    assert record["as_of"] == "2015-07-13" and record["status"] == "done"
    started, finished = (dt.datetime.fromisoformat(record[k]) for k in ("started_at", "finished_at"))
    assert before - dt.timedelta(seconds=1) <= started.astimezone(dt.UTC) <= finished.astimezone(dt.UTC)


_KILLED_SWEEP = r'''
import sys, time
from pathlib import Path
import duban.workflows.sweep_service as svc

marker = Path(sys.argv[1])
real = svc._sweep_in

def slow(*args, **kw):
    real(*args, **kw)
    marker.write_text("inside the sweep's transaction")
    time.sleep(120)  # killed here

svc._sweep_in = slow
sys.argv = ["duban", "sweep", "--as-of", "2015-12-04"]
from duban.workflows.cli import main
main()
'''


def test_a_killed_sweep_is_marked_interrupted_once_its_lease_runs_out(db_url: str, tmp_path: Path) -> None:
    """kill -9 during a sweep (issue 10, defect 13): its record no longer says `running` for ever. While
    its lease lasts it is running; after, the next sweep marks it interrupted and `duban sweeps` says
    so; it wrote nothing, and the next sweep writes every notice once."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    engine = open_database(db_url)
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    env = {**os.environ, "DUBAN_DATABASE_URL": db_url, "DUBAN_CONFIG_DIR": str(tmp_path / "cfg"), "PYTHONPATH": str(ROOT)}
    marker = tmp_path / "sweeping"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_SWEEP, str(marker)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)  # reads and closes its pipes
    killed = sweep_service.list_sweeps(engine)[0]
    assert killed["status"] == "running" and outbox(engine) == []  # within its lease; nothing written
    later = dt.datetime.now(dt.UTC) + sweep_service.SWEEP_LEASE + dt.timedelta(seconds=1)
    shown = sweep_service.list_sweeps(engine, clock=lambda: later)[0]
    assert shown["status"] == "interrupted" and "lease" in shown["error"]  # shown so before any sweep runs
    sweep(engine, now=morning(dt.date(2015, 12, 4)), policies=POLICY, clock=lambda: later)
    with transaction(engine) as s:
        statuses = dict(s.execute(sa.select(SweepRow.id, SweepRow.status)).all())
    assert statuses == {killed["id"]: "interrupted", killed["id"] + 1: "done"}
    expected = outbox(engine)
    assert expected and len(expected) == len(set(expected))
    cli = subprocess.run([sys.executable, "-m", "duban.workflows.cli", "sweeps", "--json"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    rows = {r["id"]: r for r in json.loads(cli.stdout)}
    assert rows[killed["id"]]["status"] == "interrupted" and rows[killed["id"] + 1]["status"] == "done"
    table = subprocess.run([sys.executable, "-m", "duban.workflows.cli", "sweeps"], cwd=tmp_path, env={**env, "COLUMNS": "200"},
                           capture_output=True, text=True, timeout=120)
    assert "interrupted" in table.stdout
    engine.dispose()


def test_a_live_sweep_renews_its_lease_and_is_never_marked_interrupted(district, monkeypatch) -> None:
    """A sweep that takes longer than its lease keeps it by its heartbeat: a sweep started meanwhile
    leaves it running, and it ends done."""
    monkeypatch.setattr(sweep_service, "SWEEP_LEASE", dt.timedelta(seconds=1))
    monkeypatch.setattr(sweep_service, "HEARTBEAT", dt.timedelta(seconds=0.2))
    real = sweep_service._sweep_in
    started = threading.Event()

    def slow(*args, **kw):
        started.set()
        import time

        time.sleep(3)  # three leases long, before it writes (so that SQLite lets the heartbeat in)
        real(*args, **kw)

    monkeypatch.setattr(sweep_service, "_sweep_in", slow)
    first = threading.Thread(target=sweep, kwargs=dict(engine=district, now=morning(dt.date(2015, 12, 3)), policies=POLICY))
    first.start()
    assert started.wait(30)
    import time

    time.sleep(2)
    with transaction(district) as s:
        assert sweep_service._mark_interrupted(s, dt.datetime.now(dt.UTC)) == 0
    first.join(60)
    assert [r["status"] for r in sweep_service.list_sweeps(district)] == ["done"]


@pytest.mark.parametrize("when", ["before_cursor_execute", "after_cursor_execute"])
def test_a_sweep_stopped_inside_its_insert_is_recorded_failed(district, when: str) -> None:
    """A second Ctrl-C lands while the notices' INSERT runs (a KeyboardInterrupt raised inside SQLAlchemy's
    execute, as the CtrlC handler raises it): the sweep's writes roll back and its record says it failed.
    The interrupted cursor must not keep the database locked (SQLite: 'database is locked' on the record,
    seen in CI as a traceback instead of status 130)."""
    def interrupt(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO NOTICE"):
            raise KeyboardInterrupt

    sa.event.listen(district, when, interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            sweep(district, now=morning(dt.date(2015, 12, 4)), policies=POLICY)
    finally:
        sa.event.remove(district, when, interrupt)
    with transaction(district) as s:
        row = s.execute(sa.select(SweepRow)).scalar_one()
        assert row.status == "failed"
        assert row.error == "stopped (Ctrl-C) before it finished; nothing it planned was written"
        assert s.execute(sa.select(sa.func.count()).select_from(NoticeRow)).scalar_one() == 0
