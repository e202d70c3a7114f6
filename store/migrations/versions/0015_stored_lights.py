"""stored lights: item_light, task_light, light_state

Each task's and item's light as of a day, stored so the console's pages count and filter on them
instead of counting working days for every item per request (``workflows.lights_service``). They are
derived data: empty after this revision, computed on the first page view or the next sweep.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 10:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'item_light',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('item_kind', sa.String(length=20), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('light', sa.String(length=10), nullable=False),
        sa.Column('ongoing', sa.Boolean(), nullable=False),
        sa.Column('due', sa.Date(), nullable=False),
        sa.Column('working_days_overdue', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_item_light_plan_id_plan')),
        sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_item_light_task_id_task')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_item_light')),
        sa.UniqueConstraint('item_kind', 'item_id', name='uq_item_light_item_kind'),
    )
    op.create_index(op.f('ix_item_light_plan_id'), 'item_light', ['plan_id'])
    op.create_index(op.f('ix_item_light_task_id'), 'item_light', ['task_id'])
    op.create_table(
        'task_light',
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('light', sa.String(length=10), nullable=False),
        sa.Column('next_due', sa.Date(), nullable=True),
        sa.Column('working_days_overdue', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_task_light_plan_id_plan')),
        sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_task_light_task_id_task')),
        sa.PrimaryKeyConstraint('task_id', name=op.f('pk_task_light')),
    )
    op.create_index(op.f('ix_task_light_plan_id'), 'task_light', ['plan_id'])
    op.create_index(op.f('ix_task_light_light'), 'task_light', ['light'])
    op.create_table(
        'light_state',
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('event_mark', sa.Integer(), nullable=False),
        sa.Column('rules_mark', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_light_state_plan_id_plan')),
        sa.PrimaryKeyConstraint('plan_id', name=op.f('pk_light_state')),
    )


def downgrade() -> None:
    op.drop_table('light_state')
    op.drop_index(op.f('ix_task_light_light'), table_name='task_light')
    op.drop_index(op.f('ix_task_light_plan_id'), table_name='task_light')
    op.drop_table('task_light')
    op.drop_index(op.f('ix_item_light_task_id'), table_name='item_light')
    op.drop_index(op.f('ix_item_light_plan_id'), table_name='item_light')
    op.drop_table('item_light')
