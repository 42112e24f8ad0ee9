"""Fuzzing the inbound HTTP endpoints through a real server (uvicorn on loopback, a real
SQLite file): /wecom/callback, /wecom/aibot and /ingest/messages get random bodies and query
strings, signed and unsigned, sealed and broken. Every answer is 400, 401 or 413 — 200 only
for input that is genuinely signed and decodes — never a 500, and nothing is stored from
what was refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import Engine, func
from sqlmodel import select
from starlette.applications import Starlette

from botops.clock import FrozenClock
from botops.config import IngestSettings, WeComSettings
from botops.playbook.library import load_library
from botops.store.db import open_database, session
from botops.store.groups import add_group_tags, upsert_group
from botops.store.models import CallbackEvent, GroupMessageRecord, LedgerEntry
from botops.webhook.aibot import parse_aibot_message
from botops.webhook.aibot_app import aibot_routes
from botops.webhook.app import callback_routes
from botops.webhook.crypto import CallbackCrypto
from botops.webhook.decode import parse_event
from botops.webhook.errors import CallbackError
from botops.webhook.ingest import HEADER, RecordError, ingest_routes, parse_batch, signature
from tests.asgi_server import running
from tests.faults.callbacks import (
    AIBOT_KEY,
    AIBOT_TOKEN,
    KEY,
    TOKEN,
    aibot_message,
    chat_update,
    json_callback,
    signed_query,
    xml_callback,
)
from tests.faults.mutations import ALPHABET, TOKENS, mutated_bytes, mutated_text
from tests.helpers import SHANGHAI, write_tree

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
CORP = "wwfuzzcorp"
CHAT = "wrFuzz1"
MEMBER = "wmFuzzMember1"
SECRET = "fuzz-ingest-secret"
MAX_INGEST = 4096  # ingest.max_body_bytes
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
CALLBACK = CallbackCrypto(TOKEN, KEY, CORP)
AIBOT = CallbackCrypto(AIBOT_TOKEN, AIBOT_KEY, "")
PLAYBOOK = """\
id: camp
name: 打卡营
anchor: 2026-03-01
audience: {tags: {any: [打卡]}}
checkin:
  keywords: [打卡]
steps:
  - id: hello
    schedule: {day: 30, time: '09:00'}
    text: 你好
