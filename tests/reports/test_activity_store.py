"""The message log and per-group daily activity on a real database."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import func, select

from botops.playbook.library import PlaybookLibrary
from botops.reports.activity import DayActivity
from botops.store.activity import daily_activity, first_message_day, speakers
from botops.store.db import session
from botops.store.groups import upsert_group
from botops.store.models import GroupMessageRecord, LedgerEntry
from tests.helpers import SHANGHAI, local
from tests.reports.support import PLAYBOOK, add_group, make_library, say

CHAT = "wr-checkin"


@pytest.fixture
def library(tmp_path: Path) -> PlaybookLibrary:
    return make_library(tmp_path)


def activity(engine: Engine, first: str, last: str) -> dict[str, list[DayActivity]]:
    with session(engine) as s:
        return daily_activity(s, date.fromisoformat(first), date.fromisoformat(last), SHANGHAI)


def logged(engine: Engine) -> int:
    with session(engine) as s:
        return s.exec(select(func.count()).select_from(GroupMessageRecord)).one()


def test_every_message_counts_once_whether_or_not_it_scored(
    engine: Engine, library: PlaybookLibrary
):
    add_group(engine, CHAT, tags=["打卡"])
    say(engine, library, CHAT, "wm-a", "2026-03-10 08:00", "打卡", msgid="m1")
    say(engine, library, CHAT, "wm-a", "2026-03-10 08:00", "打卡", msgid="m1")  # redelivered
    say(engine, library, CHAT, "wm-a", "2026-03-10 09:00", "早上好", msgid="m2")
    say(engine, library, CHAT, "wm-b", "2026-03-10 23:59", "晚安", msgid="m3")
    say(engine, library, CHAT, "wm-b", "2026-03-11 00:00", "打卡", msgid="m4")
    say(engine, library, "wr-unknown", "wm-c", "2026-03-10 09:00", msgid="m5")  # not synced
    assert logged(engine) == 4
    assert activity(engine, "2026-03-10", "2026-03-11") == {
        CHAT: [
            DayActivity(date(2026, 3, 10), messages=3, speakers=2, checkins=1),
            DayActivity(date(2026, 3, 11), messages=1, speakers=1, checkins=1),
        ]
    }
    with session(engine) as s:
        assert speakers(s, date(2026, 3, 10), date(2026, 3, 11)) == {CHAT: 2}
        assert first_message_day(s) == date(2026, 3, 10)


def test_messages_are_logged_in_groups_no_playbook_runs_for(
    engine: Engine, library: PlaybookLibrary
):
    add_group(engine, "wr-plain")
    say(engine, library, "wr-plain", "wm-a", "2026-03-10 08:00", "打卡")
    assert activity(engine, "2026-03-10", "2026-03-10") == {
        "wr-plain": [DayActivity(date(2026, 3, 10), messages=1, speakers=1)]
    }


def test_joins_and_leaves_fall_on_local_days_across_midnight(engine: Engine):
    before_midnight = int(local("2026-03-09 23:59:59").timestamp())  # 15:59:59 UTC
    at_midnight = int(local("2026-03-10 00:00").timestamp())
    chat: Any = {
        "chat_id": CHAT,
        "name": "打卡群",
        "owner": "zhangsan",
        "create_time": int(local("2026-02-01 10:00").timestamp()),
        "member_list": [
            {"userid": "zhangsan", "type": 1, "join_time": 1},
            {"userid": "wm-late", "type": 2, "join_time": before_midnight},
            {"userid": "wm-early", "type": 2, "join_time": at_midnight},
            {"userid": "wm-leaver", "type": 2, "join_time": at_midnight},
        ],
        "member_version": "v1",
    }
    with session(engine) as s:
        upsert_group(s, chat, local("2026-03-10 00:10"))
    chat["member_list"] = chat["member_list"][:3]
    chat["member_version"] = "v2"
    with session(engine) as s:
        upsert_group(s, chat, local("2026-03-10 00:30"))
    assert activity(engine, "2026-03-09", "2026-03-10") == {
        CHAT: [
            DayActivity(date(2026, 3, 9), joined=1),
            DayActivity(date(2026, 3, 10), joined=2, left=1),
        ]
    }
    assert activity(engine, "2026-03-08", "2026-03-08") == {}


def test_check_ins_count_members_once_a_day(engine: Engine, tmp_path: Path):
    """Two check-in playbooks in one group: a member checking in under both is one check-in."""
    second = PLAYBOOK.replace("id: daily", "id: daily-two")
    library = make_library(tmp_path, {"daily.yaml": PLAYBOOK, "two.yaml": second})
    add_group(engine, CHAT, tags=["打卡"])
    say(engine, library, CHAT, "wm-a", "2026-03-10 08:00", "打卡")
    assert activity(engine, "2026-03-10", "2026-03-10")[CHAT][0].checkins == 1
    with session(engine) as s:
        rows = s.exec(select(func.count()).select_from(LedgerEntry)).one()
    assert rows == 2  # it did score under both
