"""What the sender and tracking tests share beyond tests/simulated_wecom.py: their group
seed (`sim`), `outgoing(...)` and the robot key. Imported by their conftest files."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from botops.clock import FrozenClock
from botops.senders.base import Outgoing
from botops.simulator import SimConfig, Simulator

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
def sim(clock: FrozenClock, sim_config: SimConfig) -> Simulator:
    groups = make_groups(6) + make_groups(4, owner="lisi", prefix="wl")
    return Simulator.from_groups(groups, config=sim_config, clock=clock)
