"""progress reports' evidence files

``progress_evidence``: the files a progress report (進展報送) was sent with, by the names sent; each file
is stored once by its SHA-256 in ``evidence_file``, as closing requests' files are.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 14:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'progress_evidence',
        sa.Column('report_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(['report_id'], ['progress_report.id'],
                                name=op.f('fk_progress_evidence_report_id_progress_report')),
        sa.ForeignKeyConstraint(['sha256'], ['evidence_file.sha256'],
                                name=op.f('fk_progress_evidence_sha256_evidence_file')),
        sa.PrimaryKeyConstraint('report_id', 'position', name=op.f('pk_progress_evidence')),
    )
    with op.batch_alter_table('progress_evidence') as batch:
        batch.create_index(batch.f('ix_progress_evidence_sha256'), ['sha256'], unique=False)


def downgrade() -> None:
    op.drop_table('progress_evidence')
