"""Simulator rules pinned to WeCom's official documentation (checked 2026; see each test).

Each test quotes the rule it mirrors, so a reader can tell a WeCom fact from a simulator
choice.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from botops.simulator import SimConfig
from botops.simulator.model import External
from botops.wecom import limits
from botops.wecom.responses import error_for

ADD = "externalcontact/add_msg_template"
REMIND = "externalcontact/remind_groupmsg_send"


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(confirm_after=timedelta(minutes=5), token_ttl=timedelta(days=30))


def single_send(api, **extra):
    body = {"chat_type": "single", "sender": "zhangsan", "text": {"content": "hi"}, **extra}
    return api(ADD, body)


def group_send(api, **extra):
    body = {
        "chat_type": "group",
        "sender": "zhangsan",
        "chat_id_list": ["wrA"],
        "text": {"content": "今日打卡"},
        **extra,
    }
    return api(ADD, body)


class TestTagFilter:
    """add_msg_template (document/path/92135): tag_filter.group_list.tag_list —
    "同组标签之间按或关系进行筛选，不同组标签按且关系筛选，每组最多指定100个标签": the cap
    is per group (per tag_list), not a total."""

    def test_100_tags_in_each_of_two_groups_is_allowed(self, api):
        groups = [
            {"tag_list": [f"et{g}_{i}" for i in range(limits.TAG_FILTER_MAX_TAGS)]}
            for g in range(2)
        ]
        answer = single_send(api, tag_filter={"group_list": groups})
        # No customer carries these made-up tags: WeCom accepts the filter and finds no one.
        assert answer["errcode"] == 41048

    def test_101_tags_in_one_group_is_refused(self, api):
        groups = [{"tag_list": [f"et{i}" for i in range(limits.TAG_FILTER_MAX_TAGS + 1)]}]
        assert single_send(api, tag_filter={"group_list": groups})["errcode"] == 40058


def test_link_picurl_is_at_most_2048_bytes(api):
    """link.picurl — "图文消息封面的url，最长2048个字节" (document/path/92135)."""

    def link(picurl: str) -> dict[str, object]:
        return {"msgtype": "link", "link": {"title": "t", "url": "u", "picurl": picurl}}

    ok_url = "https://p/" + "a" * (limits.LINK_PICURL_MAX_BYTES - len("https://p/"))
    assert group_send(api, attachments=[link(ok_url)])["errcode"] == 0
    assert group_send(api, attachments=[link(ok_url + "a")])["errcode"] == 40058


def test_a_fourth_reminder_gets_41094_by_default(api):
    """Global error codes (document/path/90313): 41094 "群发提醒超过频率限制"; the remind
    API's page: "24小时内每个群发最多触发三次提醒"."""
    msgid = group_send(api)["msgid"]
    answers = [api(REMIND, {"msgid": msgid})["errcode"] for _ in range(4)]
    assert answers == [0, 0, 0, 41094]
    error = error_for(REMIND, 41094, "remind freq out of limit")
    assert "at most 3 reminders per task per 24 h" in str(error)


class TestTrackingPageSize:
    """get_groupmsg_list_v2 / get_groupmsg_task / get_groupmsg_send_result (document/path/
    93338): limit — "最大值100，默认值50" / "最大值1000，默认值500"，"超过最大值时取默认值":
    an over-large limit is not an error, WeCom pages by the default instead."""

    def test_task_list_over_max_limit_pages_by_the_default(self, api, sim):
        msgid = single_send(api)["msgid"]
        body = {"msgid": msgid, "limit": limits.GROUPMSG_TASK_MAX_LIMIT + 1}
        answer = api("externalcontact/get_groupmsg_task", body)
        assert answer["errcode"] == 0
        assert [t["userid"] for t in answer["task_list"]] == ["zhangsan"]

    def test_send_result_over_max_limit_pages_by_500(self, api, sim):
        for n in range(501):
            userid = f"wmX{n:04d}"
            sim.state.externals[userid] = External(userid, userid, follow_users={"zhangsan"})
        msgid = single_send(api)["msgid"]
        body = {"msgid": msgid, "userid": "zhangsan", "limit": 5000}
        first = api("externalcontact/get_groupmsg_send_result", body)
        assert first["errcode"] == 0
        assert len(first["send_list"]) == 500
        assert first["next_cursor"]

    def test_list_v2_defaults_to_50(self, api, clock):
        for _ in range(51):
            assert group_send(api)["errcode"] == 0
        start = int((clock.now() - timedelta(hours=1)).timestamp())
        body = {"chat_type": "group", "start_time": start, "end_time": start + 7200}
        answer = api("externalcontact/get_groupmsg_list_v2", body)
        assert len(answer["group_msg_list"]) == 50
        assert answer["next_cursor"]
        too_big = api("externalcontact/get_groupmsg_list_v2", {**body, "limit": 101})
        assert too_big["errcode"] == 0
        assert len(too_big["group_msg_list"]) == 50

    def test_groupchat_list_still_refuses_limits_outside_1_to_1000(self, api):
        """groupchat/list (document/path/93414): "limit 分页，预期请求的数据量，取值范围 1 ~ 1000"."""
        answer = api("externalcontact/groupchat/list", {"limit": 1001})
        assert answer["errcode"] == 40058
