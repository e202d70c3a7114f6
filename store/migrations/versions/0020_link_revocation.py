"""link revocations: the office revokes a unit's signed link (duban links revoke)

``link_revocation``: one row per revoked link (``plan-unit-YYYYMMDD``, the unit's link of one plan issued
on one day): who revoked it, when and why. Links themselves are not stored: each is signed from its plan,
unit and day (workflows.link_service), so the same notice carries the same link in every replay.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 14:00:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'link_revocation',
        sa.Column('link_id', sa.String(length=60), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('issued_on', sa.Date(), nullable=False),
        sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('revoked_by', sa.String(length=80), nullable=False),
        sa.Column('reason', sa.String(), nullable=False),
        sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_link_revocation_plan_id_plan')),
        sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_link_revocation_unit_id_unit')),
        sa.PrimaryKeyConstraint('link_id', name=op.f('pk_link_revocation')),
    )
    op.create_index(op.f('ix_link_revocation_unit_id'), 'link_revocation', ['unit_id'], unique=False)


def downgrade() -> None:
    op.drop_table('link_revocation')
