"""delivery: messages, deliveries, top leader

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 13:25:08.355537
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('notices', sa.Integer(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message')),
    sa.UniqueConstraint('key', name=op.f('uq_message_key'))
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_status'), ['status'], unique=False)

    op.create_table('delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('recipient_role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('recipient_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('is_cc', sa.Boolean(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('message_pk', sa.Integer(), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['message_pk'], ['message.id'], name=op.f('fk_delivery_message_pk_message')),
    sa.ForeignKeyConstraint(['notice_id'], ['notice.id'], name=op.f('fk_delivery_notice_id_notice')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery')),
    sa.UniqueConstraint('notice_id', 'recipient_role', 'recipient_name', 'address', name='uq_delivery_notice_id_recipient')
    )
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_message_pk'), ['message_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_delivery_notice_id'), ['notice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_delivery_status'), ['status'], unique=False)

    with op.batch_alter_table('official', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_top_leader', sa.Boolean(), nullable=False, server_default=sa.false()))




def downgrade() -> None:

    with op.batch_alter_table('official', schema=None) as batch_op:
        batch_op.drop_column('is_top_leader')

    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_status'))
        batch_op.drop_index(batch_op.f('ix_delivery_notice_id'))
        batch_op.drop_index(batch_op.f('ix_delivery_message_pk'))

    op.drop_table('delivery')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_status'))

    op.drop_table('message')

