"""The callback endpoint over real loopback HTTP (uvicorn on a thread), a real SQLite file and
real encrypted callbacks; then `process_pending` against the WeCom simulator."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import select
from starlette.applications import Starlette
from structlog.testing import capture_logs

from botops.clock import FrozenClock
from botops.config import WeComSettings
from botops.playbook.library import PlaybookLibrary
from botops.simulator import Fault, Simulator
from botops.simulator.seed import external_userid
from botops.store.alerts import CALLBACK_GIVEN_UP, pending_alerts
from botops.store.corp_tags import list_corp_tags
from botops.store.db import session
from botops.store.models import (
    CallbackEvent,
    GroupMember,
    GroupRecord,
    GroupStatus,
    OutboxRow,
    SendState,
)
from botops.webhook.app import callback_routes
from botops.webhook.crypto import CallbackCrypto
from botops.webhook.process import (
    GIVE_UP_AFTER,
    RETRY_LONGEST,
    Handlers,
    given_up_alert,
    process_pending,
    retry_delay,
)
from botops.webhook.safe import MAX_BODY_BYTES
from tests.asgi_server import running

TOKEN = "QDG6eK"
KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP = "wx5823bf96d3bd56c7"
CRYPTO = CallbackCrypto(TOKEN, KEY, CORP)
RETRY_AFTER = timedelta(minutes=1)
NO_PLAYBOOKS = Handlers(lambda: PlaybookLibrary([], {}, {}), "Asia/Shanghai", RETRY_AFTER)
SETTINGS = WeComSettings(
    corp_id=CORP, callback_token=SecretStr(TOKEN), callback_aes_key=SecretStr(KEY)
)


@pytest.fixture
def url(engine: Engine, clock: FrozenClock) -> Iterator[str]:
    with running(Starlette(routes=callback_routes(SETTINGS, engine, clock))) as base:
        yield f"{base}/wecom/callback"


def chat_event(clock: FrozenClock, chat_id: str, change: str, **extra: str) -> str:
    fields = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in extra.items())
    return (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{int(clock.now().timestamp())}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_chat]]></Event>"
        f"<ChatId><![CDATA[{chat_id}]]></ChatId>"
        f"<ChangeType><![CDATA[{change}]]></ChangeType>{fields}</xml>"
    )


def unknown_event(clock: FrozenClock) -> str:
    return (
        f"<xml><ToUserName>{CORP}</ToUserName><FromUserName>sys</FromUserName>"
        f"<CreateTime>{int(clock.now().timestamp())}</CreateTime>"
        "<MsgType>event</MsgType><Event>brand_new_event</Event><Foo>bar</Foo></xml>"
    )


def signed(clock: FrozenClock, plain: str, *, at: int | None = None) -> tuple[dict[str, str], str]:
    encrypted = CRYPTO.encrypt(plain)
    timestamp = str(int(clock.now().timestamp()) if at is None else at)
    query = {
        "msg_signature": CRYPTO.signature(timestamp, "nonce1", encrypted),
        "timestamp": timestamp,
        "nonce": "nonce1",
    }
    return query, f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"


def post(url: str, query: dict[str, str], body: str | bytes) -> httpx.Response:
    return httpx.post(url, params=query, content=body, headers={"Content-Type": "text/xml"})


def stored(engine: Engine) -> list[CallbackEvent]:
    with session(engine) as s:
        return list(s.exec(select(CallbackEvent).order_by(CallbackEvent.id)).all())  # type: ignore[arg-type]


# --- the endpoint ----------------------------------------------------------------------------


def test_url_verification_answers_the_echostr_alone(url: str, clock: FrozenClock) -> None:
    echo = CRYPTO.encrypt("1616140317555161061")
    timestamp = str(int(clock.now().timestamp()))
    query = {
        "msg_signature": CRYPTO.signature(timestamp, "n", echo),
        "timestamp": timestamp,
        "nonce": "n",
        "echostr": echo,
    }
    answer = httpx.get(url, params=query)
    assert answer.status_code == 200
    assert answer.content == b"1616140317555161061"
    assert answer.headers["content-type"].startswith("text/plain")


def test_url_verification_with_a_bad_signature_is_401(url: str, clock: FrozenClock) -> None:
    timestamp = str(int(clock.now().timestamp()))
    query = {"msg_signature": "0" * 40, "timestamp": timestamp, "nonce": "n", "echostr": "abc"}
    assert httpx.get(url, params=query).status_code == 401


def test_a_valid_event_is_stored_once_when_delivered_three_times(
    url: str, engine: Engine, clock: FrozenClock
) -> None:
    plain = chat_event(clock, "wr00000", "create")
    query, body = signed(clock, plain)
    for _ in range(3):
        answer = post(url, query, body)
        assert answer.status_code == 200
        assert answer.content == b""
    rows = stored(engine)
    assert len(rows) == 1
    assert (rows[0].kind, rows[0].chat_id, rows[0].payload) == (
        "ExternalChatEvent",
        "wr00000",
        plain,
    )
    assert rows[0].processed_at is None


def test_forged_signature_is_401_and_nothing_stored(
    url: str, engine: Engine, clock: FrozenClock
) -> None:
    query, body = signed(clock, chat_event(clock, "wr00000", "create"))
    query["msg_signature"] = "f" * 40
    answer = post(url, query, body)
    assert (answer.status_code, answer.text) == (401, "unauthorized")
    assert stored(engine) == []


def test_replayed_old_timestamp_is_401_and_nothing_stored(
    url: str, engine: Engine, clock: FrozenClock
) -> None:
    old = int((clock.now() - timedelta(minutes=6)).timestamp())
    query, body = signed(clock, chat_event(clock, "wr00000", "create"), at=old)
    answer = post(url, query, body)
    assert (answer.status_code, answer.text) == (401, "unauthorized")
    assert stored(engine) == []


def test_malformed_xml_is_400_and_nothing_stored(
    url: str, engine: Engine, clock: FrozenClock
) -> None:
    query, _ = signed(clock, "x")
    assert post(url, query, "<xml><Encrypt>abc</Encrypt>").status_code == 400
    # Well-formed and signed, but the decrypted event itself is not XML.
    query, body = signed(clock, "not xml at all")
    assert post(url, query, body).status_code == 400
    assert stored(engine) == []


def test_xml_entity_attack_is_400_and_nothing_stored(
    url: str, engine: Engine, clock: FrozenClock
) -> None:
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        "<xml><Encrypt>&c;</Encrypt></xml>"
    )
    query, _ = signed(clock, "x")
    assert post(url, query, laughs).status_code == 400
    # The same attack inside a correctly signed and encrypted payload.
    query, body = signed(clock, laughs.replace("<Encrypt>&c;</Encrypt>", "<MsgType>&c;</MsgType>"))
    assert post(url, query, body).status_code == 400
    assert stored(engine) == []


def test_oversized_body_is_413_and_nothing_stored(
    url: str, engine: Engine, clock: FrozenClock
) -> None:
    query, _ = signed(clock, "x")
    body = b"<xml><Encrypt>" + b"A" * MAX_BODY_BYTES + b"</Encrypt></xml>"
    assert post(url, query, body).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap is counted while reading
        yield from (b"A" * 65536 for _ in range(MAX_BODY_BYTES // 65536 + 2))

    answer = httpx.post(url, params=query, content=chunks())
    assert answer.status_code == 413
    assert stored(engine) == []


def test_without_callback_credentials_the_routes_answer_503(
    engine: Engine, clock: FrozenClock
) -> None:
    with running(Starlette(routes=callback_routes(WeComSettings(), engine, clock))) as base:
        assert httpx.get(f"{base}/wecom/callback").status_code == 503
        assert httpx.post(f"{base}/wecom/callback", content=b"<xml/>").status_code == 503


def test_callbacks_left_unset_are_a_warning_and_half_set_an_error(
    engine: Engine, clock: FrozenClock
) -> None:
    half = WeComSettings(corp_id=CORP, callback_token=SecretStr(TOKEN))
    with capture_logs() as logs:
        callback_routes(WeComSettings(), engine, clock)
        [route] = callback_routes(half, engine, clock)
    unset, half_set = [e for e in logs if e["event"] == "webhook.not_configured"]
    assert unset["log_level"] == "warning"
    assert (half_set["log_level"], half_set["error"]) == ("error", "the EncodingAESKey is not set")
    with running(Starlette(routes=[route])) as base:
        assert httpx.post(f"{base}/wecom/callback", content=b"<xml/>").status_code == 503


def test_a_new_event_starts_the_background_handler_once(engine: Engine, clock: FrozenClock) -> None:
    calls: list[int] = []
    done = threading.Event()

    async def on_stored() -> None:
        calls.append(1)
        done.set()

    routes = callback_routes(SETTINGS, engine, clock, on_stored=on_stored)
    with running(Starlette(routes=routes)) as base:
        query, body = signed(clock, chat_event(clock, "wr00001", "update"))
        for _ in range(2):
            assert post(f"{base}/wecom/callback", query, body).status_code == 200
        assert done.wait(5)
    assert calls == [1]


# --- processing ------------------------------------------------------------------------------


def store_events(engine: Engine, clock: FrozenClock, *plains: str) -> None:
    with running(Starlette(routes=callback_routes(SETTINGS, engine, clock))) as base:
        for plain in plains:
            query, body = signed(clock, plain)
            assert post(f"{base}/wecom/callback", query, body).status_code == 200


def outbox_row(key: str, chat_id: str, clock: FrozenClock, state: SendState) -> OutboxRow:
    now = clock.now()
    return OutboxRow(
        key=key,
        playbook="pb",
        step="s",
        target_id=chat_id,
        sender="zhangsan",
        planned_at=now,
        due_at=now + timedelta(days=1),
        expires_at=now + timedelta(days=2),
        state=state,
        updated_at=now,
    )


@pytest.mark.anyio
async def test_a_create_event_stores_the_group(
    engine: Engine, clock: FrozenClock, make_client: Callable[..., Any], sim: Simulator
) -> None:
    store_events(engine, clock, chat_event(clock, "wr00000", "create"))
    async with make_client() as client:
        assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 1
        assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 0  # nothing left
    with session(engine) as s:
        group = s.get(GroupRecord, "wr00000")
        assert group is not None
        assert (group.name, group.status) == ("打卡群0", GroupStatus.ACTIVE)
    [row] = stored(engine)
    assert row.processed_at == clock.now()
    assert row.error == ""
    assert sim.count("externalcontact/groupchat/get") == 1


@pytest.mark.anyio
async def test_a_dismiss_event_marks_the_group_and_cancels_its_planned_sends(
    engine: Engine, clock: FrozenClock, make_client: Callable[..., Any]
) -> None:
    store_events(engine, clock, chat_event(clock, "wr00002", "create"))
    async with make_client() as client:
        await process_pending(engine, client, clock, NO_PLAYBOOKS)
        with session(engine) as s:
            s.add(outbox_row("pb:s:wr00002:1", "wr00002", clock, SendState.PLANNED))
            s.add(outbox_row("pb:s:wr00002:0", "wr00002", clock, SendState.SENT))
            s.add(outbox_row("pb:s:wr00004:1", "wr00004", clock, SendState.PLANNED))
        clock.advance(timedelta(seconds=1))
        store_events(engine, clock, chat_event(clock, "wr00002", "dismiss"))
        assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 1
    with session(engine) as s:
        group = s.get(GroupRecord, "wr00002")
        assert group is not None
        assert (group.status, group.dismissed_at) == (GroupStatus.DISMISSED, clock.now())
        states = {r.key: r.state for r in s.exec(select(OutboxRow)).all()}
    assert states == {
        "pb:s:wr00002:1": SendState.CANCELLED,
        "pb:s:wr00002:0": SendState.SENT,
        "pb:s:wr00004:1": SendState.PLANNED,
    }


@pytest.mark.anyio
async def test_an_unknown_event_is_processed_without_error(
    engine: Engine, clock: FrozenClock, make_client: Callable[..., Any], sim: Simulator
) -> None:
    store_events(engine, clock, unknown_event(clock))
    async with make_client() as client:
        assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 1
    [row] = stored(engine)
    assert (row.kind, row.error, row.processed_at) == ("UnknownEvent", "", clock.now())
    assert sim.count("externalcontact/groupchat/get") == 0


@pytest.mark.anyio
async def test_a_failed_fetch_is_retried_after_a_back_off_with_its_group_waiting(
    engine: Engine, clock: FrozenClock, make_client: Callable[..., Any], sim: Simulator
) -> None:
    """WeCom keeps failing past the client's retries: the event stays pending with its error
    until its retry time, the group's later events wait for it, and then both go in order."""
    store_events(
        engine,
        clock,
        chat_event(clock, "wr00002", "create"),
        chat_event(clock, "wr00002", "dismiss"),
    )
    sim.faults.add(Fault("errcode", times=20, api="externalcontact/groupchat/get", errcode=-1))
    async with make_client() as client:
        assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 0
        failed_at = clock.now()  # the client's retries moved the test clock on
        first, second = stored(engine)
        assert (first.processed_at, first.attempts) == (None, 1)
        assert first.retry_at == failed_at + RETRY_AFTER
        assert "-1" in first.error
        assert (second.processed_at, second.error, second.attempts) == (None, "", 0)
        sim.faults.clear()
        fetches = sim.count("externalcontact/groupchat/get")
        # before its retry time: neither the failed event nor its group's next one is tried
        clock.set(first.retry_at - timedelta(seconds=1))
        assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 0
        assert sim.count("externalcontact/groupchat/get") == fetches
        clock.set(first.retry_at)
        assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 2
    assert [(e.error, e.retry_at) for e in stored(engine)] == [("", None), ("", None)]
    with session(engine) as s:
        group = s.get(GroupRecord, "wr00002")
        assert group is not None
        assert group.status == GroupStatus.DISMISSED


