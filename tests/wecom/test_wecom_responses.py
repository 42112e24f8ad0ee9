"""The response mapper: one table from WeCom answers to typed errors."""

from __future__ import annotations

import json

import httpx
import pytest

from botops.errors import WeComConfigError, WeComRejectedError, WeComRetryableError
from botops.wecom.responses import FrequencyLimited, OutcomeUnknown, TokenExpired, map_response

API = "externalcontact/groupchat/get"


def answer(body: object, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode())


def test_errcode_zero_returns_the_answer():
    assert map_response(API, answer({"errcode": 0, "errmsg": "ok", "x": 1})) == {
        "errcode": 0,
        "errmsg": "ok",
        "x": 1,
    }


def test_an_answer_without_errcode_is_a_success():
    # media/upload answers carry errcode, but a missing one must not be read as an error.
    assert map_response("media/upload", answer({"media_id": "m"}))["media_id"] == "m"


@pytest.mark.parametrize(
    ("errcode", "error_type"),
    [
        (40014, TokenExpired),
        (42001, TokenExpired),
        (40001, WeComConfigError),
        (48002, WeComConfigError),
        (60020, WeComConfigError),
        (301002, WeComConfigError),
        (-1, WeComRetryableError),
        (45009, FrequencyLimited),
        (45033, WeComRetryableError),
        (41063, WeComRetryableError),
        (40058, WeComRejectedError),
        (41064, WeComRejectedError),
        (93000, WeComRejectedError),
    ],
)
def test_errcodes_map_to_typed_errors(errcode, error_type):
    with pytest.raises(error_type) as caught:
        map_response(API, answer({"errcode": errcode, "errmsg": "boom"}))
    assert type(caught.value) is error_type
    assert caught.value.errcode == errcode
    assert caught.value.api == API
    assert f"errcode {errcode}" in str(caught.value)
    assert API in str(caught.value)


def test_token_errors_are_retryable_and_config_errors_are_not():
    assert issubclass(TokenExpired, WeComRetryableError)
    assert issubclass(FrequencyLimited, WeComRetryableError)  # later, not within seconds
    assert not issubclass(WeComConfigError, WeComRetryableError)


def test_config_errors_carry_a_hint():
    with pytest.raises(WeComConfigError, match="客户联系"):
        map_response(API, answer({"errcode": 48002, "errmsg": "api forbidden"}))


def test_remind_quota_is_rejected_not_retried():
    with pytest.raises(WeComRejectedError, match="3 reminders"):
        map_response(
            "externalcontact/remind_groupmsg_send", answer({"errcode": 45009, "errmsg": "freq"})
        )


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (500, OutcomeUnknown),
        (502, OutcomeUnknown),
        (429, WeComRetryableError),
        (404, WeComConfigError),
        (403, WeComRejectedError),
    ],
)
def test_http_status_errors(status, error_type):
    with pytest.raises(error_type) as caught:
        map_response(API, httpx.Response(status, text="<html>nope</html>"))
    assert type(caught.value) is error_type


def test_a_non_json_answer_is_an_unknown_outcome():
    with pytest.raises(OutcomeUnknown, match="not JSON"):
        map_response(API, httpx.Response(200, text="<html>proxy</html>"))


def test_connect_errors_are_plainly_retryable_broken_reads_are_unknown():
    request = httpx.Request("GET", "https://qyapi.weixin.qq.com/cgi-bin/x?access_token=TOKEN123")
    with pytest.raises(WeComRetryableError) as caught:
        map_response(API, httpx.ConnectError("refused", request=request))
    assert type(caught.value) is WeComRetryableError
    with pytest.raises(OutcomeUnknown):
        map_response(API, httpx.ReadTimeout("timed out", request=request))
    with pytest.raises(OutcomeUnknown):
        map_response(API, httpx.RemoteProtocolError("peer closed", request=request))


def test_messages_are_redacted():
    exc = httpx.ConnectError("failed for /cgi-bin/gettoken?corpid=ww1&corpsecret=S3CRET&x=1")
    with pytest.raises(WeComRetryableError) as caught:
        map_response("gettoken", exc)
    assert "S3CRET" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    with pytest.raises(WeComRejectedError) as rejected:
        map_response(API, answer({"errcode": 40058, "errmsg": "bad url ?access_token=TOK999"}))
    assert "TOK999" not in str(rejected.value)


def test_mock_transport_round_trip():
    # The mapper sees exactly what httpx hands back from a transport.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"errcode": -1, "errmsg": "system busy"})

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        response = http.get("https://example.invalid/cgi-bin/x")
    with pytest.raises(WeComRetryableError, match="system busy"):
        map_response(API, response)
