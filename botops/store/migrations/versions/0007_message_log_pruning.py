"""The message log can be pruned (`daemon.keep_messages`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24

`group_messages` gains an index on `local_day`, so that deleting its oldest days reads only
those rows (the (chat_id, local_day) index cannot serve a range over days alone). Reports and
inactivity rules, which read a range of days for every group, use it too: they had scanned
the whole log.
`message_log` keeps the first day any message was logged once pruning has deleted it:
inactivity rules only count messages in windows that began after logging did.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_group_messages_local_day", "group_messages", ["local_day"])
    op.create_table(
        "message_log",
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("first_day"),
    )


def downgrade() -> None:
    op.drop_table("message_log")
    op.drop_index("ix_group_messages_local_day", table_name="group_messages")
