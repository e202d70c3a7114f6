"""progress reports' acceptance

``progress_report.state``: ``counted`` (every report before this revision, and the lead's, a co-lead's or
the office's own from now on), ``pending`` (a supporting unit's part sent through its link, waiting for the
lead unit or the office), ``accepted`` or ``refused``; with who decided, when, why, and the day an accepted
part counts from (``counted_on``).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 15:20:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('progress_report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=20), nullable=False, server_default='counted'))
        batch_op.add_column(sa.Column('decided_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('decision_note', sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('counted_on', sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f('ix_progress_report_state'), ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('progress_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_progress_report_state'))
        for column in ('counted_on', 'decision_note', 'decided_by', 'decided_at', 'state'):
            batch_op.drop_column(column)
