"""Alerts for the ops robot, in the database: recorded once under a key, then finished.

An alert is recorded (insert-or-ignore on its key, committed) before anything tries to send
it, so it outlives a robot that is down, a restart and a change of leader; its key makes a
second recording of the same alert a no-op. The sync alerts are also the record of whether
the group sync is broken: the latest of them says so. Each sync alert's key names the
alert it follows, so two replicas seeing the same failure record it once.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from botops.store.db import dialect_insert
from botops.store.models import Alert, AlertStatus

SYNC_BROKEN = "sync_broken"  # a sync stopped at a configuration error (secret, IP, permission)
SYNC_RECOVERED = "sync_recovered"  # the first complete sync after that
PLAYBOOKS_REJECTED = "playbooks_rejected"  # an invalid playbook change was not applied
SENDS_FAILED = "sends_failed"  # WeCom refused sends of a dispatch round (at most one an hour)
CALLBACK_GIVEN_UP = "callback_given_up"  # handling a stored callback failed for hours
DAEMON_SILENT = "daemon_silent"  # a replica stopped without a clean shutdown

# The `error` of an alert finished without a robot to send it to: alerts are then only logged
# (`alerts.not_sent`), a choice of configuration, not a failure (`botops status` says so once).
NO_ROBOT_KEY = "alerts.robot_key is not set"


def record_alert(session: Session, key: str, kind: str, text: str, now: datetime) -> bool:
    """Record an alert to send; False when one with this key is already recorded."""
    statement = (
        dialect_insert(session)(Alert)
        .values(
            key=key,
            kind=kind,
            text=text,
            created_at=now,
            status=AlertStatus.PENDING,
            attempts=0,
            error="",
        )
        .on_conflict_do_nothing()
        .returning(col(Alert.id))
    )
    return session.exec(statement).first() is not None


def hourly_key(kind: str, now: datetime, tz: str) -> str:
    """The key of an alert sent at most once per local hour (in `tz`)."""
    return f"{kind}:{now.astimezone(ZoneInfo(tz)):%Y-%m-%dT%H}"


def record_sync_outcome(session: Session, ok: bool, broken: bool, text: str, now: datetime) -> bool:
    """Record the sync alert this outcome calls for, if any: SYNC_BROKEN when a sync stopped at
    a configuration error (`broken`) while the sync was fine, SYNC_RECOVERED when a complete
    sync (`ok`) follows a broken one. Whether one was recorded."""
    last = _last_sync_alert(session)
    was_broken = last is not None and last.kind == SYNC_BROKEN
    if broken and not was_broken:
        kind = SYNC_BROKEN
    elif ok and was_broken:
        kind = SYNC_RECOVERED
    else:
        return False
    after = "start" if last is None else str(last.id)
    return record_alert(session, f"{kind}:after:{after}", kind, text, now)


def sync_broken(session: Session) -> bool:
    """Whether the last sync alert said the sync is broken (and no sync has recovered it)."""
    last = _last_sync_alert(session)
    return last is not None and last.kind == SYNC_BROKEN


def pending_alerts(session: Session) -> list[Alert]:
    """The alerts still to send, oldest first."""
    query = select(Alert).where(col(Alert.status) == AlertStatus.PENDING).order_by(col(Alert.id))
    return list(session.exec(query))


def finish_alert(
    session: Session, alert_id: int, status: AlertStatus, now: datetime, error: str = ""
) -> None:
    """Mark a pending alert sent or given up (FAILED, with why)."""
    session.exec(
        update(Alert)
        .where(col(Alert.id) == alert_id, col(Alert.status) == AlertStatus.PENDING)
        .values(status=status, finished_at=now, error=error)
    )


def delivery_failed(session: Session, alert_id: int, error: str) -> None:
    """A delivery that said nothing was posted: the alert stays pending, to try again."""
    session.exec(
        update(Alert)
        .where(col(Alert.id) == alert_id, col(Alert.status) == AlertStatus.PENDING)
        .values(attempts=Alert.attempts + 1, error=error)
    )


def sent_since(session: Session, since: datetime) -> int:
    """How many alerts were posted at or after `since`: they count against the robot's rate
    limit (botops.senders.alerts sends no more in a minute than the robot takes)."""
    query = select(func.count()).where(
        col(Alert.status) == AlertStatus.SENT, col(Alert.finished_at) >= since
    )
    return session.exec(query).one()


def last_recorded_at(session: Session, kind: str) -> datetime | None:
    """When the newest alert of `kind` was recorded; None if there is none."""
    return session.exec(select(func.max(Alert.created_at)).where(col(Alert.kind) == kind)).one()


def logged_only(session: Session) -> bool:
    """Whether the newest finished alert went to the log only, for want of a robot key."""
    query = (
        select(Alert.error)
        .where(col(Alert.status) != AlertStatus.PENDING)
        .order_by(col(Alert.id).desc())
        .limit(1)
    )
    return session.exec(query).first() == NO_ROBOT_KEY


def _last_sync_alert(session: Session) -> Alert | None:
    query = (
        select(Alert)
        .where(col(Alert.kind).in_([SYNC_BROKEN, SYNC_RECOVERED]))
        .order_by(col(Alert.id).desc())
        .limit(1)
    )
    return session.exec(query).first()
