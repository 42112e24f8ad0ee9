"""add_msg_template validation, confirmation, receive caps, remind/cancel — on the wire."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from botops.simulator import ReceiveCap, SimConfig, Simulator
from botops.simulator.calls import ApiCall
from botops.simulator.delivery import over_cap
from tests.simulator.conftest import CST, GROUPS, START

ADD = "externalcontact/add_msg_template"


@pytest.fixture
def sim_config() -> SimConfig:
    """This module's simulator: staff confirm 5 minutes after creation; tokens last a month
    (so moving the clock by days tests mass-send rules, not token expiry)."""
    return SimConfig(confirm_after=timedelta(minutes=5), token_ttl=timedelta(days=30))


def group_send(api, chat_ids=("wrA",), **extra):
    body = {
        "chat_type": "group",
        "sender": "zhangsan",
        "chat_id_list": list(chat_ids),
        "text": {"content": "今日打卡"},
        **extra,
    }
    return api(ADD, body)


def test_create_answer_shape(api):
    answer = group_send(api, ["wrA", "wrC", "wrZ"])
    assert answer["errcode"] == 0
    assert answer["errmsg"] == "ok"
    assert answer["msgid"].startswith("msg")
    assert answer["fail_list"] == ["wrC", "wrZ"]  # another owner's group; unknown group


@pytest.mark.parametrize(
    ("extra", "errcode"),
    [
        ({"text": {"content": "字" * 1334}}, 40058),  # 4,002 bytes
        ({"text": {"content": ""}}, 44004),
        ({"attachments": [{"msgtype": "link", "link": {"title": "t", "url": "u"}}] * 10}, 41064),
        ({"attachments": [{"msgtype": "music", "music": {}}]}, 41065),
        ({"attachments": [{"msgtype": "image", "image": {"media_id": "gone"}}]}, 40007),
        ({"attachments": [{"msgtype": "link", "link": {"title": "t" * 129, "url": "u"}}]}, 40058),
        ({"chat_id_list": [f"wr{i}" for i in range(2001)]}, 40058),
        ({"chat_id_list": []}, 40058),
        ({"sender": "nobody"}, 60111),
        ({"sender": None}, 40058),
        ({"chat_id_list": ["wrC"]}, 41048),
        ({"chat_type": "broadcast"}, 40058),
    ],
)
def test_validation(api, extra, errcode):
    assert group_send(api, **extra)["errcode"] == errcode


def test_text_of_exactly_4000_bytes_is_fine(api):
    assert group_send(api, text={"content": "字" * 1333 + "a"})["errcode"] == 0


def test_the_too_long_errcode_is_configurable(clock):
    sim = Simulator.from_groups(GROUPS, config=SimConfig(text_too_long_errcode=45002), clock=clock)
    call_body = {
        "chat_type": "group",
        "sender": "zhangsan",
        "chat_id_list": ["wrA"],
        "text": {"content": "x" * 4001},
    }
    token = sim.call("gettoken", {"corpid": sim.config.corp_id, "corpsecret": sim.config.secret})[
        "access_token"
    ]
    answer = sim.call(ADD, {"access_token": token}, json.dumps(call_body).encode())
    assert answer["errcode"] == 45002


def test_confirm_then_results(api, http):
    msgid = group_send(api, ["wrA", "wrB"])["msgid"]
    task = api("externalcontact/get_groupmsg_task", {"msgid": msgid})
    assert task["task_list"] == [{"userid": "zhangsan", "status": 0}]
    before = api("externalcontact/get_groupmsg_send_result", {"msgid": msgid, "userid": "zhangsan"})
    assert before["send_list"] == []  # unsent groups are not listed
    assert http.post("/_sim/confirm", json={"msgid": msgid, "userid": "zhangsan"}).json() == {
        "confirmed": 1
    }
    after = api("externalcontact/get_groupmsg_send_result", {"msgid": msgid, "userid": "zhangsan"})
    sent_at = int(START.timestamp())
    assert after["send_list"] == [
        {"chat_id": "wrA", "userid": "zhangsan", "status": 1, "send_time": sent_at},
        {"chat_id": "wrB", "userid": "zhangsan", "status": 1, "send_time": sent_at},
    ]
    task = api("externalcontact/get_groupmsg_task", {"msgid": msgid})
    assert task["task_list"] == [{"userid": "zhangsan", "status": 2, "send_time": sent_at}]


def test_confirm_errors(http, api):
    assert http.post("/_sim/confirm", json={"msgid": "nope"}).status_code == 404
    msgid = group_send(api)["msgid"]
    assert http.post("/_sim/confirm", json={"msgid": msgid, "userid": "lisi"}).status_code == 404
    api("externalcontact/cancel_groupmsg_send", {"msgid": msgid})
    assert http.post("/_sim/confirm", json={"msgid": msgid}).status_code == 409


def test_auto_confirm_after_the_configured_delay(api, clock):
    msgid = group_send(api)["msgid"]
    clock.advance(timedelta(minutes=4))
    task = api("externalcontact/get_groupmsg_task", {"msgid": msgid})["task_list"]
    assert task[0]["status"] == 0
    clock.advance(timedelta(minutes=1))
    task = api("externalcontact/get_groupmsg_task", {"msgid": msgid})["task_list"]
    assert task[0] == {
        "userid": "zhangsan",
        "status": 2,
        "send_time": int((START + timedelta(minutes=5)).timestamp()),
    }


def test_single_send_results_list_every_customer(api, sim):
    customers = sorted(e for e, c in sim.state.externals.items() if "zhangsan" in c.follow_users)
    answer = api(ADD, {"chat_type": "single", "sender": "zhangsan", "text": {"content": "hi"}})
    assert answer["errcode"] == 0
    result = api(
        "externalcontact/get_groupmsg_send_result", {"msgid": answer["msgid"], "userid": "zhangsan"}
    )
    assert sorted(r["external_userid"] for r in result["send_list"]) == customers
    assert {r["status"] for r in result["send_list"]} == {0}  # listed even while unsent


def test_remind_limit_and_window(api, clock, sim):
    msgid = group_send(api)["msgid"]
    answers = [api("externalcontact/remind_groupmsg_send", {"msgid": msgid}) for _ in range(4)]
    assert [a["errcode"] for a in answers] == [0, 0, 0, sim.config.remind_limit_errcode]
    clock.advance(timedelta(hours=23, minutes=59))
    answer = api("externalcontact/remind_groupmsg_send", {"msgid": msgid})
    assert answer["errcode"] == sim.config.remind_limit_errcode
    clock.advance(timedelta(minutes=2))
    assert api("externalcontact/remind_groupmsg_send", {"msgid": msgid})["errcode"] == 0


def test_msgid_errors(api):
    assert api("externalcontact/remind_groupmsg_send", {})["errcode"] == 41046
    assert api("externalcontact/cancel_groupmsg_send", {"msgid": "x"})["errcode"] == 41047


def test_list_v2_range_is_at_most_a_month(api):
    start = int(START.timestamp())
    body = {"chat_type": "group", "start_time": start, "end_time": start + 32 * 86400}
    assert api("externalcontact/get_groupmsg_list_v2", body)["errcode"] == 40058


class TestReceiveCap:
    def cap_state(self, cap: ReceiveCap, deliveries: list[datetime]):
        sim = Simulator.from_groups(GROUPS, config=SimConfig(receive_cap=cap))
        sim.state.deliveries["wrA"] = deliveries
        return sim.state

    def test_days_in_month_by_default(self):
        feb = [datetime(2026, 2, d, 12, tzinfo=CST) for d in range(1, 28)]
        state = self.cap_state(ReceiveCap(), feb)
        assert not over_cap(state, "wrA", datetime(2026, 2, 28, 12, tzinfo=CST))  # 28th of 28
        state.deliveries["wrA"].append(datetime(2026, 2, 28, 12, tzinfo=CST))
        assert over_cap(state, "wrA", datetime(2026, 2, 28, 13, tzinfo=CST))
        assert not over_cap(state, "wrA", datetime(2026, 3, 1, 0, 0, tzinfo=CST))

    def test_weekly_cap_uses_iso_weeks(self):
        week = [datetime(2026, 3, 2, 9, tzinfo=CST)] * 7  # Monday
        state = self.cap_state(ReceiveCap("week", 7), week)
        assert over_cap(state, "wrA", datetime(2026, 3, 8, 23, tzinfo=CST))  # Sunday
        assert not over_cap(state, "wrA", datetime(2026, 3, 9, 0, 1, tzinfo=CST))

    def test_daily_cap_counts_local_days(self):
        state = self.cap_state(ReceiveCap("day", 1), [datetime(2026, 3, 1, 20, tzinfo=CST)])
        # 13:00 UTC is 21:00 in China, the same local day; 23:30 UTC is already 2 March there.
        assert over_cap(state, "wrA", datetime(2026, 3, 1, 13, 0, tzinfo=UTC))
        assert not over_cap(state, "wrA", datetime(2026, 3, 1, 23, 30, tzinfo=UTC))

    def test_a_limit_is_needed_except_for_months(self):
        with pytest.raises(ValueError, match="limit"):
            ReceiveCap("day")


def test_calls_carry_their_own_time():
    call = ApiCall("x", START)
    assert call.ts == int(START.timestamp())
