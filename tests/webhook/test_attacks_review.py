"""An attacker's and an operator's look at the inbound routes, over real loopback HTTP (uvicorn
on a thread, a real SQLite file, the daemon's own metrics middleware).

What must hold whatever a client does: a refusal is a generic 4xx counted as such (never a
500 and an error traceback an unauthenticated client can trigger at will); a failure of
our own (the database) is a generic 503 whose log line names the database's reason but
never the decrypted payload or a member's message; a replay is answered without being
processed twice; the query value that was verified is the one used.
"""

from __future__ import annotations

import gzip
import json
import logging
import socket
import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, text
from sqlmodel import select
from starlette.applications import Starlette
from structlog.testing import capture_logs

from botops import metrics
from botops.clock import FrozenClock
from botops.config import IngestSettings, WeComSettings
from botops.daemon.http import InboundTimer
from botops.playbook.library import PlaybookLibrary
from botops.store.db import open_database, session
from botops.store.groups import upsert_group
from botops.store.models import CallbackEvent
from botops.webhook.aibot_app import aibot_routes
from botops.webhook.app import callback_routes
from botops.webhook.crypto import CallbackCrypto
from botops.webhook.ingest import HEADER, ingest_routes, signature
from botops.webhook.safe import MAX_BODY_BYTES
from botops.wecom.models import GroupChat
from tests.asgi_server import running
from tests.faults.callbacks import (
    AIBOT_KEY,
    AIBOT_TOKEN,
    KEY,
    TOKEN,
    aibot_message,
    chat_update,
    json_callback,
    xml_callback,
)
from tests.helpers import SHANGHAI

CORP = "wwattackcorp"
CHAT = "wrAttack1"
SECRET = "attack-ingest-secret"
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
CALLBACK = CallbackCrypto(TOKEN, KEY, CORP)
AIBOT = CallbackCrypto(AIBOT_TOKEN, AIBOT_KEY, "")
WECOM = WeComSettings(
    corp_id=CORP,
    callback_token=SecretStr(TOKEN),
    callback_aes_key=SecretStr(KEY),
    aibot_token=SecretStr(AIBOT_TOKEN),
    aibot_aes_key=SecretStr(AIBOT_KEY),
)
PRIVATE = "PRIVATE-MEMBER-WORDS"  # what a member said: must never reach a log line
NO_PLAYBOOKS = PlaybookLibrary([], {}, {})


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    db = open_database(f"sqlite:///{tmp_path / 'botops.db'}")
    with session(db) as s:
        upsert_group(s, GroupChat(chat_id=CHAT, name="g", owner="o", member_list=[]), NOW)
    yield db
    db.dispose()


@pytest.fixture
def base(engine: Engine) -> Iterator[str]:
    clock = FrozenClock(NOW)
    routes = (
        callback_routes(WECOM, engine, clock)
        + aibot_routes(WECOM, engine, clock, lambda: NO_PLAYBOOKS, "Asia/Shanghai")
        + ingest_routes(
            IngestSettings(secret=SecretStr(SECRET)),
            engine,
            clock,
            lambda: NO_PLAYBOOKS,
            "Asia/Shanghai",
        )
    )
    app = Starlette(routes=routes)
    app.add_middleware(InboundTimer)  # as the daemon mounts them (botops.daemon.http)
    with running(app) as url:
        yield url