"""
REFUSED = {400, 401, 413}


@dataclass
class Server:
    base: str
    engine: Engine
    http: httpx.Client

    def counts(self) -> tuple[int, int, int]:
        with session(self.engine) as s:
            return tuple(  # type: ignore[return-value]
                s.exec(select(func.count()).select_from(model)).one()
                for model in (CallbackEvent, LedgerEntry, GroupMessageRecord)
            )

    def post(self, path: str, query: dict[str, str], body: bytes, **headers: str) -> int:
        return self.http.post(
            f"{self.base}{path}", params=query, content=body, headers=headers
        ).status_code


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root: Path = tmp_path_factory.mktemp("fuzz-endpoints")
    write_tree(root, {"camp.yaml": PLAYBOOK})
    library, problems = load_library([root / "sops"], root / "templates")
    assert problems == []
    engine = open_database(f"sqlite:///{root / 'botops.db'}")
    with session(engine) as s:
        chat: Any = {
            "chat_id": CHAT,
            "name": "打卡群",
            "owner": "zhangsan",
            "create_time": int(NOW.timestamp()) - 86400 * 30,
            "member_list": [{"userid": MEMBER, "type": 2, "join_time": 1, "name": "小雨"}],
            "admin_list": [],
            "member_version": "v1",
        }
        upsert_group(s, chat, NOW)
        add_group_tags(s, CHAT, ["打卡"])
    clock = FrozenClock(NOW)
    wecom = WeComSettings(
        corp_id=CORP,
        callback_token=SecretStr(TOKEN),
        callback_aes_key=SecretStr(KEY),
        aibot_token=SecretStr(AIBOT_TOKEN),
        aibot_aes_key=SecretStr(AIBOT_KEY),
    )
    ingest = IngestSettings(secret=SecretStr(SECRET), max_body_bytes=MAX_INGEST)
    routes = callback_routes(wecom, engine, clock)
    routes += aibot_routes(wecom, engine, clock, lambda: library, "Asia/Shanghai")
    routes += ingest_routes(ingest, engine, clock, lambda: library, "Asia/Shanghai")
    try:
        with running(Starlette(routes=routes)) as base, httpx.Client(timeout=10) as http:
            yield Server(base, engine, http)
    finally:
        engine.dispose()


def refused_and_nothing_stored(server: Server, status: int, before: tuple[int, int, int]):
    assert status in REFUSED, status
    assert server.counts() == before


# -- strategies ---------------------------------------------------------------------------

PARAMS = ["msg_signature", "timestamp", "nonce", "echostr"]
queries = st.dictionaries(
    st.one_of(st.sampled_from(PARAMS), st.text(ALPHABET, min_size=1, max_size=8)),
    st.one_of(TOKENS, st.text(max_size=40)),
    max_size=5,
)
bodies = st.one_of(
    st.binary(max_size=600),
    st.text(ALPHABET, max_size=300).map(str.encode),
    st.just(b"<xml><Encrypt><![CDATA[").flatmap(
        lambda head: st.text(ALPHABET, max_size=80).map(lambda t: head + t.encode() + b"]]>")
    ),
    st.just(b'{"encrypt": ').flatmap(
        lambda head: st.text(ALPHABET, max_size=80).map(lambda t: head + json.dumps(t).encode())
    ),
    st.integers(MAX_INGEST - 2, MAX_INGEST + 2).map(lambda n: b"[" * n),  # around the cap
)
XML_EVENTS = [chat_update(CORP, CHAT, NOW, "v7"), chat_update(CORP, CHAT, NOW, "v8")]
AIBOT_PLAIN = aibot_message("fz1", CHAT, MEMBER, "@打卡助手 打卡", "https://qyapi.weixin.qq.com")
damaged_xml = st.sampled_from(XML_EVENTS).flatmap(
    lambda text: st.one_of(
        mutated_text(text.replace("><", ">\n<")).map(str.encode),
        mutated_bytes(text.encode()),
    )
)
damaged_json = st.one_of(
    mutated_text(AIBOT_PLAIN.replace(", ", ",\n")).map(str.encode),
    mutated_bytes(AIBOT_PLAIN.encode()),
)


# -- /wecom/callback ------------------------------------------------------------------------


@FUZZ
@given(method=st.sampled_from(["GET", "POST"]), query=queries, body=bodies)
def test_callback_refuses_random_requests(server: Server, method: str, query, body) -> None:
    before = server.counts()
    status = server.http.request(
        method, f"{server.base}/wecom/callback", params=query, content=body
    ).status_code
    refused_and_nothing_stored(server, status, before)


@FUZZ
@given(body=bodies, nonce=st.text(ALPHABET, max_size=10))
def test_callback_refuses_signed_garbage(server: Server, body: bytes, nonce: str) -> None:
    """Signed with our token, but the envelope or ciphertext is junk."""
    encrypted = base64.b64encode(body).decode() if body[:1] != b"<" else body.decode("latin-1")
    query = signed_query(CALLBACK, encrypted, NOW) | {"nonce": nonce}
    query["msg_signature"] = CALLBACK.signature(query["timestamp"], nonce, encrypted)
    envelope = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    before = server.counts()
    refused_and_nothing_stored(server, server.post("/wecom/callback", query, envelope), before)


@FUZZ
@given(damaged_xml)
def test_callback_sealed_damaged_events_are_200_only_when_they_decode(
    server: Server, plain: bytes
) -> None:
    query, body = xml_callback(CALLBACK, plain, NOW)
    before = server.counts()
    status = server.post("/wecom/callback", query, body)
    try:
        parse_event(plain)
    except CallbackError:
        refused_and_nothing_stored(server, status, before)
        return
    assert status == 200
    after = server.counts()
    assert after[0] - before[0] in (0, 1)  # stored, or a duplicate of an earlier example
    assert after[1:] == before[1:]


# -- /wecom/aibot ---------------------------------------------------------------------------


@FUZZ
@given(method=st.sampled_from(["GET", "POST"]), query=queries, body=bodies)
def test_aibot_refuses_random_requests(server: Server, method: str, query, body) -> None:
    before = server.counts()
    status = server.http.request(
        method, f"{server.base}/wecom/aibot", params=query, content=body
    ).status_code
    refused_and_nothing_stored(server, status, before)


@FUZZ
@given(damaged_json)
def test_aibot_sealed_damaged_messages_are_200_only_when_they_decode(
    server: Server, plain: bytes
) -> None:
    query, body = json_callback(AIBOT, plain, NOW)
    before = server.counts()
    status = server.post("/wecom/aibot", query, body)
    try:
        parse_aibot_message(plain)
    except CallbackError:
        refused_and_nothing_stored(server, status, before)
        return
    assert status == 200
    assert server.counts()[0] - before[0] in (0, 1)


# -- /ingest/messages -----------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(ALPHABET, max_size=12),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(ALPHABET, max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = ["msgid", "chat_id", "sender_id", "sender_name", "text", "sent_at", "source"]
GOOD = {
    "msgid": "fz-ingest-1",
    "chat_id": CHAT,
    "sender_id": MEMBER,
    "sender_name": "小雨",
    "text": "打卡",
    "sent_at": "2026-03-02T09:30:00+08:00",
}
records = st.dictionaries(st.sampled_from(FIELDS), st.one_of(json_values, TOKENS), max_size=4).map(
    lambda changes: {k: v for k, v in (GOOD | changes).items() if v is not None}
)
batches = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.lists(records, min_size=1, max_size=3).map(
        lambda rs: json.dumps({"messages": rs}, ensure_ascii=False).encode()
    ),
    mutated_bytes(json.dumps({"messages": [GOOD]}, ensure_ascii=False).encode()),
    bodies,
)


@FUZZ
@given(
    body=batches,
    header=st.one_of(
        st.none(),
        TOKENS.filter(lambda t: t.isascii() and t.isprintable() and t == t.strip()),
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=70),
        st.just(SECRET).map(lambda s: signature(s, b"another body")),
    ),
)
def test_ingest_refuses_unsigned_bodies(server: Server, body: bytes, header: str | None) -> None:
    headers = {} if header is None else {HEADER: header}
    before = server.counts()
    status = server.http.post(
        f"{server.base}/ingest/messages", content=body, headers=headers
    ).status_code
    refused_and_nothing_stored(server, status, before)


@FUZZ
@given(batches)
def test_ingest_signed_bodies_are_200_only_when_every_record_is_valid(
    server: Server, body: bytes
) -> None:
    before = server.counts()
    answer = server.http.post(
        f"{server.base}/ingest/messages",
        content=body,
        headers={HEADER: signature(SECRET, body), "Content-Type": "application/json"},
    )
    if len(body) > MAX_INGEST:
        refused_and_nothing_stored(server, answer.status_code, before)
        assert answer.status_code == 413
        return
    try:
        messages = parse_batch(body)
    except RecordError:
        refused_and_nothing_stored(server, answer.status_code, before)
        assert answer.status_code == 400
        return
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == len(messages)
    assert server.counts()[0] == before[0]


def test_deeply_nested_json_is_a_bad_record_not_a_crash(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by the fuzzer: `[[[[…` past Python's recursion limit raised RecursionError out of
    the JSON parser — a 500 from /ingest/messages, a traceback from `botops import-messages`."""
    from botops.cli import main

    deep = b"[" * 4000  # within ingest.max_body_bytes, far past the parser's depth
    assert len(deep) <= MAX_INGEST
    before = server.counts()
    answer = server.http.post(
        f"{server.base}/ingest/messages", content=deep, headers={HEADER: signature(SECRET, deep)}
    )
    refused_and_nothing_stored(server, answer.status_code, before)
    assert "nested too deeply" in answer.json()["error"]

    lines = tmp_path / "messages.jsonl"
    lines.write_bytes(json.dumps(GOOD).encode() + b"\n" + deep + b"\n")
    assert main(["import-messages", str(lines)]) == 1
    err = capsys.readouterr().err
    assert f"{lines}:2: not JSON: nested too deeply" in err
    assert "nothing imported" in err
