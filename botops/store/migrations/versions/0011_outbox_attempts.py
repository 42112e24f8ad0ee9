"""Outbox rows: when a claimed batch went to WeCom (`attempted_at`).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24

After a crash, a claim never handed to WeCom goes straight back to planned, and one that was
is looked up in WeCom no sooner than the settle time after the attempt (not after the claim,
which for the last batches of a long round can be minutes earlier). Rows claimed before this
revision may have been tried: they count as attempted at their claim time.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as table:
        table.add_column(sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True))
    # Enum columns store member names.
    op.execute("UPDATE outbox SET attempted_at = claimed_at WHERE state = 'CLAIMED'")


def downgrade() -> None:
    with op.batch_alter_table("outbox") as table:
        table.drop_column("attempted_at")
