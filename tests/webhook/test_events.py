"""Decrypted callbacks become typed events; unknown ones are kept; dedup keys are precise.

The change_external_chat sample follows WeCom's documentation example for 客户群变更事件
(document/path/92130, as reproduced in SDK tests); the others are written from wecom-api.md §6.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime

import pytest

from botops.webhook import (
    ExternalChatEvent,
    ExternalContactEvent,
    ExternalTagEvent,
    MalformedCallback,
    MsgAuditNotify,
    TextMessage,
    UnknownEvent,
    parse_event,
)

CHAT_UPDATE = b"""<xml>
  <ToUserName><![CDATA[ww55ca070cb9b7eb22]]></ToUserName>
  <FromUserName><![CDATA[sys]]></FromUserName>
  <CreateTime>1403610513</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[change_external_chat]]></Event>
  <ChatId><![CDATA[wrx7HUARsKwGRaQBVKPBTcEyzdHA4HrQ]]></ChatId>
  <ChangeType><![CDATA[update]]></ChangeType>
  <UpdateDetail><![CDATA[add_member]]></UpdateDetail>
  <JoinScene>1</JoinScene>
  <QuitScene>0</QuitScene>
  <MemChangeCnt>10</MemChangeCnt>
  <MemChangeList>
    <Item>Jack</Item>
    <Item>Rose</Item>
    <Item><![CDATA[wmEAlECwAAHrbWYDOK5u3Af13xlYDDNQ]]></Item>
  </MemChangeList>
  <LastMemVer>9c3f97c2ada667dfb5f6d03308d963e1</LastMemVer>
  <CurMemVer>71217227bbd112ecfe3a49c482195cb4</CurMemVer>
