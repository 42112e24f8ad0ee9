"""The daemon's HTTP surface: health, readiness, metrics, and the inbound routes.

GET  /healthz            the process is alive (liveness probe)
GET  /readyz             JSON: database, scheduler, role (leader/standby), WeCom token;
                         200 when the database and scheduler pass ("degraded" when only the
                         WeCom token fails), else 503 (readiness probe)
GET  /metrics            Prometheus text (botops.metrics, botops.daemon.store_metrics)
GET/POST /wecom/callback WeCom events (botops.webhook.app)
GET/POST /wecom/aibot    AI-bot messages (botops.webhook.aibot_app)
POST /ingest/messages    forwarded group messages (botops.webhook.ingest)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
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
# A probe waits at most this long for WeCom and the database (together well inside the probes'
# 3 s timeouts), and a token check's answer serves the probes of the next TOKEN_CHECK_EVERY
# seconds.
TOKEN_TIMEOUT_SECONDS = 1.0
TOKEN_CHECK_EVERY = 15.0
DATABASE_TIMEOUT_SECONDS = 1.5
# What readiness needs. The WeCom token is reported but not required: with WeCom down or a
# wrong secret every replica would otherwise leave the Service, and the routes that need no
# token (callbacks, AI bot, ingest) would be dropped with it.
REQUIRED = ("database", "scheduler")


@dataclass(frozen=True, slots=True)
class Readiness:
    """What /readyz asks of the running daemon."""

    engine: Engine
    client: WeComClient
    worker: str
    scheduler_running: Callable[[], bool]
    is_leader: Callable[[], bool]


@dataclass(frozen=True, slots=True)
class Probes:
    """The checks that wait on something outside the process, each one at a time."""

    database: ProbeCheck
    token: ProbeCheck

    @classmethod
    def of(cls, ready: Readiness) -> Probes:
        async def database() -> str:
            return await asyncio.to_thread(_database_ok, ready.engine)

        return cls(
            ProbeCheck(database, "the database", timeout=DATABASE_TIMEOUT_SECONDS, every=0),
            token_check(ready.client),
        )


async def readiness(ready: Readiness, probes: Probes) -> tuple[bool, dict[str, Any]]:
    checks = {
        "database": await probes.database.result(),
        "scheduler": "ok" if ready.scheduler_running() else "not running",
        "wecom_token": await probes.token.result(),
    }
    ok = all(checks[name] == "ok" for name in REQUIRED)
    degraded = ok and any(v != "ok" for v in checks.values())
    return ok, {
        "status": "degraded" if degraded else "ready" if ok else "not ready",
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


class ProbeCheck:
    """A readiness check cheap enough for every probe, whatever it waits on.

    One check runs at a time, and its answer is reused for `every` seconds: probes never pile
    up calls (a wrong WeCom secret would otherwise cost a gettoken per probe, a hung database
    a parked thread per probe until the default executor is full). A probe waits at most
    `timeout` for a check in flight; the check goes on, and a later probe reads it.
    """

    def __init__(
        self,
        check: Callable[[], Awaitable[str]],
        what: str,
        *,
        timeout: float,
        every: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check_once = check
        self._what = what
        self._timeout = timeout
        self._every = every
        self._monotonic = monotonic
        self._last: tuple[float, str] | None = None  # (when it was answered, the answer)
        self._running: asyncio.Task[str] | None = None

    async def result(self) -> str:
        last = self._last
        if last is not None and self._monotonic() - last[0] < self._every:
            return last[1]
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._check())
        task = self._running
        done, _ = await asyncio.wait({task}, timeout=self._timeout)
        if task in done and not task.cancelled():
            return task.result()
        waited = f"error: no answer from {self._what} within {self._timeout:g} s (still asking)"
        return waited if last is None else f"{waited}; the last answer: {last[1]}"

    async def _check(self) -> str:
        try:
            answer = await self._check_once()
        except Exception as exc:  # a probe must answer, whatever the check raised
            answer = f"error: {type(exc).__name__}: {exc}"
        self._last = (self._monotonic(), answer)
        return answer


def token_check(
    client: WeComClient,
    *,
    timeout: float = TOKEN_TIMEOUT_SECONDS,
    every: float = TOKEN_CHECK_EVERY,
    monotonic: Callable[[], float] = time.monotonic,
) -> ProbeCheck:
    """Whether a WeCom token is obtainable. A cached token answers at once; only an expired
    one costs a WeCom call."""

    async def check() -> str:
        try:
            await client.get_token()
        except BotopsError as exc:
            return f"error: {exc}"
        return "ok"

    return ProbeCheck(check, "WeCom", timeout=timeout, every=every, monotonic=monotonic)


def build_app(ready: Readiness, inbound: list[Route]) -> Starlette:
    probes = Probes.of(ready)

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        ok, body = await readiness(ready, probes)
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
