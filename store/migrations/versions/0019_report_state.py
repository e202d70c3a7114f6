"""weekly reports' review state

``report_state``: a weekly report written as a draft when the policy says ``reports.require_approval``,
mailed once a supervisor approves it (the console, `duban report approve`).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 10:20:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'report_state',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('plan', sa.String(length=80), nullable=True),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('subject', sa.String(length=500), nullable=False),
        sa.Column('language', sa.String(length=20), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('files', sa.JSON(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('created_by', sa.String(length=80), nullable=False),
        sa.Column('approved_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('approved_by', sa.String(length=80), nullable=True),
        sa.Column('mail_status', sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_report_state')),
        sa.UniqueConstraint('as_of', name=op.f('uq_report_state_as_of')),
    )


def downgrade() -> None:
    op.drop_table('report_state')