@pytest.mark.anyio
async def test_a_callback_that_keeps_failing_is_given_up_on_and_its_group_goes_on(
    engine: Engine, clock: FrozenClock, make_client: Callable[..., Any], sim: Simulator
) -> None:
    store_events(
        engine,
        clock,
        chat_event(clock, "wr00002", "create"),
        chat_event(clock, "wr00002", "dismiss"),
        chat_event(clock, "wr00005", "dismiss"),  # another group: never held up
    )
    sim.faults.add(Fault("errcode", times=10_000, api="externalcontact/groupchat/get", errcode=-1))
    rounds = []
    async with make_client() as client:
        for _ in range(GIVE_UP_AFTER):
            rounds.append(await process_pending(engine, client, clock, NO_PLAYBOOKS))
            clock.set(clock.now() + RETRY_LONGEST)
        first, second, other = stored(engine)
        assert first.processed_at is not None
        assert first.error.startswith(f"gave up after {GIVE_UP_AFTER} attempts: ")
        assert second.processed_at is None  # it waited until its group's first event ended
        assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 1
    assert rounds == [1] + [0] * (GIVE_UP_AFTER - 1)  # the other group's event, at once
    assert other.processed_at is not None
    first, second, _ = stored(engine)
    assert second.processed_at is not None
    assert second.error == ""
    assert first.error.startswith("gave up")  # kept, for `botops status`
    with session(engine) as s:
        [alert] = pending_alerts(s)  # recorded with the give-up, for the ops robot
    assert alert.kind == CALLBACK_GIVEN_UP
    assert alert.text.splitlines()[:2] == [
        "**botops: 回调处理失败，已放弃**",
        "> ExternalChatEvent（群 wr00002）：WeCom externalcontact/groupchat/get: errcode -1 "
        "system busy",
    ]
    assert "同步补上" in alert.text


