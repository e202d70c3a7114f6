"""recurrence beneficiary: the household or village a recurring obligation is owed to

A plan may list its beneficiaries (households, villages); a deadline owed to each of them
(每年每戶不少於伍百元，其中春節不少於三百元…) becomes one series per beneficiary, each with its own
instances, reports and chases. The series names its beneficiary; rows from before this revision keep
NULL: owed once, as before.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 07:00:00
"""
import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('recurrence', sa.Column('beneficiary', AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('recurrence', schema=None) as batch_op:
        batch_op.drop_column('beneficiary')
