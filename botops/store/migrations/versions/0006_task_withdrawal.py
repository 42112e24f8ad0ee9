"""Mass-send tasks: when ops withdrew one (`botops withdraw`).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24

A withdrawn task expires at the moment it was withdrawn, so tracking cancels it in WeCom like
any expired task; `withdrawn_at` tells the two apart, so that its unsent sends are recorded as
withdrawn by ops rather than as unconfirmed by staff.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mass_tasks") as table:
        table.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mass_tasks") as table:
        table.drop_column("withdrawn_at")
