"""rules versions: the policy and scoring rules in force, kept in the database

A sweep or a weekly report that runs with policy or scoring files whose content (the packaged file
merged with the office's, as one YAML document) differs from the last stored version of that kind
stores a new version: its content, sha256, the day from which it is in force and when it was stored.
A report for a day uses the scoring version in force that day, so the same plan, day and stored rules
give the same report wherever it is run.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 04:00:00
"""
import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rules_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', AutoString(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('sha256', AutoString(), nullable=False),
    sa.Column('from_date', sa.Date(), nullable=False),
    sa.Column('stored_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rules_version')),
    sa.UniqueConstraint('kind', 'number', name='uq_rules_version_kind_number'),
    )


def downgrade() -> None:
    op.drop_table('rules_version')