</xml>"""


def chat_event(
    chat_id: str = "wrx7HUARsKwGRaQBVKPBTcEyzdHA4HrQ",
    *,
    change_type: str = "update",
    detail: str = "del_member",
    members: tuple[str, ...] = ("Jack",),
    create_time: int = 1403610513,
    cur_ver: str = "v2",
) -> bytes:
    items = "".join(f"<Item><![CDATA[{m}]]></Item>" for m in members)
    return (
        "<xml><ToUserName><![CDATA[ww55ca070cb9b7eb22]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_chat]]></Event>"
        f"<ChatId><![CDATA[{chat_id}]]></ChatId><ChangeType><![CDATA[{change_type}]]></ChangeType>"
        f"<UpdateDetail><![CDATA[{detail}]]></UpdateDetail><QuitScene>1</QuitScene>"
        f"<MemChangeCnt>{len(members)}</MemChangeCnt><MemChangeList>{items}</MemChangeList>"
        f"<LastMemVer>v1</LastMemVer><CurMemVer>{cur_ver}</CurMemVer></xml>"
    ).encode()


def test_external_chat_update_with_several_members() -> None:
    event = parse_event(CHAT_UPDATE)
    assert isinstance(event, ExternalChatEvent)
    assert event.chat_id == "wrx7HUARsKwGRaQBVKPBTcEyzdHA4HrQ"
    assert (event.change_type, event.update_detail) == ("update", "add_member")
    assert (event.join_scene, event.quit_scene, event.mem_change_cnt) == (1, 0, 10)
    assert event.member_userids == ("Jack", "Rose", "wmEAlECwAAHrbWYDOK5u3Af13xlYDDNQ")
    assert event.last_mem_ver == "9c3f97c2ada667dfb5f6d03308d963e1"
    assert event.cur_mem_ver == "71217227bbd112ecfe3a49c482195cb4"
    assert (event.to_user, event.from_user) == ("ww55ca070cb9b7eb22", "sys")
    assert event.create_time == datetime(2014, 6, 24, 11, 48, 33, tzinfo=UTC)
    assert event.create_time.tzinfo is UTC


def test_external_chat_member_list_in_the_older_comma_form() -> None:
    body = CHAT_UPDATE.replace(
        b"<MemChangeList>\n    <Item>Jack</Item>\n    <Item>Rose</Item>\n"
        b"    <Item><![CDATA[wmEAlECwAAHrbWYDOK5u3Af13xlYDDNQ]]></Item>\n  </MemChangeList>",
        b"<MemChangeList><![CDATA[Jack,Rose]]></MemChangeList>",
    )
    event = parse_event(body)
    assert isinstance(event, ExternalChatEvent)
    assert event.member_userids == ("Jack", "Rose")


@pytest.mark.parametrize("change_type", ["create", "dismiss"])
def test_external_chat_create_and_dismiss(change_type: str) -> None:
    body = (
        "<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[wrOgAAA]]></ChatId>"
        f"<ChangeType><![CDATA[{change_type}]]></ChangeType></xml>"
    ).encode()
    event = parse_event(body)
    assert isinstance(event, ExternalChatEvent)
    assert (event.change_type, event.update_detail, event.member_userids) == (change_type, "", ())
    assert event.join_scene is None


def test_external_chat_without_chat_id_is_malformed() -> None:
    with pytest.raises(MalformedCallback, match="ChatId"):
        parse_event(
            CHAT_UPDATE.replace(
                b"<ChatId><![CDATA[wrx7HUARsKwGRaQBVKPBTcEyzdHA4HrQ]]></ChatId>", b""
            )
        )


def test_external_chat_with_non_numeric_scene_is_malformed() -> None:
    with pytest.raises(MalformedCallback, match="JoinScene"):
        parse_event(CHAT_UPDATE.replace(b"<JoinScene>1</JoinScene>", b"<JoinScene>one</JoinScene>"))


CONTACT_ADD = b"""<xml>
  <ToUserName><![CDATA[toUser]]></ToUserName>
  <FromUserName><![CDATA[sys]]></FromUserName>
  <CreateTime>1403610513</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[change_external_contact]]></Event>
  <ChangeType><![CDATA[add_external_contact]]></ChangeType>
  <UserID><![CDATA[zhangsan]]></UserID>
  <ExternalUserID><![CDATA[woAJ2GCAAAXtWyujaWJHDDGi0mACAAAA]]></ExternalUserID>
  <State><![CDATA[camp-2025]]></State>
  <WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode>
