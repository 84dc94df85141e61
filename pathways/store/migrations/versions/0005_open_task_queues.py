"""Partial indexes for the open-task queues: a role's or a person's first page in due order.

The queue asks for three statuses at once, so the (role, status, due_at) index cannot give
due order and sorted every open task of the role; these hold open tasks only, in queue order.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('ready', 'in-progress', 'on-hold')")


def upgrade() -> None:
    for name, who in (
        ("ix_task_open_role_queue", "role"),
        ("ix_task_open_assignee_queue", "assignee"),
    ):
        op.create_index(
            name,
            "staff_task",
            [who, "due_at", "priority_rank", "id"],
            postgresql_where=OPEN,
            sqlite_where=OPEN,
        )


def downgrade() -> None:
    op.drop_index("ix_task_open_assignee_queue", table_name="staff_task")
    op.drop_index("ix_task_open_role_queue", table_name="staff_task")
