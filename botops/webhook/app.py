"""The web adapter for WeCom callbacks: two conversions around the pure core.

    GET  /wecom/callback   URL verification: the decrypted echostr alone, text/plain
    POST /wecom/callback   an encrypted XML event: verify, decode, store, answer 200

Request in: query string and a size-capped body. Answer out: 200, or a generic 400 / 401 /
413 / 503 whose reason goes to the log only (never the token, key or decrypted text; 503 is
the database failing to store a genuine callback, which WeCom then delivers again).
Deciding whether a callback is genuine is botops.webhook.verify's job, decoding is
botops.webhook.decode's; this module only converts and stores. The event is stored before
WeCom gets its 200 (insert-or-ignore on its dedup key, so a redelivery is answered 200 and
stored once); handling it (botops.webhook.process) happens after, off the request: a new
event wakes `on_stored`, which in the daemon asks the leader for a run of its single-flight
handling (a standby stores and leaves the handling to the leader's next planning round).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from botops.clock import Clock
from botops.config import WeComSettings
from botops.store.callbacks import CallbackWriter, NewCallback
from botops.webhook.crypto import CallbackCrypto
from botops.webhook.decode import parse_envelope, parse_event
from botops.webhook.errors import MalformedCallback
from botops.webhook.events import ExternalChatEvent
from botops.webhook.replies import (
    callback_route_pair,
    crypto_or_none,
    decrypted,
    not_configured_routes,
    refused,
    store_failed,
)

log = structlog.get_logger()

PATH = "/wecom/callback"
OnStored = Callable[[], Awaitable[object]]
"""A coroutine function (`async def`): Starlette only awaits what it can tell is async. It runs
once per newly stored event, concurrently when events arrive together: coalescing the runs
is its job (the daemon's is `SingleFlight.run`)."""


@dataclass(frozen=True, slots=True)
class _Context:
    crypto: CallbackCrypto
    writer: CallbackWriter
    clock: Clock
    max_skew: timedelta
    on_stored: OnStored | None


def callback_routes(
    settings: WeComSettings, engine: Engine, clock: Clock, *, on_stored: OnStored | None = None
) -> list[Route]:
    """The callback routes. `on_stored` runs as a background task after a new event is stored
    (the daemon's wakes its callback handling); without callback credentials the routes
    answer 503."""
    crypto = crypto_or_none(
        settings.callback_token, settings.callback_aes_key, settings.corp_id or "", route=PATH
    )
    if crypto is None or not settings.corp_id:
        hint = "set wecom.callback_token, wecom.callback_aes_key and wecom.corp_id"
        return not_configured_routes(PATH, hint)
    ctx = _Context(crypto, CallbackWriter(engine), clock, settings.callback_max_skew, on_stored)

    async def post(request: Request) -> Response:
        return await _receive(ctx, request)

    return callback_route_pair(PATH, crypto, clock, ctx.max_skew, post)


async def _receive(ctx: _Context, request: Request) -> Response:
    plain = await decrypted(
        request, ctx.crypto, ctx.clock.now(), ctx.max_skew, parse_envelope, route=PATH
    )
    if isinstance(plain, Response):
        return plain
    try:
        event = parse_event(plain)
    except MalformedCallback as exc:
        return refused(400, exc, route=PATH)
    kind, key = type(event).__name__, event.dedup_key
    group = event.chat_id if isinstance(event, ExternalChatEvent) else None
    payload = plain.decode("utf-8", errors="replace")
    # Committed before the answer; concurrent requests share a commit (see CallbackWriter).
    try:
        row_id = await ctx.writer.store(NewCallback(key, kind, group, payload, ctx.clock.now()))
    except SQLAlchemyError as exc:
        return store_failed(exc, route=PATH)
    new = row_id is not None
    log.info("callback", kind=kind, group=group, key=key, outcome="stored" if new else "duplicate")
    task = BackgroundTask(ctx.on_stored) if new and ctx.on_stored is not None else None
    return Response(b"", background=task)
