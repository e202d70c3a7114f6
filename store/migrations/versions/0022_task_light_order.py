"""task_light: order_key and item counts; item_light indexes; report_score

The console's task list filters, sorts and pages the stored lights in SQL: ``order_key`` sorts task
codes as the plan numbers them (3.2.10 after 3.2.9); ``items``, ``open_items``, ``milestones`` and
``open_milestones`` count a task's supervised items (the kind filter reads them); ``item_light`` gets
indexes for the date and overdue filters. The stored lights are dropped (``light_state`` with them), so
the next page computes them again with the new columns filled.

``report_score``: each unit's score and rank in a weekly report as written, for the unit page's trend.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 14:10:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text('DELETE FROM item_light'))
    op.execute(sa.text('DELETE FROM task_light'))
    op.execute(sa.text('DELETE FROM light_state'))
    with op.batch_alter_table('task_light') as batch:
        batch.add_column(sa.Column('order_key', sa.String(length=400), server_default='', nullable=False))
        batch.add_column(sa.Column('items', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('open_items', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('milestones', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('open_milestones', sa.Integer(), server_default='0', nullable=False))
    op.create_table(
        'report_score',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('scope', sa.String(length=80), nullable=False),
        sa.Column('unit', sa.String(length=200), nullable=False),
        sa.Column('score', sa.Numeric(18, 4), nullable=False),
        sa.Column('rank', sa.Integer(), nullable=True),
        sa.Column('units', sa.Integer(), nullable=False),
        sa.Column('rules', sa.String(length=64), nullable=False),
        sa.Column('written_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_report_score')),
        sa.UniqueConstraint('as_of', 'scope', 'unit', name='uq_report_score_as_of_scope_unit'),
    )
    op.create_index(op.f('ix_report_score_unit'), 'report_score', ['unit'])
    op.create_index('ix_item_light_plan_due', 'item_light', ['plan_id', 'due'])
    op.create_index('ix_item_light_plan_overdue', 'item_light', ['plan_id', 'working_days_overdue'])


def downgrade() -> None:
    op.drop_index('ix_item_light_plan_overdue', table_name='item_light')
    op.drop_index('ix_item_light_plan_due', table_name='item_light')
    op.drop_index(op.f('ix_report_score_unit'), table_name='report_score')
    op.drop_table('report_score')
    with op.batch_alter_table('task_light') as batch:
        batch.drop_column('open_milestones')
        batch.drop_column('milestones')
        batch.drop_column('open_items')
        batch.drop_column('items')
        batch.drop_column('order_key')
