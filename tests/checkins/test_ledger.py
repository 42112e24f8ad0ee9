"""The ledger and engine.apply on a real database (SQLite file; PostgreSQL when available)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from botops.checkins import engine as checkin_engine
from botops.checkins.message import Message
from botops.checkins.rules import MemberHistory, Outcome
from botops.playbook.context import LeaderRow
from botops.store import ledger
from botops.store.db import session
from botops.store.models import GroupMember, GroupRecord, LedgerEntry, LedgerReason
from tests.checkins.helpers import ALL_DAY, RULE, message
from tests.helpers import SHANGHAI

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PLAYBOOK = "checkin-100days"
CHAT = "wr-group-1"


def apply(engine: Engine, msg: Message, playbook: str = PLAYBOOK, rule: Any = RULE):
    with session(engine) as s:
        return checkin_engine.apply(s, playbook, rule, SHANGHAI, msg, NOW)


def rows(engine: Engine) -> list[tuple[str, date, int, LedgerReason, str]]:
    with session(engine) as s:
        query = select(LedgerEntry).order_by(col(LedgerEntry.id))
        return [
            (r.member_id, r.local_day, r.points, r.reason, r.source_msgid) for r in s.exec(query)
        ]


def total(engine: Engine) -> int:
    with session(engine) as s:
        return int(s.exec(select(func.coalesce(func.sum(LedgerEntry.points), 0))).one())


def test_a_checkin_is_recorded_and_a_redelivery_never_counts_twice(engine: Engine):
    msg = message("打卡", "2026-12-01 08:00", msgid="m-1")
    assert apply(engine, msg).outcome is Outcome.CHECKIN
    assert apply(engine, msg).outcome is Outcome.DUPLICATE
    assert rows(engine) == [("wm-xiaoyu", date(2026, 12, 1), 10, LedgerReason.CHECKIN, "m-1")]
    with session(engine) as s:
        assert ledger.history(s, "wm-xiaoyu", CHAT, PLAYBOOK) == MemberHistory(
            frozenset({date(2026, 12, 1)}), 0, frozenset({"m-1"})
        )


def test_record_is_insert_or_ignore(engine: Engine):
    decision = apply(engine, message("打卡", "2026-12-01 08:00", msgid="m-1"))
    again = checkin_engine.entries(
        decision, PLAYBOOK, message("打卡", "2026-12-01 09:00", msgid="m-1"), NOW
    )
    other_msgid_same_day = checkin_engine.entries(
        decision, PLAYBOOK, message("打卡", "2026-12-01 09:00", msgid="m-2"), NOW
    )
    with session(engine) as s:
        assert ledger.record(s, again) == []
        assert ledger.record(s, other_msgid_same_day) == []  # one check-in per member and day
    assert total(engine) == 10


def test_a_lost_race_is_evaluated_again(engine: Engine, monkeypatch: pytest.MonkeyPatch):
    """Another replica scored the member's day between our read and our write."""
    apply(engine, message("打卡", "2026-12-01 08:00", msgid="m-1"))
    real_history = ledger.history
    calls = []

    def stale_then_real(*args: Any) -> MemberHistory:
        calls.append(args)
        return MemberHistory() if len(calls) == 1 else real_history(*args)

    monkeypatch.setattr(ledger, "history", stale_then_real)
    decision = apply(engine, message("打卡", "2026-12-01 09:00", msgid="m-2"))
    assert decision.outcome is Outcome.ALREADY_CHECKED_IN
    assert len(calls) == 2
    assert total(engine) == 10


def test_the_same_message_counts_once_per_playbook(engine: Engine):
    msg = message("打卡", "2026-12-01 08:00", msgid="m-1")
    apply(engine, msg, "checkin-100days")
    apply(engine, msg, "reading-week")
    assert [r[4] for r in rows(engine)] == ["m-1", "m-1"]


def test_makeups_and_streak_bonuses_are_rows(engine: Engine):
    for day in range(1, 7):  # 1..6, missed the 7th
        apply(engine, message("打卡", f"2026-12-0{day} 08:00"))
    decision = apply(engine, message("补卡", "2026-12-08 07:00", msgid="mk"))
    assert (decision.outcome, decision.streak, decision.bonus) == (Outcome.MAKEUP, 7, 30)
    assert rows(engine)[-2:] == [
        ("wm-xiaoyu", date(2026, 12, 7), 5, LedgerReason.MAKEUP, "mk"),
        ("wm-xiaoyu", date(2026, 12, 8), 30, LedgerReason.STREAK_BONUS, "mk"),
    ]
    assert apply(engine, message("补卡", "2026-12-08 07:00", msgid="mk")).outcome is (
        Outcome.DUPLICATE
    )
    assert total(engine) == 6 * 10 + 5 + 30
    with session(engine) as s:
        past = ledger.history(s, "wm-xiaoyu", CHAT, PLAYBOOK)
    assert (len(past.days), past.makeups_used) == (7, 1)


