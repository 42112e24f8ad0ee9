"""botops.daemon.ticks: periodic jobs on the clock's round times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from botops.clock import ShiftedClock
from botops.daemon.ticks import first_tick_on_system_clock, next_tick
from tests.helpers import SHANGHAI


@pytest.mark.parametrize(
    ("now", "every", "tick"),
    [
        ((7, 29, 47), timedelta(minutes=1), (7, 30, 0)),
        ((7, 30, 0), timedelta(minutes=1), (7, 31, 0)),  # strictly after: the start job ran
        ((7, 30, 0, 1), timedelta(minutes=1), (7, 31, 0)),
        ((7, 29, 47), timedelta(seconds=20), (7, 30, 0)),
        ((7, 31, 5), timedelta(minutes=5), (7, 35, 0)),
        ((7, 29, 47), timedelta(hours=1), (8, 0, 0)),  # o'clock in Shanghai, too
    ],
)
def test_the_next_tick_is_a_round_time(
    now: tuple[int, ...], every: timedelta, tick: tuple[int, ...]
):
    at = datetime(2026, 12, 1, *now[:3], now[3] if len(now) > 3 else 0, tzinfo=SHANGHAI)
    assert next_tick(at, every) == datetime(2026, 12, 1, *tick, tzinfo=SHANGHAI)


def test_the_interval_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        next_tick(datetime(2026, 12, 1, tzinfo=UTC), timedelta(0))


def test_a_rehearsals_tick_is_placed_on_the_system_clock():
    """The scheduler counts system time: 13 s to the rehearsal's next minute is 13 s from now."""
    rehearsal = ShiftedClock(datetime(2026, 12, 1, 7, 29, 47, tzinfo=SHANGHAI))
    before = datetime.now(UTC)
    first = first_tick_on_system_clock(rehearsal, timedelta(minutes=1))
    after = datetime.now(UTC)
    assert before + timedelta(seconds=12) <= first <= after + timedelta(seconds=13)
