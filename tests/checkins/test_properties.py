"""Properties over any sequence of messages: random days, times, words, senders and
redeliveries, in any order — against the pure rules and against the real ledger."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import col, func, select

from botops.checkins import engine as checkin_engine
from botops.checkins.message import Message
from botops.checkins.rules import Outcome
from botops.store.db import open_database, session
from botops.store.ledger import DAY_REASONS
from botops.store.models import LedgerEntry
from tests.checkins.helpers import RULE, score_all
from tests.helpers import SHANGHAI

START = datetime(2026, 12, 20, tzinfo=SHANGHAI)  # the runs cross a year end
TEXTS = ["打卡", "补卡", "早上好", "第 3 天", "DONE", "补卡 打卡"]


@st.composite
def messages(draw: st.DrawFn) -> list[Message]:
    count = draw(st.integers(1, 40))
    made: list[Message] = []
    for n in range(count):
        redeliver = draw(st.integers(0, 3)) == 0  # a quarter of the messages come again
        if made and redeliver:
            made.append(draw(st.sampled_from(made)))
            continue
        minutes = draw(st.integers(0, 30 * 24 * 60 - 1))
        made.append(
            Message(
                msgid=f"m{n}",
                chat_id="wr-1",
                sender_id=draw(st.sampled_from(["a", "b"])),
                sender_name="",
                text=draw(st.sampled_from(TEXTS)),
                sent_at=START + timedelta(minutes=minutes),
                source="hypothesis",
            )
        )
    if draw(st.booleans()):
        made.sort(key=lambda m: m.sent_at)
    return made


@given(messages())
@settings(max_examples=300, deadline=None)
def test_rules_never_count_a_day_twice_nor_pay_a_bonus_twice(msgs: list[Message]):
    assert RULE.makeup is not None
    for member in ("a", "b"):
        mine = [m for m in msgs if m.sender_id == member]
        decisions = score_all(RULE, SHANGHAI, mine)
        scored = [d for d in decisions if d.scored]
        days = Counter(d.credited_day for d in scored)
        assert all(n == 1 for n in days.values())
        assert sum(d.outcome is Outcome.MAKEUP for d in scored) <= RULE.makeup.allowance
        paid = Counter(n for d in decisions for n in d.bonus_streaks)
        assert all(n == 1 for n in paid.values())
        scored_ids = [m.msgid for m, d in zip(mine, decisions, strict=True) if d.scored]
        assert len(scored_ids) == len(set(scored_ids))  # no message scores twice


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("ledger") / "botops.db"
    engine = open_database(f"sqlite:///{path}")
    yield engine
    engine.dispose()


_playbooks = itertools.count(1)


@given(msgs=messages())
@settings(max_examples=60, deadline=None)
def test_ledger_total_is_the_sum_of_decisions(db: Engine, msgs: list[Message]):
    playbook = f"p{next(_playbooks)}"  # each example its own playbook in the shared file
    now = START + timedelta(days=40)
    decided = 0
    for msg in msgs:
        with session(db) as s:
            decided += checkin_engine.apply(s, playbook, RULE, SHANGHAI, msg, now).total
    with session(db) as s:
        mine = LedgerEntry.playbook == playbook
        total = s.exec(select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(mine)).one()
        assert total == decided
        per_day = (
            select(LedgerEntry.member_id, func.count())
            .where(mine, col(LedgerEntry.reason).in_(DAY_REASONS))
            .group_by(col(LedgerEntry.member_id), col(LedgerEntry.local_day))
        )
        assert all(n == 1 for _, n in s.exec(per_day))
    # and processing everything again adds nothing
    for msg in msgs:
        with session(db) as s:
            again = checkin_engine.apply(s, playbook, RULE, SHANGHAI, msg, now)
            assert not again.scored
            assert again.outcome in (
                Outcome.DUPLICATE,
                Outcome.NOT_CHECKIN,
                Outcome.OUTSIDE_WINDOW,
                Outcome.ALREADY_CHECKED_IN,
                Outcome.MAKEUP_REFUSED,
            )
