"""Shared fixtures (a pytest plugin, see tests/conftest.py): a seeded WeCom simulator on
real loopback HTTP, clients wired to fake time, and a real SQLite file.

The simulator and the client share one FrozenClock; `fake_time` sleeps advance it, so a
client that waits out a rate limit or a back-off moves the simulator's time too. A package
overrides a fixture (its own `sim` seed, `clock` start) by defining one of the same name.
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


def make_groups(count: int, owner: str = "zhangsan", *, members: int = 2, prefix: str = "wr"):
    return [
        {
            "chat_id": f"{prefix}{i:05d}",
            "name": f"打卡群{i}",
            "owner": owner,
            "tags": ["打卡挑战"] if i % 2 == 0 else ["讲座"],
            "created_at": START - timedelta(days=30, minutes=i),
            "member_count": members,
        }
        for i in range(count)
    ]


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
def serve() -> Iterator[Callable[[Simulator], str]]:
    """serve(sim) -> base URL; every simulator started is stopped at teardown."""
    with ExitStack() as stack:
        yield lambda sim: stack.enter_context(running_simulator(sim))


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig()


@pytest.fixture
def sim(clock: FrozenClock, sim_config: SimConfig) -> Simulator:
    groups = make_groups(6) + make_groups(4, owner="lisi", prefix="wl")
    return Simulator.from_groups(groups, config=sim_config, clock=clock)


@pytest.fixture
def base_url(sim: Simulator, serve: Callable[[Simulator], str]) -> str:
    return serve(sim)


@pytest.fixture
def make_client(
    base_url: str, sim: Simulator, clock: FrozenClock, fake_time: FakeTime
) -> Callable[..., WeComClient]:
    """make_client(**overrides) -> a WeComClient for the simulator, on fake time."""

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
    """A real SQLite file (WAL, foreign keys on, migrated), as in production."""
    db = open_database(f"sqlite:///{tmp_path / 'botops.db'}")
    yield db
    db.dispose()
