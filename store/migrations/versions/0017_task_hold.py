"""task hold: the office holds (and later resumes) a task's notices from the console

``task_hold``: one row per task whose notices are held — when, by whom, why. The sweep writes no notice
for such a task and delivery leaves its pending notices unplanned until the row is deleted (resume).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 10:20:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'task_hold',
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('held_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('held_by', sa.String(length=80), nullable=False),
        sa.Column('reason', sa.String(), nullable=False),
        sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_task_hold_task_id_task')),
        sa.PrimaryKeyConstraint('task_id', name=op.f('pk_task_hold')),
    )


def downgrade() -> None:
    op.drop_table('task_hold')