def test_a_given_up_check_in_tells_ops_to_add_the_points_by_hand() -> None:
    text = given_up_alert("AiBotMessage", "wr00002", 12, "database is locked\n(sqlite)")
    assert text.splitlines()[1] == "> AiBotMessage（群 wr00002）：database is locked (sqlite)"
    assert "`botops points adjust`" in text


def test_retries_back_off_from_a_minute_to_an_hour_then_give_up() -> None:
    delays = [retry_delay(n, RETRY_AFTER) for n in range(1, GIVE_UP_AFTER + 1)]
    minutes = [1, 2, 4, 8, 16, 32] + [60] * (GIVE_UP_AFTER - 7)
    assert delays == [timedelta(minutes=m) for m in minutes] + [None]


@pytest.mark.anyio
async def test_an_event_for_a_group_wecom_no_longer_has_dismisses_it(
    engine: Engine, clock: FrozenClock, make_client: Callable[..., Any], sim: Simulator
) -> None:
    store_events(engine, clock, chat_event(clock, "wr00003", "create"))
    async with make_client() as client:
        await process_pending(engine, client, clock, NO_PLAYBOOKS)
        with session(engine) as s:
            s.add(outbox_row("pb:s:wr00003:1", "wr00003", clock, SendState.PLANNED))
        store_events(engine, clock, chat_event(clock, "wr_missing", "create"))
        store_events(engine, clock, chat_event(clock, "wr00003", "update", UpdateDetail="x"))
        # wr00003 is dismissed in WeCom and its dismiss callback was lost
        sim.dismiss("wr00003")
        assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 2
    assert [e.error for e in stored(engine)] == ["", "", ""]
    with session(engine) as s:
        assert s.get(GroupRecord, "wr_missing") is None
        group = s.get(GroupRecord, "wr00003")
        assert group is not None
        assert group.status == GroupStatus.DISMISSED
        row = s.get(OutboxRow, "pb:s:wr00003:1")
        assert row is not None
        assert row.state == SendState.CANCELLED


