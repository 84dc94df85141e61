"""Events applied in recording order, poison events quarantined, projections refreshed apart.

- `pathway_event.attempts`, `last_error`, `quarantined_at`: an event whose application fails
  (an error, not a rejection) is counted; after too many failures it is set aside for an
  administrator instead of being retried forever.
- `ix_event_pending_by_enrollment`: a worker reads an enrollment's unprocessed events in id
  order under the enrollment's lock.
- `enrollment.projected_end`, `projected_version`: the course projection (expected steps,
  projected end, at risk) is computed outside the apply lock; the partial index finds the
  enrollments whose projection lags their state.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

STALE = "projected_version < version"


def upgrade() -> None:
    with op.batch_alter_table("pathway_event") as table:
        table.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("last_error", sa.String(length=200), nullable=True))
        table.add_column(sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_event_pending_by_enrollment",
        "pathway_event",
        ["enrollment_id", "processed_at", "id"],
    )
    with op.batch_alter_table("enrollment") as table:
        table.add_column(sa.Column("projected_end", sa.DateTime(timezone=True), nullable=True))
        table.add_column(
            sa.Column("projected_version", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_index(
        "ix_enrollment_projection_stale",
        "enrollment",
        ["id"],
        postgresql_where=sa.text(STALE),
        sqlite_where=sa.text(STALE),
    )


def downgrade() -> None:
    op.drop_index("ix_enrollment_projection_stale", table_name="enrollment")
    with op.batch_alter_table("enrollment") as table:
        table.drop_column("projected_version")
        table.drop_column("projected_end")
    op.drop_index("ix_event_pending_by_enrollment", table_name="pathway_event")
    with op.batch_alter_table("pathway_event") as table:
        table.drop_column("quarantined_at")
        table.drop_column("last_error")
        table.drop_column("attempts")
