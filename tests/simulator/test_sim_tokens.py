"""gettoken and token checks, on the wire."""

from __future__ import annotations

from datetime import timedelta

import pytest


def gettoken(http, corpid, secret):
    return http.get("/cgi-bin/gettoken", params={"corpid": corpid, "corpsecret": secret}).json()


def test_gettoken_shape(http, sim):
    answer = gettoken(http, sim.config.corp_id, sim.config.secret)
    assert answer["errcode"] == 0
    assert answer["errmsg"] == "ok"
    assert answer["expires_in"] == 7200
    assert len(answer["access_token"]) >= 32


@pytest.mark.parametrize(
    ("corpid", "secret", "errcode"),
    [("", "x", 41002), ("ww-other", "x", 40013), (None, "wrong", 40001), (None, "", 41004)],
)
def test_gettoken_errors(http, sim, corpid, secret, errcode):
    answer = gettoken(http, sim.config.corp_id if corpid is None else corpid, secret)
    assert answer["errcode"] == errcode
    assert "access_token" not in answer
    assert f"?e={errcode}" in answer["errmsg"]


def test_token_checks(http, api, token, clock, sim):
    assert api("externalcontact/get_corp_tag_list")["errcode"] == 0
    no_token = http.post("/cgi-bin/externalcontact/get_corp_tag_list", json={}).json()
    assert no_token["errcode"] == 41001
    bogus = http.post(
        "/cgi-bin/externalcontact/get_corp_tag_list", params={"access_token": "nope"}, json={}
    ).json()
    assert bogus["errcode"] == 40014
    clock.advance(timedelta(seconds=7200))
    assert api("externalcontact/get_corp_tag_list")["errcode"] == 42001


def test_ttl_is_configurable_and_revocation_expires_early(http, sim, api, clock):
    sim.config.token_ttl = timedelta(seconds=60)
    short = gettoken(http, sim.config.corp_id, sim.config.secret)
    assert short["expires_in"] == 60
    assert api("externalcontact/get_corp_tag_list")["errcode"] == 0
    assert sim.revoke_tokens() == 2
    assert api("externalcontact/get_corp_tag_list")["errcode"] == 42001


def test_robot_and_gettoken_need_no_access_token(http, sim):
    answer = http.post(
        "/cgi-bin/webhook/send",
        params={"key": sim.config.robot_keys[0]},
        json={"msgtype": "text", "text": {"content": "hi"}},
    ).json()
    assert answer["errcode"] == 0


def test_unknown_api_is_404(http):
    assert http.post("/cgi-bin/externalcontact/nope", json={}).status_code == 404


def test_malformed_json_is_47001(http, token):
    answer = http.post(
        "/cgi-bin/externalcontact/groupchat/get",
        params={"access_token": token},
        content=b"{not json",
    ).json()
    assert answer["errcode"] == 47001
