"""Carry what tracking learned about each task target back to its outbox row."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from botops.store.models import MassTask, MassTaskTarget, OutboxRow, SendState, TargetStatus

FINAL_TARGET = {
    TargetStatus.SENT: (SendState.SENT, ""),
    TargetStatus.NOT_FRIEND: (
        SendState.FAILED,
        "WeCom: the customer is not the sender's contact (status 2)",
    ),
    TargetStatus.ALREADY_RECEIVED: (
        SendState.FAILED,
        "WeCom: the receive cap was reached (status 3)",
    ),
    TargetStatus.EXPIRED: (
        SendState.EXPIRED,
        "not confirmed by staff before expires_after; cancelled",
    ),
}


WITHDRAWN = (SendState.CANCELLED, "withdrawn by ops (botops withdraw) before staff sent it")


def apply_outcomes(s: Session, now: datetime) -> dict[str, SendState]:
    """Submitted rows whose task target reached a final status take that status."""
    found = s.exec(
        select(OutboxRow, MassTaskTarget, MassTask.withdrawn_at)
        .join(MassTaskTarget, col(MassTaskTarget.send_key) == col(OutboxRow.key))
        .join(MassTask, col(MassTask.msgid) == col(MassTaskTarget.msgid))
        .where(
            OutboxRow.state == SendState.SUBMITTED,
            col(MassTaskTarget.status).in_(list(FINAL_TARGET)),
        )
    ).all()
    changed: dict[str, SendState] = {}
    for row, target, withdrawn_at in found:
        withdrawn = target.status == TargetStatus.EXPIRED and withdrawn_at is not None
        row.state, row.error = WITHDRAWN if withdrawn else FINAL_TARGET[target.status]
        row.updated_at = now
        s.add(row)
        changed[row.key] = row.state
    return changed
