"""Ledger: a streak bonus is paid once per member and length, by a unique index.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24

The rules pay a streak bonus when the member's streak first reaches its length, decided from
the history read before writing. Two of a member's messages scored at once (two AI-bot
requests, two ingest batches) both read the history without the other and both reached
7 days: nothing unique covered bonus rows, so both were written. Now each bonus row records
the length it pays for (`milestone`) and a partial unique index allows one per
(playbook, chat_id, member_id, milestone): the second insert is ignored.

A message reaching two lengths writes two bonus rows, so `ux_ledger_source` (one row per
message and reason) no longer covers bonus rows; the new index keeps a redelivery from paying
twice. Bonus rows written before this revision keep `milestone` NULL (one of them may pay
several lengths), which never conflicts: rows already paid stay as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HAS_MSGID = "source_msgid <> ''"  # 0002's condition
SCORED_BY_MESSAGE = "source_msgid <> '' AND reason <> 'STREAK_BONUS'"
IS_BONUS = "reason = 'STREAK_BONUS'"
# For the downgrade: a message's bonus rows, from a subquery on `ledger b`.
_SIBLINGS = (
    "FROM ledger b WHERE b.reason = 'STREAK_BONUS'"
    " AND b.playbook = ledger.playbook AND b.source_msgid = ledger.source_msgid"
)


def _source_index(where: str) -> None:
    op.create_index(
        "ux_ledger_source",
        "ledger",
        ["playbook", "source_msgid", "reason"],
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    with op.batch_alter_table("ledger") as table:  # SQLite: ALTER TABLE ADD COLUMN, no rebuild
        table.add_column(sa.Column("milestone", sa.Integer(), nullable=True))
    op.drop_index("ux_ledger_source", table_name="ledger")
    _source_index(SCORED_BY_MESSAGE)
    op.create_index(
        "ux_ledger_bonus",
        "ledger",
        ["playbook", "chat_id", "member_id", "milestone"],
        unique=True,
        sqlite_where=sa.text(IS_BONUS),
        postgresql_where=sa.text(IS_BONUS),
    )


def downgrade() -> None:
    # 0009's index allows one bonus row per message: fold a message's rows into its first
    # (the shape 0009 wrote), so no member's total changes.
    several = f"{IS_BONUS} AND {HAS_MSGID} AND (SELECT COUNT(*) {_SIBLINGS}) > 1"
    op.execute(
        f"UPDATE ledger SET note = 'streak bonus', points = (SELECT SUM(b.points) {_SIBLINGS})"
        f" WHERE {several} AND id = (SELECT MIN(b.id) {_SIBLINGS})"
    )
    op.execute(f"DELETE FROM ledger WHERE {several} AND id > (SELECT MIN(b.id) {_SIBLINGS})")
    op.drop_index("ux_ledger_bonus", table_name="ledger")
    op.drop_index("ux_ledger_source", table_name="ledger")
    _source_index(HAS_MSGID)
    op.drop_column("ledger", "milestone")  # SQLite ≥ 3.35: ALTER TABLE DROP COLUMN, no rebuild
