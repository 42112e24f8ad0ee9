"""The /_sim/ steering and inspection endpoints, and fault injection on the wire."""

from __future__ import annotations

import httpx
import pytest

ADD = "externalcontact/add_msg_template"


def test_state_is_a_secret_free_summary(http, sim, token):
    state = http.get("/_sim/state").json()
    assert state["corp_id"] == sim.config.corp_id
    assert [g["chat_id"] for g in state["groups"]] == ["wrA", "wrB", "wrC"]
    assert state["groups"][0]["member_count"] == 4
    assert state["staff"] == ["lisi", "zhangsan"]
    assert state["tokens_issued"] == 1
    body = http.get("/_sim/state").text
    assert sim.config.secret not in body
    assert token not in body


def test_requests_are_recorded_with_credentials_masked(http, api, sim, token):
    api("externalcontact/groupchat/get", {"chat_id": "wrA"})
    recorded = http.get("/_sim/requests").json()
    assert [r["api"] for r in recorded] == ["gettoken", "externalcontact/groupchat/get"]
    assert recorded[0]["query"] == {"corpid": sim.config.corp_id, "corpsecret": "***"}
    assert recorded[1]["query"] == {"access_token": "***"}
    assert recorded[1]["body"] == {"chat_id": "wrA"}
    only = http.get("/_sim/requests", params={"api": "gettoken"}).json()
    assert len(only) == 1
    text = http.get("/_sim/requests").text
    assert sim.config.secret not in text
    assert token not in text


def test_tasks_endpoint(http, api):
    msgid = api(
        ADD,
        {
            "chat_type": "group",
            "sender": "zhangsan",
            "chat_id_list": ["wrA"],
            "text": {"content": "hi"},
        },
    )["msgid"]
    (task,) = http.get("/_sim/tasks").json()
    assert task["msgid"] == msgid
    assert task["targets"] == [
        {"target": "wrA", "userid": "zhangsan", "status": 0, "send_time": None}
    ]
    assert task["senders"] == [{"userid": "zhangsan", "status": 0, "send_time": None}]


def test_errcode_fault_for_the_next_n_calls(http, api):
    response = http.post(
        "/_sim/faults",
        json={
            "kind": "errcode",
            "errcode": 45009,
            "times": 2,
            "api": "externalcontact/groupchat/get",
        },
    )
    assert response.json()[0]["times"] == 2
    codes = [api("externalcontact/groupchat/get", {"chat_id": "wrA"})["errcode"] for _ in range(3)]
    assert codes == [45009, 45009, 0]
    assert api("externalcontact/get_corp_tag_list")["errcode"] == 0  # other APIs untouched
    assert http.get("/_sim/faults").json() == []


def test_http_fault(http, api, token):
    http.post("/_sim/faults", json={"kind": "http", "status": 502})
    response = http.post(
        "/cgi-bin/externalcontact/get_corp_tag_list", params={"access_token": token}, json={}
    )
    assert response.status_code == 502


def test_drop_fault_closes_the_connection(http, token, base_url):
    http.post("/_sim/faults", json={"kind": "drop"})
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(
            "/cgi-bin/externalcontact/get_corp_tag_list", params={"access_token": token}, json={}
        )
    # The server is fine afterwards.
    with httpx.Client(base_url=base_url) as fresh:
        assert fresh.get("/_sim/state").status_code == 200


def test_latency_fault_delays_the_answer(http, token):
    http.post("/_sim/faults", json={"kind": "latency", "seconds": 0.5})
    with pytest.raises(httpx.ReadTimeout):
        http.post(
            "/cgi-bin/externalcontact/get_corp_tag_list",
            params={"access_token": token},
            json={},
            timeout=0.1,
        )


def test_revoke_tokens_over_http(http, api):
    assert http.post("/_sim/faults", json={"kind": "revoke_tokens"}).json() == {"revoked": 1}
    assert api("externalcontact/get_corp_tag_list")["errcode"] == 42001


def test_bad_faults_and_clearing(http):
    assert http.post("/_sim/faults", json={"kind": "meteor"}).status_code == 400
    assert http.post("/_sim/faults", json={"kind": "drop", "times": 0}).status_code == 400
    http.post("/_sim/faults", json={"kind": "drop", "times": 5})
    assert http.delete("/_sim/faults").json() == []


def test_groups_can_be_added_at_runtime(http, api):
    response = http.post(
        "/_sim/groups",
        json=[{"chat_id": "wrN", "name": "新群", "owner": "wangwu", "member_count": 1}],
    )
    assert response.json() == {"groups": 4}
    chat = api("externalcontact/groupchat/get", {"chat_id": "wrN"})["group_chat"]
    assert chat["owner"] == "wangwu"
    assert (
        http.post("/_sim/groups", json={"chat_id": "wrA", "name": "x", "owner": "y"}).status_code
        == 400
    )
    assert http.post("/_sim/groups", json=[1, 2]).status_code == 400
