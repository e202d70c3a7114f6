"""overview indexes: the console's overview counts from indexes alone

Covering indexes for the overview's grouped counts (``workflows.console_service``): tasks by light, open
items overdue by working days and due this week (0022's item_light indexes with the light added, so an
open item is told from a closed one without reading its row), escalations by level, held notices. On a
plan of 20,000 tasks these counts read about 150,000 rows through the plan index before; now a range of
an index.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 14:55:00
"""
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

WIDENED = (  # 0022's, with the light
    ("ix_item_light_plan_due", "item_light", ["plan_id", "due"], ["plan_id", "due", "light"]),
    ("ix_item_light_plan_overdue", "item_light", ["plan_id", "working_days_overdue"],
     ["plan_id", "working_days_overdue", "light"]),
)
NEW = (
    ("ix_notice_plan_kind_level", "notice", ["plan_id", "kind", "level"]),
    ("ix_notice_plan_status", "notice", ["plan_id", "status"]),
    ("ix_task_light_plan_light", "task_light", ["plan_id", "light"]),
)


def upgrade() -> None:
    for name, table, _, columns in WIDENED:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
    for name, table, columns in NEW:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(NEW):
        op.drop_index(name, table_name=table)
    for name, table, columns, _ in reversed(WIDENED):
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
