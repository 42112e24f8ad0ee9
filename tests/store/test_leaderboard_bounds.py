"""The leaderboard templates read is bounded and counts only current customer members: a big
tie is summarised as a count (so the weekly message fits WeCom's limit), and someone who left
the group, or staff, is not ranked."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from botops.planning.planner import Window, plan
from botops.planning.policy import SendPolicy
from botops.planning.render_one import render_step
from botops.planning.targets import Target
from botops.playbook.context import LeaderRow
from botops.playbook.library import load_library
from botops.store import ledger
from botops.store.db import session
from botops.store.groups import add_group_tags, targets, upsert_group
from botops.store.models import Enrolment, LedgerEntry, LedgerReason
from botops.wecom import limits
from tests.helpers import REPO, SHANGHAI

PLAYBOOK = "checkin-100days"
CHAT = "wr-big"
DAY_ONE = date(2026, 3, 2)  # a Monday; the first weekly leaderboard is Sunday, Day 7
SUNDAY = date(2026, 3, 8)
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def store_group(engine: Engine, customers: list[str], *, version: str = "v1") -> None:
    """The group as a sync stores it: staff `zhangsan` and these customers."""
    chat: Any = {
        "chat_id": CHAT,
        "name": "百日读书打卡1群",
        "owner": "zhangsan",
        "create_time": int(datetime(2026, 2, 1, tzinfo=UTC).timestamp()),
        "member_list": [{"userid": "zhangsan", "type": 1, "join_time": 1}]
        + [{"userid": m, "type": 2, "join_time": 2, "name": m} for m in customers],
        "admin_list": [],
        "member_version": version,
    }
    with session(engine) as s:
        upsert_group(s, chat, NOW)
        add_group_tags(s, CHAT, ["打卡挑战"])


def check_in(engine: Engine, members: list[str], days: int) -> None:
    """Each member checks in on Day 1..`days` (written straight to the ledger: fast)."""
    with session(engine) as s:
        ledger.record(
            s,
            [
                LedgerEntry(
                    member_id=m,
                    member_name=m,
                    chat_id=CHAT,
                    playbook=PLAYBOOK,
                    local_day=DAY_ONE + timedelta(days=d),
                    points=10,
                    reason=LedgerReason.CHECKIN,
                    source_msgid=f"{m}-{d}",
                    created_at=NOW,
                )
                for m in members
                for d in range(days)
            ],
        )


def test_500_tied_members_still_get_the_weekly_leaderboard(engine: Engine):
    members = [f"wm{i:03d}" for i in range(500)]
    store_group(engine, members)
    check_in(engine, members, 7)
    library, problems = load_library([REPO / "sops"], REPO / "templates")
    assert not [p for p in problems if p.severity == "error"], problems
    due = datetime.combine(SUNDAY, datetime.min.time().replace(hour=21), SHANGHAI)
    with session(engine) as s:
        s.add(Enrolment(target_id=CHAT, playbook_id=PLAYBOOK, day_one=DAY_ONE, enrolled_at=NOW))
    with session(engine) as s:
        snap = ledger.snapshot(s, CHAT, PLAYBOOK, SUNDAY, ledger.group_roster(s, CHAT))
        groups = list(targets(s))
    policy = SendPolicy.model_validate(
        {"quiet_hours": None, "receive_cap": {"period": "day", "limit": 5}}
    )
    window = Window(due, due + timedelta(microseconds=1))
    sends = plan(library, groups, window, policy, {CHAT: snap}).sends
    (board,) = [s for s in sends if s.step == "weekly-leaderboard"]
    assert board.sendable, board.reason
    assert limits.utf8_len(board.text) <= limits.MASS_TEXT_MAX_BYTES
    # the first 10 by rank, and the rest of the tie as a count
    assert [r.rank for r in snap.leaderboard] == [1] * 10
    assert snap.leaderboard_more == 490
    assert "另有 490 人并列第 1 名" in board.text
    assert sum("分，连续" in line for line in board.text.splitlines()) == 10


def test_the_tie_count_is_of_those_tied_with_the_last_row_shown(engine: Engine):
    members = [f"wm{i:02d}" for i in range(15)]
    store_group(engine, members)
    check_in(engine, members[:3], 3)  # 30 points: three tied for 1st
    check_in(engine, members[3:12], 2)  # 20 points: 9 tied for 4th, 7 of them shown
    check_in(engine, members[12:], 1)  # 10 points: 13th, beyond the tie, not counted
    roster = {m: m for m in members}
    with session(engine) as s:
        snap = ledger.snapshot(s, CHAT, PLAYBOOK, DAY_ONE + timedelta(days=2), roster)
    assert [r.rank for r in snap.leaderboard] == [1, 1, 1, 4, 4, 4, 4, 4, 4, 4]
    assert snap.leaderboard_more == 2
    with session(engine) as s:
        fewer = {m: m for m in members[:10]}
        small = ledger.snapshot(s, CHAT, PLAYBOOK, DAY_ONE + timedelta(days=2), fewer)
    assert (len(small.leaderboard), small.leaderboard_more) == (10, 0)


def test_the_ceremony_counts_a_tie_on_the_podium_it_cannot_list(engine: Engine):
    members = [f"wm{i:02d}" for i in range(12)]
    store_group(engine, members)
    check_in(engine, members, 3)  # all 12 tied for first
    library, _ = load_library([REPO / "sops"], REPO / "templates")
    group = Target(CHAT, "百日读书打卡1群", "zhangsan", frozenset({"打卡挑战"}))
    with session(engine) as s:
        snap = ledger.snapshot(
            s, CHAT, PLAYBOOK, DAY_ONE + timedelta(days=2), {m: m for m in members}
        )
    text = render_step(
        library, PLAYBOOK, "final-ceremony", group, day=100, anchor=DAY_ONE, checkins=snap
    ).text
    podium = [line for line in text.splitlines() if line.startswith("1. ")]
    assert len(podium) == 10
    assert "……另有 2 人并列第 1 名" in text


def test_members_who_left_are_not_ranked(engine: Engine):
    store_group(engine, ["wmA", "wmB", "wmC"])
    check_in(engine, ["wmA"], 3)  # the best, but leaves
    check_in(engine, ["wmB", "wmC"], 2)
    check_in(engine, ["zhangsan"], 3)  # staff rows, from before staff stopped scoring
    store_group(engine, ["wmB", "wmC", "wmD"], version="v2")  # wmA has left
    with session(engine) as s:
        roster = ledger.group_roster(s, CHAT)
        snap = ledger.snapshot(s, CHAT, PLAYBOOK, DAY_ONE + timedelta(days=2), roster)
    assert "wmA" not in roster
    # ranked among current customers only: wmB and wmC share first place, and the board's
    # best streak is the group's
    assert snap.leaderboard == [LeaderRow("wmB", 20, 2, 1), LeaderRow("wmC", 20, 2, 1)]
    assert (snap.leaderboard_more, snap.best_streak) == (0, 2)
