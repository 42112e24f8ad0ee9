"""HTTP answers and routes shared by the callback routes (`/wecom/callback`, `/wecom/aibot`).

Refusals are generic (401 / 400 / 413 / 503): the reason goes to the log only, never the
token, key or decrypted text. A database failure while storing is a generic 503 too (WeCom
retries), logged in the database's words without the SQL's parameters (the decrypted
payload, a member's message, a response_url).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog
from pydantic import SecretStr
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from botops.clock import Clock
from botops.errors import BotopsError
from botops.store.db import database_error
from botops.webhook.body import BodyRefused, read_capped
from botops.webhook.crypto import CallbackCrypto
from botops.webhook.errors import CallbackError, MalformedCallback
from botops.webhook.safe import MAX_BODY_BYTES
from botops.webhook.verify import verify_request, verify_url

log = structlog.get_logger()


def crypto_or_none(
    token: SecretStr | None, key: SecretStr | None, receive_id: str, *, route: str
) -> CallbackCrypto | None:
    """The route's crypto, or None (logged) when its credentials are missing or malformed.
    Neither set is a route not in use (a warning: the demo on the simulator has none); one
    without the other, or a malformed key, is a mistake (an error)."""
    if token is None and key is None:
        log.warning("webhook.not_configured", route=route)
        return None
    if token is None or key is None:
        missing = "token" if token is None else "EncodingAESKey"
        log.error("webhook.not_configured", route=route, error=f"the {missing} is not set")
        return None
    try:
        return CallbackCrypto(token.get_secret_value(), key.get_secret_value(), receive_id)
    except BotopsError as exc:  # e.g. an EncodingAESKey that is not 43 base64 characters
        log.error("webhook.not_configured", route=route, error=str(exc))
        return None


def callback_route_pair(
    path: str,
    crypto: CallbackCrypto,
    clock: Clock,
    max_skew: timedelta,
    receive: Callable[[Request], Awaitable[Response]],
) -> list[Route]:
    """GET `path`: WeCom's URL verification; POST `path`: `receive`."""

    async def get(request: Request) -> Response:
        return url_verification(crypto, request, clock.now(), max_skew, route=path)

    return [Route(path, get, methods=["GET"]), Route(path, receive, methods=["POST"])]


def not_configured_routes(path: str, hint: str) -> list[Route]:
    """`path` answering 503 (and logging `hint`, what to set) until its credentials are set."""

    async def not_configured(_: Request) -> Response:
        log.error("webhook.unavailable", route=path, hint=hint)
        return PlainTextResponse("callbacks are not configured", status_code=503)

    return [Route(path, not_configured, methods=["GET", "POST"])]


def refused(status: int, exc: CallbackError, *, route: str) -> Response:
    log.warning(
        "webhook.refused", route=route, status=status, reason=type(exc).__name__, detail=str(exc)
    )
    return PlainTextResponse("unauthorized" if status == 401 else "bad request", status_code=status)


def body_refused(exc: BodyRefused, *, route: str) -> Response:
    log.warning("webhook.refused", route=route, status=exc.status, reason=exc.reason)
    answer = "payload too large" if exc.status == 413 else "bad request"
    return PlainTextResponse(answer, status_code=exc.status)


def store_failed(exc: SQLAlchemyError, *, route: str) -> Response:
    """A verified callback the database would not store: 503, so WeCom delivers it again."""
    log.error("webhook.store_failed", route=route, status=503, error=database_error(exc))
    return PlainTextResponse("unavailable", status_code=503)


def url_verification(
    crypto: CallbackCrypto, request: Request, now: datetime, max_skew: timedelta, *, route: str
) -> Response:
    """WeCom's GET check of a callback URL: exactly the decrypted echostr (no newline)."""
    q = request.query_params
    try:
        echo = verify_url(
            crypto,
            q.get("msg_signature", ""),
            q.get("timestamp", ""),
            q.get("nonce", ""),
            q.get("echostr", ""),
            now=now,
            max_skew=max_skew,
        )
    except CallbackError as exc:
        return refused(401, exc, route=route)
    log.info("webhook.url_verified", route=route)
    return Response(echo, media_type="text/plain")


async def decrypted(
    request: Request,
    crypto: CallbackCrypto,
    now: datetime,
    max_skew: timedelta,
    envelope: Callable[[bytes], str],
    *,
    route: str,
) -> bytes | Response:
    """A POST callback's verified, decrypted payload — or the refusal to answer with: 413 for
    an oversized body, 400 for a malformed envelope or a client gone mid-body, 401 for a bad
    signature, a replay or a failed decryption. `envelope` takes the ciphertext out of the
    body (XML or JSON)."""
    try:
        body = await read_capped(request, MAX_BODY_BYTES)
    except BodyRefused as exc:
        return body_refused(exc, route=route)
    try:
        encrypted = envelope(body)
    except MalformedCallback as exc:
        return refused(400, exc, route=route)
    q = request.query_params
    try:
        return verify_request(
            crypto,
            msg_signature=q.get("msg_signature", ""),
            timestamp=q.get("timestamp", ""),
            nonce=q.get("nonce", ""),
            encrypted=encrypted,
            now=now,
            max_skew=max_skew,
        )
    except CallbackError as exc:
        return refused(401, exc, route=route)
