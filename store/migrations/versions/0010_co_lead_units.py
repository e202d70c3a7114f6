"""co-lead units: a task's units carry their role, supporting (配合) or co-lead (共同牽頭)

A lead cell that names several units (縣農業農村局；縣應急管理局) makes the first the lead unit and the
others co-lead units, addressed (主送) with it on every notice of the task. They are stored beside the
supporting units in ``task_unit``, told apart by ``role``; every row from before this revision is a
supporting unit.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 07:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('task_unit', sa.Column('role', sa.String(length=20), nullable=False, server_default='supporting'))


def downgrade() -> None:
    with op.batch_alter_table('task_unit', schema=None) as batch_op:
        batch_op.drop_column('role')