@pytest.fixture
def server_errors() -> Iterator[list[logging.LogRecord]]:
    """What uvicorn logs as errors (an exception escaping the app, with its traceback)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.ERROR)
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def counted(route: str, status: int) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "botops_callbacks_total", {"route": route, "status": str(status)}
    )
    return value or 0.0


def wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def stored(engine: Engine) -> list[CallbackEvent]:
    with session(engine) as s:
        return list(s.exec(select(CallbackEvent)).all())


def fail_inserts_into(engine: Engine, table: str) -> None:
    """The database refuses every new row of `table` (as a full disk or a lost lock would)."""
    with engine.begin() as connection:
        connection.execute(
            text(
                f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'database refuses the write'); END"
            )
        )


def text_message(words: str) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName>"
        "<FromUserName><![CDATA[wmSomeone]]></FromUserName>"
        f"<CreateTime>{int(NOW.timestamp())}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType><MsgId>42</MsgId>"
        f"<Content><![CDATA[{words}]]></Content></xml>"
    )


def all_logged(logs: list[dict[str, object]], errors: list[logging.LogRecord]) -> str:
    handler = logging.Handler()
    handler.setFormatter(logging.Formatter())
    return json.dumps(logs, default=str) + "".join(handler.format(r) for r in errors)


# --- the crypto checks --------------------------------------------------------------------


def test_a_replayed_callback_is_answered_200_and_stored_once(base: str, engine: Engine) -> None:
    query, body = xml_callback(CALLBACK, chat_update(CORP, CHAT, NOW, "v1"), NOW)
    answers = [httpx.post(f"{base}/wecom/callback", params=query, content=body) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len(stored(engine)) == 1


def test_a_duplicated_query_parameter_is_read_the_same_way_it_was_verified(
    base: str, engine: Engine
) -> None:
    """Starlette's `get` takes the last value: the one verified is the one used, either way."""
    query, body = xml_callback(CALLBACK, chat_update(CORP, CHAT, NOW, "v1"), NOW)
    good, ts, nonce = query["msg_signature"], query["timestamp"], query["nonce"]
    url = f"{base}/wecom/callback"
    rest = f"timestamp={ts}&nonce={nonce}"
    bad_last = f"msg_signature={good}&msg_signature=bad&{rest}"
    assert httpx.post(f"{url}?{bad_last}", content=body).status_code == 401
    # A stale timestamp first and the signed one last: verified and used are the same value.
    stale = f"msg_signature={good}&timestamp=1&timestamp={ts}&nonce={nonce}"
    assert httpx.post(f"{url}?{stale}", content=body).status_code == 200
    fresh_last = f"msg_signature={good}&timestamp={ts}&timestamp=1&nonce={nonce}"
    assert httpx.post(f"{url}?{fresh_last}", content=body).status_code == 401
    assert len(stored(engine)) == 1


@pytest.mark.parametrize(
    "timestamp", ["", "0", "-1", "1e9", "99999999999999999999", "١٧٧٢٤١٦٨٠٠", " 1772416800"]
)
def test_a_timestamp_that_is_not_now_is_401_even_when_signed(
    base: str, engine: Engine, timestamp: str
) -> None:
    encrypted = CALLBACK.encrypt(chat_update(CORP, CHAT, NOW, "v1"))
    query = {
        "msg_signature": CALLBACK.signature(timestamp, "n", encrypted),
        "timestamp": timestamp,
        "nonce": "n",
    }
    body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    assert httpx.post(f"{base}/wecom/callback", params=query, content=body).status_code == 401
    assert stored(engine) == []


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_405(base: str, method: str) -> None:
    for path in ("/wecom/callback", "/wecom/aibot", "/ingest/messages"):
        assert httpx.request(method, f"{base}{path}").status_code == 405


def test_head_is_the_url_check_and_refused_unsigned(base: str) -> None:
    assert httpx.head(f"{base}/wecom/callback").status_code == 401


# --- bodies -------------------------------------------------------------------------------


