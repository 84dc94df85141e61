"""Progress columns on enrollments: steps done and expected, and the phase, for list views.

Written with the flag each time an event is applied, so a list of enrollments shows progress
without running the engine per row. Rows from before this revision read 0 of 0 until their
next applied event.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enrollment") as table:
        table.add_column(sa.Column("steps_done", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(
            sa.Column("steps_expected", sa.Integer(), nullable=False, server_default="0")
        )
        table.add_column(sa.Column("phase", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("enrollment") as table:
        table.drop_column("phase")
        table.drop_column("steps_expected")
        table.drop_column("steps_done")
