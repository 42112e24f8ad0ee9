"""The initial schema: the tables `SQLModel.metadata.create_all` made before migrations.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Enum columns store the member *names* (ACTIVE, ...), as SQLModel's sa.Enum(StrEnum) does:
a native ENUM type on PostgreSQL, a VARCHAR as long as the longest name on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GROUP_STATUS = sa.Enum("ACTIVE", "DISMISSED", name="groupstatus")
TASK_STATUS = sa.Enum("WAITING", "SENT", "PARTIAL", "EXPIRED", "FAILED", name="taskstatus")
TARGET_STATUS = sa.Enum(
    "WAITING", "SENT", "NOT_FRIEND", "ALREADY_RECEIVED", "EXPIRED", name="targetstatus"
)
SEND_STATE = sa.Enum(
    "PLANNED",
    "CLAIMED",
    "SUBMITTED",
    "SENT",
    "PARTIAL",
    "EXPIRED",
    "FAILED",
    "MISSED",
    "CANCELLED",
    name="sendstate",
)


def _text(name: str, *, primary_key: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=False, primary_key=primary_key)


def _time(name: str, *, nullable: bool) -> sa.Column[object]:
    """botops.store.types.UtcDateTime's storage: timestamptz on PostgreSQL, DATETIME on SQLite."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _int(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "corp_tags",
        _text("tag_id", primary_key=True),
        _text("name"),
        _text("group_id"),
        _text("group_name"),
    )
    op.create_table(
        "enrolments",
        _text("target_id", primary_key=True),
        _text("playbook_id", primary_key=True),
        sa.Column("day_one", sa.Date(), nullable=False),
        _time("enrolled_at", nullable=False),
    )
    op.create_table(
        "groups",
        _text("chat_id", primary_key=True),
        _text("name"),
        _text("owner"),
        _text("notice"),
        _time("created_at", nullable=True),
        sa.Column("status", GROUP_STATUS, nullable=False),
        _int("wecom_status"),
        _text("member_version"),
        _int("member_count"),
        _time("synced_at", nullable=True),
        _time("dismissed_at", nullable=True),
    )
    op.create_table(
        "group_tags",
        _text("chat_id", primary_key=True),
        _text("tag", primary_key=True),
        sa.ForeignKeyConstraint(["chat_id"], ["groups.chat_id"], ondelete="CASCADE"),
    )
    op.create_table(
        "group_members",
        _text("chat_id", primary_key=True),
        _text("userid", primary_key=True),
        _int("member_type"),
        _text("name"),
        _text("group_nickname"),
        _text("unionid"),
        _text("invitor"),
        _time("join_time", nullable=True),
        _int("join_scene", nullable=True),
        _time("left_at", nullable=True),
        _int("quit_scene", nullable=True),
        sa.ForeignKeyConstraint(["chat_id"], ["groups.chat_id"], ondelete="CASCADE"),
    )
    op.create_index("ix_group_members_left_at", "group_members", ["left_at"])

    op.create_table(
        "mass_tasks",
        _text("msgid", primary_key=True),
        _text("chat_type"),
        _text("sender"),
        _text("playbook"),
        _text("step"),
        _text("batch"),
        _text("text"),
        _time("created_at", nullable=False),
        _time("expires_at", nullable=True),
        sa.Column("status", TASK_STATUS, nullable=False),
        _time("sender_confirmed_at", nullable=True),
        _time("last_polled_at", nullable=True),
        _time("finished_at", nullable=True),
        _text("error"),
    )
    op.create_index("ix_mass_tasks_sender", "mass_tasks", ["sender"])
    op.create_index("ix_mass_tasks_status", "mass_tasks", ["status"])

    op.create_table(
        "mass_task_targets",
        _text("msgid", primary_key=True),
        _text("target_id", primary_key=True),
        _text("send_key"),
        sa.Column("status", TARGET_STATUS, nullable=False),
        _time("sent_at", nullable=True),
        sa.ForeignKeyConstraint(["msgid"], ["mass_tasks.msgid"], ondelete="CASCADE"),
    )
    op.create_index("ix_mass_task_targets_send_key", "mass_task_targets", ["send_key"])

    op.create_table(
        "mass_task_reminders",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _text("msgid"),
        _time("reminded_at", nullable=False),
        sa.ForeignKeyConstraint(["msgid"], ["mass_tasks.msgid"], ondelete="CASCADE"),
    )
    op.create_index("ix_mass_task_reminders_msgid", "mass_task_reminders", ["msgid"])

    op.create_table(
        "media",
        _text("namespace", primary_key=True),
        _text("media_type", primary_key=True),
        _text("sha256", primary_key=True),
        _text("media_id"),
        _time("uploaded_at", nullable=False),
    )

    op.create_table(
        "outbox",
        _text("key", primary_key=True),
        _text("playbook"),
        _text("step"),
        _text("target_id"),
        _text("target_kind"),
        _text("sender"),
        _text("segment"),
        _text("batch"),
        _time("planned_at", nullable=False),
        _time("due_at", nullable=False),
        _time("expires_at", nullable=False),
        _text("text"),
        _text("attachments"),
        _text("playbook_version"),
        sa.Column("state", SEND_STATE, nullable=False),
        _text("claimed_by"),
        _time("claimed_at", nullable=True),
        _text("msgid"),
        _int("attempts"),
        _text("error"),
        _time("updated_at", nullable=False),
    )
    for column in ("due_at", "msgid", "playbook", "state", "target_id"):
        op.create_index(f"ix_outbox_{column}", "outbox", [column])


def downgrade() -> None:
    for table in (
        "outbox",
        "media",
        "mass_task_reminders",
        "mass_task_targets",
        "mass_tasks",
        "group_members",
        "group_tags",
        "groups",
        "enrolments",
        "corp_tags",
    ):
        op.drop_table(table)  # its indexes go with it
    for enum in (SEND_STATE, TARGET_STATUS, TASK_STATUS, GROUP_STATUS):
        enum.drop(op.get_bind(), checkfirst=True)  # PostgreSQL's types; nothing on SQLite
