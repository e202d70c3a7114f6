"""supervised from: the day an import began supervising each task, milestone and recurrence

``duban matrix import`` records on every task, milestone and recurrence row it creates the day
supervision of it begins (the import's ``--as-of`` day, or ``--supervise-from``). A sweep on or after
that day counts an item's chase series and escalation ladder from it, so that a plan imported with
items already overdue gets one chase, not a burst of catch-up escalations. Rows from before this
revision keep NULL: supervised from the start, as before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 03:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_TABLES = ('task', 'milestone', 'recurrence')


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column('supervised_from', sa.Date(), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('supervised_from')
