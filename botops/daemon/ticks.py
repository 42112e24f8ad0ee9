"""When the daemon's periodic jobs fire: on the clock's round times, not whenever it started.

Playbook times are minutes of the clock ("07:30"). A planning round every minute that counts
from the daemon's start (say 07:29:47) sends 07:30's messages at 07:30:47; rounds at whole
multiples of the interval send them right at 07:30:00, whatever time the daemon started.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from botops.clock import Clock, SystemClock

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def next_tick(now: datetime, every: timedelta) -> datetime:
    """The first whole multiple of `every` since the Unix epoch strictly after `now` (for a
    minute, the next :00 second; for an hour, the next o'clock in any whole-hour zone)."""
    if every <= timedelta(0):
        raise ValueError("every must be positive")
    elapsed = now - _EPOCH
    return _EPOCH + (elapsed // every + 1) * every


def first_tick_on_system_clock(clock: Clock, every: timedelta) -> datetime:
    """The next tick of `clock`, as the system clock will read then: the scheduler times jobs
    by the system clock, while a rehearsal's clock is shifted to another day."""
    now = clock.now()
    return SystemClock().now() + (next_tick(now, every) - now)
