"""Database tables (SQLModel, `table=True`): botops' durable state.

Times are stored as UTC. Keys are WeCom's own ids where WeCom has one (chat_id, msgid,
userid), so a re-sync or a redelivered callback upserts rather than duplicates.

    groups ──< group_tags          botops-side tags (playbooks select groups by tag)
       └────< group_members        roster with join / quit times
    corp_tags                      WeCom's customer tag list (get_corp_tag_list)
    enrolments                     Day 1 of each (target, playbook)
    mass_tasks ──< mass_task_targets   add_msg_template tasks and per-target outcome
       └────────< mass_task_reminders  remind_groupmsg_send calls (≤ 3 per 24 h)
    media                          uploaded media_ids by content hash (valid 3 days)
    outbox                         every planned send, keyed by its idempotency key
    group_messages                 every group message seen, once per msgid (activity)
    message_log                    since when group messages have been logged (kept by pruning)
    group_flags                    inactive-group flags: set, then cleared when activity returns
    digests                        one row per local day the ops digest went out
    alerts                         alerts to the ops robot: recorded, then sent (an outbox)
    daemons                        each running `botops run`: its role, last seen (heartbeat)
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from botops.store.types import UtcDateTime


class GroupStatus(StrEnum):
    ACTIVE = "active"
    DISMISSED = "dismissed"  # dismissed in WeCom, or no longer listed by a complete sync


class GroupRecord(SQLModel, table=True):
    __tablename__ = "groups"

    chat_id: str = Field(primary_key=True)
    name: str = ""
    owner: str = ""
    notice: str = ""
    created_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    status: GroupStatus = GroupStatus.ACTIVE
    # WeCom's groupchat/list status: 0 normal, 1 owner left the corp, 2/3 inheritance.
    wecom_status: int = 0
    member_version: str = ""
    member_count: int = 0
    synced_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    dismissed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class GroupTag(SQLModel, table=True):
    __tablename__ = "group_tags"

    chat_id: str = Field(primary_key=True, foreign_key="groups.chat_id", ondelete="CASCADE")
    tag: str = Field(primary_key=True)


class GroupMember(SQLModel, table=True):
    __tablename__ = "group_members"

    chat_id: str = Field(primary_key=True, foreign_key="groups.chat_id", ondelete="CASCADE")
    userid: str = Field(primary_key=True)  # staff userid or external_userid
    member_type: int = 2  # 1 staff, 2 external customer
    name: str = ""
    group_nickname: str = ""
    unionid: str = ""
    invitor: str = ""
    join_time: datetime | None = Field(default=None, sa_type=UtcDateTime)
    join_scene: int | None = None  # groupchat/get numbering: 1 invite, 2 link, 3 QR code
    left_at: datetime | None = Field(
        default=None, index=True, sa_type=UtcDateTime
    )  # None while in the group
    quit_scene: int | None = None  # callback numbering: 0 left, 1 removed


class CorpTagRecord(SQLModel, table=True):
    __tablename__ = "corp_tags"

    tag_id: str = Field(primary_key=True)
    name: str
    group_id: str = ""
    group_name: str = ""


class Enrolment(SQLModel, table=True):
    __tablename__ = "enrolments"

    target_id: str = Field(primary_key=True)
    playbook_id: str = Field(primary_key=True)
    day_one: date
    enrolled_at: datetime = Field(sa_type=UtcDateTime)


class TaskStatus(StrEnum):
    WAITING = "waiting"  # created; staff have not confirmed (all of) it
    SENT = "sent"  # every target sent
    PARTIAL = "partial"  # finished with some targets failed or unsent
    EXPIRED = "expired"  # cancelled at expires_after (or withdrawn) with targets unsent
    FAILED = "failed"  # WeCom rejected the task


FINISHED_TASKS = frozenset(TaskStatus) - {TaskStatus.WAITING}


class TargetStatus(StrEnum):
    WAITING = "waiting"
    SENT = "sent"
    NOT_FRIEND = "not_friend"  # WeCom send status 2
    ALREADY_RECEIVED = "already_received"  # status 3: the receive cap was reached
    EXPIRED = "expired"  # still unsent when the task was cancelled


class MassTask(SQLModel, table=True):
    """One add_msg_template task: a message staff must confirm in their WeCom client."""

    __tablename__ = "mass_tasks"

    msgid: str = Field(primary_key=True)
    chat_type: str = "group"  # group | single
    sender: str = Field(index=True)
    playbook: str = ""
    step: str = ""
    batch: str = ""  # the planner's batch id
    text: str = ""
    created_at: datetime = Field(sa_type=UtcDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    status: TaskStatus = Field(default=TaskStatus.WAITING, index=True)
    sender_confirmed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # When a read last got through; while reads fail (error "poll: ..."), when they began to
    # fail: TrackingPolicy.given_up ends a task without expiry that has failed that long.
    last_polled_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    error: str = ""
    # Set by `botops withdraw`, which also moves expires_at to that moment: tracking then
    # cancels the task in WeCom as at any expiry, and its unsent sends read "withdrawn".
    withdrawn_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class MassTaskTarget(SQLModel, table=True):
    __tablename__ = "mass_task_targets"

    msgid: str = Field(primary_key=True, foreign_key="mass_tasks.msgid", ondelete="CASCADE")
    target_id: str = Field(primary_key=True)  # chat_id or external_userid
    send_key: str = Field(default="", index=True)  # the planned send's idempotency key
    status: TargetStatus = TargetStatus.WAITING
    sent_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class MassTaskReminder(SQLModel, table=True):
    __tablename__ = "mass_task_reminders"

    id: int | None = Field(default=None, primary_key=True)
    msgid: str = Field(foreign_key="mass_tasks.msgid", ondelete="CASCADE", index=True)
    reminded_at: datetime = Field(sa_type=UtcDateTime)


class MediaUpload(SQLModel, table=True):
    """Backs botops.wecom.media.MediaStore: a media_id is valid for 3 days."""

    __tablename__ = "media"

    namespace: str = Field(primary_key=True)
    media_type: str = Field(primary_key=True)
    sha256: str = Field(primary_key=True)
    media_id: str
    uploaded_at: datetime = Field(sa_type=UtcDateTime)


class SendState(StrEnum):
    """A planned send's life in the outbox. Every change is committed before it is acted on."""

    PLANNED = "planned"  # written by the planner; not yet taken
    CLAIMED = "claimed"  # a dispatcher took it and may be calling WeCom right now
    SUBMITTED = "submitted"  # WeCom created the task (msgid recorded); staff must confirm
    SENT = "sent"
    PARTIAL = "partial"  # the task finished with this target failed (not friend, capped)
    EXPIRED = "expired"  # not confirmed before expires_after; the task was cancelled
    FAILED = "failed"  # WeCom rejected it
    MISSED = "missed"  # due while botops was down, and past expires_after when it came back
    CANCELLED = "cancelled"  # its step or group went away, or ops withdrew its task, unsent


