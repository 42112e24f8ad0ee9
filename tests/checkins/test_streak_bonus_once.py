"""A streak bonus is paid once per member and length, by the database: one bonus row per
length (`milestone`) under a partial unique index, insert-or-ignore — even when two of the
member's messages are scored at the same moment, each reading the history without the other."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import col, func, select

from botops.checkins import engine as checkin_engine
from botops.checkins.rules import Decision, MemberHistory, Outcome
from botops.playbook.model import CheckinRule
from botops.store import ledger
from botops.store.db import session
from botops.store.models import LedgerEntry, LedgerReason
from tests.checkins.helpers import message
from tests.helpers import SHANGHAI

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
PLAYBOOK = "camp"
CHAT = "wr-group-1"
TODAY = date(2026, 3, 20)
# A make-up may reach a week back, so a check-in and a make-up can each complete 7 days.
RULE = CheckinRule.model_validate(
    {
        "keywords": ["打卡"],
        "streak_bonus": {3: 5, 5: 10, 7: 30},
        "makeup": {"allowance": 3, "within_days": 7, "points": 5, "keywords": ["补卡"]},
    }
)


def seed(engine: Engine, *days_back: int) -> None:
    """Check-ins on TODAY minus each of `days_back`, written as plain rows."""
    with session(engine) as s:
        for back in days_back:
            s.add(
                LedgerEntry(
                    member_id="wm-xiaoyu",
                    chat_id=CHAT,
                    playbook=PLAYBOOK,
                    local_day=TODAY - timedelta(days=back),
                    points=10,
                    reason=LedgerReason.CHECKIN,
                    source_msgid=f"old-{back}",
                    created_at=NOW,
                )
            )


def bonus_rows(engine: Engine) -> list[tuple[int | None, int, str]]:
    with session(engine) as s:
        query = (
            select(LedgerEntry)
            .where(LedgerEntry.reason == LedgerReason.STREAK_BONUS)
            .order_by(col(LedgerEntry.milestone))
        )
        return [(r.milestone, r.points, r.source_msgid) for r in s.exec(query)]


def total(engine: Engine) -> int:
    with session(engine) as s:
        return int(s.exec(select(func.coalesce(func.sum(LedgerEntry.points), 0))).one())


def apply(engine: Engine, text: str, msgid: str) -> Decision:
    with session(engine) as s:
        msg = message(text, "2026-03-20 08:00", msgid=msgid)
        return checkin_engine.apply(s, PLAYBOOK, RULE, SHANGHAI, msg, NOW)


def test_two_messages_scored_at_once_pay_the_7_day_bonus_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
):
    # Checked in 13..8 and 6..1 days ago; missed 7 days ago. "打卡" today makes 7 days
    # (6..0); "补卡" fills 7 days ago and makes 13 (13..1). Each reaches 7 on its own.
    seed(engine, *range(8, 14), *range(1, 7))
    real_history = ledger.history
    both_read = threading.Barrier(2, timeout=10)
    waited = threading.local()

    def history_then_wait(*args: Any) -> MemberHistory:
        """Both requests read the history before either writes: the interleaving two
        AI-bot requests (or two replicas) may get at any time, forced here."""
        past = real_history(*args)
        if not getattr(waited, "done", False):
            waited.done = True
            both_read.wait()
        return past

    monkeypatch.setattr(ledger, "history", history_then_wait)
    decisions: dict[str, Decision] = {}
    errors: list[BaseException] = []

    def score(text: str, msgid: str) -> None:
        try:
            decisions[msgid] = apply(engine, text, msgid)
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    threads = [
        threading.Thread(target=score, args=("打卡", "m-checkin")),
        threading.Thread(target=score, args=("补卡", "m-makeup")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    checkin, makeup = decisions["m-checkin"], decisions["m-makeup"]
    assert (checkin.outcome, makeup.outcome) == (Outcome.CHECKIN, Outcome.MAKEUP)
    # Both reached 7 days; the ledger paid one of them, and that one's decision says so.
    assert (checkin.streak, makeup.streak) == (7, 13)
    assert sorted([checkin.bonus, makeup.bonus]) == [0, 30]
    ((milestone, points, msgid),) = bonus_rows(engine)
    assert (milestone, points) == (7, 30)
    assert decisions[msgid].bonus == 30
    assert total(engine) == 12 * 10 + 10 + 5 + 30


def test_a_bonus_row_for_a_length_already_paid_is_ignored(engine: Engine):
    seed(engine, *range(1, 7))
    decision = apply(engine, "打卡", "m-1")
    assert decision.bonus_streaks == (7,)
    # The same decision from another message, as a racing request would write it.
    _, bonus = checkin_engine.entries(
        decision, PLAYBOOK, message("打卡", "2026-03-20 09:00", msgid="m-2"), NOW
    )
    with session(engine) as s:
        assert ledger.record(s, [bonus]) == []
    assert bonus_rows(engine) == [(7, 30, "m-1")]


def test_one_message_reaching_two_lengths_writes_a_row_for_each(engine: Engine):
    seed(engine, 1, 2, 4, 5)  # 补卡 fills 3 days ago: a run of 5, reaching 3 and 5 at once
    decision = apply(engine, "补卡", "m-1")
    assert (decision.outcome, decision.streak, decision.bonuses) == (
        Outcome.MAKEUP,
        5,
        ((3, 5), (5, 10)),
    )
    assert bonus_rows(engine) == [(3, 5, "m-1"), (5, 10, "m-1")]
    assert apply(engine, "补卡", "m-1").outcome is Outcome.DUPLICATE  # a redelivery
    assert total(engine) == 4 * 10 + 5 + 5 + 10