# --- every event type, through the running app and then process_pending ------------------


def member_event(clock: FrozenClock, chat_id: str, detail: str, userid: str, **extra: str) -> str:
    """change_external_chat update add_member/del_member at the clock's time."""
    fields = "".join(f"<{k}>{v}</{k}>" for k, v in extra.items())
    return chat_event(clock, chat_id, "update", UpdateDetail=detail).replace(
        "</xml>",
        f"<MemChangeCnt>1</MemChangeCnt><MemChangeList><Item>{userid}</Item></MemChangeList>"
        f"{fields}</xml>",
    )


def contact_event(clock: FrozenClock, change: str, userid: str, external: str) -> str:
    return (
        f"<xml><ToUserName>{CORP}</ToUserName><FromUserName>sys</FromUserName>"
        f"<CreateTime>{int(clock.now().timestamp())}</CreateTime><MsgType>event</MsgType>"
        f"<Event>change_external_contact</Event><ChangeType>{change}</ChangeType>"
        f"<UserID>{userid}</UserID><ExternalUserID>{external}</ExternalUserID></xml>"
    )


def tag_event(clock: FrozenClock, change: str, tag_id: str) -> str:
    return (
        f"<xml><ToUserName>{CORP}</ToUserName><FromUserName>sys</FromUserName>"
        f"<CreateTime>{int(clock.now().timestamp())}</CreateTime><MsgType>event</MsgType>"
        f"<Event>change_external_tag</Event><ChangeType>{change}</ChangeType>"
        f"<Id>{tag_id}</Id><TagType>tag</TagType></xml>"
    )


