"""sweep lease: a running sweep renews ``lease_until`` (real clock) while its process lives

A sweep killed half-way (kill -9, a power cut) wrote nothing — it is one transaction — but its row
stayed ``running`` for ever. Now a running sweep holds a lease it renews; the next sweep marks a
running sweep whose lease ran out as ``interrupted``. Rows from before this revision have no lease:
their start time stands in for it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 22:30:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('sweep', sa.Column('lease_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sweep', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
