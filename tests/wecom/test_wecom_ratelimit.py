"""The sliding-window limiter: never more than `limit` in any window, and no slower."""

from __future__ import annotations

import asyncio

import pytest

from botops.simulator.testing import FakeTime
from botops.wecom.ratelimit import TRANSIT_MARGIN, RateLimiter, RateLimits, Window

pytestmark = pytest.mark.anyio
TOLERANCE = 1e-6
WIDER = 1 + TRANSIT_MARGIN  # each window is held a little longer than WeCom's


def assert_within(times: list[float], window: Window, *, factor: float = WIDER) -> None:
    """No `limit + 1` calls in any `seconds * factor` span."""
    ordered = sorted(times)
    for i in range(len(ordered) - window.limit):
        span = ordered[i + window.limit] - ordered[i]
        assert span >= window.seconds * factor - TOLERANCE, f"{window.limit + 1} calls in {span}s"


async def burst(limiter: RateLimiter, time: FakeTime, key: str, n: int) -> list[float]:
    stamps: list[float] = []

    async def one() -> None:
        await limiter.acquire(key)
        stamps.append(time.monotonic())

    await asyncio.gather(*(one() for _ in range(n)))
    return stamps


async def test_a_burst_never_exceeds_the_limit_in_any_window():
    time = FakeTime()
    window = Window(20, 60)
    limiter = RateLimiter([window], monotonic=time.monotonic, sleep=time.sleep)
    stamps = await burst(limiter, time, "robot", 75)
    assert len(stamps) == 75
    assert_within(stamps, window)
    # ... and it is not needlessly slow: 75 calls at 20/min finish in the 4th minute.
    assert max(stamps) - min(stamps) == pytest.approx(180 * WIDER, abs=TOLERANCE)
    assert sum(1 for t in stamps if t == stamps[0]) == 20  # the first 20 go at once


async def test_every_window_holds_at_once():
    time = FakeTime()
    windows = [Window(5, 1), Window(12, 60)]
    limiter = RateLimiter(windows, monotonic=time.monotonic, sleep=time.sleep)
    stamps = await burst(limiter, time, "api", 30)
    for window in windows:
        assert_within(stamps, window)


async def test_calls_spread_out_in_time_do_not_wait():
    time = FakeTime()
    limiter = RateLimiter([Window(2, 10)], monotonic=time.monotonic, sleep=time.sleep)
    for _ in range(6):
        assert await limiter.acquire("k") == 0
        time.advance(5 * WIDER)
    assert time.sleeps == []


async def test_keys_are_independent_and_overrides_apply():
    time = FakeTime()
    limiter = RateLimiter(
        [Window(100, 60)],
        overrides={"slow": [Window(1, 60)]},
        monotonic=time.monotonic,
        sleep=time.sleep,
    )
    fast = await burst(limiter, time, "fast", 50)
    assert set(fast) == {1000.0}
    slow = await burst(limiter, time, "slow", 3)
    assert sorted(slow) == pytest.approx([1000.0, 1000 + 60 * WIDER, 1000 + 120 * WIDER])


def test_windows_are_validated():
    with pytest.raises(ValueError, match="invalid rate window"):
        Window(0, 60)
    with pytest.raises(ValueError, match="invalid rate window"):
        Window(5, 0)


async def test_client_paces_an_api_against_the_simulator(make_client, sim):
    # One API limited to 5/min: 12 calls spread over three simulated minutes, and the
    # simulator (whose clock the fake sleeps advance) sees at most 5 in any minute. Calls are
    # sequential because fake time jumps at once: a concurrent call already let through would
    # reach the simulator after the jump and look late (the burst case is tested above).
    limits = RateLimits(per_api_overrides={"externalcontact/groupchat/get": (Window(5, 60),)})
    async with make_client(rate_limits=limits) as client:
        for _ in range(12):
            await client.get_group_chat("wr00000")
        await client.get_corp_tags()  # other APIs keep the default limits
    seen = [r.at for r in sim.requests("externalcontact/groupchat/get")]
    assert len(seen) == 12
    assert_within([float(t) for t in seen], Window(5, 60), factor=1)  # as WeCom counts
    assert max(seen) - min(seen) == int(120 * WIDER)  # the simulator counts whole seconds
    assert sim.requests("externalcontact/get_corp_tag_list")[0].at == max(seen)
