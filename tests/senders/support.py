"""Fixtures shared by the sender and tracking tests: a seeded simulator on loopback HTTP,
clients on fake time sharing one FrozenClock with it, and a real SQLite file.

Imported by tests/senders/conftest.py and tests/tracking/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from botops.clock import FrozenClock
from botops.senders.base import Outgoing
from botops.simulator import SimConfig, Simulator
from botops.simulator.server import running_simulator
from botops.simulator.testing import FakeTime
from botops.store.db import open_database
from botops.wecom.client import WeComClient
from botops.wecom.ratelimit import RateLimits
from botops.wecom.retry import RetryPolicy
from botops.wecom.robot import RobotClient

CST = timezone(timedelta(hours=8))
START = datetime(2026, 3, 2, 9, 0, tzinfo=CST)  # a Monday
ROBOT_KEY = "sim-robot-key-0001"  # SimConfig's default robot


def make_groups(
    count: int, owner: str = "zhangsan", *, prefix: str = "wr", members: int = 2
) -> list[dict[str, Any]]:
    return [
        {
            "chat_id": f"{prefix}{i:05d}",
            "name": f"打卡群{i}",
            "owner": owner,
            "tags": ["打卡挑战"],
            "created_at": START - timedelta(days=30),
            "member_count": members,
        }
        for i in range(count)
    ]


def outgoing(
    targets: list[str], *, sender: str = "zhangsan", text: str = "今天也要打卡哦", **kw: Any
) -> Outgoing:
    options: dict[str, Any] = {
        "batch": "b1",
        "playbook": "checkin",
        "step": "morning",
        "sender": sender,
        "chat_type": "group",
        "targets": tuple((t, f"checkin:morning:{t}:2026-03-02") for t in targets),
        "text": text,
    }
    options.update(kw)
    return Outgoing(**options)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def fake_time(clock: FrozenClock) -> FakeTime:
    return FakeTime(clock)


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig()


@pytest.fixture
def sim(clock: FrozenClock, sim_config: SimConfig) -> Simulator:
    groups = make_groups(6) + make_groups(4, owner="lisi", prefix="wl")
    return Simulator.from_groups(groups, config=sim_config, clock=clock)


@pytest.fixture
def base_url(sim: Simulator) -> Iterator[str]:
    with ExitStack() as stack:
        yield stack.enter_context(running_simulator(sim))


@pytest.fixture
def make_client(
    base_url: str, sim: Simulator, clock: FrozenClock, fake_time: FakeTime
) -> Callable[..., WeComClient]:
    def _make(**overrides: Any) -> WeComClient:
        options: dict[str, Any] = {
            "api_base": base_url,
            "corp_id": sim.config.corp_id,
            "secret": sim.config.secret,
            "clock": clock,
            "sleep": fake_time.sleep,
            "monotonic": fake_time.monotonic,
            "retry": RetryPolicy(attempts=4, base_seconds=0.5, max_seconds=8, jitter_seconds=0.5),
            "timeout": 5.0,
        }
        options.update(overrides)
        return WeComClient(**options)

    return _make


@pytest.fixture
def make_robot(base_url: str, fake_time: FakeTime) -> Callable[..., RobotClient]:
    def _make(**overrides: Any) -> RobotClient:
        options: dict[str, Any] = {
            "api_base": base_url,
            "sleep": fake_time.sleep,
            "monotonic": fake_time.monotonic,
            "retry": RetryPolicy(attempts=3, base_seconds=0.5, max_seconds=8, jitter_seconds=0.5),
            "rate_limits": RateLimits(),
        }
        options.update(overrides)
        return RobotClient(**options)

    return _make


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A real SQLite file (WAL, foreign keys on), as in production."""
    db = open_database(f"sqlite:///{tmp_path / 'botops.db'}")
    yield db
    db.dispose()
