"""The dashboard reads a summary instead of scanning: first treatment on the enrollment, and
a `dashboard_summary` row the summary sweep refreshes.

GET /dashboard counted enrollments and tasks on every request and found each patient's first
treatment by scanning completed staff tasks against a list of steps kept in the API. Steps
now say `treatment: true` in the pathway language, the engine records in the state when the
first one is completed, and the write path copies it to `enrollment.first_treatment_at` in
the UPDATE it already makes. The figures themselves are computed by a sweep into
`dashboard_summary` (one row, with when it was computed).

Existing enrollments take their first treatment from their completed staff tasks, using the
treatment steps of the shipped library as it was when this revision was written (frozen
below, not read from the definitions: a later library must not change what this revision
did). Their published definitions predate the key, so this backfill is their only source.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# (pathway id, step id) of the steps the shipped library marks `treatment: true` (frozen).
# A staff task's `pathway` is "id@version" of the pathway that ran it, so a multimodal plan's
# operation or infusion is found under surgery@... or chemotherapy@... .
TREATMENT_STEPS = (
    ("chemotherapy", "infusion"),
    ("surgery", "operation"),
    ("radiation_conventional", "deliver_fraction"),
    ("radiation_sbrt", "deliver_fraction"),
)


def _is_treatment(task: str) -> str:
    escaped = [(pathway.replace("_", "\\_"), step) for pathway, step in TREATMENT_STEPS]
    return " OR ".join(
        f"({task}.pathway LIKE '{pathway}@%' ESCAPE '\\' AND {task}.step = '{step}')"
        for pathway, step in escaped
    )


def upgrade() -> None:
    with op.batch_alter_table("enrollment") as table:
        table.add_column(sa.Column("first_treatment_at", sa.DateTime(timezone=True), nullable=True))
    # A completed task changes no more: its updated_at is when it was completed.
    op.execute(
        "UPDATE enrollment SET first_treatment_at = ("
        " SELECT min(t.updated_at) FROM staff_task t"
        " WHERE t.enrollment_id = enrollment.id AND t.status = 'completed'"
        f" AND ({_is_treatment('t')}))"
    )
    op.create_table(
        "dashboard_summary",
        sa.Column("scope", sa.String(length=40), primary_key=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dashboard_summary")
    with op.batch_alter_table("enrollment") as table:
        table.drop_column("first_treatment_at")
