"""Inactive-group flags on a real database: set, kept, cleared when activity returns, never
duplicated; the playbook's rule or the config default; young and dismissed groups."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from botops.config import ReportSettings, Settings
from botops.playbook.library import PlaybookLibrary
from botops.reports.inactivity import FlagAction
from botops.store.db import session
from botops.store.groups import mark_dismissed
from botops.store.inactivity import FlagChange, evaluate_flags, open_flags
from botops.store.models import GroupFlag
from tests.helpers import local
from tests.reports.support import NOW, add_group, make_library, say

SETTINGS = Settings()  # default rule: 3 days, at least 1 message


@pytest.fixture
def library(tmp_path: Path) -> PlaybookLibrary:
    return make_library(tmp_path)


def evaluate(
    engine: Engine, library: PlaybookLibrary, now: datetime, settings: Settings = SETTINGS
) -> list[FlagChange]:
    with session(engine) as s:
        return evaluate_flags(s, library.playbooks, settings, now)


def flags(engine: Engine) -> list[tuple[str, str, str, datetime, datetime | None]]:
    with session(engine) as s:
        rows = s.exec(select(GroupFlag).order_by(col(GroupFlag.id))).all()
        return [(f.chat_id, f.rule_source, f.reason, f.flagged_at, f.cleared_at) for f in rows]


def test_a_flag_is_set_kept_once_cleared_and_set_again(engine: Engine, library: PlaybookLibrary):
    add_group(engine, "wr-a", tags=["打卡"])
    changes = evaluate(engine, library, NOW)
    assert changes == [FlagChange("wr-a", "wr-a", FlagAction.OPEN, "3 天内没有打卡（阈值 2）")]
    assert evaluate(engine, library, NOW + timedelta(hours=1)) == []  # idempotent
    assert flags(engine) == [("wr-a", "daily", "3 天内没有打卡（阈值 2）", NOW, None)]

    say(engine, library, "wr-a", "wm-a", "2026-03-10 11:00", "打卡")
    later = local("2026-03-10 12:00")
    assert [c.action for c in evaluate(engine, library, later)] == [FlagAction.UPDATE]
    assert flags(engine)[0][2] == "3 天内仅 1 次打卡（阈值 2）"
    say(engine, library, "wr-a", "wm-b", "2026-03-10 12:30", "打卡")
    cleared = local("2026-03-10 13:00")
    assert [c.action for c in evaluate(engine, library, cleared)] == [FlagAction.CLEAR]
    assert evaluate(engine, library, cleared) == []
    assert flags(engine) == [("wr-a", "daily", "3 天内仅 1 次打卡（阈值 2）", NOW, cleared)]

    silent_again = local("2026-03-15 10:00")
    assert [c.action for c in evaluate(engine, library, silent_again)] == [FlagAction.OPEN]
    assert [(f[0], f[4]) for f in flags(engine)] == [("wr-a", cleared), ("wr-a", None)]
    with session(engine) as s:
        assert [f.chat_id for f in open_flags(s)] == ["wr-a"]


def test_the_config_default_applies_once_messages_arrive(engine: Engine, library: PlaybookLibrary):
    add_group(engine, "wr-chatty")
    add_group(engine, "wr-quiet")
    assert evaluate(engine, library, NOW) == []  # no message ever seen: nothing to judge by
    say(engine, library, "wr-chatty", "wm-a", "2026-03-05 09:00")
    assert evaluate(engine, library, NOW) == [
        FlagChange("wr-chatty", "wr-chatty", FlagAction.OPEN, "3 天内没有消息（阈值 1）"),
        FlagChange("wr-quiet", "wr-quiet", FlagAction.OPEN, "3 天内没有消息（阈值 1）"),
    ]
    say(engine, library, "wr-chatty", "wm-a", "2026-03-10 09:30")
    assert evaluate(engine, library, NOW) == [
        FlagChange("wr-chatty", "wr-chatty", FlagAction.CLEAR, "")
    ]
    assert [f[1] for f in flags(engine)] == ["config", "config"]


def test_the_default_rule_can_be_turned_off(engine: Engine, library: PlaybookLibrary):
    add_group(engine, "wr-quiet")
    say(engine, library, "wr-quiet", "wm-a", "2026-03-01 09:00")
    off = Settings(reports=ReportSettings(inactivity_days=0))
    assert evaluate(engine, library, NOW, off) == []
    assert [c.action for c in evaluate(engine, library, NOW)] == [FlagAction.OPEN]
    assert [c.action for c in evaluate(engine, library, NOW, off)] == [FlagAction.CLEAR]


def test_young_groups_are_not_flagged(engine: Engine, library: PlaybookLibrary):
    add_group(engine, "wr-new", created="2026-03-08 10:00", tags=["打卡"])
    # Three whole days behind it: created at midnight (at 10:00, 2026-03-07 would not count).
    add_group(engine, "wr-old", created="2026-03-07 00:00", tags=["打卡"])
    assert [c.chat_id for c in evaluate(engine, library, NOW)] == ["wr-old"]


def test_dismissed_groups_are_ignored_and_their_flags_closed(
    engine: Engine, library: PlaybookLibrary
):
    add_group(engine, "wr-a", tags=["打卡"])
    add_group(engine, "wr-b", tags=["打卡"])
    evaluate(engine, library, NOW)
    with session(engine) as s:
        mark_dismissed(s, ["wr-a"], NOW)
        assert [f.chat_id for f in open_flags(s)] == ["wr-a"]  # a dismissed group's flag: hidden
    later = NOW + timedelta(hours=1)
    assert evaluate(engine, library, later) == [
        FlagChange("wr-b", "", FlagAction.CLEAR, "群已解散")
    ]
    assert [(f[0], f[4]) for f in flags(engine)] == [("wr-a", None), ("wr-b", later)]


def test_the_database_allows_one_open_flag_per_group(engine: Engine):
    add_group(engine, "wr-a")
    with session(engine) as s:
        s.add(
            GroupFlag(
                chat_id="wr-a", rule_source="config", reason="x", flagged_at=NOW, cleared_at=NOW
            )
        )
        s.add(GroupFlag(chat_id="wr-a", rule_source="config", reason="y", flagged_at=NOW))
    with pytest.raises(IntegrityError), session(engine) as s:
        s.add(GroupFlag(chat_id="wr-a", rule_source="config", reason="z", flagged_at=NOW))
