"""botops.senders.alerts: recorded alerts posted to the simulator's robot over loopback,
once each, in order; retried while the robot is busy, given up when it cannot be reached;
never more in a minute than the robot takes, so a round never waits for the robot."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from botops.senders.alerts import GIVE_UP_AFTER, NO_ROBOT_KEY, send_alerts
from botops.simulator import Simulator
from botops.simulator.faults import Fault
from botops.simulator.testing import FakeTime
from botops.store.alerts import PLAYBOOKS_REJECTED, record_alert
from botops.store.db import session
from botops.store.models import Alert, AlertStatus
from botops.wecom.limits import ROBOT_MESSAGES_PER_MINUTE
from botops.wecom.robot import RobotClient
from tests.helpers import local
from tests.senders.support import ROBOT_KEY

pytestmark = pytest.mark.anyio

NOW = local("2026-03-10 09:00")


def busy() -> Fault:
    """WeCom busy for all 3 of the client's tries (a Fault counts down: one per test)."""
    return Fault("errcode", times=3, api="webhook/send", errcode=-1)


def record(engine: Engine, *texts: str) -> None:
    with session(engine) as s:
        for text in texts:
            record_alert(s, f"key-{text}", PLAYBOOKS_REJECTED, text, NOW)


def states(engine: Engine) -> dict[str, tuple[AlertStatus, int, str]]:
    with session(engine) as s:
        return {a.text: (a.status, a.attempts, a.error) for a in s.exec(select(Alert))}


def posted(sim: Simulator) -> list[str]:
    return [m.body["markdown"]["content"] for m in sim.robot_messages()]


async def test_alerts_are_posted_once_oldest_first(
    engine: Engine, make_robot: Callable[..., RobotClient], sim: Simulator
) -> None:
    record(engine, "第一条", "第二条")
    async with make_robot() as robot:
        assert await send_alerts(engine, robot, ROBOT_KEY, NOW) == 2
        assert await send_alerts(engine, robot, ROBOT_KEY, NOW) == 0
    assert posted(sim) == ["第一条", "第二条"]
    assert {s for s, _, _ in states(engine).values()} == {AlertStatus.SENT}


async def test_a_busy_robot_keeps_the_alerts_and_their_order_for_the_next_round(
    engine: Engine, make_robot: Callable[..., RobotClient], sim: Simulator
) -> None:
    record(engine, "第一条", "第二条")
    sim.faults.add(busy())
    async with make_robot() as robot:
        assert await send_alerts(engine, robot, ROBOT_KEY, NOW) == 0
        pending = states(engine)
        assert pending["第一条"][:2] == (AlertStatus.PENDING, 1)
        assert "-1" in pending["第一条"][2]
        assert pending["第二条"] == (AlertStatus.PENDING, 0, "")  # not tried: order kept
        assert await send_alerts(engine, robot, ROBOT_KEY, NOW + timedelta(minutes=1)) == 2
    assert posted(sim) == ["第一条", "第二条"]


async def test_a_rejected_key_gives_up_without_retrying(
    engine: Engine, make_robot: Callable[..., RobotClient], sim: Simulator
) -> None:
    record(engine, "第一条")
    async with make_robot() as robot:
        assert await send_alerts(engine, robot, "not-a-robot-key", NOW) == 0
        assert await send_alerts(engine, robot, ROBOT_KEY, NOW + timedelta(minutes=1)) == 0
    [(status, _, error)] = states(engine).values()
    assert status is AlertStatus.FAILED
    assert "93000" in error
    assert posted(sim) == []


async def test_without_a_robot_key_alerts_are_logged_and_given_up(
    engine: Engine, make_robot: Callable[..., RobotClient], sim: Simulator
) -> None:
    record(engine, "第一条")
    async with make_robot() as robot:
        assert await send_alerts(engine, robot, None, NOW) == 0
        assert await send_alerts(engine, robot, ROBOT_KEY, NOW) == 0  # not sent later either
    assert states(engine) == {"第一条": (AlertStatus.FAILED, 0, NO_ROBOT_KEY)}
    assert posted(sim) == []


async def test_an_alert_not_delivered_within_a_day_is_given_up(
    engine: Engine, make_robot: Callable[..., RobotClient], sim: Simulator
) -> None:
    record(engine, "第一条", "第二条")
    sim.faults.add(busy())
    async with make_robot() as robot:
        assert await send_alerts(engine, robot, ROBOT_KEY, NOW) == 0
        late = NOW + GIVE_UP_AFTER
        assert await send_alerts(engine, robot, ROBOT_KEY, late) == 0
    first, second = states(engine)["第一条"], states(engine)["第二条"]
    assert first[:2] == (AlertStatus.FAILED, 1)
    assert first[2].startswith("not delivered within 24 h: WeCom")
    assert second[0] is AlertStatus.FAILED  # as old: given up too
    assert posted(sim) == []


async def test_a_flood_posts_what_the_robot_takes_and_leaves_the_rest_for_later_rounds(
    engine: Engine, make_robot: Callable[..., RobotClient], sim: Simulator, fake_time: FakeTime
) -> None:
    texts = [f"告警{i:02d}" for i in range(ROBOT_MESSAGES_PER_MINUTE + 5)]
    record(engine, *texts)
    async with make_robot() as robot:
        assert await send_alerts(engine, robot, ROBOT_KEY, NOW) == ROBOT_MESSAGES_PER_MINUTE
        # The next round in the same minute: the robot's minute is used up, nothing sent.
        soon = NOW + timedelta(seconds=30)
        assert await send_alerts(engine, robot, ROBOT_KEY, soon) == 0
        assert fake_time.sleeps == []  # never waited for the rate limiter
        left = {text: states(engine)[text] for text in texts[ROBOT_MESSAGES_PER_MINUTE:]}
        assert set(left.values()) == {(AlertStatus.PENDING, 0, "")}  # not failed: untried
        fake_time.advance(61)
        assert await send_alerts(engine, robot, ROBOT_KEY, NOW + timedelta(seconds=61)) == 5
    assert fake_time.sleeps == []
    assert posted(sim) == texts  # each once, in order
    assert {s for s, _, _ in states(engine).values()} == {AlertStatus.SENT}


async def test_the_budget_follows_the_robots_configured_rate(
    engine: Engine, make_robot: Callable[..., RobotClient], sim: Simulator, fake_time: FakeTime
) -> None:
    record(engine, "第一条", "第二条", "第三条")
    async with make_robot() as robot:
        assert await send_alerts(engine, robot, ROBOT_KEY, NOW, per_minute=2) == 2
    assert posted(sim) == ["第一条", "第二条"]
    assert states(engine)["第三条"] == (AlertStatus.PENDING, 0, "")