</xml>"""


def test_external_contact_add() -> None:
    event = parse_event(CONTACT_ADD)
    assert isinstance(event, ExternalContactEvent)
    assert event.change_type == "add_external_contact"
    assert (event.user_id, event.external_user_id) == (
        "zhangsan",
        "woAJ2GCAAAXtWyujaWJHDDGi0mACAAAA",
    )
    assert (event.state, event.welcome_code, event.source, event.fail_reason) == (
        "camp-2025",
        "WELCOMECODE",
        "",
        "",
    )


def test_external_contact_transfer_fail_and_delete() -> None:
    fail = CONTACT_ADD.replace(b"add_external_contact", b"transfer_fail").replace(
        b"<State><![CDATA[camp-2025]]></State>",
        b"<FailReason><![CDATA[customer_refused]]></FailReason>",
    )
    event = parse_event(fail)
    assert isinstance(event, ExternalContactEvent)
    assert (event.change_type, event.fail_reason) == ("transfer_fail", "customer_refused")
    deleted = CONTACT_ADD.replace(b"add_external_contact", b"del_follow_user").replace(
        b"<State><![CDATA[camp-2025]]></State>", b"<Source><![CDATA[DELETE_BY_TRANSFER]]></Source>"
    )
    event = parse_event(deleted)
    assert isinstance(event, ExternalContactEvent)
    assert (event.change_type, event.source) == ("del_follow_user", "DELETE_BY_TRANSFER")


def test_external_tag_events() -> None:
    body = (
        b"<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        b"<CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        b"<Event><![CDATA[change_external_tag]]></Event><Id><![CDATA[etm7wjCgAA]]></Id>"
        b"<TagType><![CDATA[tag_group]]></TagType><ChangeType><![CDATA[create]]></ChangeType></xml>"
    )
    event = parse_event(body)
    assert isinstance(event, ExternalTagEvent)
    assert (event.tag_id, event.tag_type, event.change_type) == (
        "etm7wjCgAA",
        "tag_group",
        "create",
    )
    shuffle = body.replace(b"<Id><![CDATA[etm7wjCgAA]]></Id>", b"").replace(b"create", b"shuffle")
    event = parse_event(shuffle)
    assert isinstance(event, ExternalTagEvent)
    assert (event.tag_id, event.change_type) == ("", "shuffle")
    with pytest.raises(MalformedCallback, match="Id"):
        parse_event(body.replace(b"<Id><![CDATA[etm7wjCgAA]]></Id>", b""))


def test_msgaudit_notify() -> None:
    body = (
        b"<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        b"<CreateTime>1587955286</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        b"<AgentID>2000004</AgentID><Event><![CDATA[msgaudit_notify]]></Event></xml>"
    )
    event = parse_event(body)
    assert type(event) is MsgAuditNotify
    assert event.agent_id == "2000004"


def test_text_message_keeps_content_verbatim() -> None:
    body = (
        b"<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[lisi]]></FromUserName>"
        b"<CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        b"<Content><![CDATA[  \xe6\x89\x93\xe5\x8d\xa1 <b>&amp;\n]]></Content><MsgId>1234567890123456</MsgId>"
        b"<AgentID>1</AgentID></xml>"
    )
    event = parse_event(body)
    assert isinstance(event, TextMessage)
    assert event.content == "  打卡 <b>&amp;\n"
    assert (event.msg_id, event.from_user) == ("1234567890123456", "lisi")
    with pytest.raises(MalformedCallback, match="MsgId"):
        parse_event(body.replace(b"<MsgId>1234567890123456</MsgId>", b""))


@pytest.mark.parametrize(
    ("body", "event_name"),
    [
        pytest.param(
            b"<xml><ToUserName>ww1</ToUserName><FromUserName>sys</FromUserName><CreateTime>1</CreateTime>"
            b"<MsgType>event</MsgType><Event>brand_new_event</Event><Foo>bar</Foo>"
            b"<List><Item>a</Item><Item>b</Item></List></xml>",
            "brand_new_event",
            id="unknown-event",
        ),
        pytest.param(
            b"<xml><ToUserName>ww1</ToUserName><FromUserName>sys</FromUserName><CreateTime>1</CreateTime>"
            b"<MsgType>event</MsgType><Event>change_external_chat</Event><ChatId>c</ChatId>"
            b"<ChangeType>merge</ChangeType></xml>",
            "change_external_chat",
            id="unknown-change-type",
        ),
        pytest.param(
            b"<xml><ToUserName>ww1</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime>"
            b"<MsgType>image</MsgType><PicUrl>http://x</PicUrl><MsgId>77</MsgId></xml>",
            "",
            id="unknown-message-type",
        ),
    ],
)
def test_unknown_callbacks_become_unknown_event(body: bytes, event_name: str) -> None:
    event = parse_event(body)
    assert isinstance(event, UnknownEvent)
    assert event.event == event_name
    assert event.fields["ToUserName"] == "ww1"
    assert event.create_time == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_unknown_event_keeps_nested_and_repeated_fields() -> None:
    body = (
        b"<xml><ToUserName>ww1</ToUserName><CreateTime>1</CreateTime><MsgType>event</MsgType>"
        b"<Event>x</Event><List><Item>a</Item><Item>b</Item><Item>c</Item></List><Empty/></xml>"
    )
    event = parse_event(body)
    assert isinstance(event, UnknownEvent)
    assert event.fields["List.Item"] == "a"
    assert event.fields["List.Item[1]"] == "b"
    assert event.fields["List.Item[2]"] == "c"
    assert event.fields["Empty"] == ""
    with pytest.raises(TypeError):
        event.fields["List.Item"] = "z"  # type: ignore[index]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(b"<xml><MsgType>event</MsgType></xml>", "CreateTime", id="no-create-time"),
        pytest.param(b"<xml><CreateTime>1</CreateTime></xml>", "MsgType", id="no-msg-type"),
        pytest.param(
            b"<xml><CreateTime>yesterday</CreateTime><MsgType>event</MsgType></xml>",
            "CreateTime",
            id="bad-time",
        ),
        pytest.param(
            b"<xml><CreateTime>999999999999999</CreateTime><MsgType>event</MsgType></xml>",
            "CreateTime",
            id="time-overflow",
        ),
    ],
)
def test_missing_common_fields_are_malformed(body: bytes, field: str) -> None:
    with pytest.raises(MalformedCallback, match=field):
        parse_event(body)


def test_events_are_frozen() -> None:
    event = parse_event(CHAT_UPDATE)
    with pytest.raises(FrozenInstanceError):
        event.from_user = "x"  # type: ignore[misc]


# --- dedup keys ----------------------------------------------------------------------------


def test_redelivered_identical_event_has_the_same_key() -> None:
    assert parse_event(CHAT_UPDATE).dedup_key == parse_event(CHAT_UPDATE).dedup_key
    # Whitespace and member order in a retry do not split one event into two.
    a = parse_event(chat_event(members=("Jack", "Rose")))
    b = parse_event(chat_event(members=("Rose", "Jack")))
    assert a.dedup_key == b.dedup_key


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(chat_event(chat_id="wrOTHERGROUP"), id="another-group-same-second"),
        pytest.param(chat_event(members=("Rose",)), id="another-member"),
        pytest.param(chat_event(detail="add_member"), id="join-vs-leave"),
        pytest.param(chat_event(cur_ver="v3"), id="next-version"),
        pytest.param(chat_event(create_time=1403610514), id="next-second"),
        pytest.param(chat_event(change_type="dismiss"), id="dismiss"),
    ],
)
def test_distinct_events_have_distinct_keys(other: bytes) -> None:
    assert parse_event(chat_event()).dedup_key != parse_event(other).dedup_key


def test_two_contacts_added_in_the_same_second_do_not_merge() -> None:
    other = CONTACT_ADD.replace(b"woAJ2GCAAAXtWyujaWJHDDGi0mACAAAA", b"woAJ2GCAAAOTHERCUSTOMER")
    assert parse_event(CONTACT_ADD).dedup_key != parse_event(other).dedup_key
    assert parse_event(CONTACT_ADD).dedup_key == parse_event(CONTACT_ADD).dedup_key


def test_messages_deduplicate_by_msg_id() -> None:
    body = (
        b"<xml><ToUserName>ww1</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime>"
        b"<MsgType>text</MsgType><Content>hi</Content><MsgId>42</MsgId></xml>"
    )
    assert parse_event(body).dedup_key == "msg:42"


def test_unknown_events_deduplicate_on_all_their_fields() -> None:
    base = (
        b"<xml><ToUserName>ww1</ToUserName><FromUserName>sys</FromUserName><CreateTime>1</CreateTime>"
        b"<MsgType>event</MsgType><Event>new_thing</Event><ThingId>%s</ThingId></xml>"
    )
    assert parse_event(base % b"a").dedup_key == parse_event(base % b"a").dedup_key
    assert parse_event(base % b"a").dedup_key != parse_event(base % b"b").dedup_key


def test_keys_differ_across_event_types_with_equal_fields() -> None:
    keys = {parse_event(b).dedup_key for b in (CHAT_UPDATE, CONTACT_ADD)}
    assert len(keys) == 2
    assert all(k.startswith("evt:") and len(k) == 4 + 64 for k in keys)
