"""Alerts to the ops robot are recorded before they are sent (an outbox of their own).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24

Until now alerts (the group sync broken and recovered, a playbook change rejected) were held
in the leader's memory: one that the robot could not take was lost, and a restart or a new
leader alerted again that the sync was broken, or never said it had recovered. `alerts`
keeps each alert under an idempotency key until it is delivered or given up.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Enum columns store the member names, as SQLModel's sa.Enum(StrEnum) does (see 0001).
ALERT_STATUS = sa.Enum("PENDING", "SENT", "FAILED", name="alertstatus")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", ALERT_STATUS, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_alerts_kind", "alerts", ["kind"])


def downgrade() -> None:
    op.drop_table("alerts")  # its index goes with it
    ALERT_STATUS.drop(op.get_bind(), checkfirst=True)  # PostgreSQL's type; a no-op on SQLite
