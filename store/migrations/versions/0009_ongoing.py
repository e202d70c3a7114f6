"""ongoing work: recurrence.ongoing and plan.reporting

Ongoing work (持續推進, 長期堅持 …) is a recurrence that reports progress on the plan's reporting cadence;
``recurrence.ongoing`` marks it so that status, reports and letters name it 持續 rather than a period.
``plan.reporting`` keeps the plan's cadence ({"every": "monthly", "day": 5}; NULL is that default) so
that an export writes it back.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 07:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('recurrence', sa.Column('ongoing', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('plan', sa.Column('reporting', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('plan') as batch:
        batch.drop_column('reporting')
    with op.batch_alter_table('recurrence') as batch:
        batch.drop_column('ongoing')
