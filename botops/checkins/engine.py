"""Scoring one message: ledger history -> rules.evaluate -> ledger.record.

Runs in the caller's session (one transaction: the caller commits). The ledger's unique
indexes are the last word: if another replica scored the same message, or the member's day,
between our read and our write, the insert is ignored and the message is evaluated again
against the history that now includes it — so the same message processed twice scores once.
A streak bonus is one row per length, unique per member: when two of a member's messages,
scored at once, both reach 7 days, the second bonus row is ignored and its decision reports
no bonus — the bonus is paid once whatever the interleaving.
"""

from __future__ import annotations

from dataclasses import replace
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
    not_after: date | None = None,
) -> Decision:
    """Score `message` under `playbook`'s check-in `rule` and record what it earned.
    `not_before` / `not_after`: the challenge's first and last day (rules.evaluate)."""
    for _ in range(ATTEMPTS):
        past = ledger.history(session, message.sender_id, message.chat_id, playbook)
        decision = evaluate(rule, tz, message, past, not_before=not_before, not_after=not_after)
        if not decision.scored:
            return decision
        primary, *bonus = entries(decision, playbook, message, now)
        if ledger.record(session, [primary]):
            paid = {entry.milestone for entry in ledger.record(session, bonus)}
            # Only the bonus rows written are this message's: another of the member's
            # messages, scored at the same time, may have reached the same length first.
            kept = tuple(b for b in decision.bonuses if b[0] in paid)
            return replace(decision, bonuses=kept)
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
    streak bonuses (one row for every length reached by this message, shortest first: two
    messages inserting the same lengths take their unique-index locks in the same order)."""
    assert decision.credited_day is not None
    reason = LedgerReason.CHECKIN if decision.outcome is Outcome.CHECKIN else LedgerReason.MAKEUP

    def row(
        reason: LedgerReason, day: date, points: int, note: str, milestone: int | None = None
    ) -> LedgerEntry:
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
            milestone=milestone,
        )

    rows = [row(reason, decision.credited_day, decision.points, f"streak {decision.streak}")]
    for length, points in decision.bonuses:
        note = f"streak bonus: {length} days"
        rows.append(row(LedgerReason.STREAK_BONUS, decision.day, points, note, length))
    return rows
