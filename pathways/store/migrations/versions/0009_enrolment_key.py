"""An enrollment keeps the idempotency key it was made with, unique across enrollments.

Enrolling twice with one key must give one enrollment. The API used to find an earlier
enrolment by scanning the event log for an `enrolled` event with the key, under an advisory
lock; the unique index now decides, on any database, and the look-up is one index probe.
Existing enrollments take the key of their `enrolled` event (the first enrollment made with a
key keeps it, should an old database hold two).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enrollment") as table:
        table.add_column(sa.Column("idempotency_key", sa.String(length=200), nullable=True))
    op.execute(
        "UPDATE enrollment SET idempotency_key = ("
        " SELECT e.idempotency_key FROM pathway_event e"
        " WHERE e.enrollment_id = enrollment.id AND e.type = 'enrolled')"
        " WHERE enrollment.id = ("
        "  SELECT min(first.enrollment_id) FROM pathway_event first"
        "  WHERE first.type = 'enrolled' AND first.idempotency_key = ("
        "   SELECT e.idempotency_key FROM pathway_event e"
        "   WHERE e.enrollment_id = enrollment.id AND e.type = 'enrolled'))"
    )
    op.create_index("uq_enrollment_key", "enrollment", ["idempotency_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_enrollment_key", table_name="enrollment")
    with op.batch_alter_table("enrollment") as table:
        table.drop_column("idempotency_key")
