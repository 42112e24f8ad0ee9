"""/readyz: what makes a replica not ready (the database, the scheduler) and what only
degrades it (a WeCom token that cannot be had), and how long a probe may wait for WeCom.

The app is botops' own (`build_app`), asked in-process; WeCom is the simulator over loopback
HTTP. The real daemon's /readyz is in test_service_observability.py.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine

from botops.daemon.http import DATABASE_TIMEOUT_SECONDS, Readiness, build_app, token_check
from botops.simulator import Fault
from botops.store.db import open_database
from botops.wecom.client import WeComClient

pytestmark = pytest.mark.anyio


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Engine]:
    engine = open_database(f"sqlite:///{tmp_path / 'botops.db'}")
    yield engine
    engine.dispose()


async def readyz(
    engine: Engine, client: WeComClient, *, scheduler: bool = True
) -> tuple[int, dict[str, Any]]:
    ready = Readiness(
        engine, client, "pod-a:1:test", scheduler_running=lambda: scheduler, is_leader=lambda: True
    )
    app = build_app(ready, [])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://botops"
    ) as http:
        response = await http.get("/readyz")
    return response.status_code, response.json()


async def test_a_wecom_token_that_cannot_be_had_degrades_but_keeps_the_replica_ready(
    make_client, database
):
    """A wrong secret (or WeCom down) on every replica must not empty the Service: the
    callback and ingest routes need no token."""
    async with make_client(secret="not-the-secret") as client:
        status, body = await readyz(database, client)
    assert status == 200
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["scheduler"] == "ok"
    assert body["checks"]["wecom_token"].startswith("error: WeCom gettoken: errcode 40001")


async def test_all_checks_passing_is_ready(make_client, database):
    async with make_client() as client:
        status, body = await readyz(database, client)
    assert (status, body["status"]) == (200, "ready")
    assert body["checks"] == {"database": "ok", "scheduler": "ok", "wecom_token": "ok"}


async def test_a_failing_database_or_scheduler_is_503_naming_it(make_client, database, tmp_path):
    unreachable = create_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'botops.db'}")
    async with make_client() as client:
        status, body = await readyz(unreachable, client)
        assert (status, body["status"]) == (503, "not ready")
        assert body["checks"]["database"].startswith("error: ")
        assert body["checks"]["wecom_token"] == "ok"

        status, body = await readyz(database, client, scheduler=False)
        assert (status, body["status"]) == (503, "not ready")
        assert body["checks"]["scheduler"] == "not running"
    unreachable.dispose()


async def test_a_hung_database_answers_within_the_timeout_and_parks_one_thread(make_client):
    """A database that does not answer (a connect hanging on a dead host) fails the probe in
    time, and later probes wait on the same check instead of parking a thread each."""
    release = threading.Event()
    connects = []

    def hanging_connect() -> sqlite3.Connection:
        connects.append(1)
        release.wait(10)
        return sqlite3.connect(":memory:", check_same_thread=False)

    hung = create_engine("sqlite://", creator=hanging_connect)
    try:
        async with make_client() as client:
            ready = Readiness(hung, client, "pod-a:1:test", lambda: True, lambda: True)
            app = build_app(ready, [])
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://botops") as http:
                started = time.monotonic()
                answers = [await http.get("/readyz") for _ in range(3)]
                assert time.monotonic() - started < 3 * (DATABASE_TIMEOUT_SECONDS + 0.5)
                assert [r.status_code for r in answers] == [503, 503, 503]
                database = answers[0].json()["checks"]["database"]
                assert database == (
                    f"error: no answer from the database within {DATABASE_TIMEOUT_SECONDS:g} s"
                    " (still asking)"
                )
                assert len(connects) == 1
                release.set()
                await wait_for_ok(http)
    finally:
        release.set()
        hung.dispose()


async def wait_for_ok(http: httpx.AsyncClient) -> None:
    for _ in range(50):
        response = await http.get("/readyz")
        if response.status_code == 200:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"still not ready: {response.json()}")


class Ticks:
    """An injected monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_probe_waits_at_most_the_timeout_for_wecom_and_answers_from_the_last_check(
    make_client, sim
):
    sim.faults.add(Fault("latency", api="gettoken", seconds=1.5))
    ticks = Ticks()
    async with make_client() as client:
        check = token_check(client, timeout=0.2, every=15, monotonic=ticks)
        started = time.monotonic()
        first = await check.result()
        assert time.monotonic() - started < 1.0, "the probe waited for WeCom's answer"
        assert first == "error: no answer from WeCom within 0.2 s (still asking)"
        assert await check.result() == first  # the same check in flight: no second call
        assert sim.count("gettoken") == 1

        await asyncio.sleep(1.6)  # WeCom answers the check still running
        assert await check.result() == "ok"
        ticks.now += 16  # a new check; the client's cached token answers it without a call
        assert await check.result() == "ok"
    assert sim.count("gettoken") == 1


async def test_a_failed_check_is_reused_so_probes_do_not_hammer_wecom(make_client, sim):
    ticks = Ticks()
    async with make_client(secret="not-the-secret") as client:
        check = token_check(client, timeout=1, every=15, monotonic=ticks)
        answers = {await check.result() for _ in range(5)}
        assert len(answers) == 1
        assert sim.count("gettoken") == 1
        ticks.now += 15
        await check.result()
    assert sim.count("gettoken") == 2
