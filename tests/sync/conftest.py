"""Fixtures: a seeded simulator on real loopback HTTP, a client on fake time, a SQLite file.

Each test steers the simulator between syncs through its Python API (`sim.state` under
`sim.lock`, `sim.faults`), the way WeCom's data changes under botops in production.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from botops.clock import FrozenClock
from botops.simulator import Simulator
from botops.simulator.model import EXTERNAL, Member
from botops.simulator.testing import FakeTime
from botops.wecom.client import WeComClient
from botops.wecom.retry import RetryPolicy

CST = timezone(timedelta(hours=8))
START = datetime(2026, 12, 1, 9, 0, tzinfo=CST)
GROUPS: list[dict[str, Any]] = [
    {
        "chat_id": f"wrSync{i}",
        "name": f"打卡{i}群",
        "owner": "zhangsan" if i % 2 else "lisi",
        "tags": ["打卡挑战"] if i % 2 else ["讲座"],
        "created_at": datetime(2026, 11, 1 + i, 10, 0, tzinfo=CST),
        "member_count": 3 + i,
    }
    for i in range(6)
]
CHAT_IDS = [g["chat_id"] for g in GROUPS]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def sim(clock: FrozenClock) -> Simulator:
    return Simulator.from_groups(GROUPS, clock=clock)


@pytest.fixture
def make_client(base_url: str, sim: Simulator, clock: FrozenClock) -> Callable[..., WeComClient]:
    fake_time = FakeTime(clock)

    def _make(**overrides: Any) -> WeComClient:
        options: dict[str, Any] = {
            "clock": clock,
            "sleep": fake_time.sleep,
            "monotonic": fake_time.monotonic,
            "retry": RetryPolicy(attempts=3, base_seconds=0.5, max_seconds=4, jitter_seconds=0),
            "timeout": 5.0,
        }
        options.update(overrides)
        return WeComClient(base_url, sim.config.corp_id, sim.config.secret, **options)

    return _make


# --- steering the simulator (what happens in WeCom between two syncs) ---------------------


def join(sim: Simulator, chat_id: str, userid: str, *, at: datetime, scene: int = 3) -> None:
    with sim.lock:
        group = sim.state.groups[chat_id]
        member = Member(userid, EXTERNAL, int(at.timestamp()), scene, "新客户", group.owner)
        group.members.append(member)


def leave(sim: Simulator, chat_id: str, userid: str) -> None:
    with sim.lock:
        group = sim.state.groups[chat_id]
        group.members = [m for m in group.members if m.userid != userid]


def rename(sim: Simulator, chat_id: str, name: str, notice: str | None = None) -> None:
    with sim.lock:
        group = sim.state.groups[chat_id]
        group.name = name
        if notice is not None:
            group.notice = notice


def dismiss(sim: Simulator, chat_id: str) -> None:
    """A dismissed group disappears from groupchat/list (and groupchat/get answers 90501)."""
    with sim.lock:
        del sim.state.groups[chat_id]


def customers(sim: Simulator, chat_id: str) -> list[str]:
    with sim.lock:
        return [m.userid for m in sim.state.groups[chat_id].members if m.type == EXTERNAL]
