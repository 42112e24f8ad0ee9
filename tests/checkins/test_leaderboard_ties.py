"""Leaderboard ties: members equal on points and streak share a rank (1, 1, 3); a top N
takes everyone tied at the cut-off, while the snapshot templates read stops at N rows and
counts the rest of the tie — in the store, and in the shipped templates that show it."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine

from botops.checkins import engine as checkin_engine
from botops.planning.render_one import render_step
from botops.planning.targets import Target
from botops.playbook.context import LeaderRow
from botops.playbook.library import PlaybookLibrary, load_library
from botops.store import ledger
from botops.store.db import session
from tests.checkins.helpers import ALL_DAY, message
from tests.helpers import REPO, SHANGHAI

PLAYBOOK = "checkin-100days"
CHAT = "wr-group-1"
TODAY = date(2026, 12, 3)
MEMBERS = {"a": "阿杰", "b": "Lily", "c": "小雨", "d": "Bob", "e": "新人"}


def checkin_days(engine: Engine, who: str, name: str, days: list[int]) -> None:
    """`who` checks in on these days of December 2026, through the real rules and ledger."""
    for day in days:
        msg = message("打卡", f"2026-12-{day:02d} 08:00", sender=who, name=name, chat=CHAT)
        with session(engine) as s:
            now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
            checkin_engine.apply(s, PLAYBOOK, ALL_DAY, SHANGHAI, msg, now)


@pytest.fixture
def tied(engine: Engine) -> Engine:
    checkin_days(engine, "a", MEMBERS["a"], [1, 2, 3])  # 30 points, streak 3
    checkin_days(engine, "b", MEMBERS["b"], [1, 2, 3])  # the same
    checkin_days(engine, "c", MEMBERS["c"], [1, 2])  # 20, streak 2 (today's may still come)
    checkin_days(engine, "d", MEMBERS["d"], [2, 3])  # 20, streak 2
    checkin_days(engine, "e", MEMBERS["e"], [3])  # 10, streak 1
    return engine


def test_ties_share_a_rank_and_the_next_rank_skips(tied: Engine):
    with session(tied) as s:
        rows = ledger.standings(s, chat_id=CHAT, today=TODAY)
    assert [(r.name, r.rank) for r in rows] == [
        ("Lily", 1),  # listed by name within a tie
        ("阿杰", 1),
        ("Bob", 3),
        ("小雨", 3),
        ("新人", 5),
    ]


def test_a_top_n_takes_everyone_tied_at_the_cut_off(tied: Engine):
    expected = {
        1: ["Lily", "阿杰"],
        2: ["Lily", "阿杰"],
        3: ["Lily", "阿杰", "Bob", "小雨"],
        4: ["Lily", "阿杰", "Bob", "小雨"],
        5: ["Lily", "阿杰", "Bob", "小雨", "新人"],
    }
    with session(tied) as s:
        boards = {
            top: ledger.leaderboard(s, playbook=PLAYBOOK, chat_id=CHAT, top=top, today=TODAY)
            for top in expected
        }
    assert {top: [r.name for r in board] for top, board in boards.items()} == expected


def test_the_snapshot_templates_read_has_the_ranks_and_counts_a_tie_at_the_cut(tied: Engine):
    with session(tied) as s:
        snap = ledger.snapshot(s, CHAT, PLAYBOOK, TODAY, MEMBERS, top=3)
    assert snap.leaderboard == [
        LeaderRow("Lily", 30, 3, 1),
        LeaderRow("阿杰", 30, 3, 1),
        LeaderRow("Bob", 20, 2, 3),
    ]
    assert snap.leaderboard_more == 1  # 小雨, tied with Bob: counted, not listed


@pytest.fixture(scope="module")
def shipped() -> PlaybookLibrary:
    library, problems = load_library([REPO / "sops"], REPO / "templates")
    assert not [p for p in problems if p.severity == "error"], problems
    return library


def render(library: PlaybookLibrary, engine: Engine, step: str, day: int) -> str:
    with session(engine) as s:
        snap = ledger.snapshot(s, CHAT, PLAYBOOK, TODAY, MEMBERS)
    group = Target(CHAT, "百日读书打卡1群", "zhangsan", frozenset({"打卡挑战"}))
    return render_step(
        library, PLAYBOOK, step, group, day=day, anchor=date(2026, 9, 1), checkins=snap
    ).text


def test_the_ceremonys_top_three_names_everyone_tied_for_third(
    tied: Engine, shipped: PlaybookLibrary
):
    text = render(shipped, tied, "final-ceremony", 100)
    podium = [line for line in text.splitlines() if line[:2] in ("1.", "2.", "3.", "4.", "5.")]
    assert podium == ["1. Lily（30 分）", "1. 阿杰（30 分）", "3. Bob（20 分）", "3. 小雨（20 分）"]


def test_the_weekly_leaderboard_shows_the_shared_ranks(tied: Engine, shipped: PlaybookLibrary):
    text = render(shipped, tied, "weekly-leaderboard", 7)
    ranks = [line.split(".")[0] for line in text.splitlines() if "分，连续" in line]
    assert ranks == ["1", "1", "3", "3", "5"]
