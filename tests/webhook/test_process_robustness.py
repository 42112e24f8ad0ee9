"""Stored callbacks that go wrong: a row whose handling crashes, a group that keeps failing
with a backlog, a database that cannot record a failure, a reply template that raises, and
two runs overlapping (a failover). Real encrypted AI-bot callbacks through uvicorn, the WeCom
simulator over loopback, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import select
from starlette.applications import Starlette
from structlog.testing import capture_logs

from botops.clock import FrozenClock
from botops.config import WeComSettings
from botops.playbook.library import PlaybookLibrary
from botops.simulator import Fault, Simulator
from botops.simulator.seed import external_userid
from botops.store.alerts import CALLBACK_GIVEN_UP, pending_alerts
from botops.store.callbacks import store_callback
from botops.store.db import open_database, session
from botops.store.models import CallbackEvent, GroupRecord, GroupStatus, LedgerEntry
from botops.sync.groups import sync_groups
from botops.webhook.aibot_app import aibot_routes
from botops.webhook.crypto import CallbackCrypto
from botops.webhook.decode import parse_event
from botops.webhook.events import ExternalChatEvent
from botops.webhook.process import (
    BATCH,
    GIVE_UP_AFTER,
    RETRY_LONGEST,
    Handlers,
    SingleFlight,
    process_pending,
)
from botops.wecom.client import WeComClient
from tests.asgi_server import running
from tests.conftest import Build
from tests.store import conftest as store_conftest

pytestmark = pytest.mark.anyio
engine = store_conftest.engine  # this module's fixture: SQLite, and PostgreSQL

CORP = "wx5823bf96d3bd56c7"
RETRY_AFTER = timedelta(minutes=1)
NO_PLAYBOOKS = Handlers(lambda: PlaybookLibrary([], {}, {}), "Asia/Shanghai", RETRY_AFTER)
GET_GROUP = "externalcontact/groupchat/get"


def chat_event(clock: FrozenClock, chat_id: str, change: str, **extra: str) -> str:
    fields = "".join(f"<{k}>{v}</{k}>" for k, v in extra.items())
    return (
        f"<xml><ToUserName>{CORP}</ToUserName><FromUserName>sys</FromUserName>"
        f"<CreateTime>{int(clock.now().timestamp())}</CreateTime><MsgType>event</MsgType>"
        f"<Event>change_external_chat</Event><ChatId>{chat_id}</ChatId>"
        f"<ChangeType>{change}</ChangeType>{fields}</xml>"
    )


def tag_event(clock: FrozenClock, tag_id: str) -> str:
    return (
        f"<xml><ToUserName>{CORP}</ToUserName><FromUserName>sys</FromUserName>"
        f"<CreateTime>{int(clock.now().timestamp())}</CreateTime><MsgType>event</MsgType>"
        f"<Event>change_external_tag</Event><ChangeType>create</ChangeType>"
        f"<Id>{tag_id}</Id><TagType>tag</TagType></xml>"
    )


def store(engine: Engine, clock: FrozenClock, *plains: str) -> None:
    """Store decoded events as the callback endpoint does (its own tests cover the HTTP)."""
    with session(engine) as s:
        for plain in plains:
            event = parse_event(plain.encode())
            chat_id = event.chat_id if isinstance(event, ExternalChatEvent) else None
            kind = type(event).__name__
            key = event.dedup_key
            store_callback(
                s, dedup_key=key, kind=kind, chat_id=chat_id, payload=plain, now=clock.now()
            )


def stored(engine: Engine) -> list[CallbackEvent]:
    with session(engine) as s:
        return list(s.exec(select(CallbackEvent).order_by(CallbackEvent.id)).all())  # type: ignore[arg-type]


def group_status(engine: Engine, chat_id: str) -> GroupStatus:
    with session(engine) as s:
        group = s.get(GroupRecord, chat_id)
        assert group is not None
        return GroupStatus(group.status)


Meddle = Callable[[dict[str, Any], dict[str, Any]], Awaitable[dict[str, Any]]]


class Meddling(httpx.AsyncBaseTransport):
    """The simulator over real HTTP, but every groupchat/get answer goes through `meddle`
    (the request's JSON, the answer's) first: an answer botops does not expect, or one that
    takes its time to arrive."""

    def __init__(self, meddle: Meddle) -> None:
        self._real = httpx.AsyncHTTPTransport()
        self._meddle = meddle

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._real.handle_async_request(request)
        if not request.url.path.endswith(GET_GROUP):
            return response
        asked = json.loads(await request.aread())
        answer = json.loads(await response.aread())
        return httpx.Response(response.status_code, json=await self._meddle(asked, answer))

    async def aclose(self) -> None:
        await self._real.aclose()


# --- any exception is the row's failure ----------------------------------------------------


async def test_a_row_whose_handling_crashes_is_retried_then_given_up_holding_up_only_its_group(
    engine: Engine, clock: FrozenClock, make_client: Callable[..., WeComClient]
) -> None:
    """WeCom's answer for one group lacks a member's userid (a KeyError in botops, not one of
    its own errors): that callback fails like any other, and the others go on at once."""

    async def no_userid(asked: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        if asked["chat_id"] == "wr00001":
            del answer["group_chat"]["member_list"][0]["userid"]
        return answer

    store(
        engine,
        clock,
        chat_event(clock, "wr00001", "create"),
        chat_event(clock, "wr00001", "dismiss"),  # waits for its group's first event
        chat_event(clock, "wr00002", "create"),  # another group: never held up
    )
    rounds = []
    async with make_client(transport=Meddling(no_userid)) as client:
        with capture_logs() as logs:
            rounds.append(await process_pending(engine, client, clock, NO_PLAYBOOKS))
        bad, waiting, other = stored(engine)
        assert (bad.processed_at, bad.attempts, bad.error) == (None, 1, "KeyError: 'userid'")
        assert bad.retry_at == clock.now() + RETRY_AFTER
        assert (waiting.processed_at, waiting.attempts) == (None, 0)
        assert other.processed_at == clock.now()
        [failed] = [e for e in logs if e["event"] == "webhook.process_failed"]
        assert isinstance(failed["exc_info"], KeyError)  # a bug: its traceback is logged
        for _ in range(GIVE_UP_AFTER - 1):
            clock.set(clock.now() + RETRY_LONGEST)
            rounds.append(await process_pending(engine, client, clock, NO_PLAYBOOKS))
        assert rounds == [1] + [0] * (GIVE_UP_AFTER - 1)
        bad, waiting, _ = stored(engine)
        assert bad.processed_at is not None
        assert bad.error == f"gave up after {GIVE_UP_AFTER} attempts: KeyError: 'userid'"
        assert bad.attempts == GIVE_UP_AFTER
        assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 1  # the dismiss
    assert all(r.processed_at is not None for r in stored(engine))
    with session(engine) as s:
        [alert] = pending_alerts(s)
    assert alert.kind == CALLBACK_GIVEN_UP
    assert "KeyError: 'userid'" in alert.text


async def test_a_database_that_cannot_record_a_failure_ends_the_run(
    tmp_path: Path, clock: FrozenClock, make_client: Callable[..., WeComClient], sim: Simulator
) -> None:
    """Handling fails on the database, and so does recording the failure: the run stops at
    that row (raising), rather than calling WeCom for every other row to fail each again."""
    path = tmp_path / "locked.db"
    engine = open_database(f"sqlite:///{path}?timeout=0.2")  # "locked" after 0.2 s, not 30
    store(engine, clock, tag_event(clock, "etA"), tag_event(clock, "etB"), tag_event(clock, "etC"))
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another writer holds the database: reads still work
        async with make_client() as client:
            with pytest.raises(OperationalError, match="locked"):
                await process_pending(engine, client, clock, NO_PLAYBOOKS)
            assert sim.count("externalcontact/get_corp_tag_list") == 1
            assert [(r.attempts, r.processed_at) for r in stored(engine)] == [(0, None)] * 3
            writer.execute("ROLLBACK")
            assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 3
    finally:
        writer.close()
        engine.dispose()


# --- reply templates -------------------------------------------------------------------------

AIBOT_TOKEN = "aibotToken123"
AIBOT_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
AIBOT = CallbackCrypto(AIBOT_TOKEN, AIBOT_KEY, "")
CHAT = "wr00000"
DIVIDES = """\
    id: camp
    name: 打卡营
    anchor: 2026-03-01
    audience: {chat_ids: [wr00000]}
    checkin:
      keywords: [打卡]
      reply: {text: "{{ result.outcome }}：每次 {{ points_total // result.points }} 倍"}
    steps:
      - id: hello
        schedule: {day: 1, time: '09:00'}
        text: 你好
    """


def aibot_post(base: str, clock: FrozenClock, msgid: str, text: str) -> httpx.Response:
    plain = json.dumps(
        {
            "msgid": msgid,
            "aibotid": "AIBOTID",
            "chatid": CHAT,
            "chattype": "group",
            "from": {"userid": external_userid(CHAT, 0)},
            "response_url": f"https://qyapi.weixin.qq.com/cgi-bin/aibot/response?c={msgid}",
            "msgtype": "text",
            "text": {"content": text},
        },
        ensure_ascii=False,
    )
    encrypted = AIBOT.encrypt(plain)
    timestamp = str(int(clock.now().timestamp()))
    query = {
        "msg_signature": AIBOT.signature(timestamp, "n1", encrypted),
        "timestamp": timestamp,
        "nonce": "n1",
    }
    return httpx.post(f"{base}/wecom/aibot", params=query, json={"encrypt": encrypted})


async def test_a_reply_template_that_raises_leaves_the_check_in_scored_and_nothing_stuck(
    engine: Engine, clock: FrozenClock, make_client: Callable[..., WeComClient], build: Build
) -> None:
    """`points_total // result.points` divides by zero for a second check-in (0 points): no
    answer for it, but it is scored and processed, and later callbacks are handled."""
    library, problems = build({"camp.yaml": DIVIDES})
    assert problems == []
    settings = WeComSettings(aibot_token=SecretStr(AIBOT_TOKEN), aibot_aes_key=SecretStr(AIBOT_KEY))
    handlers = Handlers(lambda: library, "Asia/Shanghai", RETRY_AFTER)
    async with make_client() as client:
        assert (await sync_groups(client, engine, clock)).ok
        routes = aibot_routes(settings, engine, clock, lambda: library, "Asia/Shanghai")
        with running(Starlette(routes=routes)) as base, capture_logs() as logs:
            assert aibot_post(base, clock, "m1", "@打卡助手 打卡").status_code == 200
            clock.advance(timedelta(hours=1))
            second = aibot_post(base, clock, "m2", "@打卡助手 打卡")
        assert (second.status_code, second.content) == (200, b"")  # no answer, no error
        [failed] = [e for e in logs if e["event"] == "checkins.reply_failed"]
        assert failed["error"] == "line 1: ZeroDivisionError: integer division or modulo by zero"
        store(engine, clock, chat_event(clock, "wr00003", "dismiss"))
        assert await process_pending(engine, client, clock, handlers) == 1
    assert [r.processed_at is not None for r in stored(engine)] == [True, True, True]
    assert [r.error for r in stored(engine)] == ["", "", ""]
    with session(engine) as s:
        assert sum(e.points for e in s.exec(select(LedgerEntry))) == 10


# --- a group waiting to retry ----------------------------------------------------------------


async def test_a_group_waiting_to_retry_does_not_hide_the_other_groups_behind_its_backlog(
    engine: Engine, clock: FrozenClock, make_client: Callable[..., WeComClient], sim: Simulator
) -> None:
    """A flash-sale group's name change fails, and a full batch of its members joining waits
    behind it, in order: another group's dismissal is handled without waiting hours."""
    joins = [
        chat_event(clock, "wr00001", "update", UpdateDetail="add_member", CurMemVer=f"v{n}")
        for n in range(BATCH)
    ]
    renamed = chat_event(clock, "wr00001", "update", UpdateDetail="change_name")
    store(engine, clock, renamed, *joins, chat_event(clock, "wr00002", "dismiss"))
    sim.faults.add(Fault("errcode", times=10_000, api=GET_GROUP, errcode=-1))
    async with make_client() as client:
        assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 0  # a full batch
        failed = stored(engine)[0]
        assert failed.retry_at is not None
        clock.set(failed.retry_at - timedelta(seconds=30))  # the next round, still waiting
        fetches = sim.count(GET_GROUP)
        assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 1
        assert sim.count(GET_GROUP) == fetches  # the waiting group was not touched
    rows = stored(engine)
    assert rows[-1].processed_at is not None
    assert all(r.processed_at is None for r in rows[:-1])
    assert [r.attempts for r in rows[:2]] == [1, 0]


