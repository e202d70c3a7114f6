"""group units belong to a plan: unit.plan_id

A collective name every plan uses (各鎮人民政府, 區級各單位, 各村; kind ``group``) belongs to the plan
whose directory defines it: two plans' 各鎮人民政府 are two units with their own addresses. Named
departments stay shared by every plan (``plan_id`` NULL). The unique name and key of a unit become
unique key per plan (``uq_unit_plan_id_key``) and unique key among the shared units
(``uq_unit_shared_key``, a partial index).

Existing groups: a group the tasks of one plan name becomes that plan's; one that several plans name
stays with the first of them (by plan id) and every other plan gets a copy of it (same name, aliases and
addresses, as stored), its tasks, task units, progress reports and extensions pointed at the copy. A
group no task names stays shared until a plan's directory defines it. Re-importing each plan with its
own directory then gives each copy that plan's address.

On SQLite the unit table is rebuilt; db.upgrade runs migrations with foreign keys off (SQLite's own
procedure for altering a table) and checks them before it commits.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 07:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_COPIED = ("name", "key", "kind", "aliases", "head_name", "head_title", "head_email", "emails", "member_of", "is_office")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        with op.batch_alter_table('unit', recreate='always') as batch_op:
            batch_op.add_column(sa.Column('plan_id', sa.Integer(), nullable=True))
            batch_op.drop_constraint('uq_unit_key', type_='unique')
            batch_op.drop_constraint('uq_unit_name', type_='unique')
    else:
        op.add_column('unit', sa.Column('plan_id', sa.Integer(), nullable=True))
        op.drop_constraint('uq_unit_key', 'unit', type_='unique')
        op.drop_constraint('uq_unit_name', 'unit', type_='unique')
    _give_groups_to_plans(op.get_bind())
    if sqlite:
        with op.batch_alter_table('unit', recreate='always') as batch_op:
            batch_op.create_unique_constraint('uq_unit_plan_id_key', ['plan_id', 'key'])
    else:
        op.create_unique_constraint('uq_unit_plan_id_key', 'unit', ['plan_id', 'key'])
    op.create_index('uq_unit_shared_key', 'unit', ['key'], unique=True, sqlite_where=sa.text('plan_id IS NULL'),
                    postgresql_where=sa.text('plan_id IS NULL'))
    op.create_index('ix_unit_plan_id', 'unit', ['plan_id'])


def _give_groups_to_plans(conn: sa.Connection) -> None:
    groups = conn.execute(sa.text(f"SELECT id, {', '.join(_COPIED)} FROM unit WHERE kind = 'group' ORDER BY id")).mappings().all()
    for group in groups:
        plans = conn.execute(sa.text(
            "SELECT DISTINCT plan_id FROM task WHERE lead_unit_id = :g "
            "OR id IN (SELECT task_id FROM task_unit WHERE unit_id = :g) ORDER BY plan_id"), {"g": group["id"]}).scalars().all()
        if not plans:
            continue
        conn.execute(sa.text("UPDATE unit SET plan_id = :p WHERE id = :g"), {"p": plans[0], "g": group["id"]})
        for plan_id in plans[1:]:
            values = {c: group[c] for c in _COPIED}
            # JSON columns come back decoded on PostgreSQL and as text on SQLite: write them back as stored
            columns = sa.table('unit', *(sa.column(c, sa.JSON if c in ("aliases", "emails", "member_of") else None)
                                         for c in (*_COPIED, "plan_id")))
            copy: int = conn.execute(sa.insert(columns).values(**_decoded(values), plan_id=plan_id)
                                .returning(sa.column('id'))).scalar_one()
            tasks = "SELECT id FROM task WHERE plan_id = :p"
            params = {"old": group["id"], "new": copy, "p": plan_id}
            conn.execute(sa.text("UPDATE task SET lead_unit_id = :new WHERE lead_unit_id = :old AND plan_id = :p"), params)
            for table in ("task_unit", "progress_report", "extension"):
                conn.execute(sa.text(f"UPDATE {table} SET unit_id = :new WHERE unit_id = :old AND task_id IN ({tasks})"),
                             params)


def _decoded(values: dict) -> dict:
    import json

    return {k: json.loads(v) if k in ("aliases", "emails", "member_of") and isinstance(v, str) else v
            for k, v in values.items()}


def downgrade() -> None:
    op.drop_index('ix_unit_plan_id', table_name='unit')
    op.drop_index('uq_unit_shared_key', table_name='unit')
    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.drop_constraint('uq_unit_plan_id_key', type_='unique')
        batch_op.drop_column('plan_id')
        batch_op.create_unique_constraint('uq_unit_key', ['key'])
        batch_op.create_unique_constraint('uq_unit_name', ['name'])
