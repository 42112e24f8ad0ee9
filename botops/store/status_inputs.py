"""What `botops status` (botops.reports.status) shows, read from the store."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from botops.reports.digest import FlaggedGroup
from botops.reports.status import DaemonStatus, RecentError, StatusInputs
from botops.store.alerts import NO_ROBOT_KEY, logged_only
from botops.store.daemons import daemons_seen
from botops.store.digest_inputs import staff_backlog
from botops.store.groups import last_synced
from botops.store.inactivity import open_flags
from botops.store.models import Alert, CallbackEvent, OutboxRow, SendState

RECENT_ERRORS = 8


def gather_status(session: Session, now: datetime, tz: ZoneInfo) -> StatusInputs:
    today = now.astimezone(tz).date()
    start = datetime.combine(today, time(), tz)
    due_today = (col(OutboxRow.due_at) >= start, col(OutboxRow.due_at) < start + timedelta(days=1))
    sends = session.exec(
        select(OutboxRow.state, func.count()).where(*due_today).group_by(col(OutboxRow.state))
    )
    pending = session.exec(
        select(func.count())
        .select_from(CallbackEvent)
        .where(col(CallbackEvent.processed_at).is_(None))
    ).one()
    return StatusInputs(
        day=today,
        sends_today={str(state): int(n) for state, n in sends},
        backlog=staff_backlog(session),
        flagged=[
            FlaggedGroup(f.chat_id, f.name, f.reason, f.flagged_at) for f in open_flags(session)
        ],
        errors=_recent_errors(session),
        pending_callbacks=int(pending),
        last_planned=session.exec(select(func.max(OutboxRow.updated_at))).one(),
        last_synced=last_synced(session),
        daemons=[
            DaemonStatus(d.worker, d.role, d.version, d.started_at, d.seen_at)
            for d in daemons_seen(session)
        ],
        alerts_logged_only=logged_only(session),
    )


def _recent_errors(session: Session) -> list[RecentError]:
    """The newest errors on sends (failed, expired, missed), on callbacks and on alerts to the
    ops robot (waiting to retry, or given up on). Cancelled sends are left out: a playbook
    change, a dismissed group or `botops withdraw` cancelled them on purpose, and a withdrawal
    of many would hide the real errors. So are alerts only logged for want of a robot key:
    a setting, noted once (`alerts_logged_only`), not an error of each alert."""
    sends = session.exec(
        select(OutboxRow)
        .where(OutboxRow.error != "", OutboxRow.state != SendState.CANCELLED)
        .order_by(col(OutboxRow.updated_at).desc())
        .limit(RECENT_ERRORS)
    )
    errors = [
        RecentError(
            r.updated_at, f"send {r.playbook}:{r.step} → {r.target_id} ({r.state})", r.error
        )
        for r in sends
    ]
    callbacks = session.exec(  # waiting to retry, or given up on (ix_callback_events_failed)
        select(CallbackEvent)
        .where(CallbackEvent.error != "")
        .order_by(col(CallbackEvent.received_at).desc())
        .limit(RECENT_ERRORS)
    )
    errors += [RecentError(c.received_at, f"callback {c.kind}", c.error) for c in callbacks]
    alerts = session.exec(  # few rows: alerts are a handful a day
        select(Alert)
        .where(Alert.error != "", Alert.error != NO_ROBOT_KEY)
        .order_by(col(Alert.id).desc())
        .limit(RECENT_ERRORS)
    )
    errors += [
        RecentError(a.finished_at or a.created_at, f"alert {a.kind} ({a.status})", a.error)
        for a in alerts
    ]
    errors.sort(key=lambda e: e.at, reverse=True)
    return errors[:RECENT_ERRORS]