def member(engine: Engine, chat_id: str, userid: str) -> GroupMember:
    with session(engine) as s:
        row = s.get(GroupMember, (chat_id, userid))
        assert row is not None
        return row


@pytest.mark.anyio
async def test_a_del_member_callback_records_the_exact_quit_time_and_scene(
    engine: Engine, clock: FrozenClock, make_client: Callable[..., Any], sim: Simulator
) -> None:
    gone = external_userid("wr00000", 0)
    store_events(engine, clock, chat_event(clock, "wr00000", "create"))
    async with make_client() as client:
        await process_pending(engine, client, clock, NO_PLAYBOOKS)
        clock.advance(timedelta(minutes=3))
        left_at = clock.now()
        sim.leave("wr00000", gone)
        store_events(
            engine, clock, member_event(clock, "wr00000", "del_member", gone, QuitScene="1")
        )
        clock.advance(timedelta(minutes=10))  # processed later than it happened
        assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 1
    row = member(engine, "wr00000", gone)
    assert (row.left_at, row.quit_scene) == (left_at, 1)
    assert member(engine, "wr00000", external_userid("wr00000", 1)).left_at is None


@pytest.mark.anyio
async def test_member_events_out_of_order_leave_the_roster_as_wecom_has_it(
    engine: Engine, clock: FrozenClock, make_client: Callable[..., Any], sim: Simulator
) -> None:
    """She left at 09:01 and came back at 09:02; the callbacks arrive the other way round."""
    userid = external_userid("wr00000", 0)
    store_events(engine, clock, chat_event(clock, "wr00000", "create"))
    async with make_client() as client:
        await process_pending(engine, client, clock, NO_PLAYBOOKS)
        clock.advance(timedelta(minutes=1))
        left = member_event(clock, "wr00000", "del_member", userid, QuitScene="0")
        sim.leave("wr00000", userid)
        clock.advance(timedelta(minutes=1))
        sim.join("wr00000", userid, "客户1")
        joined = member_event(clock, "wr00000", "add_member", userid, JoinScene="3")
        store_events(engine, clock, joined, left)
        assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 2
    row = member(engine, "wr00000", userid)
    assert row.left_at is None
    assert row.quit_scene is None


