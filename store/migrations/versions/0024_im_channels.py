"""IM channels: a unit's group robots, and which channel carries a message

``unit.channels``: the unit directory's ``channels:`` (DingTalk, WeCom and Feishu group robots: kind,
webhook URL, the name of the environment variable holding the signing secret), ``[]`` for every unit
stored before. ``message.channel``: which channel carries the message — ``email`` (SMTP or the .eml
outbox, as every message before this revision) or a robot kind (``dingtalk``, ``wecom``, ``feishu``).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 14:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('unit', sa.Column('channels', sa.JSON(), nullable=False, server_default='[]'))
    op.add_column('message', sa.Column('channel', sa.String(length=20), nullable=False, server_default='email'))


def downgrade() -> None:
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_column('channel')
    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.drop_column('channels')
