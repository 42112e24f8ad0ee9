"""Activity and reports: the group message log, inactive-group flags, the digest's claims.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

`group_messages.msgid` is the primary key so that logging a message is insert-or-ignore: a
redelivered message counts once. A partial unique index allows one open flag per group
(`cleared_at IS NULL`), on SQLite and PostgreSQL alike. `rule_source` is a plain string, not
an enum: it names a playbook.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_FLAG = "cleared_at IS NULL"


def _text(name: str) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "group_messages",
        sa.Column("msgid", sa.String(), primary_key=True),
        _text("chat_id"),
        _text("sender_id"),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("local_day", sa.Date(), nullable=False),
        _text("source"),
    )
    op.create_index("ix_group_messages_day", "group_messages", ["chat_id", "local_day"])
    op.create_table(
        "group_flags",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _text("chat_id"),
        _text("rule_source"),
        _text("reason"),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_group_flags_chat_id", "group_flags", ["chat_id"])
    op.create_index(
        "ux_group_flags_open",
        "group_flags",
        ["chat_id"],
        unique=True,
        sqlite_where=sa.text(OPEN_FLAG),
        postgresql_where=sa.text(OPEN_FLAG),
    )
    op.create_table(
        "digests",
        sa.Column("local_day", sa.Date(), primary_key=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("digests")
    op.drop_table("group_flags")  # indexes go with their tables
    op.drop_table("group_messages")