@pytest.mark.anyio
async def test_a_tag_event_refreshes_the_corp_tags(
    engine: Engine, clock: FrozenClock, make_client: Callable[..., Any], sim: Simulator
) -> None:
    store_events(engine, clock, tag_event(clock, "create", "etTAG1"))
    async with make_client() as client:
        assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 1
    with session(engine) as s:
        names = {t.name for t in list_corp_tags(s)}
    assert names == {"打卡挑战", "讲座"}  # the simulator's tags, now in the store
    assert sim.count("externalcontact/get_corp_tag_list") == 1


@pytest.mark.anyio
async def test_a_deleted_contact_cancels_that_staff_members_planned_sends_to_them(
    engine: Engine, clock: FrozenClock, make_client: Callable[..., Any]
) -> None:
    rows = {
        "pb:s:wmGONE:1": ("wmGONE", "zhangsan", SendState.PLANNED),
        "pb:s:wmGONE:0": ("wmGONE", "zhangsan", SendState.SENT),
        "pb:t:wmGONE:1": ("wmGONE", "lisi", SendState.PLANNED),  # still lisi's contact
        "pb:s:wmSTAY:1": ("wmSTAY", "zhangsan", SendState.PLANNED),
    }
    with session(engine) as s:
        for key, (target, sender, state) in rows.items():
            row = outbox_row(key, target, clock, state)
            row.target_kind, row.sender = "customer", sender
            s.add(row)
    store_events(
        engine,
        clock,
        contact_event(clock, "del_follow_user", "zhangsan", "wmGONE"),
        contact_event(clock, "edit_external_contact", "zhangsan", "wmSTAY"),
    )
    async with make_client() as client:
        assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 2
    with session(engine) as s:
        states = {r.key: r.state for r in s.exec(select(OutboxRow)).all()}
    assert states == {
        "pb:s:wmGONE:1": SendState.CANCELLED,
        "pb:s:wmGONE:0": SendState.SENT,
        "pb:t:wmGONE:1": SendState.PLANNED,
        "pb:s:wmSTAY:1": SendState.PLANNED,
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("detail", "field", "value"),
    [
        ("change_name", "name", "新群名"),
        ("change_owner", "owner", "lisi"),
        ("change_notice", "notice", "新公告"),
    ],
)
async def test_a_group_change_is_fetched_again_and_stored(
    engine: Engine,
    clock: FrozenClock,
    make_client: Callable[..., Any],
    sim: Simulator,
    detail: str,
    field: str,
    value: str,
) -> None:
    store_events(engine, clock, chat_event(clock, "wr00001", "create"))
    async with make_client() as client:
        await process_pending(engine, client, clock, NO_PLAYBOOKS)
        with sim.lock:  # the change as WeCom has it; the callback only says "look again"
            setattr(sim.state.groups["wr00001"], field, value)
        clock.advance(timedelta(seconds=1))
        store_events(engine, clock, chat_event(clock, "wr00001", "update", UpdateDetail=detail))
        assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 1
    with session(engine) as s:
        group = s.get(GroupRecord, "wr00001")
        assert group is not None
        assert getattr(group, field) == value
    assert sim.count("externalcontact/groupchat/get") == 2