def test_adjustments_append_and_never_edit(engine: Engine):
    apply(engine, message("打卡", "2026-12-01 08:00"))
    with session(engine) as s:
        ledger.adjust(
            s, "wm-xiaoyu", -4, " 重复刷屏 ", NOW, chat_id=CHAT, playbook=PLAYBOOK, tz=SHANGHAI
        )
        ledger.adjust(
            s, "wm-xiaoyu", 3, "线下活动", NOW, chat_id=CHAT, playbook=PLAYBOOK, tz=SHANGHAI
        )
    assert [r[2:4] for r in rows(engine)] == [
        (10, LedgerReason.CHECKIN),
        (-4, LedgerReason.ADJUSTMENT),
        (3, LedgerReason.ADJUSTMENT),
    ]
    assert total(engine) == 9
    with session(engine) as s:
        notes = s.exec(select(LedgerEntry.note).where(LedgerEntry.points < 0)).all()
        assert notes == ["重复刷屏"]
        assert ledger.history(s, "wm-xiaoyu", CHAT, PLAYBOOK).days == {date(2026, 12, 1)}
        for bad_points, bad_reason in ((0, "x"), (5, "  ")):
            with pytest.raises(ValueError, match="adjustment"):
                ledger.adjust(
                    s,
                    "u",
                    bad_points,
                    bad_reason,
                    NOW,
                    chat_id=CHAT,
                    playbook=PLAYBOOK,
                    tz=SHANGHAI,
                )


def checkin_days(engine: Engine, who: str, name: str, days: list[int], chat: str = CHAT) -> None:
    for day in days:
        at = (date(2026, 11, 30) + timedelta(days=day)).isoformat()
        apply(
            engine, message("打卡", f"{at} 08:00", sender=who, name=name, chat=chat), rule=ALL_DAY
        )


def test_leaderboard_orders_by_points_then_streak_then_name(engine: Engine):
    checkin_days(engine, "a", "阿杰", [1, 3, 5])  # 30 points, streak 1 on the 5th
    checkin_days(engine, "b", "Lily", [3, 4, 5])  # 30 points, streak 3
    checkin_days(engine, "c", "小雨", [1, 2, 3, 4, 5])  # 50 points
    checkin_days(engine, "d", "Bob", [2, 4, 5])  # 30 points, streak 2
    checkin_days(engine, "x", "别的群", [1, 2, 3, 4, 5, 6], chat="wr-group-2")
    with session(engine) as s:
        board = ledger.leaderboard(s, playbook=PLAYBOOK, chat_id=CHAT, today=date(2026, 12, 5))
        assert board == [
            LeaderRow("小雨", 50, 5, 1),
            LeaderRow("Lily", 30, 3, 2),
            LeaderRow("Bob", 30, 2, 3),
            LeaderRow("阿杰", 30, 1, 4),
        ]
        # two days later every streak has lapsed: the three on 30 points tie for 2nd, and
        # the top 2 takes all of them
        later = ledger.leaderboard(s, chat_id=CHAT, top=2, today=date(2026, 12, 7))
        assert later == [
            LeaderRow("小雨", 50, 0, 1),
            LeaderRow("Bob", 30, 0, 2),
            LeaderRow("Lily", 30, 0, 2),
            LeaderRow("阿杰", 30, 0, 2),
        ]
        everywhere = ledger.leaderboard(s, playbook=PLAYBOOK, top=1)
        assert everywhere == [LeaderRow("别的群", 60, 6, 1)]
        assert ledger.leaderboard(s, playbook="nothing-here") == []


def test_snapshot_figures_for_templates(engine: Engine):
    checkin_days(engine, "a", "阿杰", [1, 2, 3])
    checkin_days(engine, "b", "Lily", [3])
    checkin_days(engine, "c", "小雨", [1, 2])  # not yet today
    checkin_days(engine, "gone", "离开的人", [1, 2, 3])  # left the group
    members = {"a": "阿杰", "b": "Lily", "c": "小雨", "d": "新人"}
    with session(engine) as s:
        ledger.adjust(s, "c", 5, "bonus", NOW, chat_id=CHAT, playbook=PLAYBOOK, tz=SHANGHAI)
        snap = ledger.snapshot(s, CHAT, PLAYBOOK, date(2026, 12, 3), members, top=3)
        assert (snap.today_count, snap.today_rate) == (2, 0.5)
        assert snap.not_checked_in == ["小雨", "新人"]
        assert snap.total_points == 9 * 10 + 5
        assert snap.best_streak == 3
        assert snap.leaderboard == [  # ranked among current members: 离开的人 left
            LeaderRow("阿杰", 30, 3, 1),
            LeaderRow("小雨", 25, 2, 2),
            LeaderRow("Lily", 10, 1, 3),
        ]
        empty = ledger.snapshot(s, "wr-empty", PLAYBOOK, date(2026, 12, 3), {})
        assert (empty.today_count, empty.today_rate, empty.total_points) == (0, 0.0, 0)


def test_group_roster_gives_current_customers_by_display_name(engine: Engine):
    with session(engine) as s:
        s.add(GroupRecord(chat_id=CHAT))
        s.flush()
        s.add_all(
            [
                GroupMember(chat_id=CHAT, userid="wm1", name="Lily", group_nickname="莉莉"),
                GroupMember(chat_id=CHAT, userid="wm2", name="小雨"),
                GroupMember(chat_id=CHAT, userid="staff", name="客服", member_type=1),
                GroupMember(chat_id=CHAT, userid="wm3", name="走了", left_at=NOW),
            ]
        )
    checkin_days(engine, "wm1", "Lily", [1])
    with session(engine) as s:
        assert ledger.group_roster(s, CHAT) == {"wm1": "莉莉", "wm2": "小雨"}
        # the roster's name wins over the name a message carried
        assert ledger.leaderboard(s, chat_id=CHAT) == [LeaderRow("莉莉", 10, 1, 1)]


def test_the_ledger_is_a_plain_table_of_aware_times(engine: Engine):
    apply(engine, message("打卡", "2026-12-01 08:00"))
    with Session(engine) as s:
        assert s.exec(select(LedgerEntry)).one().created_at == NOW
