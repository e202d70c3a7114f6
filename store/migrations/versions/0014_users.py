"""console users and duban's own secrets

``app_user``: who may log in to `duban serve` (name, Argon2 hash, role, offices, lock-out after failed
logins). ``app_secret``: keys duban generates once and keeps (the console's session-signing key, unless
DUBAN_SECRET_KEY gives one).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 10:10:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'app_user',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('offices', sa.JSON(), nullable=False),
        sa.Column('disabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('failed_logins', sa.Integer(), nullable=False),
        sa.Column('locked_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('last_login_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
        sa.UniqueConstraint('name', name=op.f('uq_app_user_name')),
    )
    op.create_table(
        'app_secret',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('value', sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_app_secret')),
    )


def downgrade() -> None:
    op.drop_table('app_secret')
    op.drop_table('app_user')
