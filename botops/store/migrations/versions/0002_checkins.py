"""Check-ins: the append-only points ledger.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Two partial unique indexes (SQLite and PostgreSQL both have them) make recording
idempotent: one scoring row per (playbook, message, reason), and one check-in or make-up per
(playbook, group, member, local day). `reason` stores the enum member names, as in 0001.

A database adopted from `create_all` (botops.store.migrate stamps it at 0001, then upgrades)
may already have the ledger, made from the same models: then it is left as it is, and the
schema check that follows adoption verifies it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_REASON = sa.Enum("CHECKIN", "MAKEUP", "STREAK_BONUS", "ADJUSTMENT", name="ledgerreason")
HAS_MSGID = "source_msgid <> ''"
COUNTS_A_DAY = "reason IN ('CHECKIN', 'MAKEUP')"


def _text(name: str) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "ledger",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _text("member_id"),
        _text("member_name"),
        _text("chat_id"),
        _text("playbook"),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("reason", LEDGER_REASON, nullable=False),
        _text("source_msgid"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _text("note"),
    )
    op.create_index("ix_ledger_member", "ledger", ["playbook", "chat_id", "member_id"])
    op.create_index(
        "ux_ledger_source",
        "ledger",
        ["playbook", "source_msgid", "reason"],
        unique=True,
        sqlite_where=sa.text(HAS_MSGID),
        postgresql_where=sa.text(HAS_MSGID),
    )
    op.create_index(
        "ux_ledger_day",
        "ledger",
        ["playbook", "chat_id", "member_id", "local_day"],
        unique=True,
        sqlite_where=sa.text(COUNTS_A_DAY),
        postgresql_where=sa.text(COUNTS_A_DAY),
    )


def downgrade() -> None:
    op.drop_table("ledger")  # its indexes go with it
    LEDGER_REASON.drop(op.get_bind(), checkfirst=True)  # PostgreSQL's type; nothing on SQLite