# --- overlapping runs ------------------------------------------------------------------------


async def test_a_group_dismissed_during_an_older_slow_fetch_stays_dismissed(
    engine: Engine, clock: FrozenClock, make_client: Callable[..., WeComClient]
) -> None:
    """A failover: the ex-leader's run is still waiting for WeCom's answer to a `create` while
    the new leader handles it and the group's dismissal. The late answer is older than the
    dismissal and must not bring the group back."""
    answering, release = asyncio.Event(), asyncio.Event()
    calls = 0

    async def first_is_slow(asked: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            answering.set()
            await release.wait()
        return answer

    store(engine, clock, chat_event(clock, "wr00002", "create"))
    async with make_client(transport=Meddling(first_is_slow)) as client:
        ex_leader = asyncio.create_task(process_pending(engine, client, clock, NO_PLAYBOOKS))
        await answering.wait()
        clock.advance(timedelta(seconds=3))
        store(engine, clock, chat_event(clock, "wr00002", "dismiss"))
        assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 2
        assert group_status(engine, "wr00002") == GroupStatus.DISMISSED
        with capture_logs() as logs:
            release.set()
            assert await ex_leader == 1
    assert group_status(engine, "wr00002") == GroupStatus.DISMISSED
    assert "webhook.group_newer_in_store" in [e["event"] for e in logs]


# --- one run at a time -----------------------------------------------------------------------


async def test_single_flight_runs_one_at_a_time_and_once_more_for_what_came_meanwhile() -> None:
    started = 0
    running_now, most = 0, 0
    gate = asyncio.Event()

    async def work() -> None:
        nonlocal started, running_now, most
        started += 1
        running_now += 1
        most = max(most, running_now)
        await gate.wait()
        running_now -= 1

    flight = SingleFlight(work)
    first = asyncio.create_task(flight.run())
    await asyncio.sleep(0)
    assert started == 1
    # a burst while the first run is under way: each returns at once, none is lost
    await asyncio.gather(*(flight.run() for _ in range(40)))
    assert started == 1
    gate.set()
    await first
    assert (started, most) == (2, 1)  # one more run for the whole burst, never two at once
    await flight.run()
    assert started == 3


async def test_single_flight_starts_afresh_after_a_run_that_failed() -> None:
    runs: list[str] = []

    async def work() -> None:
        runs.append("run")
        if len(runs) == 1:
            raise RuntimeError("database down")

    flight = SingleFlight(work)
    with pytest.raises(RuntimeError):
        await flight.run()
    await flight.run()
    assert runs == ["run", "run"]
