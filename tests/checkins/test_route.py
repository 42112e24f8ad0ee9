"""Who and what the check-in router scores at all, before any playbook's rules: staff never
check in, a dismissed group's earlier messages still count, a message from the future does
not. Through `score_messages`, the path every batch source takes, on a real database."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from botops.checkins.message import Message
from botops.config import Settings
from botops.playbook.library import PlaybookLibrary
from botops.reports.activity import DayActivity
from botops.store import ledger
from botops.store.activity import daily_activity, speakers
from botops.store.db import session
from botops.store.groups import mark_dismissed
from botops.store.inactivity import assess
from botops.store.models import LedgerEntry, LedgerReason
from botops.webhook.ingest import Tally, score_messages
from tests.checkins.test_ingest import CHAT, make_library, store_group
from tests.helpers import SHANGHAI, local
from tests.reports import support

STAFF = "zhangsan"  # type 1 in store_group's roster
NOW = local("2026-03-02 10:00")


@pytest.fixture
def library(tmp_path: Path) -> PlaybookLibrary:
    return make_library(tmp_path / "ops")


def msg(msgid: str, sender: str, at: str, text: str = "打卡", chat: str = CHAT) -> Message:
    sent_at = local(at)
    return Message(msgid, chat, sender, sender, text, sent_at, "test")


def feed(
    engine: Engine, library: PlaybookLibrary, *messages: Message, now: datetime = NOW
) -> Tally:
    return score_messages(engine, library, messages, now, "Asia/Shanghai")


def test_staff_never_check_in_but_new_customers_do(engine: Engine, library: PlaybookLibrary):
    store_group(engine, ["wm-a"])
    tally = feed(
        engine,
        library,
        msg("m1", STAFF, "2026-03-02 08:00", "晚上好～还没打卡的伙伴记得打卡"),
        msg("m2", STAFF, "2026-03-02 08:05", "打卡"),
        msg("m3", "wm-a", "2026-03-02 08:10"),
        msg("m4", "wm-joined-since-sync", "2026-03-02 08:15"),  # not in the roster yet
    )
    assert (tally.checkins, dict(tally.not_scored)) == (2, {"staff": 2})
    assert tally.example["staff"] == "staff members do not check in"
    assert _ledger(engine) == ["wm-a", "wm-joined-since-sync"]
    with session(engine) as s:
        figures = daily_activity(s, date(2026, 3, 2), date(2026, 3, 2), SHANGHAI)
    # staff posts are neither check-ins nor the customers' activity: a group where only
    # staff still talk is silent
    assert figures == {CHAT: [DayActivity(date(2026, 3, 2), messages=2, speakers=2, checkins=2)]}
    with session(engine) as s:
        assert speakers(s, date(2026, 3, 2), date(2026, 3, 2)) == {CHAT: 2}


def test_staff_who_scored_before_are_no_check_in_activity(engine: Engine):
    """Ledger rows written for staff before they were refused count for nobody's activity."""
    store_group(engine, ["wm-a"])
    with session(engine) as s:
        for member in (STAFF, "wm-a"):
            row = LedgerEntry(
                member_id=member,
                member_name=member,
                chat_id=CHAT,
                playbook="daily",
                local_day=date(2026, 3, 2),
                points=10,
                reason=LedgerReason.CHECKIN,
                source_msgid=f"old-{member}",
                created_at=NOW,
            )
            ledger.record(s, [row])
    with session(engine) as s:
        figures = daily_activity(s, date(2026, 3, 2), date(2026, 3, 2), SHANGHAI)
    assert figures == {CHAT: [DayActivity(date(2026, 3, 2), checkins=1)]}


def test_staff_reminders_do_not_keep_a_silent_group_from_being_flagged(
    tmp_path: Path, engine: Engine
):
    library = support.make_library(tmp_path)  # inactivity: 3 days, at least 2 check-ins
    support.add_group(engine, "wr-quiet", tags=["打卡"])
    for day in range(1, 11):
        support.say(engine, library, "wr-quiet", STAFF, f"2026-03-{day:02d} 20:00", "记得打卡")
    with session(engine) as s:
        (verdict,) = assess(s, library.playbooks, Settings(), local("2026-03-10 21:00"))
    assert verdict.verdict.flagged
    assert sum(d.checkins for d in verdict.days) == 0


def test_a_check_in_sent_before_the_group_was_dismissed_still_counts(
    engine: Engine, library: PlaybookLibrary
):
    store_group(engine, ["wm-a", "wm-b"])
    with session(engine) as s:
        mark_dismissed(s, [], local("2026-03-02 09:00"))
    tally = feed(
        engine,
        library,
        msg("m1", "wm-a", "2026-03-02 08:30"),  # delivered late
        msg("m2", "wm-b", "2026-03-02 09:30"),
        msg("m3", "wm-b", "2026-03-02 08:30", chat="wrNeverSynced"),
    )
    assert tally.checkins == 1
    assert dict(tally.not_scored) == {"group_dismissed": 1, "unknown_group": 1}
    assert tally.example["group_dismissed"].startswith("the group was dismissed at 2026-03-02")
    assert _ledger(engine) == ["wm-a"]


def test_a_message_from_the_future_scores_nothing_and_blocks_nothing(
    engine: Engine, library: PlaybookLibrary
):
    store_group(engine, ["wm-a", "wm-b"])
    ahead = feed(
        engine,
        library,
        msg("m1", "wm-a", "2026-03-05 08:00"),  # a forwarder's clock three days ahead
        msg("m2", "wm-b", "2026-03-02 10:04"),  # within the clock skew allowed
    )
    assert (ahead.checkins, dict(ahead.not_scored)) == (1, {"sent_in_future": 1})
    assert "2026-03-05" in ahead.example["sent_in_future"]
    on_the_day = feed(
        engine, library, msg("m3", "wm-a", "2026-03-05 08:00"), now=local("2026-03-05 08:00")
    )
    assert (on_the_day.checkins, dict(on_the_day.not_scored)) == (1, {})


def _ledger(engine: Engine) -> list[str]:
    with session(engine) as s:
        return sorted(e.member_id for e in s.exec(select(LedgerEntry)))
