"""The one place that decides where WeCom is: the real API, or the built-in simulator.

With none of `wecom.corp_id`, `wecom.secret` and a `wecom.api_base` of its own configured,
botops serves its WeCom simulator on loopback (seeded from examples/groups.yaml, staff
confirming mass sends after a short delay) and talks to it over real HTTP, so a new user sees
the whole system work on the first try. Some of them without the others is a ConfigError,
never the simulator: real sends would vanish into it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import structlog

from botops.clock import Clock
from botops.config import Settings, WeComSettings
from botops.errors import ConfigError
from botops.simulator import SimConfig, Simulator
from botops.simulator.seed import seed_groups_from
from botops.simulator.server import running_simulator
from botops.wecom.client import WeComClient
from botops.wecom.ratelimit import Monotonic, RateLimits, Window
from botops.wecom.retry import RetryPolicy, Sleep
from botops.wecom.robot import RobotClient

log = structlog.get_logger()

BUILTIN_CONFIRM_AFTER = timedelta(seconds=30)


@dataclass(frozen=True)
class WeCom:
    client: WeComClient
    robots: RobotClient
    corp_id: str
    simulator: Simulator | None  # set when running against the built-in simulator

    @property
    def simulated(self) -> bool:
        return self.simulator is not None


def client_limits(wecom: WeComSettings) -> tuple[RateLimits, RetryPolicy]:
    """The configured rate limits and retry policy, in the client's terms."""
    limits = RateLimits(
        per_api=(Window(wecom.calls_per_minute, 60), Window(wecom.calls_per_hour, 3600)),
        per_robot=(Window(wecom.robot_messages_per_minute, 60),),
    )
    return limits, RetryPolicy(attempts=wecom.retry_attempts)


@asynccontextmanager
async def connect(
    settings: Settings,
    clock: Clock,
    *,
    seed_file: Path | None = None,
    sleep: Sleep = asyncio.sleep,
    monotonic: Monotonic = time.monotonic,
) -> AsyncIterator[WeCom]:
    """`sleep` and `monotonic` pace the clients' retries and rate limits (tests pass fake
    time, so a day of WeCom faults runs in seconds)."""
    async with AsyncExitStack() as stack:
        simulator: Simulator | None = None
        if settings.wecom.missing_credentials:  # load_settings refuses this already
            missing = settings.wecom.missing_credentials
            raise ConfigError(f"wecom.{missing[0]}", "not set, but other WeCom settings are")
        if settings.wecom.configured:
            assert settings.wecom.corp_id is not None
            assert settings.wecom.secret is not None
            api_base, corp_id = settings.wecom.api_base, settings.wecom.corp_id
            secret = settings.wecom.secret.get_secret_value()
        else:
            simulator = Simulator.from_groups(
                seed_groups_from(seed_file),
                config=SimConfig(confirm_after=BUILTIN_CONFIRM_AFTER),
                clock=clock,
            )
            # Each botops process gets a fresh in-memory simulator: ids must not repeat what an
            # earlier process already stored (msgids are primary keys of mass_tasks).
            simulator.state.counter = secrets.randbelow(10**9) * 10**6
            api_base = stack.enter_context(running_simulator(simulator))
            corp_id, secret = simulator.config.corp_id, simulator.config.secret
            log.warning(
                "wecom.builtin_simulator",
                api_base=api_base,
                groups=len(simulator.state.groups),
                hint="no wecom.corp_id/secret/api_base configured: nothing reaches real WeCom",
            )
        limits, retry = client_limits(settings.wecom)
        timeout = settings.wecom.timeout_seconds
        client = await stack.enter_async_context(
            WeComClient(
                api_base,
                corp_id,
                secret,
                clock=clock,
                sleep=sleep,
                monotonic=monotonic,
                rate_limits=limits,
                retry=retry,
                timeout=timeout,
            )
        )
        robots = await stack.enter_async_context(
            RobotClient(
                api_base,
                sleep=sleep,
                monotonic=monotonic,
                rate_limits=limits,
                retry=retry,
                timeout=timeout,
            )
        )
        yield WeCom(client, robots, corp_id, simulator)
