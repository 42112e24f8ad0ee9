"""Seeding, customer groups and corp tags."""

from __future__ import annotations

import pytest

from botops.simulator import Simulator
from botops.simulator.seed import external_userid
from tests.simulator.conftest import GROUPS


def test_groupchat_get_shape(api):
    answer = api("externalcontact/groupchat/get", {"chat_id": "wrA", "need_name": 1})
    assert answer["errcode"] == 0
    chat = answer["group_chat"]
    assert set(chat) == {
        "chat_id",
        "name",
        "owner",
        "create_time",
        "notice",
        "member_list",
        "admin_list",
        "member_version",
    }
    assert (chat["name"], chat["owner"]) == ("打卡1群", "zhangsan")
    assert chat["create_time"] == 1769911200  # 2026-02-01T10:00:00+08:00
    members = chat["member_list"]
    assert len(members) == 4  # 3 customers + the owner
    assert members[0] == {
        "userid": "zhangsan",
        "type": 1,
        "join_time": chat["create_time"],
        "join_scene": 1,
        "group_nickname": "",
        "name": "zhangsan",
    }
    customer = members[1]
    assert customer["type"] == 2
    assert customer["userid"].startswith("wm")
    assert customer["invitor"] == {"userid": "zhangsan"}
    assert customer["join_scene"] in (1, 2, 3)


def test_names_are_left_out_unless_asked_for(api):
    chat = api("externalcontact/groupchat/get", {"chat_id": "wrA"})["group_chat"]
    assert all("name" not in m for m in chat["member_list"])


def test_unknown_group_is_90501(api):
    assert api("externalcontact/groupchat/get", {"chat_id": "nope"})["errcode"] == 90501


def test_members_are_deterministic(clock):
    one = Simulator.from_groups(GROUPS, clock=clock)
    two = Simulator.from_groups(GROUPS, clock=clock)
    assert one.state.groups["wrA"].member_version == two.state.groups["wrA"].member_version
    ids = [m.userid for m in one.state.groups["wrC"].members]
    assert ids == ["lisi"] + [external_userid("wrC", i) for i in range(4)]
    assert one.state.groups["wrA"].member_version != one.state.groups["wrB"].member_version


def test_seed_rejects_bad_groups(clock):
    with pytest.raises(ValueError, match="owner"):
        Simulator.from_groups([{"chat_id": "x", "name": "n"}], clock=clock)
    with pytest.raises(ValueError, match="duplicate"):
        Simulator.from_groups([GROUPS[0], GROUPS[0]], clock=clock)


def test_groupchat_list_filters_and_pages(api):
    everything = api("externalcontact/groupchat/list", {"status_filter": 0, "limit": 1000})
    assert everything["group_chat_list"] == [
        {"chat_id": "wrA", "status": 0},
        {"chat_id": "wrB", "status": 0},
        {"chat_id": "wrC", "status": 0},
    ]
    assert everything["next_cursor"] == ""
    first = api(
        "externalcontact/groupchat/list",
        {"owner_filter": {"userid_list": ["zhangsan"]}, "limit": 1},
    )
    assert first["group_chat_list"] == [{"chat_id": "wrA", "status": 0}]
    second = api(
        "externalcontact/groupchat/list",
        {"owner_filter": {"userid_list": ["zhangsan"]}, "limit": 1, "cursor": first["next_cursor"]},
    )
    assert second["group_chat_list"] == [{"chat_id": "wrB", "status": 0}]
    assert second["next_cursor"] == ""


@pytest.mark.parametrize(
    "body",
    [
        {"limit": 0},
        {"limit": 1001},
        {"owner_filter": {"userid_list": [f"u{i}" for i in range(101)]}},
        {"cursor": "garbage!"},
    ],
)
def test_groupchat_list_rejects_bad_parameters(api, body):
    assert api("externalcontact/groupchat/list", body)["errcode"] == 40058


def test_corp_tags_mirror_group_tags(api, sim):
    answer = api("externalcontact/get_corp_tag_list")
    (group,) = answer["tag_group"]
    assert group["group_name"] == "botops"
    assert [t["name"] for t in group["tag"]] == ["打卡挑战", "白领群", "讲座"]
    lecture = group["tag"][2]["id"]
    only = api("externalcontact/get_corp_tag_list", {"tag_id": [lecture]})["tag_group"]
    assert [t["id"] for t in only[0]["tag"]] == [lecture]
    customers_of_c = {m.userid for m in sim.state.groups["wrC"].members if m.type == 2}
    tagged = {e.external_userid for e in sim.state.externals.values() if lecture in e.tag_ids}
    assert tagged == customers_of_c
