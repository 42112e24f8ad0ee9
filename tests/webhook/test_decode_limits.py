"""Events we have no type for are flattened field by field (UnknownEvent): a correctly signed
body that nests absurdly deep or flattens absurdly large is refused with a 400, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import select
from starlette.applications import Starlette

from botops.clock import FrozenClock
from botops.config import WeComSettings
from botops.store.db import session
from botops.store.models import CallbackEvent
from botops.webhook.app import callback_routes
from botops.webhook.crypto import CallbackCrypto
from botops.webhook.decode import MAX_DEPTH, parse_event
from botops.webhook.errors import MalformedCallback
from botops.webhook.events import UnknownEvent
from tests.asgi_server import running

TOKEN = "QDG6eK"
KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP = "wx5823bf96d3bd56c7"
CRYPTO = CallbackCrypto(TOKEN, KEY, CORP)
SETTINGS = WeComSettings(
    corp_id=CORP, callback_token=SecretStr(TOKEN), callback_aes_key=SecretStr(KEY)
)


def unknown(inner: str) -> str:
    return (
        f"<xml><ToUserName>{CORP}</ToUserName><FromUserName>sys</FromUserName>"
        "<CreateTime>1772413200</CreateTime><MsgType>event</MsgType>"
        f"<Event>brand_new_event</Event>{inner}</xml>"
    )


def nested(depth: int) -> str:
    return unknown("<A>" * depth + "leaf" + "</A>" * depth)


@pytest.fixture
def url(engine: Engine, clock: FrozenClock) -> Iterator[str]:
    with running(Starlette(routes=callback_routes(SETTINGS, engine, clock))) as base:
        yield f"{base}/wecom/callback"


def post_signed(url: str, clock: FrozenClock, plain: str) -> httpx.Response:
    encrypted = CRYPTO.encrypt(plain)
    timestamp = str(int(clock.now().timestamp()))
    query = {
        "msg_signature": CRYPTO.signature(timestamp, "nonce1", encrypted),
        "timestamp": timestamp,
        "nonce": "nonce1",
    }
    body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    return httpx.post(url, params=query, content=body, headers={"Content-Type": "text/xml"})


def test_nesting_up_to_the_limit_is_flattened_and_beyond_it_refused() -> None:
    event = parse_event(nested(MAX_DEPTH).encode())
    assert isinstance(event, UnknownEvent)
    assert event.fields[".".join(["A"] * MAX_DEPTH)] == "leaf"
    with pytest.raises(MalformedCallback, match="deep"):
        parse_event(nested(MAX_DEPTH + 1).encode())
    with pytest.raises(MalformedCallback, match="deep"):
        parse_event(nested(5_000).encode())  # was a RecursionError


def test_fields_that_would_flatten_to_many_megabytes_are_refused() -> None:
    # 20 KB of tag name over 1,000 leaves: a 30 KB body, 20 MB of flattened paths
    name = "N" * 20_000
    with pytest.raises(MalformedCallback, match="too many or too long"):
        parse_event(unknown(f"<{name}>{'<b/>' * 1_000}</{name}>").encode())


def test_a_signed_callback_nested_thousands_deep_is_400_and_not_stored(
    url: str, engine: Engine, clock: FrozenClock
) -> None:
    assert post_signed(url, clock, nested(5_000)).status_code == 400
    assert post_signed(url, clock, nested(3)).status_code == 200  # shallow: stored, as ever
    with session(engine) as s:
        assert [row.payload for row in s.exec(select(CallbackEvent))] == [nested(3)]
