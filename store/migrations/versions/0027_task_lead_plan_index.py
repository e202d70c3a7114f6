"""task lead/plan index: a unit's led tasks in a plan from one index

``task.lead_unit_id = ? AND task.plan_id = ?`` (a unit's link page and every link action, the unit
page) had an index on each column; SQLite, with no statistics, took the plan's (every task of a
20,000-task plan read to find a unit's twenty). With both columns in one index the query reads only
the unit's tasks in the plan.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 19:10:00
"""
from alembic import op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_task_lead_unit_plan", "task", ["lead_unit_id", "plan_id"])


def downgrade() -> None:
    op.drop_index("ix_task_lead_unit_plan", table_name="task")
