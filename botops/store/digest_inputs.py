"""What the daily ops digest (botops.reports.digest) is built from, read from the store:
open inactive-group flags, mass-send tasks still waiting for staff, failed sends of the last
day. Flags are read as stored: evaluate them first (botops.store.inactivity.evaluate_flags;
botops.senders.digest.send_digest does)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from botops.reports.digest import DigestInputs, FailedSend, FlaggedGroup, StaffBacklog
from botops.store.groups import last_synced
from botops.store.inactivity import open_flags
from botops.store.models import GroupRecord, MassTask, OutboxRow, SendState, TaskStatus

FAILED_EXAMPLES = 5
FAILED_WITHIN = timedelta(days=1)


def gather_digest(session: Session, now: datetime, *, sync_overdue: timedelta) -> DigestInputs:
    """`sync_overdue`: how old the newest group sync may be before the digest reports the
    sync as stopped (a healthy one refreshes every group every `daemon.sync_every`)."""
    flagged = [FlaggedGroup(f.chat_id, f.name, f.reason, f.flagged_at) for f in open_flags(session)]
    failed, count = failed_sends(session, now - FAILED_WITHIN)
    return DigestInputs(
        flagged=flagged,
        backlog=staff_backlog(session),
        failed=failed,
        failed_count=count,
        sync_stopped_at=_overdue_sync(session, now, sync_overdue),
    )


def failed_sends(session: Session, since: datetime) -> tuple[list[FailedSend], int]:
    """Sends that failed at or after `since`: the newest FAILED_EXAMPLES, and how many."""
    failed_filter = (OutboxRow.state == SendState.FAILED, col(OutboxRow.updated_at) >= since)
    count = session.exec(select(func.count()).select_from(OutboxRow).where(*failed_filter)).one()
    examples = session.exec(
        select(OutboxRow, GroupRecord.name)
        .outerjoin(GroupRecord, col(GroupRecord.chat_id) == col(OutboxRow.target_id))
        .where(*failed_filter)
        .order_by(col(OutboxRow.updated_at).desc(), col(OutboxRow.key))
        .limit(FAILED_EXAMPLES)
    ).all()
    failed = [
        FailedSend(row.playbook, row.step, row.target_id, name or "", row.error, row.updated_at)
        for row, name in examples
    ]
    return failed, int(count)


def _overdue_sync(session: Session, now: datetime, overdue: timedelta) -> datetime | None:
    """The newest group sync, when it is older than `overdue`. None when it is recent, and
    when no group was ever synced (a new install: /readyz reports a wrong secret at once)."""
    last = last_synced(session)
    return last if last is not None and now - last > overdue else None


def waiting_for_sender() -> tuple[ColumnElement[bool], ...]:
    """The mass-send tasks waiting for their sender's confirmation. A task its sender
    confirmed stays WAITING while its results come in (or, sent to some groups only, until it
    expires), and a withdrawn one until tracking cancels it: neither waits for the sender."""
    return (
        col(MassTask.status) == TaskStatus.WAITING,
        col(MassTask.sender_confirmed_at).is_(None),
        col(MassTask.withdrawn_at).is_(None),
    )


def staff_backlog(session: Session) -> list[StaffBacklog]:
    """Per sender: mass-send tasks still waiting for their confirmation, and the oldest one's
    age."""
    query = (
        select(col(MassTask.sender), func.count(), func.min(MassTask.created_at))
        .where(*waiting_for_sender())
        .group_by(col(MassTask.sender))
    )
    return [StaffBacklog(sender, int(n), oldest) for sender, n, oldest in session.exec(query)]
