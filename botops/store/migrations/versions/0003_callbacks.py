"""Callbacks: every verified WeCom callback, stored before it is answered.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

`dedup_key` is unique so that storing is insert-or-ignore: WeCom redelivers a callback it
thinks we missed, and the redelivery must not become a second row.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "callback_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("dedup_key", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("chat_id", sa.String(), nullable=True),
        sa.Column("payload", sa.String(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(), nullable=False),
        sa.UniqueConstraint("dedup_key"),
    )
    op.create_index("ix_callback_events_chat_id", "callback_events", ["chat_id"])


def downgrade() -> None:
    op.drop_table("callback_events")  # its index goes with it
