"""The AI bot's callback routes: how members' @-mentions reach the check-in engine.

    GET  /wecom/aibot   URL verification: the decrypted echostr alone
    POST /wecom/aibot   {"encrypt": ...}: verify, decode, store; then score and answer

The AI bot has its own Token and EncodingAESKey (`wecom.aibot_token`, `wecom.aibot_aes_key`)
and an empty receive id (WeCom's AI-bot crypto docs), hence its own path. The message is
stored before anything else (a redelivery is answered 200 and changes nothing). Scoring is
quick, so it happens within the request and the answer ("✅ 第23天打卡成功…") goes back as
WeCom's passive reply: an encrypted `stream` message, finished at once. If scoring fails the
member gets no answer now; the stored message stays pending, botops.webhook.process scores
it on the next round and answers through its `response_url`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from botops.clock import Clock
from botops.config import WeComSettings
from botops.playbook.library import PlaybookLibrary
from botops.store.callbacks import finish_callback, store_callback
from botops.store.db import session
from botops.webhook.aibot import AiBotMessage, parse_aibot_message
from botops.webhook.aibot_checkin import check_in
from botops.webhook.crypto import CallbackCrypto
from botops.webhook.decode import parse_json_envelope
from botops.webhook.errors import MalformedCallback
from botops.webhook.replies import (
    callback_route_pair,
    crypto_or_none,
    decrypted,
    not_configured_routes,
    refused,
    store_failed,
)

log = structlog.get_logger()

PATH = "/wecom/aibot"
KIND = "AiBotMessage"  # callback_events.kind of stored AI-bot messages


@dataclass(frozen=True, slots=True)
class _Context:
    crypto: CallbackCrypto
    engine: Engine
    clock: Clock
    max_skew: timedelta
    library: Callable[[], PlaybookLibrary]
    tz_default: str


def aibot_routes(
    settings: WeComSettings,
    engine: Engine,
    clock: Clock,
    library: Callable[[], PlaybookLibrary],
    tz_default: str,
) -> list[Route]:
    """The AI-bot routes; 503 until `wecom.aibot_token` and `wecom.aibot_aes_key` are set."""
    # AI-bot callbacks carry an empty receive id
    crypto = crypto_or_none(settings.aibot_token, settings.aibot_aes_key, "", route=PATH)
    if crypto is None:
        return not_configured_routes(PATH, "set wecom.aibot_token and wecom.aibot_aes_key")
    ctx = _Context(crypto, engine, clock, settings.callback_max_skew, library, tz_default)

    async def post(request: Request) -> Response:
        return await _receive(ctx, request)

    return callback_route_pair(PATH, crypto, clock, ctx.max_skew, post)


async def _receive(ctx: _Context, request: Request) -> Response:
    plain = await decrypted(
        request, ctx.crypto, ctx.clock.now(), ctx.max_skew, parse_json_envelope, route=PATH
    )
    if isinstance(plain, Response):
        return plain
    try:
        bot = parse_aibot_message(plain)
    except MalformedCallback as exc:
        return refused(400, exc, route=PATH)
    received = ctx.clock.now()
    try:
        row_id = await asyncio.to_thread(_store, ctx.engine, bot, plain, received)
    except SQLAlchemyError as exc:
        return store_failed(exc, route=PATH)
    bound = log.bind(kind=KIND, group=bot.chat_id, key=bot.dedup_key)
    if row_id is None:  # a redelivery: the first delivery was (or will be) answered
        bound.info("callback", outcome="duplicate")
        return Response(b"")
    try:
        reply = await asyncio.to_thread(_handle, ctx, row_id, bot, received)
    except Exception as exc:  # stays pending: scored later, answered via response_url
        bound.error("callback", outcome="pending", error=str(exc) or repr(exc))
        return Response(b"")
    bound.info("callback", outcome="replied" if reply else "handled")
    if not reply:
        return Response(b"")
    return JSONResponse(passive_reply(ctx.crypto, bot, reply, received))


def _store(engine: Engine, bot: AiBotMessage, plain: bytes, now: datetime) -> int | None:
    with session(engine) as s:
        return store_callback(
            s,
            dedup_key=bot.dedup_key,
            kind=KIND,
            chat_id=bot.chat_id,
            payload=plain.decode("utf-8", errors="replace"),
            now=now,
        )


def _handle(ctx: _Context, row_id: int, bot: AiBotMessage, received: datetime) -> str:
    with session(ctx.engine) as s:
        reply = check_in(s, ctx.library(), bot, received, ctx.clock.now(), ctx.tz_default)
        finish_callback(s, row_id, ctx.clock.now())
    return reply


def passive_reply(
    crypto: CallbackCrypto, bot: AiBotMessage, text: str, now: datetime
) -> dict[str, str]:
    """The encrypted answer WeCom shows under the member's message: a `stream` message that
    is finished at once (WeCom accepts stream or template_card replies to messages)."""
    plain = {
        "msgtype": "stream",
        "stream": {"id": f"botops-{bot.msg_id}", "finish": True, "content": text},
    }
    encrypted = crypto.encrypt(json.dumps(plain, ensure_ascii=False))
    timestamp, nonce = str(int(now.timestamp())), secrets.token_hex(8)
    return {
        "encrypt": encrypted,
        "msgsignature": crypto.signature(timestamp, nonce, encrypted),
        "timestamp": timestamp,
        "nonce": nonce,
    }
