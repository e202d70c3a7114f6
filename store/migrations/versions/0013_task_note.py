"""task note and sheet: a task's 備註 as the plan writes it, and the worksheet it was read from

A sheet's 備註 column (按月報送進度) was read and dropped; it is now kept on the task (``note``), compared
on re-import and exported. ``source_sheet`` names the worksheet of a workbook whose tasks come from
several sheets, so that a task's place reads county.xlsx [任務分解表] row 5. Both are "" for rows
from before this revision.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 08:05:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('task', sa.Column('note', sa.Text(), nullable=False, server_default=''))
    op.add_column('task', sa.Column('source_sheet', sa.Text(), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_column('source_sheet')
        batch_op.drop_column('note')
