"""Shared pieces of the check-in tests: a rule like the shipped docs example, messages."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from botops.checkins.message import Message
from botops.checkins.rules import Decision, MemberHistory, Outcome, evaluate
from botops.playbook.model import CheckinRule
from tests.helpers import SHANGHAI, local

RULE = CheckinRule.model_validate(
    {
        "keywords": ["打卡", "done"],
        "regex": r"^第\s*\d+\s*天",
        "points": 10,
        "window": {"start": "05:00", "end": "23:30"},
        "streak_bonus": {7: 30, 21: 100},
        "makeup": {"allowance": 2, "within_days": 2, "points": 5, "keywords": ["补卡"]},
    }
)
ALL_DAY = RULE.model_copy(update={"window": None})

_ids = itertools.count(1)


def message(
    text: str,
    at: str,
    *,
    tz: ZoneInfo = SHANGHAI,
    sender: str = "wm-xiaoyu",
    name: str = "小雨",
    chat: str = "wr-group-1",
    msgid: str | None = None,
) -> Message:
    return Message(
        msgid=msgid or f"msg-{next(_ids)}",
        chat_id=chat,
        sender_id=sender,
        sender_name=name,
        text=text,
        sent_at=local(at, tz),
        source="test",
    )


def run(last: str, length: int) -> frozenset[date]:
    """`length` consecutive days ending on `last` (YYYY-MM-DD)."""
    end = date.fromisoformat(last)
    return frozenset(end - timedelta(days=n) for n in range(length))


def history(*days: frozenset[date] | str, makeups: int = 0) -> MemberHistory:
    found: set[date] = set()
    for d in days:
        found |= {date.fromisoformat(d)} if isinstance(d, str) else d
    return MemberHistory(frozenset(found), makeups)


def score_all(
    rule: CheckinRule, tz: ZoneInfo, messages: list[Message], past: MemberHistory | None = None
) -> list[Decision]:
    """Evaluate messages in order, folding each scoring decision into the history (what the
    ledger would do, without a database)."""
    past = past or MemberHistory()
    decisions = []
    for m in messages:
        decision = evaluate(rule, tz, m, past)
        if decision.scored:
            assert decision.credited_day is not None
            makeup = decision.outcome is Outcome.MAKEUP
            past = past.adding(decision.credited_day, m.msgid, makeup=makeup)
        decisions.append(decision)
    return decisions
