"""Running daemons write a heartbeat (`daemons`), for `botops status`.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24

Leadership is a PostgreSQL advisory lock (or a file lock on SQLite), which no table shows: a
row per running replica, rewritten every few seconds with its role, lets `botops status` say
who leads, who stands by and who stopped answering, from any machine that reaches the
database.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "daemons",
        sa.Column("worker", sa.String(), primary_key=True),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("version", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("daemons")
