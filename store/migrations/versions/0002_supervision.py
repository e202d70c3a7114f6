"""supervision: progress, extensions, recurrence instances, sweeps, notices, event keys

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 13:01:50.407524
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('sweep',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('finished_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('host', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sweep'))
    )
    with op.batch_alter_table('sweep', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sweep_as_of'), ['as_of'], unique=False)

    op.create_table('recurrence_instance',
    sa.Column('extended_due', sa.Date(), nullable=True),
    sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('closed_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('evidence', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('last_report_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('first_overdue_on', sa.Date(), nullable=True),
    sa.Column('ladder', sa.JSON(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recurrence_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('due', sa.Date(), nullable=False),
    sa.Column('done_count', sa.Integer(), nullable=False),
    sa.Column('done_amount', sa.Numeric(precision=18, scale=4), nullable=True),
    sa.ForeignKeyConstraint(['recurrence_id'], ['recurrence.id'], name=op.f('fk_recurrence_instance_recurrence_id_recurrence')),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_recurrence_instance_task_id_task')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recurrence_instance')),
    sa.UniqueConstraint('recurrence_id', 'due', name='uq_recurrence_instance_recurrence_id_due')
    )
    with op.batch_alter_table('recurrence_instance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recurrence_instance_due'), ['due'], unique=False)
        batch_op.create_index(batch_op.f('ix_recurrence_instance_recurrence_id'), ['recurrence_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recurrence_instance_task_id'), ['task_id'], unique=False)

    op.create_table('extension',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('milestone_id', sa.Integer(), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('old_due', sa.Date(), nullable=False),
    sa.Column('new_due', sa.Date(), nullable=False),
    sa.Column('requested_on', sa.Date(), nullable=False),
    sa.Column('requested_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('decided_on', sa.Date(), nullable=True),
    sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('decision_note', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['recurrence_instance.id'], name=op.f('fk_extension_instance_id_recurrence_instance')),
    sa.ForeignKeyConstraint(['milestone_id'], ['milestone.id'], name=op.f('fk_extension_milestone_id_milestone')),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_extension_task_id_task')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_extension_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_extension'))
    )
    with op.batch_alter_table('extension', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_extension_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_extension_milestone_id'), ['milestone_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_extension_task_id'), ['task_id'], unique=False)

    op.create_table('notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('series', sa.String(length=200), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('milestone_id', sa.Integer(), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('due', sa.Date(), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('planned_for', sa.Date(), nullable=False),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('cc', sa.JSON(), nullable=False),
    sa.Column('sweep_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('acknowledged_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('acknowledged_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['recurrence_instance.id'], name=op.f('fk_notice_instance_id_recurrence_instance')),
    sa.ForeignKeyConstraint(['milestone_id'], ['milestone.id'], name=op.f('fk_notice_milestone_id_milestone')),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_notice_plan_id_plan')),
    sa.ForeignKeyConstraint(['sweep_id'], ['sweep.id'], name=op.f('fk_notice_sweep_id_sweep')),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_notice_task_id_task')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice')),
    sa.UniqueConstraint('key', name=op.f('uq_notice_key'))
    )
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_milestone_id'), ['milestone_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_planned_for'), ['planned_for'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_series'), ['series'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_sweep_id'), ['sweep_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_task_id'), ['task_id'], unique=False)

    op.create_table('progress_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('milestone_id', sa.Integer(), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('done_quantity', sa.Numeric(precision=18, scale=4), nullable=True),
    sa.Column('done_percent', sa.Numeric(precision=18, scale=4), nullable=True),
    sa.Column('done_count', sa.Integer(), nullable=True),
    sa.Column('done_amount', sa.Numeric(precision=18, scale=4), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('evidence', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reported_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reported_on', sa.Date(), nullable=False),
    sa.Column('recorded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['recurrence_instance.id'], name=op.f('fk_progress_report_instance_id_recurrence_instance')),
    sa.ForeignKeyConstraint(['milestone_id'], ['milestone.id'], name=op.f('fk_progress_report_milestone_id_milestone')),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_progress_report_task_id_task')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_progress_report_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_progress_report'))
    )
    with op.batch_alter_table('progress_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_progress_report_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_progress_report_milestone_id'), ['milestone_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_progress_report_task_id'), ['task_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_progress_report_unit_id'), ['unit_id'], unique=False)

    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key', sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_event_key'), ['key'])

    with op.batch_alter_table('milestone', schema=None) as batch_op:
        batch_op.add_column(sa.Column('extended_due', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('closed_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('evidence', sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('last_report_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('first_overdue_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('ladder', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('done_quantity', sa.Numeric(precision=18, scale=4), nullable=True))
        batch_op.add_column(sa.Column('done_percent', sa.Numeric(precision=18, scale=4), nullable=True))




def downgrade() -> None:

    with op.batch_alter_table('milestone', schema=None) as batch_op:
        batch_op.drop_column('done_percent')
        batch_op.drop_column('done_quantity')
        batch_op.drop_column('ladder')
        batch_op.drop_column('first_overdue_on')
        batch_op.drop_column('last_report_at')
        batch_op.drop_column('evidence')
        batch_op.drop_column('closed_by')
        batch_op.drop_column('closed_at')
        batch_op.drop_column('extended_due')

    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_event_key'), type_='unique')
        batch_op.drop_column('key')

    with op.batch_alter_table('progress_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_progress_report_unit_id'))
        batch_op.drop_index(batch_op.f('ix_progress_report_task_id'))
        batch_op.drop_index(batch_op.f('ix_progress_report_milestone_id'))
        batch_op.drop_index(batch_op.f('ix_progress_report_instance_id'))

    op.drop_table('progress_report')
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_task_id'))
        batch_op.drop_index(batch_op.f('ix_notice_sweep_id'))
        batch_op.drop_index(batch_op.f('ix_notice_status'))
        batch_op.drop_index(batch_op.f('ix_notice_series'))
        batch_op.drop_index(batch_op.f('ix_notice_planned_for'))
        batch_op.drop_index(batch_op.f('ix_notice_plan_id'))
        batch_op.drop_index(batch_op.f('ix_notice_milestone_id'))
        batch_op.drop_index(batch_op.f('ix_notice_instance_id'))

    op.drop_table('notice')
    with op.batch_alter_table('extension', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_extension_task_id'))
        batch_op.drop_index(batch_op.f('ix_extension_milestone_id'))
        batch_op.drop_index(batch_op.f('ix_extension_instance_id'))

    op.drop_table('extension')
    with op.batch_alter_table('recurrence_instance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recurrence_instance_task_id'))
        batch_op.drop_index(batch_op.f('ix_recurrence_instance_recurrence_id'))
        batch_op.drop_index(batch_op.f('ix_recurrence_instance_due'))

    op.drop_table('recurrence_instance')
    with op.batch_alter_table('sweep', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sweep_as_of'))

    op.drop_table('sweep')

