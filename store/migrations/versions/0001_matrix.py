"""matrix: plans, units, officials, tasks, milestones, recurrences, stages, events

Revision ID: 0001
Revises:
Create Date: 2026-11-28 12:42:53.875529
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('official',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_official')),
    sa.UniqueConstraint('key', name=op.f('uq_official_key'))
    )
    op.create_table('plan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=100), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('issuer', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('base_year', sa.Integer(), nullable=False),
    sa.Column('start', sa.Date(), nullable=True),
    sa.Column('end', sa.Date(), nullable=True),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan')),
    sa.UniqueConstraint('code', name=op.f('uq_plan_code'))
    )
    op.create_table('unit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('aliases', sa.JSON(), nullable=False),
    sa.Column('head_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('head_title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('head_email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('emails', sa.JSON(), nullable=False),
    sa.Column('member_of', sa.JSON(), nullable=False),
    sa.Column('is_office', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit')),
    sa.UniqueConstraint('key', name=op.f('uq_unit_key')),
    sa.UniqueConstraint('name', name=op.f('uq_unit_name'))
    )
    op.create_table('stage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('deadline_text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('milestones', sa.JSON(), nullable=False),
    sa.Column('units', sa.JSON(), nullable=False),
    sa.Column('archived_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_stage_plan_id_plan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stage')),
    sa.UniqueConstraint('plan_id', 'code', name='uq_stage_plan_id_code')
    )
    with op.batch_alter_table('stage', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stage_plan_id'), ['plan_id'], unique=False)

    op.create_table('task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('target', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('section', sa.JSON(), nullable=False),
    sa.Column('lead_unit_id', sa.Integer(), nullable=False),
    sa.Column('deadline_text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('veto', sa.Boolean(), nullable=False),
    sa.Column('source_file', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('source_line', sa.Integer(), nullable=True),
    sa.Column('archived_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['lead_unit_id'], ['unit.id'], name=op.f('fk_task_lead_unit_id_unit')),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_task_plan_id_plan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task')),
    sa.UniqueConstraint('plan_id', 'code', name='uq_task_plan_id_code')
    )
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_lead_unit_id'), ['lead_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_plan_id'), ['plan_id'], unique=False)

    op.create_table('event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=True),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_event_plan_id_plan')),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_event_task_id_task')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event'))
    )
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_event_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_event_task_id'), ['task_id'], unique=False)

    op.create_table('milestone',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('due', sa.Date(), nullable=False),
    sa.Column('start', sa.Date(), nullable=True),
    sa.Column('quantity', sa.Numeric(precision=18, scale=4), nullable=True),
    sa.Column('measure', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('archived_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_milestone_task_id_task')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_milestone')),
    sa.UniqueConstraint('task_id', 'seq', name='uq_milestone_task_id_seq')
    )
    with op.batch_alter_table('milestone', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_milestone_due'), ['due'], unique=False)
        batch_op.create_index(batch_op.f('ix_milestone_task_id'), ['task_id'], unique=False)

    op.create_table('recurrence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('freq', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('rule', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('anchor', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('min_count', sa.Integer(), nullable=True),
    sa.Column('min_amount', sa.Numeric(precision=18, scale=4), nullable=True),
    sa.Column('amount_unit', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('start', sa.Date(), nullable=True),
    sa.Column('until', sa.Date(), nullable=True),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('archived_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_recurrence_task_id_task')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recurrence')),
    sa.UniqueConstraint('task_id', 'seq', name='uq_recurrence_task_id_seq')
    )
    with op.batch_alter_table('recurrence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recurrence_task_id'), ['task_id'], unique=False)

    op.create_table('task_official',
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('official_id', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['official_id'], ['official.id'], name=op.f('fk_task_official_official_id_official')),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_task_official_task_id_task')),
    sa.PrimaryKeyConstraint('task_id', 'position', name=op.f('pk_task_official'))
    )
    with op.batch_alter_table('task_official', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_official_official_id'), ['official_id'], unique=False)

    op.create_table('task_unit',
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_task_unit_task_id_task')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_task_unit_unit_id_unit')),
    sa.PrimaryKeyConstraint('task_id', 'unit_id', name=op.f('pk_task_unit'))
    )
    with op.batch_alter_table('task_unit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_unit_unit_id'), ['unit_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('task_unit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_unit_unit_id'))

    op.drop_table('task_unit')
    with op.batch_alter_table('task_official', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_official_official_id'))

    op.drop_table('task_official')
    with op.batch_alter_table('recurrence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recurrence_task_id'))

    op.drop_table('recurrence')
    with op.batch_alter_table('milestone', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_milestone_task_id'))
        batch_op.drop_index(batch_op.f('ix_milestone_due'))

    op.drop_table('milestone')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_task_id'))
        batch_op.drop_index(batch_op.f('ix_event_plan_id'))
        batch_op.drop_index(batch_op.f('ix_event_at'))

    op.drop_table('event')
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_plan_id'))
        batch_op.drop_index(batch_op.f('ix_task_lead_unit_id'))

    op.drop_table('task')
    with op.batch_alter_table('stage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stage_plan_id'))

    op.drop_table('stage')
    op.drop_table('unit')
    op.drop_table('plan')
    op.drop_table('official')

