"""Client-side rate limiting: per WeCom API name and per robot (wecom-api.md §1, §4).

WeCom counts calls per minute (and per hour) and answers 45009 once a window is full, and the
block then lasts the rest of that window. A classic token bucket of capacity N refilling N per
minute lets up to 2N calls through in some 60-second span (a full bucket plus a minute of
refill), so this is a sliding-window log instead: it keeps the timestamps of the last `limit`
acquisitions per window and never lets more than `limit` fall in any `seconds`-long span.
Memory is bounded by the limits (10,000 floats per API name at the default).

Time comes from an injected `monotonic()` and async `sleep()`, so tests drive it by hand.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from botops.wecom.limits import (
    API_CALLS_PER_HOUR,
    API_CALLS_PER_MINUTE,
    ROBOT_MESSAGES_PER_MINUTE,
)

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# Calls are stamped when released, but reach WeCom a little later, and not all equally late
# (transit measured at 1.6-13 ms on loopback, more over the Internet). Two calls a window apart
# here can arrive less than a window apart there; so each window is held this much longer
# (600 ms of a minute), which keeps WeCom's own count at or under the limit for 1% of rate.
TRANSIT_MARGIN = 0.01

# Float slack when comparing timestamps: after sleeping exactly until the oldest stamp leaves
# the window, rounding must not make us sleep again for 1e-15 s (or forever, if the addition
# no longer changes the clock value).
_EPSILON = 1e-6


@dataclass(frozen=True, slots=True)
class Window:
    """At most `limit` acquisitions in any `seconds`-long span."""

    limit: int
    seconds: float

    def __post_init__(self) -> None:
        if self.limit < 1 or self.seconds <= 0:
            raise ValueError(f"invalid rate window {self.limit}/{self.seconds}s")


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Rate-limit settings. Older WeCom docs say 2,000/min and 30,000/h: keep it configurable."""

    per_api: tuple[Window, ...] = (
        Window(API_CALLS_PER_MINUTE, 60),
        Window(API_CALLS_PER_HOUR, 3600),
    )
    per_api_overrides: Mapping[str, tuple[Window, ...]] = field(default_factory=dict)
    per_robot: tuple[Window, ...] = (Window(ROBOT_MESSAGES_PER_MINUTE, 60),)


class _KeyState:
    def __init__(self, windows: Sequence[Window]) -> None:
        self.windows = tuple(windows)
        self.stamps: tuple[deque[float], ...] = tuple(deque() for _ in self.windows)
        # FIFO fairness: waiters queue on the lock instead of racing for a freed slot.
        self.lock = asyncio.Lock()


class RateLimiter:
    """`await limiter.acquire(key)` before each call; it returns once the call may go."""

    def __init__(
        self,
        windows: Sequence[Window],
        *,
        overrides: Mapping[str, Sequence[Window]] | None = None,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._windows = tuple(windows)
        self._overrides = dict(overrides or {})
        self._monotonic = monotonic
        self._sleep = sleep
        self._keys: dict[str, _KeyState] = {}

    async def acquire(self, key: str) -> float:
        """Wait for a free slot for `key`; returns the seconds spent waiting."""
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _KeyState(self._overrides.get(key, self._windows))
        waited = 0.0
        async with state.lock:
            while True:
                now = self._monotonic()
                delay = self._delay(state, now)
                if delay <= 0:
                    for stamps in state.stamps:
                        stamps.append(now)
                    return waited
                waited += delay
                await self._sleep(delay)

    @staticmethod
    def _delay(state: _KeyState, now: float) -> float:
        """Seconds until every window has room (0 when the call may go now)."""
        delay = 0.0
        for window, stamps in zip(state.windows, state.stamps, strict=True):
            span = window.seconds * (1 + TRANSIT_MARGIN)
            while stamps and stamps[0] <= now - span + _EPSILON:
                stamps.popleft()
            if len(stamps) >= window.limit:
                delay = max(delay, stamps[0] + span - now)
        return delay
