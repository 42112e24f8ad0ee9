"""Fuzzing the callback decoders: whatever bytes arrive, the answer is a typed CallbackError
(the adapter turns it into 400/401) or a well-formed event — never any other exception,
which the web adapter would turn into a 500 (and WeCom into endless retries)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botops.webhook.aibot import AiBotMessage, parse_aibot_message
from botops.webhook.crypto import CallbackCrypto
from botops.webhook.decode import parse_envelope, parse_event, parse_json_envelope
from botops.webhook.errors import CallbackError
from botops.webhook.events import CallbackEvent, ExternalChatEvent
from botops.webhook.verify import verify_request
from tests.faults.callbacks import KEY, TOKEN, aibot_message, chat_update
from tests.faults.mutations import ALPHABET, TOKENS, mutated_bytes, mutated_text

T = TypeVar("T")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CORP = "wwfuzzcorp"
CRYPTO = CallbackCrypto(TOKEN, KEY, CORP)
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

CONTACT = (
    "<xml><ToUserName>wwfuzzcorp</ToUserName><FromUserName>sys</FromUserName>"
    "<CreateTime>1764547200</CreateTime><MsgType>event</MsgType>"
    "<Event>change_external_contact</Event><ChangeType>del_follow_user</ChangeType>"
    "<UserID>zhangsan</UserID><ExternalUserID>wmABC</ExternalUserID></xml>"
)
TAG = (
    "<xml><ToUserName>wwfuzzcorp</ToUserName><FromUserName>sys</FromUserName>"
    "<CreateTime>1764547200</CreateTime><MsgType>event</MsgType>"
    "<Event>change_external_tag</Event><ChangeType>shuffle</ChangeType>"
    "<Id>et1</Id><TagType>tag</TagType></xml>"
)
TEXT = (
    "<xml><ToUserName>wwfuzzcorp</ToUserName><FromUserName>zhangsan</FromUserName>"
    "<CreateTime>1764547200</CreateTime><MsgType>text</MsgType>"
    "<Content><![CDATA[打卡 第3天]]></Content><MsgId>1234567890</MsgId><AgentID>1</AgentID></xml>"
)
MEMBERS = (
    "<xml><ToUserName>wwfuzzcorp</ToUserName><FromUserName>sys</FromUserName>"
    "<CreateTime>1764547200</CreateTime><MsgType>event</MsgType>"
    "<Event>change_external_chat</Event><ChatId>wr1</ChatId><ChangeType>update</ChangeType>"
    "<UpdateDetail>del_member</UpdateDetail><QuitScene>0</QuitScene><MemChangeCnt>2</MemChangeCnt>"
    "<MemChangeList><Item>wm1</Item><Item>wm2</Item></MemChangeList>"
    "<LastMemVer>a</LastMemVer><CurMemVer>b</CurMemVer></xml>"
)
EVENTS = [chat_update(CORP, "wr1", NOW, "v1"), CONTACT, TAG, TEXT, MEMBERS]
AIBOT = aibot_message("m1", "wr1", "wm1", "@打卡助手 打卡", "https://qyapi.weixin.qq.com")


def well_formed(event: CallbackEvent) -> None:
    """What the adapter and the handler read of every event must be there."""
    assert isinstance(event.dedup_key, str)
    assert event.dedup_key
    assert event.create_time.tzinfo is not None
    if isinstance(event, ExternalChatEvent):
        assert event.chat_id


def decodes_or_refuses(parse: Callable[[bytes], T], data: bytes) -> T | None:
    try:
        return parse(data)
    except CallbackError:
        return None


# Numbers as a sender might garble them: signs, spaces and digits in any order and length.
NUMBERISH = st.from_regex(r"\A[-+ ]{0,3}[0-9]{0,22}[-+ ]{0,2}\Z")
xml_event = st.sampled_from(EVENTS).flatmap(lambda text: mutated_text(text.replace("><", ">\n<")))
xml_field = st.tuples(
    st.sampled_from(
        [
            "CreateTime",
            "MsgType",
            "Event",
            "ChangeType",
            "ChatId",
            "QuitScene",
            "JoinScene",
            "MemChangeCnt",
            "MsgId",
            "UserID",
            "Id",
            "UpdateDetail",
        ]
    ),
    st.one_of(TOKENS, st.text(ALPHABET, max_size=25), NUMBERISH),
)


@FUZZ
@given(st.one_of(st.binary(max_size=400), st.text(ALPHABET, max_size=200).map(str.encode)))
def test_random_bytes_are_refused_as_callback_errors(data: bytes) -> None:
    for parse in (parse_envelope, parse_json_envelope, parse_aibot_message):
        decodes_or_refuses(parse, data)
    event = decodes_or_refuses(parse_event, data)
    if event is not None:
        well_formed(event)


@FUZZ
@given(st.sampled_from(EVENTS).map(str.encode).flatmap(mutated_bytes))
def test_damaged_event_bytes_decode_or_are_refused(data: bytes) -> None:
    event = decodes_or_refuses(parse_event, data)
    if event is not None:
        well_formed(event)


@FUZZ
@given(xml_event)
def test_edited_event_xml_decodes_or_is_refused(text: str) -> None:
    event = decodes_or_refuses(parse_event, text.encode("utf-8", errors="surrogatepass"))
    if event is not None:
        well_formed(event)


@FUZZ
@given(st.sampled_from(EVENTS), st.lists(xml_field, min_size=1, max_size=3))
def test_any_field_value_decodes_or_is_refused(template: str, fields) -> None:
    text = template
    for name, value in fields:
        escaped = value.replace("&", "&amp;").replace("<", "&lt;")
        if f"<{name}>" in text:
            start = text.index(f"<{name}>") + len(name) + 2
            end = text.index(f"</{name}>", start)
            text = text[:start] + escaped + text[end:]
        else:
            text = text.replace("</xml>", f"<{name}>{escaped}</{name}></xml>")
    event = decodes_or_refuses(parse_event, text.encode("utf-8", errors="surrogatepass"))
    if event is not None:
        well_formed(event)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(ALPHABET, max_size=10),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(ALPHABET, max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
AIBOT_KEYS = ["msgid", "aibotid", "chatid", "chattype", "from", "response_url", "msgtype", "text"]


@FUZZ
@given(st.dictionaries(st.sampled_from(AIBOT_KEYS), json_values, max_size=8))
def test_any_aibot_json_shape_decodes_or_is_refused(replace: dict[str, Any]) -> None:
    data = json.loads(AIBOT) | replace
    message = decodes_or_refuses(parse_aibot_message, json.dumps(data).encode())
    if message is not None:
        assert isinstance(message, AiBotMessage)
        assert message.dedup_key.startswith("aibot:")


@FUZZ
@given(mutated_bytes(AIBOT.encode()))
def test_damaged_aibot_json_decodes_or_is_refused(data: bytes) -> None:
    decodes_or_refuses(parse_aibot_message, data)


@FUZZ
@given(
    signature=st.one_of(st.text(ALPHABET, max_size=50), st.just("")),
    timestamp=st.one_of(TOKENS, st.integers(-(10**12), 10**13).map(str)),
    nonce=st.text(ALPHABET, max_size=20),
    encrypted=st.one_of(
        st.text(ALPHABET, max_size=200),
        st.binary(max_size=96).map(lambda b: __import__("base64").b64encode(b).decode()),
    ),
    sign=st.booleans(),
)
def test_verify_refuses_anything_not_signed_fresh_and_sealed(
    signature: str, timestamp: str, nonce: str, encrypted: str, sign: bool
) -> None:
    if sign:  # signed with our token: the timestamp and the ciphertext are checked next
        signature = CRYPTO.signature(timestamp, nonce, encrypted)
    with pytest.raises(CallbackError):
        verify_request(
            CRYPTO,
            msg_signature=signature,
            timestamp=timestamp,
            nonce=nonce,
            encrypted=encrypted,
            now=NOW,
            max_skew=timedelta(minutes=5),
        )


@FUZZ
@given(st.sampled_from(EVENTS).map(str.encode).flatmap(mutated_bytes))
def test_sealed_damaged_payloads_verify_then_decode_or_are_refused(plain: bytes) -> None:
    """Genuinely signed and encrypted, but what is inside is damaged."""
    encrypted = CRYPTO.encrypt(plain)
    timestamp = str(int(NOW.timestamp()))
    opened = verify_request(
        CRYPTO,
        msg_signature=CRYPTO.signature(timestamp, "n", encrypted),
        timestamp=timestamp,
        nonce="n",
        encrypted=encrypted,
        now=NOW,
        max_skew=timedelta(minutes=5),
    )
    assert opened == plain
    event = decodes_or_refuses(parse_event, opened)
    if event is not None:
        well_formed(event)
