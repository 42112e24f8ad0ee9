"""Fixtures: a seeded simulator on loopback HTTP and a plain httpx client to poke it with.

These tests speak raw HTTP on purpose: they pin WeCom's wire format (paths, JSON shapes,
errcodes), independently of botops's own client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from botops.clock import FrozenClock
from botops.simulator import SimConfig, Simulator
from botops.simulator.server import running_simulator

CST = timezone(timedelta(hours=8))
START = datetime(2026, 3, 2, 9, 0, tzinfo=CST)
GROUPS = [
    {
        "chat_id": "wrA",
        "name": "打卡1群",
        "owner": "zhangsan",
        "tags": ["打卡挑战", "白领群"],
        "created_at": "2026-02-01T10:00:00+08:00",
        "member_count": 3,
    },
    {
        "chat_id": "wrB",
        "name": "打卡2群",
        "owner": "zhangsan",
        "tags": ["打卡挑战"],
        "created_at": "2026-02-02T10:00:00+08:00",
        "member_count": 2,
    },
    {
        "chat_id": "wrC",
        "name": "讲座群",
        "owner": "lisi",
        "tags": ["讲座"],
        "created_at": "2026-02-03T10:00:00+08:00",
        "member_count": 4,
    },
]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig()


@pytest.fixture
def sim(clock: FrozenClock, sim_config: SimConfig) -> Simulator:
    return Simulator.from_groups(GROUPS, config=sim_config, clock=clock)


@pytest.fixture
def base_url(sim: Simulator) -> Iterator[str]:
    with running_simulator(sim) as url:
        yield url


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=5) as client:
        yield client


@pytest.fixture
def new_token(http: httpx.Client, sim: Simulator) -> Callable[[], str]:
    def _fetch() -> str:
        params = {"corpid": sim.config.corp_id, "corpsecret": sim.config.secret}
        return str(http.get("/cgi-bin/gettoken", params=params).json()["access_token"])

    return _fetch


@pytest.fixture
def token(new_token: Callable[[], str]) -> str:
    return new_token()


@pytest.fixture
def api(http: httpx.Client, token: str) -> Callable[..., dict]:
    """api("externalcontact/groupchat/get", {...}) -> WeCom's JSON answer.

    Uses the `token` fixture's access token unless given `access_token=...`.
    """

    def _call(name: str, body: dict | None = None, **params: str) -> dict:
        response = http.post(
            f"/cgi-bin/{name}", params={"access_token": token, **params}, json=body or {}
        )
        assert response.status_code == 200
        return response.json()

    return _call
