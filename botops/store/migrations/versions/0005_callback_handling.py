"""Callbacks: back-off for failed handling, and indexes for what is read.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24

A callback whose handling fails is retried with back-off: `attempts` counts the failures and
`retry_at` says when the next may run (botops.webhook.process gives up after a dozen).

Handling reads `WHERE processed_at IS NULL ORDER BY id`; without an index that walks every
callback ever stored, each round, and the table only grows. A partial index on `id` holds just
the pending rows (a new row appends at its right edge, a handled one leaves it), on SQLite and
PostgreSQL alike. Pruning (`daemon.keep_callbacks`) deletes the oldest handled rows by
`received_at`, which also only grows at the right edge. `botops status` lists the newest
failures through a partial index of the rows with an error, which are few. `chat_id` was
indexed but never looked up by: one random-page B-tree insert per stored callback for nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "processed_at IS NULL"
FAILED = "error != ''"


def upgrade() -> None:
    with op.batch_alter_table("callback_events") as table:
        table.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_index("ix_callback_events_chat_id", table_name="callback_events")
    op.create_index(
        "ix_callback_events_pending",
        "callback_events",
        ["id"],
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )
    op.create_index("ix_callback_events_received_at", "callback_events", ["received_at"])
    op.create_index(
        "ix_callback_events_failed",
        "callback_events",
        ["received_at"],
        sqlite_where=sa.text(FAILED),
        postgresql_where=sa.text(FAILED),
    )


def downgrade() -> None:
    op.drop_index("ix_callback_events_failed", table_name="callback_events")
    op.drop_index("ix_callback_events_received_at", table_name="callback_events")
    op.drop_index("ix_callback_events_pending", table_name="callback_events")
    op.create_index("ix_callback_events_chat_id", "callback_events", ["chat_id"])
    with op.batch_alter_table("callback_events") as table:
        table.drop_column("retry_at")
        table.drop_column("attempts")
