"""Scoring one message: ledger history -> rules.evaluate -> ledger.record.

Runs in the caller's session (one transaction: the caller commits). The ledger's unique
indexes are the last word: if another replica scored the same message, or the member's day,
between our read and our write, the insert is ignored and the message is evaluated again
against the history that now includes it — so the same message processed twice scores once.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from botops.checkins.message import Message
from botops.checkins.rules import Decision, Outcome, evaluate
from botops.playbook.model import CheckinRule
from botops.store import ledger
from botops.store.models import LedgerEntry, LedgerReason

ATTEMPTS = 3  # a lost race is re-read once; a third conflict means something is wrong


class LedgerConflictError(RuntimeError):
    """The ledger refused the same decision repeatedly (it should settle after one re-read)."""


def apply(
    session: Session,
    playbook: str,
    rule: CheckinRule,
    tz: ZoneInfo,
    message: Message,
    now: datetime,
    *,
    not_before: date | None = None,
) -> Decision:
    """Score `message` under `playbook`'s check-in `rule` and record what it earned."""
    for _ in range(ATTEMPTS):
        past = ledger.history(session, message.sender_id, message.chat_id, playbook)
        decision = evaluate(rule, tz, message, past, not_before=not_before)
        if not decision.scored:
            return decision
        primary, *bonus = entries(decision, playbook, message, now)
        if ledger.record(session, [primary]):
            ledger.record(session, bonus)
            return decision
        if ledger.msgid_scored(session, playbook, message.msgid):
            # The same msgid already scored for another member or group: not a message
            # WeCom would send twice, so it is bad input, and it never scores twice either.
            detail = "this message id already scored, for another member or group"
            return Decision(Outcome.DUPLICATE, decision.day, detail=detail)
    raise LedgerConflictError(f"message {message.msgid} kept conflicting in the ledger")


def entries(
    decision: Decision, playbook: str, message: Message, now: datetime
) -> list[LedgerEntry]:
    """The ledger rows a scoring decision writes: the check-in or make-up first, then its
    streak bonus (one row for every length reached by this message)."""
    assert decision.credited_day is not None
    reason = LedgerReason.CHECKIN if decision.outcome is Outcome.CHECKIN else LedgerReason.MAKEUP

    def row(reason: LedgerReason, day: date, points: int, note: str) -> LedgerEntry:
        return LedgerEntry(
            member_id=message.sender_id,
            member_name=message.sender_name,
            chat_id=message.chat_id,
            playbook=playbook,
            local_day=day,
            points=points,
            reason=reason,
            source_msgid=message.msgid,
            created_at=now,
            note=note,
        )

    rows = [row(reason, decision.credited_day, decision.points, f"streak {decision.streak}")]
    if decision.bonus:
        lengths = ", ".join(str(n) for n in decision.bonus_streaks)
        note = f"streak bonus: {lengths} days"
        rows.append(row(LedgerReason.STREAK_BONUS, decision.day, decision.bonus, note))
    return rows
