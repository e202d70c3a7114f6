"""calendar day: holidays and make-up working days an office imported from the State Council's notices

The ``chinese_calendar`` package covers 2004–2026. ``duban calendar import`` stores later years (and,
if an office wishes, a covered year, which then wins over the package) here: one row per listed day,
off (放假) or working (調休上班), with the holiday's name, the notice year it belongs to (元旦 may start
on the previous Dec 31), where it was read from and when.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 04:00:00
"""
import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('calendar_day',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('working', sa.Boolean(), nullable=False),
    sa.Column('name', AutoString(length=100), nullable=False),
    sa.Column('source', AutoString(length=500), nullable=False),
    sa.Column('imported_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_day')),
    sa.UniqueConstraint('day', name=op.f('uq_calendar_day_day'))
    )
    with op.batch_alter_table('calendar_day', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_day_year'), ['year'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('calendar_day', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendar_day_year'))
    op.drop_table('calendar_day')
