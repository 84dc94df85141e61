"""Webhook deliveries get a status (pending, delivered, dead) and a lease of their own.

A delivery that failed its last allowed attempt is `dead` (a dead letter an admin can see and
retry) instead of being retried for ever. The lease (`leased_until`) no longer borrows
`next_attempt_at`, so the time of the next try stays what the back-off said. Rows from before
this revision become `delivered` when they have `delivered_at`, `pending` otherwise.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_delivery") as table:
        table.add_column(
            sa.Column("status", sa.String(length=20), nullable=False, server_default="pending")
        )
        table.add_column(sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True))
        table.drop_index("ix_delivery_due")
    op.execute(
        "UPDATE webhook_delivery SET status = 'delivered', last_attempt_at = delivered_at "
        "WHERE delivered_at IS NOT NULL"
    )
    op.create_index("ix_delivery_due", "webhook_delivery", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_delivery_due", table_name="webhook_delivery")
    with op.batch_alter_table("webhook_delivery") as table:
        table.drop_column("last_attempt_at")
        table.drop_column("leased_until")
        table.drop_column("status")
        table.create_index("ix_delivery_due", ["delivered_at", "next_attempt_at"])
