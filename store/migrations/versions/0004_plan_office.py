"""plan office: each plan's own leadership-group office and top leader; delivery refusals

Several plans live side by side in one database, each with the office that runs it and the leader
at the top of its ladder. Until now the office and top leader were flags on units and officials,
one for the whole database (the last plan imported won). Plans imported before this revision keep
NULL here and fall back to those flags.

A recipient the server refuses on its own with a 4xx (while the others get the message) is tried
again in a new message; ``delivery.refusals`` counts those, so that it ends as failed, not retried
forever.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 15:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = (('office_unit_id', 'unit', 'fk_plan_office_unit_id_unit'),
               ('top_leader_id', 'official', 'fk_plan_top_leader_id_official'))
    op.add_column('delivery', sa.Column('refusals', sa.Integer(), nullable=False, server_default='0'))
    if op.get_bind().dialect.name == "sqlite":
        # ADD COLUMN … REFERENCES, not batch mode: rebuilding "plan" would trip the tasks' foreign keys.
        for column, table, _name in columns:
            op.execute(f'ALTER TABLE plan ADD COLUMN {column} INTEGER REFERENCES {table} (id)')
        return
    for column, table, name in columns:
        op.add_column('plan', sa.Column(column, sa.Integer(), nullable=True))
        op.create_foreign_key(name, 'plan', table, [column], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('refusals')
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.drop_column('top_leader_id')
        batch_op.drop_column('office_unit_id')