@pytest.mark.anyio
async def test_archive_notices_and_app_text_messages_are_stored_and_processed_quietly(
    engine: Engine, clock: FrozenClock, make_client: Callable[..., Any], sim: Simulator
) -> None:
    at = int(clock.now().timestamp())
    head = f"<xml><ToUserName>{CORP}</ToUserName><FromUserName>zhangsan</FromUserName>"
    audit = f"{head}<CreateTime>{at}</CreateTime><MsgType>event</MsgType><Event>msgaudit_notify</Event><AgentID>1</AgentID></xml>"
    text = f"{head}<CreateTime>{at}</CreateTime><MsgType>text</MsgType><Content>你好</Content><MsgId>1234567</MsgId><AgentID>1</AgentID></xml>"
    store_events(engine, clock, audit, text, text)  # the text redelivered: stored once
    async with make_client() as client:
        assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 2
    assert [(e.kind, e.error, e.processed_at) for e in stored(engine)] == [
        ("MsgAuditNotify", "", clock.now()),
        ("TextMessage", "", clock.now()),
    ]
    assert sim.requests() == []  # nothing to fetch for either


# --- concurrent deliveries -------------------------------------------------------------------


def post_all(url: str, requests: list[tuple[dict[str, str], str]]) -> list[int]:
    """POST every request at once, one thread each, released together."""
    start = threading.Barrier(len(requests))

    def one(request: tuple[dict[str, str], str]) -> int:
        start.wait()
        return post(url, *request).status_code

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(one, requests))


def test_concurrent_deliveries_of_one_event_store_it_once_and_handle_it_once(
    engine: Engine, clock: FrozenClock
) -> None:
    calls: list[int] = []

    async def on_stored() -> None:
        calls.append(1)

    routes = callback_routes(SETTINGS, engine, clock, on_stored=on_stored)
    with running(Starlette(routes=routes)) as base:
        delivery = signed(clock, chat_event(clock, "wr00002", "update"))
        assert post_all(f"{base}/wecom/callback", [delivery] * 20) == [200] * 20
    # the server has stopped: every background task that was started has run
    assert [row.chat_id for row in stored(engine)] == ["wr00002"]
    assert calls == [1]


def test_concurrent_distinct_events_are_all_stored(engine: Engine, clock: FrozenClock) -> None:
    chats = [f"wr1{n:04d}" for n in range(30)]
    with running(Starlette(routes=callback_routes(SETTINGS, engine, clock))) as base:
        deliveries = [signed(clock, chat_event(clock, chat, "update")) for chat in chats]
        assert post_all(f"{base}/wecom/callback", deliveries) == [200] * 30
    assert sorted(row.chat_id or "" for row in stored(engine)) == chats
