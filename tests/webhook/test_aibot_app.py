"""AI-bot check-ins end to end: real encrypted JSON callbacks through uvicorn, a real SQLite
file, groups synced from the WeCom simulator; the passive reply decrypted as WeCom would, and
the response_url answer of a message handled late, received by the simulator."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import select
from starlette.applications import Starlette

from botops.clock import FrozenClock
from botops.config import WeComSettings
from botops.playbook.library import PlaybookLibrary, load_library
from botops.simulator import Simulator
from botops.simulator.seed import external_userid
from botops.store.callbacks import store_callback
from botops.store.db import session
from botops.store.models import CallbackEvent, LedgerEntry
from botops.sync.groups import sync_groups
from botops.webhook.aibot_app import KIND, aibot_routes
from botops.webhook.crypto import CallbackCrypto
from botops.webhook.process import Handlers, process_pending
from botops.webhook.safe import MAX_BODY_BYTES
from botops.wecom.client import WeComClient
from tests.asgi_server import running
from tests.helpers import write_tree

pytestmark = pytest.mark.anyio

TOKEN = "aibotToken123"
KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CRYPTO = CallbackCrypto(TOKEN, KEY, "")  # AI-bot callbacks carry an empty receive id
SETTINGS = WeComSettings(aibot_token=SecretStr(TOKEN), aibot_aes_key=SecretStr(KEY))
CHAT = "wr00000"
MEMBER = external_userid(CHAT, 0)
PLAYBOOK = """\
    id: camp
    name: 打卡营
    anchor: 2026-03-01
    audience: {chat_ids: [wr00000]}
    checkin:
      keywords: [打卡]
      reply:
        template: reply.j2
    steps:
      - id: hello
        schedule: {day: 1, time: '09:00'}
        text: 你好
    """
REPLY = """\
    {% if result.outcome == "checkin" %}
    ✅ {{ member.name }} 第{{ day }}天打卡成功，连续{{ result.streak }}天，累计{{ points_total }}分
    {% elif result.outcome == "already_checked_in" %}
    {{ member.name }} 今天已经打过卡啦
    {% endif %}
    """


@pytest.fixture
def library(tmp_path: Path) -> PlaybookLibrary:
    write_tree(tmp_path, {"camp.yaml": PLAYBOOK}, {"reply.j2": REPLY})
    loaded, problems = load_library([tmp_path / "sops"], tmp_path / "templates")
    assert problems == []
    return loaded


@pytest.fixture
async def synced(make_client: Callable[..., WeComClient], engine: Engine, clock: FrozenClock):
    async with make_client() as client:
        assert (await sync_groups(client, engine, clock)).ok
        yield client


@pytest.fixture
def url(engine: Engine, clock: FrozenClock, library: PlaybookLibrary, synced) -> Iterator[str]:
    routes = aibot_routes(SETTINGS, engine, clock, lambda: library, "Asia/Shanghai")
    with running(Starlette(routes=routes)) as base:
        yield f"{base}/wecom/aibot"


def payload(msgid: str, text: str, *, base_url: str = "https://qyapi.weixin.qq.com") -> str:
    return json.dumps(
        {
            "msgid": msgid,
            "aibotid": "AIBOTID",
            "chatid": CHAT,
            "chattype": "group",
            "from": {"userid": MEMBER},
            "response_url": f"{base_url}/cgi-bin/aibot/response?response_code=code-{msgid}",
            "msgtype": "text",
            "text": {"content": text},
        },
        ensure_ascii=False,
    )


def post(url: str, clock: FrozenClock, plain: str, *, at: int | None = None) -> httpx.Response:
    encrypted = CRYPTO.encrypt(plain)
    timestamp = str(int(clock.now().timestamp()) if at is None else at)
    query = {
        "msg_signature": CRYPTO.signature(timestamp, "n1", encrypted),
        "timestamp": timestamp,
        "nonce": "n1",
    }
    return httpx.post(url, params=query, json={"encrypt": encrypted})


def answer(response: httpx.Response) -> dict[str, Any]:
    """The passive reply, verified and decrypted the way WeCom does."""
    assert response.status_code == 200
    body = response.json()
    CRYPTO.verify(body["msgsignature"], body["timestamp"], body["nonce"], body["encrypt"])
    return dict(json.loads(CRYPTO.decrypt(body["encrypt"])))


def ledger(engine: Engine) -> list[LedgerEntry]:
    with session(engine) as s:
        return list(s.exec(select(LedgerEntry)).all())


def stored(engine: Engine) -> list[CallbackEvent]:
    with session(engine) as s:
        return list(s.exec(select(CallbackEvent)).all())


async def test_a_check_in_scores_and_is_answered_in_the_response(url, engine, clock):
    reply = answer(post(url, clock, payload("m1", "@打卡助手 打卡")))
    assert reply["msgtype"] == "stream"
    assert reply["stream"]["finish"] is True
    assert reply["stream"]["content"] == "✅ 客户1 第2天打卡成功，连续1天，累计10分"
    [entry] = ledger(engine)
    assert (entry.member_id, entry.chat_id, entry.points, entry.source_msgid) == (
        MEMBER,
        CHAT,
        10,
        "m1",
    )
    [event] = stored(engine)
    assert event.kind == KIND
    assert event.processed_at is not None


async def test_a_redelivered_message_is_stored_once_and_never_scores_twice(url, engine, clock):
    plain = payload("m1", "@打卡助手 打卡")
    assert post(url, clock, plain).status_code == 200
    again = post(url, clock, plain)
    assert again.status_code == 200
    assert again.content == b""
    assert len(ledger(engine)) == 1
    assert len(stored(engine)) == 1


async def test_a_second_check_in_the_same_day_earns_nothing_and_says_so(url, engine, clock):
    post(url, clock, payload("m1", "@打卡助手 打卡"))
    clock.advance(timedelta(hours=2))
    reply = answer(post(url, clock, payload("m2", "@打卡助手 再打卡一次")))
    assert reply["stream"]["content"] == "客户1 今天已经打过卡啦"
    assert sum(e.points for e in ledger(engine)) == 10


async def test_the_mention_is_not_read_as_a_keyword(url, engine, clock):
    # the bot's own name contains the keyword 打卡: only what follows the mention counts
    response = post(url, clock, payload("m1", "@打卡助手 今天天气真好"))
    assert response.status_code == 200
    assert response.content == b""
    assert ledger(engine) == []
    assert [e.processed_at is not None for e in stored(engine)] == [True]


@pytest.mark.parametrize(
    "text",
    [
        "请问几点截止 @打卡助手",
        "今天读完了\u2005@打卡助手",
        "今天读完了@打卡助手\u2005谢谢",
        "@小助理\u2005请问 @打卡助手 怎么用",
    ],
)
async def test_a_mention_anywhere_is_not_read_as_a_keyword(url, engine, clock, text):
    response = post(url, clock, payload("m1", text))
    assert (response.status_code, response.content) == (200, b"")
    assert ledger(engine) == []


async def test_a_check_in_before_a_mention_counts(url, engine, clock):
    reply = answer(post(url, clock, payload("m1", "今天打卡\u2005@打卡助手")))
    assert reply["stream"]["content"].startswith("✅ 客户1 第")
    assert sum(e.points for e in ledger(engine)) == 10


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda q, b: ({**q, "msg_signature": "0" * 40}, b), id="forged-signature"),
        pytest.param(lambda q, b: ({**q, "timestamp": "1000"}, b), id="signature-of-other-time"),
        pytest.param(lambda q, b: (q, b"{not json"), id="malformed-json"),
        pytest.param(lambda q, b: (q, b'{"encrypt": 5}'), id="no-ciphertext"),
    ],
)
async def test_bad_requests_are_refused_and_store_nothing(url, engine, clock, tamper):
    encrypted = CRYPTO.encrypt(payload("m1", "@打卡助手 打卡"))
    timestamp = str(int(clock.now().timestamp()))
    query = {
        "msg_signature": CRYPTO.signature(timestamp, "n1", encrypted),
        "timestamp": timestamp,
        "nonce": "n1",
    }
    query, body = tamper(query, json.dumps({"encrypt": encrypted}).encode())
    response = httpx.post(url, params=query, content=body)
    assert response.status_code in (400, 401)
    assert stored(engine) == []
    assert ledger(engine) == []


async def test_a_replayed_callback_is_401(url, engine, clock):
    old = int((clock.now() - timedelta(hours=1)).timestamp())
    assert post(url, clock, payload("m1", "@打卡助手 打卡"), at=old).status_code == 401
    assert stored(engine) == []


async def test_an_oversized_body_is_413(url, engine):
    response = httpx.post(url, content=b'{"encrypt": "' + b"A" * MAX_BODY_BYTES + b'"}')
    assert response.status_code == 413
    assert stored(engine) == []


async def test_url_verification_answers_the_echostr(url, clock):
    echostr = CRYPTO.encrypt("1616140317555161061")
    timestamp = str(int(clock.now().timestamp()))
    query = {
        "msg_signature": CRYPTO.signature(timestamp, "n1", echostr),
        "timestamp": timestamp,
        "nonce": "n1",
        "echostr": echostr,
    }
    response = httpx.get(url, params=query)
    assert response.status_code == 200
    assert response.text == "1616140317555161061"


async def test_without_ai_bot_credentials_the_routes_answer_503(engine, clock, library):
    routes = aibot_routes(WeComSettings(), engine, clock, lambda: library, "Asia/Shanghai")
    with running(Starlette(routes=routes)) as base:
        assert httpx.post(f"{base}/wecom/aibot", json={"encrypt": "x"}).status_code == 503


async def test_a_message_handled_late_is_scored_and_answered_through_response_url(
    synced, engine, clock, library, sim: Simulator, base_url
):
    """The process stored the message and died before scoring it: the next round scores it
    and answers through the one-time response_url (here: the simulator's)."""
    with session(engine) as s:
        store_callback(
            s,
            dedup_key="aibot:AIBOTID:m1",
            kind=KIND,
            chat_id=CHAT,
            payload=payload("m1", "@打卡助手 打卡", base_url=base_url),
            now=clock.now(),
        )
    handlers = Handlers(lambda: library, "Asia/Shanghai", timedelta(minutes=1))
    clock.advance(timedelta(minutes=5))
    assert await process_pending(engine, synced, clock, handlers) == 1
    assert await process_pending(engine, synced, clock, handlers) == 0
    [reply] = sim.aibot_replies()
    assert reply.response_code == "code-m1"
    assert reply.body == {
        "msgtype": "markdown",
        "markdown": {"content": "✅ 客户1 第2天打卡成功，连续1天，累计10分"},
    }
    [entry] = ledger(engine)
    assert entry.local_day.isoformat() == "2026-03-02"  # the day it arrived, not processed


async def test_an_answer_past_the_response_urls_hour_is_not_sent_but_the_check_in_counts(
    synced, engine, clock, library, sim: Simulator, base_url
):
    with session(engine) as s:
        store_callback(
            s,
            dedup_key="aibot:AIBOTID:m1",
            kind=KIND,
            chat_id=CHAT,
            payload=payload("m1", "@打卡助手 打卡", base_url=base_url),
            now=clock.now(),
        )
    clock.advance(timedelta(hours=2))
    handlers = Handlers(lambda: library, "Asia/Shanghai", timedelta(minutes=1))
    assert await process_pending(engine, synced, clock, handlers) == 1
    assert sim.aibot_replies() == []
    assert [e.points for e in ledger(engine)] == [10]


async def test_a_response_url_is_used_once_and_only_on_the_configured_host(synced, base_url):
    await synced.aibot_respond(f"{base_url}/cgi-bin/aibot/response?response_code=c1", "好")
    with pytest.raises(Exception, match="40029"):
        await synced.aibot_respond(f"{base_url}/cgi-bin/aibot/response?response_code=c1", "好")
    with pytest.raises(Exception, match="not an AI bot response_url"):
        await synced.aibot_respond("https://evil.example/steal?response_code=c2", "好")
