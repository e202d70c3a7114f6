"""user sessions: a console user's session generation, so a session can be revoked on the server

The console's session is a signed cookie; it names the user and the generation of their sessions it
was made in. Logging out, `duban user passwd` and `duban user disable` advance the user's generation,
so every cookie made before (a copied one too) is refused at its next request. Users from before this
revision start at 0 (their cookies, which carry no generation, must log in again).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 14:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('app_user', sa.Column('session_generation', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_column('session_generation')