# The states a send never leaves; old sends in them are pruned (botops.store.retention).
FINISHED_SENDS = frozenset(SendState) - {SendState.PLANNED, SendState.CLAIMED, SendState.SUBMITTED}


class OutboxRow(SQLModel, table=True):
    """The durable outbox: one row per planned send, keyed by its idempotency key
    (playbook:step:target:occurrence). Enqueueing is insert-or-ignore, so planning the same
    window twice, or on two replicas, can never create a second send."""

    __tablename__ = "outbox"

    key: str = Field(primary_key=True)
    playbook: str = Field(index=True)
    step: str
    target_id: str = Field(index=True)
    target_kind: str = "group"
    sender: str
    segment: str = ""
    batch: str = ""
    planned_at: datetime = Field(sa_type=UtcDateTime)
    due_at: datetime = Field(sa_type=UtcDateTime, index=True)
    expires_at: datetime = Field(sa_type=UtcDateTime)
    text: str = ""
    attachments: str = "[]"  # JSON: the attachments as written in the playbook
    playbook_version: str = ""
    state: SendState = Field(default=SendState.PLANNED, index=True)
    claimed_by: str = ""
    claimed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # When the claimed batch went to WeCom; None: claimed, not tried (botops.outbox.reconcile).
    attempted_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    msgid: str = Field(default="", index=True)
    attempts: int = 0
    error: str = ""
    updated_at: datetime = Field(sa_type=UtcDateTime)