def test_a_chunked_body_past_the_cap_is_413_without_a_content_length(
    base: str, engine: Engine
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"<" * 65536

    for path in ("/wecom/callback", "/wecom/aibot"):
        assert httpx.post(f"{base}{path}", content=chunks()).status_code == 413
    assert stored(engine) == []


def test_a_compressed_body_is_not_inflated(base: str, engine: Engine) -> None:
    query, body = xml_callback(CALLBACK, chat_update(CORP, CHAT, NOW, "v1"), NOW)
    answer = httpx.post(
        f"{base}/wecom/callback",
        params=query,
        content=gzip.compress(body),
        headers={"Content-Encoding": "gzip"},
    )
    assert answer.status_code == 400
    assert stored(engine) == []


def test_a_client_gone_mid_body_is_no_server_error(
    base: str, engine: Engine, server_errors: list[logging.LogRecord]
) -> None:
    """Anyone can open a request and hang up half-way: that is their failure, not ours. It
    must not count as a 500 (the alert on 5xx would fire) nor log a traceback each time."""
    port = int(base.rsplit(":", 1)[1])
    for path in ("/wecom/callback", "/wecom/aibot", "/ingest/messages"):
        before = sum(counted(path, s) for s in (400, 413, 500))
        with capture_logs() as logs:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
                sock.sendall(head.encode() + b"<xml>")
                time.sleep(0.1)
            wait_for(lambda p=path, b=before: sum(counted(p, s) for s in (400, 413, 500)) > b)
        assert counted(path, 500) == 0, path
        assert [e["reason"] for e in logs if e["event"].endswith(".refused")] == [
            "client disconnected"
        ]
    assert server_errors == []
    assert stored(engine) == []


def test_a_slow_body_does_not_hold_up_other_clients(base: str) -> None:
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as slow:
        slow.sendall(b"POST /wecom/aibot HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        started = time.monotonic()
        assert httpx.get(f"{base}/wecom/callback").status_code == 401
        assert time.monotonic() - started < 2


def test_unverified_paths_cannot_grow_the_metrics_label_set(base: str) -> None:
    for i in range(20):
        httpx.post(f"{base}/wecom/callback/x{i}", content=b"")
        httpx.post(f"{base}/ingest/x{i}", content=b"")
    routes = {
        sample.labels["route"]
        for family in metrics.REGISTRY.collect()
        if family.name == "botops_callbacks"
        for sample in family.samples
    }
    assert routes <= {"/wecom/callback", "/wecom/aibot", "/ingest/messages", "other"}


# --- our own failures ---------------------------------------------------------------------


def test_a_database_failure_on_a_callback_is_503_and_logs_no_decrypted_text(
    base: str, engine: Engine, server_errors: list[logging.LogRecord]
) -> None:
    fail_inserts_into(engine, "callback_events")
    query, body = xml_callback(CALLBACK, text_message(PRIVATE), NOW)
    with capture_logs() as logs:
        answer = httpx.post(f"{base}/wecom/callback", params=query, content=body)
    assert (answer.status_code, answer.text) == (503, "unavailable")  # WeCom will retry
    logged = all_logged(logs, server_errors)
    assert PRIVATE not in logged
    assert "database refuses the write" in logged  # the reason, for the operator
    assert server_errors == []


def test_a_database_failure_on_an_ai_bot_message_is_503_and_logs_no_decrypted_text(
    base: str, engine: Engine, server_errors: list[logging.LogRecord]
) -> None:
    fail_inserts_into(engine, "callback_events")
    query, body = json_callback(
        AIBOT, aibot_message("m1", CHAT, "wm1", PRIVATE, "https://qyapi.weixin.qq.com"), NOW
    )
    with capture_logs() as logs:
        answer = httpx.post(f"{base}/wecom/aibot", params=query, content=body)
    assert (answer.status_code, answer.text) == (503, "unavailable")
    logged = all_logged(logs, server_errors)
    assert PRIVATE not in logged
    assert "response_code" not in logged  # the response_url's one-time code
    assert "database refuses the write" in logged
    assert server_errors == []


def test_an_ai_bot_message_whose_scoring_fails_logs_no_decrypted_text(
    base: str, engine: Engine, server_errors: list[logging.LogRecord]
) -> None:
    """Stored, then scoring hits the database: it stays pending (scored later), and the log
    says why in the database's words, without the SQL parameters (the member's message)."""
    fail_inserts_into(engine, "group_messages")
    query, body = json_callback(
        AIBOT, aibot_message("m2", CHAT, "wm1", PRIVATE, "https://qyapi.weixin.qq.com"), NOW
    )
    with capture_logs() as logs:
        answer = httpx.post(f"{base}/wecom/aibot", params=query, content=body)
    assert answer.status_code == 200
    assert [e["outcome"] for e in logs if e["event"] == "callback"] == ["pending"]
    logged = all_logged(logs, server_errors)
    assert PRIVATE not in logged
    assert "database refuses the write" in logged
    assert [r.processed_at for r in stored(engine)] == [None]


# --- ingest -------------------------------------------------------------------------------


def ingest(base: str, body: bytes) -> httpx.Response:
    return httpx.post(
        f"{base}/ingest/messages", content=body, headers={HEADER: signature(SECRET, body)}
    )


def record(msgid: str, words: str) -> dict[str, str]:
    return {
        "msgid": msgid,
        "chat_id": CHAT,
        "sender_id": "wm1",
        "sender_name": "n",
        "text": words,
        "sent_at": NOW.isoformat(),
    }


def test_ingest_refuses_a_secret_in_the_query_string(base: str) -> None:
    body = json.dumps({"messages": [record("m1", "hi")]}).encode()
    answer = httpx.post(
        f"{base}/ingest/messages", params={HEADER: signature(SECRET, body)}, content=body
    )
    assert answer.status_code == 401


def test_ingest_a_number_too_long_to_read_is_400_not_500(
    base: str, server_errors: list[logging.LogRecord]
) -> None:
    """Python refuses to read integers of more than 4,300 digits (a ValueError that is not a
    JSONDecodeError): a bad body, like any other."""
    body = b'{"messages": [], "n": ' + b"1" * 5000 + b"}"
    answer = ingest(base, body)
    assert answer.status_code == 400
    assert server_errors == []
