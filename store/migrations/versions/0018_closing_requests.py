"""closing requests (辦結申請) and their evidence files

``evidence_file``: a file stored once under the data folder by its SHA-256 (size, checked content type).
``closing_request``: a lead or co-lead unit asks the office to close a milestone or period; the office
closes it or returns it with a reason. ``closing_evidence``: the files of a request, by the names sent.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 10:10:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'evidence_file',
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('content_type', sa.String(length=120), nullable=False),
        sa.Column('stored_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('sha256', name=op.f('pk_evidence_file')),
    )
    op.create_table(
        'closing_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('milestone_id', sa.Integer(), nullable=True),
        sa.Column('instance_id', sa.Integer(), nullable=True),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('note', sa.String(), nullable=False),
        sa.Column('requested_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('requested_by', sa.String(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('decided_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('decided_by', sa.String(), nullable=False),
        sa.Column('decision_note', sa.String(), nullable=False),
        sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_closing_request_task_id_task')),
        sa.ForeignKeyConstraint(['milestone_id'], ['milestone.id'], name=op.f('fk_closing_request_milestone_id_milestone')),
        sa.ForeignKeyConstraint(['instance_id'], ['recurrence_instance.id'],
                                name=op.f('fk_closing_request_instance_id_recurrence_instance')),
        sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_closing_request_unit_id_unit')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_closing_request')),
    )
    with op.batch_alter_table('closing_request') as batch:
        batch.create_index(batch.f('ix_closing_request_task_id'), ['task_id'], unique=False)
        batch.create_index(batch.f('ix_closing_request_milestone_id'), ['milestone_id'], unique=False)
        batch.create_index(batch.f('ix_closing_request_instance_id'), ['instance_id'], unique=False)
        batch.create_index(batch.f('ix_closing_request_status'), ['status'], unique=False)
    op.create_table(
        'closing_evidence',
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(['request_id'], ['closing_request.id'],
                                name=op.f('fk_closing_evidence_request_id_closing_request')),
        sa.ForeignKeyConstraint(['sha256'], ['evidence_file.sha256'],
                                name=op.f('fk_closing_evidence_sha256_evidence_file')),
        sa.PrimaryKeyConstraint('request_id', 'position', name=op.f('pk_closing_evidence')),
    )
    with op.batch_alter_table('closing_evidence') as batch:
        batch.create_index(batch.f('ix_closing_evidence_sha256'), ['sha256'], unique=False)


def downgrade() -> None:
    op.drop_table('closing_evidence')
    op.drop_table('closing_request')
    op.drop_table('evidence_file')