# --- check-ins -----------------------------------------------------------------------------


class LedgerReason(StrEnum):
    CHECKIN = "checkin"
    MAKEUP = "makeup"  # 补卡: local_day is the day it fills
    STREAK_BONUS = "streak_bonus"
    ADJUSTMENT = "adjustment"  # a manual correction; points may be negative


# The partial indexes' conditions, the same text on SQLite and PostgreSQL (and in the
# migrations that create them: 0002, 0010).
_SCORED_BY_MESSAGE = "source_msgid <> '' AND reason <> 'STREAK_BONUS'"
_COUNTS_A_DAY = "reason IN ('CHECKIN', 'MAKEUP')"
_IS_BONUS = "reason = 'STREAK_BONUS'"


class LedgerEntry(SQLModel, table=True):
    """The points ledger (botops.store.ledger): append-only, never updated or deleted; a
    correction is a new ADJUSTMENT row. A member's points are the sum of their rows.

    Three partial unique indexes make recording idempotent on both backends:
    (playbook, source_msgid, reason) for rows of a message other than bonuses, so a
    redelivered message cannot score twice; (playbook, chat_id, member_id, local_day) for
    check-ins and make-ups, so no member gets two for one day even from two replicas at once;
    and (playbook, chat_id, member_id, milestone) for streak bonuses, so each streak length
    is paid once per member even when two of their messages reach it at the same moment.
    Bonus rows written before revision 0010 have no milestone (NULL never conflicts)."""

    __tablename__ = "ledger"
    __table_args__ = (
        Index("ix_ledger_member", "playbook", "chat_id", "member_id"),
        Index(
            "ux_ledger_source",
            "playbook",
            "source_msgid",
            "reason",
            unique=True,
            sqlite_where=text(_SCORED_BY_MESSAGE),
            postgresql_where=text(_SCORED_BY_MESSAGE),
        ),
        Index(
            "ux_ledger_day",
            "playbook",
            "chat_id",
            "member_id",
            "local_day",
            unique=True,
            sqlite_where=text(_COUNTS_A_DAY),
            postgresql_where=text(_COUNTS_A_DAY),
        ),
        Index(
            "ux_ledger_bonus",
            "playbook",
            "chat_id",
            "member_id",
            "milestone",
            unique=True,
            sqlite_where=text(_IS_BONUS),
            postgresql_where=text(_IS_BONUS),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    member_id: str
    member_name: str = ""  # the sender's name when the row was written (for leaderboards)
    chat_id: str
    playbook: str
    local_day: date  # in the playbook's timezone
    points: int
    reason: LedgerReason
    source_msgid: str = ""  # the message that earned it; empty for adjustments
    created_at: datetime = Field(sa_type=UtcDateTime)
    note: str = ""
    milestone: int | None = None  # STREAK_BONUS: the streak length it pays for (7, 21...)


# --- callbacks -----------------------------------------------------------------------------


_PENDING = "processed_at IS NULL"
_FAILED = "error != ''"


class CallbackEvent(SQLModel, table=True):
    """Every verified WeCom callback, stored before it is answered (botops.webhook.app) and
    handled afterwards (botops.webhook.process). `dedup_key` is unique: a redelivery is an
    insert-or-ignore that changes nothing. `processed_at` stays empty until handling
    succeeds; a failure is kept in `error`, counted in `attempts` and retried from `retry_at`.
    A row given up on is processed with its error kept."""

    __tablename__ = "callback_events"
    __table_args__ = (
        # Handling reads the pending rows in id order: this index holds only those.
        Index(
            "ix_callback_events_pending",
            "id",
            sqlite_where=text(_PENDING),
            postgresql_where=text(_PENDING),
        ),
        # `botops status` lists the newest failures: few rows, found without a scan.
        Index(
            "ix_callback_events_failed",
            "received_at",
            sqlite_where=text(_FAILED),
            postgresql_where=text(_FAILED),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(unique=True)
    kind: str  # the event class name: ExternalChatEvent, UnknownEvent, ...
    chat_id: str | None = None
    payload: str  # the decrypted XML, as received
    received_at: datetime = Field(sa_type=UtcDateTime, index=True)  # pruning reads by age
    processed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    error: str = ""
    attempts: int = 0  # failed handling attempts
    retry_at: datetime | None = Field(default=None, sa_type=UtcDateTime)  # not before this


# --- activity and reports ------------------------------------------------------------------


class MessageLogStart(SQLModel, table=True):
    """The first local day botops logged any group message, once pruning has deleted that day's
    rows (botops.store.retention.prune_messages): inactivity rules count messages only in
    windows that began after logging did, and must not mistake pruning for a fresh start."""

    __tablename__ = "message_log"

    first_day: date = Field(primary_key=True)  # the table's one row, once pruning has run


class GroupMessageRecord(SQLModel, table=True):
    """One group message botops has seen (botops.store.activity), whatever its source and
    whether or not it scored: the count of messages and distinct speakers per group and day.
    Keyed by msgid, written insert-or-ignore, so a redelivered message counts once."""

    __tablename__ = "group_messages"
    __table_args__ = (
        Index("ix_group_messages_day", "chat_id", "local_day"),
        # Pruning (`daemon.keep_messages`) deletes the oldest days; days only grow at the end.
        Index("ix_group_messages_local_day", "local_day"),
    )

    msgid: str = Field(primary_key=True)
    chat_id: str
    sender_id: str
    sent_at: datetime = Field(sa_type=UtcDateTime)
    local_day: date  # in the configured `timezone`
    source: str = ""


_OPEN_FLAG = "cleared_at IS NULL"


class GroupFlag(SQLModel, table=True):
    """An inactive-group flag (botops.store.inactivity). Set when the group's rule fires,
    cleared (never deleted) when activity returns. The partial unique index allows one open
    flag per group, so evaluating twice, or on two replicas, cannot open a second one."""

    __tablename__ = "group_flags"
    __table_args__ = (
        Index(
            "ux_group_flags_open",
            "chat_id",
            unique=True,
            sqlite_where=text(_OPEN_FLAG),
            postgresql_where=text(_OPEN_FLAG),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    chat_id: str = Field(index=True)
    rule_source: str  # "config", or the id of the playbook whose `inactivity` rule fired
    reason: str  # the latest reason while open
    flagged_at: datetime = Field(sa_type=UtcDateTime)
    cleared_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class DigestRun(SQLModel, table=True):
    """The daily ops digest's claim (botops.senders.digest): inserted before sending, so a
    restart or a second replica never sends one local day's digest twice."""

    __tablename__ = "digests"

    local_day: date = Field(primary_key=True)  # in the configured `timezone`
    claimed_at: datetime = Field(sa_type=UtcDateTime)


class AlertStatus(StrEnum):
    PENDING = "pending"  # recorded, not delivered yet (retried while WeCom is busy)
    SENT = "sent"
    FAILED = "failed"  # given up: no robot key, a rejection, an unknown outcome, too late


class Alert(SQLModel, table=True):
    """An alert for the ops robot (botops.senders.alerts), recorded before it is sent: one
    that could not be posted is retried rather than lost, and a restart or a new leader
    neither repeats nor forgets it. `key` is its idempotency key; the latest sync alert also
    says whether the group sync is broken now (botops.store.alerts.sync_broken)."""

    __tablename__ = "alerts"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    kind: str = Field(index=True)  # botops.store.alerts: SYNC_BROKEN, SYNC_RECOVERED, ...
    text: str  # the robot markdown, as it will be posted
    created_at: datetime = Field(sa_type=UtcDateTime)
    status: AlertStatus = AlertStatus.PENDING
    attempts: int = 0  # deliveries that failed and were left to retry
    error: str = ""  # the last delivery's error
    finished_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class DaemonSeen(SQLModel, table=True):
    """A running `botops run` replica, written every few seconds (botops.store.daemons), so
    `botops status` can tell from the database alone who leads, who stands by, and who has
    stopped answering. A clean shutdown deletes its row; a crashed one's row goes stale."""

    __tablename__ = "daemons"

    worker: str = Field(primary_key=True)  # botops.daemon.runtime.worker_id: host:pid:random
    role: str  # "leader" or "standby"
    version: str  # botops.__version__ of that process
    started_at: datetime = Field(sa_type=UtcDateTime)
    seen_at: datetime = Field(sa_type=UtcDateTime)
