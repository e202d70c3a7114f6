"""Schema 0012: a group (各鎮人民政府) belongs to the plan whose directory defines it. A database from
before, in which two plans' tasks name one stored group, upgrades to one group per plan, each plan's
tasks, supporting units and progress reports pointed at its own."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from duban.store.db import HEAD_REVISION, _alembic_config, current_revision, make_engine, open_database
from tests.support import at

UNIT = ("INSERT INTO unit (id, name, key, kind, aliases, head_name, head_title, head_email, emails, member_of, is_office) "
        "VALUES (:id, :name, :key, :kind, :aliases, '', '', '', :emails, '[]', false)")
PLAN = ("INSERT INTO plan (id, code, title, issuer, base_year, timezone, source, created_at, updated_at) "
        "VALUES (:id, :code, :code, '', 2026, 'Asia/Shanghai', '', :t, :t)")
TASK = ("INSERT INTO task (id, plan_id, code, position, title, target, section, lead_unit_id, deadline_text, veto, source_file) "
        "VALUES (:id, :plan, :code, 0, :title, '', '[]', :lead, '2026年底', false, '')")


def test_two_plans_sharing_a_group_get_one_group_each(db_url) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0011")
    with engine.begin() as conn:
        t = at(2026, 3, 1)
        conn.execute(sa.text(PLAN), [{"id": 1, "code": "roads", "t": t}, {"id": 2, "code": "toilets", "t": t}])
        conn.execute(sa.text(UNIT), [
            {"id": 1, "name": "縣交通運輸局", "key": "县交通运输局", "kind": "department", "aliases": "[]", "emails": '["jt@example.org"]'},
            {"id": 2, "name": "各鎮人民政府", "key": "各镇人民政府", "kind": "group", "aliases": '["各鎮"]',
             "emails": '["towns@example.org"]'},
            {"id": 3, "name": "區級各單位", "key": "区级各单位", "kind": "group", "aliases": "[]", "emails": "[]"},
        ])
        conn.execute(sa.text(TASK), [{"id": 1, "plan": 1, "code": "1", "title": "公路", "lead": 1},
                                     {"id": 2, "plan": 2, "code": "1", "title": "改廁", "lead": 2},
                                     {"id": 3, "plan": 2, "code": "2", "title": "垃圾", "lead": 1}])
        if conn.dialect.name == "postgresql":  # the ids above were given, not drawn: move the sequences on
            for table in ("plan", "unit", "task"):
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
        conn.execute(sa.text("INSERT INTO task_unit (task_id, unit_id, position) VALUES (1, 2, 0), (3, 2, 0)"))
        conn.execute(sa.text("INSERT INTO progress_report (task_id, unit_id, kind, note, evidence, reported_by, reported_on, "
                             "recorded_at, source) VALUES (3, 2, 'report', '進行中', '', '', '2026-03-02', :t, 'cli')"), {"t": t})
    open_database(db_url).dispose()
    assert current_revision(engine) == HEAD_REVISION
    with engine.connect() as conn:
        groups = conn.execute(sa.text("SELECT id, plan_id, name, aliases, emails FROM unit WHERE name = '各鎮人民政府' "
                                      "ORDER BY plan_id")).all()
        assert [(g.plan_id, g.name) for g in groups] == [(1, "各鎮人民政府"), (2, "各鎮人民政府")]
        first, second = groups
        assert first.id == 2 and second.id != 2
        assert "towns@example.org" in str(second.emails) and "各鎮" in str(second.aliases)  # copied as stored
        # plan 1's supporting unit stays; plan 2's lead, supporting unit and report point at its own copy
        assert conn.execute(sa.text("SELECT unit_id FROM task_unit WHERE task_id = 1")).scalar() == first.id
        assert conn.execute(sa.text("SELECT lead_unit_id FROM task WHERE id = 2")).scalar() == second.id
        assert conn.execute(sa.text("SELECT unit_id FROM task_unit WHERE task_id = 3")).scalar() == second.id
        assert conn.execute(sa.text("SELECT unit_id FROM progress_report")).scalar() == second.id
        # a department stays shared; a group no task names stays shared too
        assert conn.execute(sa.text("SELECT plan_id FROM unit WHERE id = 1")).scalar() is None
        assert conn.execute(sa.text("SELECT plan_id FROM unit WHERE id = 3")).scalar() is None
    engine.dispose()
