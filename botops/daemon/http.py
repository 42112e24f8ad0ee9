"""The daemon's HTTP surface: health, readiness, metrics, and the inbound routes.

GET  /healthz            the process is alive (liveness probe)
GET  /readyz             JSON: database, scheduler, role (leader/standby), WeCom token;
                         200 when all pass, else 503 (readiness probe)
GET  /metrics            Prometheus text (botops.metrics, botops.daemon.store_metrics)
GET/POST /wecom/callback WeCom events (botops.webhook.app)
GET/POST /wecom/aibot    AI-bot messages (botops.webhook.aibot_app)
POST /ingest/messages    forwarded group messages (botops.webhook.ingest)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import structlog
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from botops import metrics
from botops.errors import BotopsError
from botops.store.db import session
from botops.wecom.client import WeComClient

log = structlog.get_logger()

# The routes whose count and latency are measured; any other path under them is "other", so
# a scanner cannot blow up the metrics' label set.
INBOUND = ("/wecom/callback", "/wecom/aibot", "/ingest/messages")
TOKEN_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Readiness:
    """What /readyz asks of the running daemon."""

    engine: Engine
    client: WeComClient
    worker: str
    scheduler_running: Callable[[], bool]
    is_leader: Callable[[], bool]


async def readiness(ready: Readiness) -> tuple[bool, dict[str, Any]]:
    checks = {
        "database": await asyncio.to_thread(_database_ok, ready.engine),
        "scheduler": "ok" if ready.scheduler_running() else "not running",
        "wecom_token": await _token_ok(ready.client),
    }
    ok = all(v == "ok" for v in checks.values())
    return ok, {
        "status": "ready" if ok else "not ready",
        "leader": ready.is_leader(),
        "role": "leader" if ready.is_leader() else "standby",
        "worker": ready.worker,
        "checks": checks,
    }


def _database_ok(engine: Engine) -> str:
    try:
        with session(engine) as s:
            s.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not reachable" here
        return f"error: {type(exc).__name__}"
    return "ok"


async def _token_ok(client: WeComClient) -> str:
    """A cached token answers at once; only an expired one costs a WeCom call."""
    try:
        async with asyncio.timeout(TOKEN_TIMEOUT_SECONDS):
            await client.get_token()
    except TimeoutError:
        return "error: timed out"
    except BotopsError as exc:
        return f"error: {exc}"
    return "ok"


def build_app(ready: Readiness, inbound: list[Route]) -> Starlette:
    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        ok, body = await readiness(ready)
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics_page(_: Request) -> Response:
        return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_page),
        *inbound,
    ]
    app = Starlette(routes=routes)
    app.add_middleware(InboundTimer)
    return app


class InboundTimer:
    """Counts inbound callbacks by route and status, and times them (ASGI middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(("/wecom/", "/ingest/")):
            await self.app(scope, receive, send)
            return
        route = path if path in INBOUND else "other"
        started, status = time.perf_counter(), 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            _counted(route, status).inc()
            _timed(route).observe(time.perf_counter() - started)


# One labelled series per (route, status), looked up once: `labels()` takes a lock and builds
# a key on every call, a measurable share of a callback's cost. Both label sets are bounded.
@cache
def _counted(route: str, status: int) -> Any:
    return metrics.CALLBACKS.labels(route, str(status))


@cache
def _timed(route: str) -> Any:
    return metrics.CALLBACK_SECONDS.labels(route)
