"""The running daemons' heartbeats (`daemons`): written by each `botops run`, read by
`botops status` and by the leader, which alerts a replica gone silent
(botops.daemon.alerting)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, delete, select

from botops.store.models import DaemonSeen


def beat(
    session: Session, worker: str, role: str, version: str, started_at: datetime, now: datetime
) -> None:
    """This daemon is alive now, in `role`."""
    row = session.get(DaemonSeen, worker)
    if row is None:
        row = DaemonSeen(
            worker=worker, role=role, version=version, started_at=started_at, seen_at=now
        )
    row.role, row.seen_at = role, now
    session.add(row)


def leave(session: Session, worker: str) -> None:
    """A clean shutdown: this daemon is no longer running."""
    session.exec(delete(DaemonSeen).where(col(DaemonSeen.worker) == worker))


def forget_gone(session: Session, before: datetime) -> int:
    """Delete the rows of daemons not seen since `before` (crashed long ago); how many."""
    gone = delete(DaemonSeen).where(col(DaemonSeen.seen_at) < before)
    deleted: int = session.exec(gone).rowcount
    return deleted


def silent_daemons(session: Session, before: datetime) -> list[DaemonSeen]:
    """Daemons whose last heartbeat is older than `before`."""
    query = select(DaemonSeen).where(col(DaemonSeen.seen_at) < before)
    return list(session.exec(query.order_by(col(DaemonSeen.seen_at))))


def daemons_seen(session: Session) -> list[DaemonSeen]:
    """Every daemon with a heartbeat, the leader first, then the most recently seen."""
    rows = session.exec(select(DaemonSeen).order_by(col(DaemonSeen.seen_at).desc()))
    return sorted(rows, key=lambda d: d.role != "leader")
