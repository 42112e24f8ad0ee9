"""The group repository: upserts, rosters, dismissal, botops tags, corp tags, planner targets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from botops.store.corp_tags import (
    delete_corp_tags,
    list_corp_tags,
    replace_corp_tags,
    upsert_corp_tag,
)
from botops.store.db import session
from botops.store.groups import (
    FieldChange,
    InvalidTagError,
    UnknownGroupError,
    add_group_tags,
    get_group,
    group_member_ids,
    list_groups,
    mark_dismissed,
    normalize_tag,
    remove_group_tags,
    targets,
    upsert_group,
)
from botops.store.models import Enrolment, GroupMember, GroupStatus

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
CREATED = 1764554400  # 2025-12-01T02:00:00Z


def member(userid: str, *, type_: int = 2, joined: int = CREATED, invitor: str = "") -> dict:
    data: dict[str, Any] = {"userid": userid, "type": type_, "join_time": joined, "join_scene": 2}
    if invitor:
        data["invitor"] = {"userid": invitor}
    return data


def chat(chat_id: str = "wrA", *, members: list[str], version: str, **fields: Any) -> Any:
    return {
        "chat_id": chat_id,
        "name": fields.get("name", "打卡群"),
        "owner": fields.get("owner", "zhangsan"),
        "notice": fields.get("notice", ""),
        "create_time": CREATED,
        "member_list": [member("zhangsan", type_=1)]
        + [member(u, invitor="zhangsan") for u in members],
        "admin_list": [],
        "member_version": version,
    }


def test_new_group_is_stored_with_its_roster(engine):
    with session(engine) as s:
        change = upsert_group(s, chat(members=["wm1", "wm2"], version="v1"), NOW, wecom_status=0)
    assert change.new
    assert change.joined == ("zhangsan", "wm1", "wm2")
    with session(engine) as s:
        group = get_group(s, "wrA")
        row = s.get(GroupMember, ("wrA", "wm1"))
    assert (group.name, group.owner, group.member_count) == ("打卡群", "zhangsan", 3)
    assert group.created_at == datetime.fromtimestamp(CREATED, UTC)
    assert group.synced_at == NOW
    assert row is not None
    assert (row.invitor, row.join_scene, row.member_type) == ("zhangsan", 2, 2)
    assert row.join_time == datetime.fromtimestamp(CREATED, UTC)


def test_equal_member_version_leaves_the_roster_alone(engine):
    with session(engine) as s:
        upsert_group(s, chat(members=["wm1"], version="v1"), NOW)
    with session(engine) as s:
        # Same version: WeCom says membership did not change, so the roster is not rewritten.
        change = upsert_group(s, chat(members=["wm1", "wmX"], version="v1"), NOW)
        assert not change.changed
        assert group_member_ids(s, "wrA") == ["wm1", "zhangsan"]


def test_a_new_version_marks_leavers_and_adds_joiners(engine):
    with session(engine) as s:
        upsert_group(s, chat(members=["wm1", "wm2"], version="v1"), NOW)
    later = NOW + timedelta(hours=5)
    with session(engine) as s:
        change = upsert_group(s, chat(members=["wm2", "wm3"], version="v2"), later)
    assert (change.joined, change.left, change.fields) == (("wm3",), ("wm1",), ())
    with session(engine) as s:
        assert group_member_ids(s, "wrA") == ["wm2", "wm3", "zhangsan"]
        assert group_member_ids(s, "wrA", current=False) == ["wm1", "wm2", "wm3", "zhangsan"]
        gone = s.get(GroupMember, ("wrA", "wm1"))
        assert gone is not None
        assert gone.left_at == later
        assert get_group(s, "wrA").member_count == 3
    with session(engine) as s:  # wm1 comes back
        change = upsert_group(s, chat(members=["wm1", "wm2", "wm3"], version="v3"), later)
        assert change.joined == ("wm1",)
        back = s.get(GroupMember, ("wrA", "wm1"))
        assert back is not None
        assert back.left_at is None


def test_name_owner_and_notice_changes_are_reported(engine):
    with session(engine) as s:
        upsert_group(s, chat(members=[], version="v1"), NOW)
    with session(engine) as s:
        change = upsert_group(
            s, chat(members=[], version="v1", name="新群名", owner="lisi", notice="公告"), NOW
        )
    assert change.fields == (
        FieldChange("name", "打卡群", "新群名"),
        FieldChange("owner", "zhangsan", "lisi"),
        FieldChange("notice", "", "公告"),
    )


def test_dismissed_groups_leave_the_targets_and_can_come_back(engine):
    with session(engine) as s:
        for chat_id in ("wrA", "wrB", "wrC"):
            upsert_group(s, chat(chat_id, members=[], version="v1"), NOW)
    with session(engine) as s:
        gone = mark_dismissed(s, ["wrA", "wrC"], NOW)
    assert [(g.chat_id, g.status, g.dismissed_at) for g in gone] == [
        ("wrB", GroupStatus.DISMISSED, NOW)
    ]
    with session(engine) as s:
        assert [t.id for t in targets(s)] == ["wrA", "wrC"]
        assert [g.chat_id for g in list_groups(s, status=GroupStatus.DISMISSED)] == ["wrB"]
        assert len(list_groups(s, status=None)) == 3
        assert mark_dismissed(s, ["wrA", "wrC"], NOW) == []  # already dismissed
    with session(engine) as s:
        change = upsert_group(s, chat("wrB", members=[], version="v1"), NOW)
    assert change.fields == (FieldChange("status", "dismissed", "active"),)
    with session(engine) as s:
        assert get_group(s, "wrB").dismissed_at is None


def test_group_tags_are_trimmed_deduplicated_and_round_trip(engine):
    with session(engine) as s:
        upsert_group(s, chat(members=[], version="v1"), NOW)
        assert add_group_tags(s, "wrA", [" 打卡挑战 ", "宝妈群", "打卡挑战"]) == [
            "打卡挑战",
            "宝妈群",
        ]
    with session(engine) as s:
        assert add_group_tags(s, "wrA", ["打卡挑战"]) == []
        assert get_group(s, "wrA").tags == ("宝妈群", "打卡挑战")
        assert [g.chat_id for g in list_groups(s, tag="宝妈群")] == ["wrA"]
        assert list_groups(s, tag="讲座") == []
    with session(engine) as s:
        assert remove_group_tags(s, "wrA", ["宝妈群", "讲座"]) == ["宝妈群"]
    with session(engine) as s:
        assert get_group(s, "wrA").tags == ("打卡挑战",)


@pytest.mark.parametrize("bad", ["", "   ", "打卡\n挑战", "a\x1bb"])
def test_bad_tags_are_rejected(bad):
    with pytest.raises(InvalidTagError):
        normalize_tag(bad)


def test_tags_are_nfc_normalized():
    decomposed = "cafe\u0301"
    assert normalize_tag(decomposed) == "caf\u00e9"


def test_unknown_group_is_an_error_naming_it(engine):
    with session(engine) as s, pytest.raises(UnknownGroupError, match="'wrNope'"):
        add_group_tags(s, "wrNope", ["打卡"])
    with session(engine) as s, pytest.raises(UnknownGroupError, match="'wrNope'"):
        remove_group_tags(s, "wrNope", ["打卡"])
    with session(engine) as s, pytest.raises(UnknownGroupError):
        get_group(s, "wrNope")


def test_targets_carry_tags_created_at_member_count_and_enrolments(engine):
    with session(engine) as s:
        upsert_group(s, chat("wrA", members=["wm1", "wm2"], version="v1"), NOW)
        upsert_group(s, chat("wrB", members=[], version="v1", owner="lisi"), NOW)
        add_group_tags(s, "wrA", ["打卡挑战", "白领群"])
        s.add(
            Enrolment(
                target_id="wrA", playbook_id="checkin", day_one=date(2026, 12, 7), enrolled_at=NOW
            )
        )
        s.add(
            Enrolment(
                target_id="wmSomeone",
                playbook_id="checkin",
                day_one=date(2026, 12, 7),
                enrolled_at=NOW,
            )
        )
    with session(engine) as s:
        found = {t.id: t for t in targets(s)}
    assert set(found) == {"wrA", "wrB"}
    a = found["wrA"]
    assert (a.name, a.owner, a.kind, a.member_count) == ("打卡群", "zhangsan", "group", 3)
    assert a.tags == frozenset({"打卡挑战", "白领群"})
    assert a.created_at == datetime.fromtimestamp(CREATED, UTC)
    assert a.created_at.tzinfo is UTC
    assert dict(a.enrolled) == {"checkin": date(2026, 12, 7)}
    assert (found["wrB"].owner, found["wrB"].tags, dict(found["wrB"].enrolled)) == (
        "lisi",
        frozenset(),
        {},
    )


def test_corp_tags_are_replaced_by_a_complete_list(engine):
    first = [
        {
            "group_id": "g1",
            "group_name": "活动",
            "tag": [{"id": "t1", "name": "打卡"}, {"id": "t2", "name": "讲座"}],
        }
    ]
    with session(engine) as s:
        changes = replace_corp_tags(s, first)
    assert (changes.added, changes.removed, changes.renamed) == (["t1", "t2"], [], [])
    second = [
        {
            "group_id": "g1",
            "group_name": "活动",
            "tag": [{"id": "t1", "name": "百日打卡"}, {"id": "t3", "name": "快闪"}],
        }
    ]
    with session(engine) as s:
        changes = replace_corp_tags(s, second)
    assert changes.added == ["t3"]
    assert changes.removed == ["t2"]
    assert [(r.tag_id, r.old, r.new) for r in changes.renamed] == [("t1", "打卡", "百日打卡")]
    with session(engine) as s:
        assert not replace_corp_tags(s, second).changed
        assert [(t.tag_id, t.name, t.group_name) for t in list_corp_tags(s)] == [
            ("t1", "百日打卡", "活动"),
            ("t3", "快闪", "活动"),
        ]


def test_single_corp_tag_upsert_and_delete(engine):
    with session(engine) as s:
        assert upsert_corp_tag(s, "t1", "打卡", group_id="g1", group_name="活动") is None
        assert upsert_corp_tag(s, "t1", "打卡", group_id="g1", group_name="活动") is None
    with session(engine) as s:
        assert upsert_corp_tag(s, "t1", "百日打卡") == "打卡"
    with session(engine) as s:
        assert delete_corp_tags(s, ["t1", "t9"]) == ["t1"]
        assert list_corp_tags(s) == []


def test_a_failed_transaction_leaves_nothing_behind(engine):
    def interrupted_upsert() -> None:
        with session(engine) as s:
            upsert_group(s, chat(members=["wm1"], version="v1"), NOW)
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        interrupted_upsert()
    with session(engine) as s:
        assert list_groups(s, status=None) == []
        assert list(s.exec(select(GroupMember)).all()) == []
