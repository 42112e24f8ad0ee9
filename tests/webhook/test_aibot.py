"""The AI bot's decrypted JSON, end to end from an encrypted {"encrypt": ...} body.

The sample follows the 智能机器人 接收消息 text example in WeCom's documentation
(msgid/aibotid/chatid/chattype/from.userid/response_url/msgtype/text.content).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from botops.webhook import (
    AiBotMessage,
    CallbackCrypto,
    MalformedCallback,
    parse_aibot_message,
    parse_json_envelope,
    verify_request,
)

GROUP_TEXT: dict[str, Any] = {
    "msgid": "CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI=",
    "aibotid": "AIBOTID",
    "chatid": "wrkSFfCgAAtMQKg4xqDatM5C9IDHFpTw",
    "chattype": "group",
    "from": {"userid": "zhangsan"},
    "response_url": "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=RESPONSECODE",
    "msgtype": "text",
    "text": {"content": "@打卡助手 打卡 第3天"},
}


def _encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def test_group_text_message_through_the_whole_path() -> None:
    bot = CallbackCrypto("token", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "")
    now = datetime(2025, 3, 1, tzinfo=UTC)
    ts = str(int(now.timestamp()))
    body = json.dumps({"encrypt": bot.encrypt(_encode(GROUP_TEXT))}).encode()
    encrypted = parse_json_envelope(body)
    plain = verify_request(
        bot,
        msg_signature=bot.signature(ts, "nonce", encrypted),
        timestamp=ts,
        nonce="nonce",
        encrypted=encrypted,
        now=now,
        max_skew=timedelta(minutes=5),
    )
    message = parse_aibot_message(plain)
    assert message == AiBotMessage(
        msg_id="CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI=",
        aibot_id="AIBOTID",
        chat_type="group",
        from_userid="zhangsan",
        msg_type="text",
        chat_id="wrkSFfCgAAtMQKg4xqDatM5C9IDHFpTw",
        text="@打卡助手 打卡 第3天",
        response_url=GROUP_TEXT["response_url"],
    )
    assert message.dedup_key == "aibot:AIBOTID:CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI="


def test_single_chat_needs_no_chatid_and_non_text_needs_no_text() -> None:
    single = {k: v for k, v in GROUP_TEXT.items() if k not in ("chatid", "text", "response_url")}
    single.update(chattype="single", msgtype="image", image={"url": "https://x"})
    message = parse_aibot_message(_encode(single))
    assert (message.chat_id, message.text, message.response_url) == (None, None, None)


def _without(path: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_encode(GROUP_TEXT))
    *parents, leaf = path.split(".")
    node = data
    for parent in parents:
        node = node[parent]
    del node[leaf]
    return data


@pytest.mark.parametrize(
    "path",
    [
        "msgid",
        "aibotid",
        "chattype",
        "msgtype",
        "from",
        "from.userid",
        "text",
        "text.content",
        "chatid",
    ],
)
def test_missing_fields_are_named(path: str) -> None:
    with pytest.raises(MalformedCallback, match=path.split(".")[-1]):
        parse_aibot_message(_encode(_without(path)))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[1]", id="array"),
        pytest.param(_encode({**GROUP_TEXT, "msgid": 123}), id="number-id"),
        pytest.param(_encode({**GROUP_TEXT, "from": "zhangsan"}), id="from-not-object"),
    ],
)
def test_malformed_payloads_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedCallback):
        parse_aibot_message(body)
