"""Test helpers for code that runs against the simulator: a hand-driven passage of time."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from botops.clock import FrozenClock


class FakeTime:
    """A `monotonic()` and an async `sleep()` where sleeping takes no real time.

    Each sleep is recorded in `sleeps` and moves the monotonic clock forward — and, when
    given, a `FrozenClock` too, so a simulator sharing that clock sees the same minutes pass
    (its robot rate window, token expiry, auto-confirmation).
    """

    def __init__(self, clock: FrozenClock | None = None, start: float = 1000.0) -> None:
        self._now = start
        self._clock = clock
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)  # still a suspension point, like a real sleep

    def advance(self, seconds: float) -> None:
        self._now += max(seconds, 0.0)
        if self._clock is not None:
            self._clock.advance(timedelta(seconds=max(seconds, 0.0)))
