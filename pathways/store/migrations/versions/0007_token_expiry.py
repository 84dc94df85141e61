"""API tokens expire: `expires_at` on api_token.

Tokens issued before this revision never expired; they are given the default lifetime from
the moment of the upgrade, so no running client is cut off at once and none lives for ever.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"  # the lead adds 0006 in parallel; tested on "0005"
branch_labels = None
depends_on = None

GRACE = timedelta(days=90)  # api.security.TOKEN_LIFETIME when this was written


def upgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    # UTC as the models store it: naive on SQLite, with its zone on PostgreSQL.
    until = datetime.now(UTC) + GRACE
    if op.get_bind().dialect.name == "sqlite":
        until = until.replace(tzinfo=None)
    api_token = sa.table("api_token", sa.column("expires_at", sa.DateTime(timezone=True)))
    op.execute(api_token.update().values(expires_at=until))
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.alter_column(
            "expires_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
