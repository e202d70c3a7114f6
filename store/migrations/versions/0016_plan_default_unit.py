"""plan default unit: the header's default_unit, the lead unit of a task that names none

A plan header's ``default_unit:`` (written by `matrix extract`, or by hand) was applied to the tasks that
name no lead unit and then dropped, so an export lost it and the 方案信息 sheet could not carry it. It is
now kept on the plan row and exported. Plans from before this revision have "" (none).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 10:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('plan', sa.Column('default_unit', sa.Text(), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.drop_column('default_unit')
