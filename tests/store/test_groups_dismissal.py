"""`mark_dismissed` judges only rows the listing could have seen: those last written from
WeCom before it was asked for. Rows written since are newer news and stay; groups proven
gone after the listing (groupchat/get answered 90501) go whenever they were written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from botops.store.db import session
from botops.store.groups import get_group, mark_dismissed, targets, upsert_group
from botops.store.models import GroupStatus

LISTED_AT = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # when the sync asked groupchat/list
NOW = LISTED_AT + timedelta(minutes=5)  # when it finished fetching


def chat(chat_id: str) -> Any:
    return {"chat_id": chat_id, "name": chat_id, "owner": "zhangsan", "member_list": []}


def stored(engine, chat_id: str, at: datetime) -> None:
    with session(engine) as s:
        upsert_group(s, chat(chat_id), at)


def test_only_groups_written_before_the_listing_are_dismissed(engine):
    stored(engine, "wrListed", LISTED_AT - timedelta(hours=1))
    stored(engine, "wrGone", LISTED_AT - timedelta(hours=1))  # not listed: dismissed
    stored(engine, "wrCreated", LISTED_AT + timedelta(minutes=1))  # create callback mid-sync
    stored(engine, "wrSameInstant", LISTED_AT)  # cannot tell which came first: kept
    stored(engine, "wrVanished", LISTED_AT + timedelta(minutes=2))  # then 90501

    with session(engine) as s:
        gone = mark_dismissed(s, ["wrListed"], NOW, listed_at=LISTED_AT, vanished=["wrVanished"])

    assert [(g.chat_id, g.status, g.dismissed_at) for g in gone] == [
        ("wrGone", GroupStatus.DISMISSED, NOW),
        ("wrVanished", GroupStatus.DISMISSED, NOW),
    ]
    with session(engine) as s:
        assert [t.id for t in targets(s)] == ["wrCreated", "wrListed", "wrSameInstant"]
        assert get_group(s, "wrCreated").dismissed_at is None
        assert get_group(s, "wrGone").status == GroupStatus.DISMISSED
    with session(engine) as s:  # the next sync's listing (created groups listed by now)
        later = NOW + timedelta(hours=1)
        assert mark_dismissed(s, ["wrListed", "wrCreated"], later, listed_at=NOW) == [
            get_group(s, "wrSameInstant")
        ]
        assert get_group(s, "wrSameInstant").dismissed_at == later


def test_without_a_listing_time_every_unlisted_group_is_dismissed(engine):
    stored(engine, "wrA", LISTED_AT)
    stored(engine, "wrB", NOW)
    with session(engine) as s:
        gone = mark_dismissed(s, ["wrA"], NOW)
    assert [(g.chat_id, g.dismissed_at) for g in gone] == [("wrB", NOW)]
