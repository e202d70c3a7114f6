"""Importing plans into the store, on SQLite and PostgreSQL: all or nothing, diffs, archive, export."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from duban.matrix.errors import ValidationFailed
from duban.store import plan_import
from duban.store import repository as repo
from duban.store.db import HEAD_REVISION, current_revision, open_database, transaction
from duban.store.tables import EventRow, MilestoneRow, TaskRow, UnitRow
from duban.workflows.matrix_service import PlanOptions, export_plan, import_file, show
from tests.support import PLANS, at

DISTRICT = PLANS / "district-2015.yaml"


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in
                ("plan", "unit", "official", "task", "task_unit", "task_official", "milestone", "recurrence", "stage", "event")}


def test_schema_is_created_by_alembic(engine) -> None:
    assert current_revision(engine) == HEAD_REVISION


def test_import_the_district_plan(engine) -> None:
    loaded, result = import_file(engine, DISTRICT, PlanOptions(), now=at(2015, 7, 1))
    assert result.created_plan and len(result.added) == 23
    c = counts(engine)
    assert c["plan"] == 1 and c["task"] == 23
    assert c["milestone"] == sum(len(t.milestones) for t in loaded.plan.tasks)
    with transaction(engine) as s:
        plan = repo.read_plan(s, "district-2015")
    assert [t.code for t in plan.tasks] == [t.code for t in loaded.plan.tasks]
    assert plan_import.comparable(plan.task("3.2.1")) == plan_import.comparable(loaded.plan.task("3.2.1"))
    assert plan.task("3.6").lead_officials[1].title == "區委副書記、區長"


def test_reimport_unchanged_is_a_noop(engine) -> None:
    import_file(engine, DISTRICT, PlanOptions(), now=at(2015, 7, 1))
    before = counts(engine)
    _, result = import_file(engine, DISTRICT, PlanOptions(), now=at(2015, 7, 2))
    assert result.is_noop and result.unchanged == 23
    after = counts(engine)
    assert after["event"] == before["event"] + 1  # only the plan.imported record
    assert {k: v for k, v in after.items() if k != "event"} == {k: v for k, v in before.items() if k != "event"}


def edited_copy(tmp_path: Path, plans_dir: Path) -> Path:
    """The district plan with one task changed, one removed and one added."""
    doc = yaml.safe_load(DISTRICT.read_text(encoding="utf-8"))
    tasks = doc["tasks"]
    t = next(t for t in tasks if t["code"] == "3.2.1")
    t["deadline"] = "2015年底完成30個村、2016年底完成35個村"
    t["supporting_units"] = t["supporting_units"][:2]
    doc["tasks"] = [x for x in tasks if x["code"] != "3.3"]
    doc["tasks"].append({"code": "3.7", "title": "新增任務", "lead_unit": "區扶貧辦", "deadline": "2016年6月底"})
    out = plans_dir / "district-2015.yaml"
    out.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


def test_reimport_changed_plan_updates_in_place_and_keeps_history(engine, tmp_path: Path, plans_dir: Path) -> None:
    import_file(engine, DISTRICT, PlanOptions(), now=at(2015, 7, 1))
    with transaction(engine) as s:
        ids_before = dict(s.execute(sa.select(MilestoneRow.seq, MilestoneRow.id).join(TaskRow).where(TaskRow.code == "3.2.1")).all())
    _, result = import_file(engine, edited_copy(tmp_path, plans_dir), PlanOptions(), now=at(2015, 8, 1))
    assert result.added == ["3.7"]
    assert result.archived == ["3.3"]
    assert set(result.changed) == {"3.2.1"}
    assert {c.field for c in result.changed["3.2.1"]} == {"supporting_units", "deadline_text", "milestones"}
    with transaction(engine) as s:
        ids_after = dict(s.execute(sa.select(MilestoneRow.seq, MilestoneRow.id).join(TaskRow).where(TaskRow.code == "3.2.1")).all())
        plan = repo.read_plan(s, "district-2015")
        assert ids_after == ids_before  # milestones keep their identity (and so their progress)
        assert [int(m.quantity) for m in plan.task("3.2.1").milestones] == [30, 35]
        assert "3.3" not in {t.code for t in plan.tasks}
        kinds = [e.kind for e in repo.history(s, None, "3.3")]
        assert kinds == ["task.added", "task.archived"]
    # Putting the task back restores the archived row rather than making a new one.
    _, again = import_file(engine, DISTRICT, PlanOptions(), now=at(2015, 9, 1))
    assert again.restored == ["3.3"] and again.archived == ["3.7"]
    with transaction(engine) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(TaskRow).where(TaskRow.code == "3.3")).scalar() == 1
        assert [e.kind for e in repo.history(s, None, "3.3")] == ["task.added", "task.archived", "task.restored"]



def test_reimport_matches_milestones_by_what_they_are_not_by_position(engine, plans_dir: Path) -> None:
    """A milestone inserted before the others, or a date added in front, takes nobody's progress or
    closing: each stored milestone stays with the item it is the same as (its due date, quantity or
    label); a milestone dropped from the plan is archived with its history."""
    from duban.workflows.progress_service import close_item, report_progress

    import_file(engine, DISTRICT, PlanOptions(), now=at(2015, 7, 1))
    close_item(engine, task="3.1", unit="區扶貧辦", now=at(2015, 7, 9), evidence="已建檔")
    report_progress(engine, task="3.2.1", unit="區交委", now=at(2015, 9, 1), done=18)
    with transaction(engine) as s:
        before = {(code, m.due): m.id for code, m in s.execute(sa.select(TaskRow.code, MilestoneRow).join(TaskRow)
                                                               .where(TaskRow.code.in_(("3.1", "3.2.1"))))}
    doc = yaml.safe_load(DISTRICT.read_text(encoding="utf-8"))
    tasks = {t["code"]: t for t in doc["tasks"]}
    tasks["3.1"]["deadline"] = "2015年6月底、2015年7月初"
    tasks["3.2.1"]["deadline"] = "2015年9月底完成10個村、2015年底完成25個村、2016年底完成40個村"
    edited = plans_dir / "district-2015.yaml"
    edited.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    import_file(engine, edited, PlanOptions(), now=at(2015, 9, 2))
    with transaction(engine) as s:
        rows = s.execute(sa.select(TaskRow.code, MilestoneRow).join(TaskRow).where(TaskRow.code.in_(("3.1", "3.2.1")),
                         MilestoneRow.archived_at.is_(None)).order_by(TaskRow.code, MilestoneRow.seq)).all()
    ms = {code: [m for c, m in rows if c == code] for code in ("3.1", "3.2.1")}
    assert [(m.due, m.closed_at is not None) for m in ms["3.1"]] == [(dt.date(2015, 6, 30), False), (dt.date(2015, 7, 10), True)]
    assert ms["3.1"][1].id == before[("3.1", dt.date(2015, 7, 10))]  # the closed milestone kept its row
    assert [(int(m.quantity), m.done_quantity) for m in ms["3.2.1"]] == [(10, None), (25, 18), (40, None)]
    assert [m.id for m in ms["3.2.1"][1:]] == [before[("3.2.1", dt.date(2015, 12, 31))], before[("3.2.1", dt.date(2016, 12, 31))]]
    # Back to the original plan: the inserted milestones are archived, the rest untouched.
    import_file(engine, DISTRICT, PlanOptions(), now=at(2015, 9, 3))
    with transaction(engine) as s:
        live = s.execute(sa.select(TaskRow.code, MilestoneRow.id, MilestoneRow.done_quantity).join(TaskRow)
                         .where(TaskRow.code == "3.2.1", MilestoneRow.archived_at.is_(None)).order_by(MilestoneRow.seq)).all()
        archived = s.execute(sa.select(sa.func.count()).select_from(MilestoneRow).join(TaskRow)
                             .where(TaskRow.code.in_(("3.1", "3.2.1")), MilestoneRow.archived_at.is_not(None))).scalar()
    assert [(m.id, m.done_quantity) for m in live] == [(before[("3.2.1", dt.date(2015, 12, 31))], 18),
                                                        (before[("3.2.1", dt.date(2016, 12, 31))], None)]
    assert archived == 2

def test_a_bad_plan_changes_nothing(engine, tmp_path: Path, plans_dir: Path) -> None:
    import_file(engine, DISTRICT, PlanOptions(), now=at(2015, 7, 1))
    before = counts(engine)
    doc = yaml.safe_load(DISTRICT.read_text(encoding="utf-8"))
    doc["tasks"][0]["title"] = "改了標題"          # a valid change…
    doc["tasks"][5]["deadline"] = "2015年13月底"    # …and an invalid one: nothing at all may land
    bad = plans_dir / "district-2015.yaml"
    bad.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(ValidationFailed):
        import_file(engine, bad, PlanOptions(), now=at(2015, 8, 1))
    assert counts(engine) == before
    with transaction(engine) as s:
        assert repo.read_plan(s, "district-2015").tasks[0].title != "改了標題"


def test_a_failure_inside_the_transaction_rolls_everything_back(engine, monkeypatch) -> None:
    """A crash after tasks were written but before the import finished leaves the database as it was."""
    before = counts(engine)

    def crash(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(plan_import, "_write_stages", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        import_file(engine, DISTRICT, PlanOptions(), now=at(2015, 7, 1))
    assert counts(engine) == before


def test_several_plans_live_side_by_side(engine) -> None:
    for name in ("district-2015", "village-2018", "township-spiritual", "branch-2011"):
        import_file(engine, PLANS / f"{name}.yaml", PlanOptions(), now=at(2015, 7, 1))
    with transaction(engine) as s:
        codes = [p["code"] for p in repo.list_plans(s)]
    assert codes == sorted(["district-2015", "village-2018", "township-spiritual", "branch-2011"])
    rows = show(engine, plan="district-2015")
    assert len(rows) == 23 and {r["plan"] for r in rows} == {"district-2015"}


def test_show_filters_by_unit_official_and_due_date(engine) -> None:
    import datetime as dt

    import_file(engine, DISTRICT, PlanOptions(), now=at(2015, 7, 1))
    water = show(engine, unit="区水务局")  # simplified spelling of 區水務局
    # leads 3.2.2; 3.3, 3.5 and 3.6 reach it as one of 區級各部門 / 區級各單位
    assert [r["code"] for r in water] == ["3.2.2", "3.3", "3.5", "3.6"]
    fupin = {r["code"] for r in show(engine, unit="區扶貧辦")}
    assert "3.1" in fupin and "3.2.1" in fupin  # lead of 3.1, supporting in 3.2.1
    lin = {r["code"] for r in show(engine, official="林光")}
    assert lin == {"3.1", "3.2.2", "3.2.6", "3.4.3", "3.4.6"}
    early = {r["code"] for r in show(engine, due_before=dt.date(2015, 7, 31))}
    assert early == {"3.1", "3.5"}


def test_show_through_group_membership(engine) -> None:
    import_file(engine, DISTRICT, PlanOptions(), now=at(2015, 7, 1))
    # 區審計局 supports nothing by name in 3.6, but it is one of 區級各單位, which supports 3.6.
    codes = {r["code"] for r in show(engine, unit="區審計局")}
    assert {"3.3", "3.6"} <= codes


def test_export_json_has_the_documented_keys(engine) -> None:
    import_file(engine, DISTRICT, PlanOptions(), now=at(2015, 7, 1))
    data = json.loads(export_plan(engine, plan="district-2015", fmt="json"))
    t = next(t for t in data["tasks"] if t["code"] == "3.2.1")
    assert set(t) >= {"code", "title", "lead_officials", "lead_unit", "supporting_units", "milestones", "recurrence"}
    assert t["lead_officials"] == [{"name": "劉儀", "title": "區人民政府副區長"}]
    assert t["milestones"] == [
        {"due": "2015-12-31", "start": None, "quantity": 25, "measure": "村"},
        {"due": "2016-12-31", "start": None, "quantity": 40, "measure": "村"},
    ]
    assert len(data["stages"]) == 9


@pytest.mark.parametrize("fmt, suffix", [("yaml", ".yaml"), ("xlsx", ".xlsx")])
def test_export_round_trips(engine, tmp_path: Path, fmt: str, suffix: str) -> None:
    import_file(engine, DISTRICT, PlanOptions(), now=at(2015, 7, 1))
    out = tmp_path / f"export{suffix}"
    out.write_bytes(export_plan(engine, plan="district-2015", fmt=fmt))
    options = PlanOptions(plan_code="district-2015", base_year=2015) if fmt == "xlsx" else PlanOptions()
    before = counts(engine)
    with transaction(engine) as s:
        header_before = repo.read_plan(s, "district-2015")
    _, result = import_file(engine, out, options, now=at(2015, 7, 2))
    assert result.changed == {} and result.added == [] and result.archived == []
    assert result.header == [] and result.stages == [] and result.is_noop, result.as_dict()
    assert counts(engine) == {**before, "event": counts(engine)["event"]}  # stages, milestones … all still there
    with transaction(engine) as s:
        after = repo.read_plan(s, "district-2015")
    assert (after.issuer, after.start, after.end) == (header_before.issuer, header_before.start, header_before.end)
    assert [st.code for st in after.stages] == [st.code for st in header_before.stages] and after.stages
    if fmt == "xlsx":
        assert result.kept == []  # the export's 方案信息 sheet carries the issuer, the dates and the stages
        # A task sheet alone has no place for them: they stay as stored, and the import says so.
        from openpyxl import load_workbook

        book = load_workbook(out)
        del book["方案信息"]
        book.save(out)
        _, result = import_file(engine, out, options, now=at(2015, 7, 3))
        assert result.is_noop and {"issuer", "start", "stages"} <= set(result.kept)


def test_import_events_and_units(engine) -> None:
    import_file(engine, DISTRICT, PlanOptions(), now=at(2015, 7, 1))
    with transaction(engine) as s:
        kinds = [k for (k,) in s.execute(sa.select(EventRow.kind))]
        assert kinds.count("task.added") == 23 and kinds.count("plan.imported") == 1
        office = s.execute(sa.select(UnitRow).where(UnitRow.is_office)).scalar_one()
        assert office.name == "區扶貧開發領導小組辦公室"


def test_open_database_reports_an_unreachable_postgres() -> None:
    from duban.matrix.errors import StoreError

    with pytest.raises(StoreError, match="cannot open the database"):
        open_database("postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=2")


def test_upgrade_from_the_first_schema_keeps_the_data(db_url) -> None:
    """A database created at revision 0001 with a plan in it upgrades to the newest schema intact."""
    from alembic import command

    from duban.store.db import _alembic_config, make_engine

    engine = make_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0001")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO plan (code, title, issuer, base_year, timezone, source, created_at, updated_at) "
                             "VALUES ('old', '舊方案', '', 2015, 'Asia/Shanghai', '', :t, :t)"), {"t": at(2015, 7, 1)})
        conn.execute(sa.text("INSERT INTO unit (name, key, kind, aliases, head_name, head_title, head_email, emails, member_of, is_office) "
                             "VALUES ('區交委', '区交委', 'department', '[]', '', '', '', '[]', '[]', false)"))
        conn.execute(sa.text("INSERT INTO task (plan_id, code, position, title, target, section, lead_unit_id, deadline_text, veto, source_file) "
                             "VALUES (1, '1', 0, '交通', '', '[]', 1, '2015年底', false, '')"))
        conn.execute(sa.text("INSERT INTO milestone (task_id, seq, due, label) VALUES (1, 0, '2015-12-31', '2015年底')"))
    assert current_revision(engine) == "0001"
    open_database(db_url).dispose()
    assert current_revision(engine) == HEAD_REVISION
    with transaction(engine) as s:
        m = s.execute(sa.select(MilestoneRow)).scalar_one()
        assert (m.due.isoformat(), m.closed_by, m.evidence, m.closed_at) == ("2015-12-31", "", "", None)
        assert repo.read_plan(s, "old").default_unit == ""  # schema 0016: a plan from before names none
    engine.dispose()


def test_upgrade_to_co_lead_units_keeps_supporting_units(db_url) -> None:
    """A database at 0009 (before task units had a role) with a plan imported upgrades with every task unit a
    supporting unit."""
    from alembic import command

    from duban.store.db import _alembic_config, make_engine

    engine = make_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0009")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO plan (code, title, issuer, base_year, timezone, source, created_at, updated_at) "
                             "VALUES ('old', '舊方案', '', 2015, 'Asia/Shanghai', '', :t, :t)"), {"t": at(2015, 7, 1)})
        for name, key in (("區交委", "区交委"), ("區財政局", "区财政局")):
            conn.execute(sa.text("INSERT INTO unit (name, key, kind, aliases, head_name, head_title, head_email, emails, "
                                 "member_of, is_office) VALUES (:n, :k, 'department', '[]', '', '', '', '[]', '[]', false)"),
                         {"n": name, "k": key})
        conn.execute(sa.text("INSERT INTO task (plan_id, code, position, title, target, section, lead_unit_id, deadline_text, "
                             "veto, source_file) VALUES (1, '1', 0, '交通', '', '[]', 1, '2015年底', false, '')"))
        conn.execute(sa.text("INSERT INTO task_unit (task_id, unit_id, position) VALUES (1, 2, 0)"))
    open_database(db_url).dispose()
    assert current_revision(engine) == HEAD_REVISION
    with transaction(engine) as s:
        (task,) = repo.read_tasks(s, 1)
        assert (task.lead_unit, task.co_lead_units, task.supporting_units) == ("區交委", (), ("區財政局",))
        assert s.execute(sa.text("SELECT role FROM task_unit")).scalars().all() == ["supporting"]
    engine.dispose()


# --------------------------------------------------------------------------------------------
# Schema creation and migrations are all or nothing, on SQLite too (issue 10, defect 2)

_KILL_RUNNER = r'''
import json, os, shutil, sys
import sqlalchemy as sa
from sqlalchemy import event
import alembic.command, alembic.config, alembic.script  # imported once, before the children fork
from duban.store.db import make_engine, upgrade

template, folder, stride = sys.argv[1], sys.argv[2], int(sys.argv[3])
state = {"n": 0, "kill_at": 0}

def count(_conn, _cursor, statement, *_args):
    if statement.lstrip().upper().startswith(("SELECT", "PRAGMA")):
        return  # reads change nothing: a kill before one is a kill before the next write
    state["n"] += 1
    if state["n"] == state["kill_at"]:
        os._exit(137)

event.listen(sa.engine.Engine, "before_cursor_execute", count)

def trial(kill_at):
    path = os.path.join(folder, f"{kill_at}.db")
    if template:
        shutil.copy(template, path)
    pid = os.fork()
    if pid == 0:
        state["kill_at"] = kill_at
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        engine.dispose()
        os.write(1, json.dumps(state["n"]).encode())  # a clean run: how many statements there were
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)

r, w = os.pipe()
pid = os.fork()
if pid == 0:  # the uninterrupted run, counted
    os.dup2(w, 1)
    path = os.path.join(folder, "clean.db")
    if template:
        shutil.copy(template, path)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    os.write(1, json.dumps(state["n"]).encode())
    os._exit(0)
os.close(w)
total = json.loads(os.read(r, 100))
os.waitpid(pid, 0)
codes = {n: trial(n) for n in sorted({*range(1, total + 1, stride), total})}
print(json.dumps({"total": total, "codes": codes}))
'''


def _tables(engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


@pytest.mark.parametrize("start", ["empty", "0001"])
def test_a_kill_at_any_statement_of_a_migration_leaves_the_old_schema_or_the_new(tmp_path: Path, start: str, request) -> None:
    """kill -9 before each SQL statement that writes (CREATE, ALTER, INSERT …, COMMIT) of the first schema
    creation, and of the upgrade from 0001 with a plan in it, on SQLite: the database is either as it
    was or complete, and the next start finishes the job."""
    import subprocess
    import sys

    from alembic import command

    from duban.store.db import _alembic_config, make_engine
    from tests.support import ROOT

    template = ""
    before_tables: set[str] = set()
    if start == "0001":
        template = str(tmp_path / "template.db")
        eng = make_engine(f"sqlite:///{template}")
        with eng.begin() as conn:
            command.upgrade(_alembic_config(conn), "0001")
            conn.execute(sa.text("INSERT INTO plan (code, title, issuer, base_year, timezone, source, created_at, updated_at) "
                                 "VALUES ('old', '舊方案', '', 2015, 'Asia/Shanghai', '', :t, :t)"), {"t": at(2015, 7, 1)})
        before_tables = _tables(eng)
        eng.dispose()  # checkpoints the WAL into the file
    head = make_engine(f"sqlite:///{tmp_path / 'head.db'}")
    open_database(str(head.url)).dispose()
    head_tables = _tables(head)
    head.dispose()
    # A kill -9 loses nothing the kernel already has: the trials run on tmpfs when there is one (no fsync wait).
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(dir="/dev/shm" if Path("/dev/shm").is_dir() else tmp_path))
    request.addfinalizer(lambda: shutil.rmtree(folder, ignore_errors=True))
    proc = subprocess.run([sys.executable, "-c", _KILL_RUNNER, template, str(folder), "1"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["total"] > 10
    assert set(report["codes"].values()) == {137}, report  # every trial was killed mid-way
    for n in map(int, report["codes"]):
        url = f"sqlite:///{folder / f'{n}.db'}"
        eng = make_engine(url)
        rev, tables = current_revision(eng), _tables(eng)
        # All or nothing: the schema as it was, or complete.
        assert (rev, tables) in (({"empty": None, "0001": "0001"}[start], before_tables), (HEAD_REVISION, head_tables)), \
            f"killed at statement {n} of {report['total']}: revision {rev}, tables {sorted(tables)}"
        open_database(url).dispose()  # the next start finishes the job
        assert current_revision(eng) == HEAD_REVISION and _tables(eng) == head_tables
        if start == "0001":
            with eng.connect() as conn:
                assert conn.execute(sa.text("SELECT code FROM plan")).scalars().all() == ["old"]
        eng.dispose()


def test_a_half_created_database_from_before_is_refused_with_a_way_out(tmp_path: Path) -> None:
    """What a kill during the first `init` left before schema creation was one transaction on SQLite —
    some tables and no schema version — is refused with how to start again, not a traceback."""
    import os
    import subprocess
    import sys

    from duban.store.db import make_engine
    from duban.store.tables import SQLModel
    from tests.support import ROOT

    db = tmp_path / "var" / "duban.db"
    eng = make_engine(f"sqlite:///{db}")
    with eng.begin() as conn:
        for name in ("plan", "unit", "official"):
            SQLModel.metadata.tables[name].create(conn)
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
    eng.dispose()
    env = {**os.environ, "DUBAN_DATABASE_URL": f"sqlite:///{db}", "PYTHONPATH": str(ROOT)}
    for args in (["init"], ["matrix", "show"], ["plans"]):
        proc = subprocess.run([sys.executable, "-m", "duban.workflows.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr and "already exists" not in proc.stderr
        assert "no schema version" in proc.stderr and "interrupted" in proc.stderr, proc.stderr
        assert f"move {db}" in proc.stderr and "duban init" in proc.stderr
    db.unlink()
    proc = subprocess.run([sys.executable, "-m", "duban.workflows.cli", "init"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
