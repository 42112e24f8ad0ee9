"""botops.daemon.ticks: periodic jobs on the clock's round times."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from botops.clock import ShiftedClock
from botops.daemon.ticks import first_tick_on_system_clock, next_tick
from tests.helpers import SHANGHAI


def shanghai(at: time) -> datetime:
    return datetime.combine(date(2026, 12, 1), at, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("now", "every", "tick"),
    [
        (time(7, 29, 47), timedelta(minutes=1), time(7, 30)),
        (time(7, 30), timedelta(minutes=1), time(7, 31)),  # strictly after: the start job ran
        (time(7, 30, 0, 1), timedelta(minutes=1), time(7, 31)),
        (time(7, 29, 47), timedelta(seconds=20), time(7, 30)),
        (time(7, 31, 5), timedelta(minutes=5), time(7, 35)),
        (time(7, 29, 47), timedelta(hours=1), time(8, 0)),  # o'clock in Shanghai, too
    ],
)
def test_the_next_tick_is_a_round_time(now: time, every: timedelta, tick: time):
    assert next_tick(shanghai(now), every) == shanghai(tick)


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
