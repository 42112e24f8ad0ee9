"""When a step fires for one target: its occurrences within a range of local dates.

Pure date arithmetic. Wall-clock times are turned into instants with zoneinfo's `fold=0`:
an ambiguous time (clocks go back) is its first occurrence, and a time that does not exist
(clocks go forward) moves forward by the gap, e.g. 02:30 → 03:30 — the way cron daemons do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from botops.playbook.cron import parse_cron
from botops.playbook.model import Playbook, Schedule
from botops.playbook.types import WEEKDAYS


@dataclass(frozen=True, slots=True)
class Occurrence:
    at: datetime  # the instant, UTC
    day: int  # day number: Day 1 is the anchor date
    number: int | None  # the n-th firing of the step (None for cron)
    occurrence_id: str  # local date or date-time as scheduled: part of the idempotency key


def to_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at).replace(tzinfo=tz).astimezone(UTC)


def occurrences(
    playbook: Playbook, schedule: Schedule, anchor: date, tz: ZoneInfo, first: date, last: date
) -> Iterator[Occurrence]:
    """Occurrences whose scheduled local date is within [first, last]."""
    if schedule.day is not None:
        yield from _day_numbers(schedule, anchor, tz, first, last, sorted(set(schedule.day)))
    elif schedule.weekdays is not None:
        yield from _weekdays(playbook, schedule, anchor, tz, first, last)
    elif schedule.cron is not None:
        yield from _cron(playbook, schedule, anchor, tz, first, last)
    elif schedule.at is not None:
        yield from _absolute(schedule.at, anchor, tz, first, last)
    elif schedule.days is not None:
        days = schedule.days
        lo = max(days.from_, (first - anchor).days + 1)
        hi = min(days.to, (last - anchor).days + 1)
        start = lo + (-(lo - days.from_)) % days.every  # first day ≥ lo on the K-day grid
        yield from _day_numbers(schedule, anchor, tz, first, last, range(start, hi + 1, days.every))


def first_date(playbook: Playbook, anchor: date, tz: ZoneInfo) -> date:
    """The earliest local date any step of the playbook can fire for this anchor."""
    dates = []
    for step in playbook.steps:
        schedule = step.schedule
        if schedule.at is not None:
            at = schedule.at if schedule.at.tzinfo else schedule.at.replace(tzinfo=tz)
            dates.append(at.astimezone(tz).date())
        elif schedule.day is not None:
            dates.append(anchor + timedelta(days=min(schedule.day) - 1))
        else:
            dates.append(anchor + timedelta(days=_bounds(playbook, schedule)[0] - 1))
    return min(dates)


def _day_numbers(
    schedule: Schedule,
    anchor: date,
    tz: ZoneInfo,
    first: date,
    last: date,
    numbers: range | list[int],
) -> Iterator[Occurrence]:
    """`numbers` ascending; each occurrence's ordinal is its place in the step's full list."""
    assert schedule.time is not None
    for number in numbers:
        day = anchor + timedelta(days=number - 1)
        if first <= day <= last:
            if schedule.days is not None:
                ordinal = (number - schedule.days.from_) // schedule.days.every + 1
            else:
                ordinal = sorted(set(schedule.day or [])).index(number) + 1
            yield Occurrence(to_instant(day, schedule.time, tz), number, ordinal, day.isoformat())


def _bounds(playbook: Playbook, schedule: Schedule) -> tuple[int, int | None]:
    """Day-number range for weekday and cron schedules: 'days' if given, else the run."""
    if schedule.days is not None:
        return schedule.days.from_, schedule.days.to
    return 1, playbook.duration_days


def _weekdays(
    playbook: Playbook, schedule: Schedule, anchor: date, tz: ZoneInfo, first: date, last: date
) -> Iterator[Occurrence]:
    assert schedule.time is not None
    assert schedule.weekdays is not None
    wanted = {WEEKDAYS.index(w) for w in schedule.weekdays}
    lo, hi = _bounds(playbook, schedule)
    start = max(first, anchor + timedelta(days=lo - 1))
    end = last if hi is None else min(last, anchor + timedelta(days=hi - 1))
    bound_start = anchor + timedelta(days=lo - 1)
    day = start
    while day <= end:
        if day.weekday() in wanted:
            number = _count_weekdays(bound_start, day, wanted)
            yield Occurrence(
                to_instant(day, schedule.time, tz), (day - anchor).days + 1, number, day.isoformat()
            )
        day += timedelta(days=1)


def _count_weekdays(start: date, end: date, wanted: set[int]) -> int:
    span = (end - start).days + 1
    weeks, rest = divmod(span, 7)
    return weeks * len(wanted) + sum((start.weekday() + i) % 7 in wanted for i in range(rest))


@lru_cache(maxsize=1024)
def _trigger(expression: str, tz: ZoneInfo) -> CronTrigger:
    return parse_cron(expression, tz)


def _cron(
    playbook: Playbook, schedule: Schedule, anchor: date, tz: ZoneInfo, first: date, last: date
) -> Iterator[Occurrence]:
    assert schedule.cron is not None
    lo, hi = _bounds(playbook, schedule)
    start = max(first, anchor + timedelta(days=lo - 1))
    end = last if hi is None else min(last, anchor + timedelta(days=hi - 1))
    if end < start:
        return
    trigger = _trigger(schedule.cron, tz)
    now = datetime.combine(start, time()).replace(tzinfo=tz)
    limit = datetime.combine(end + timedelta(days=1), time()).replace(tzinfo=tz)
    previous = None
    while (fire := trigger.get_next_fire_time(previous, now)) is not None and fire < limit:
        local = fire.astimezone(tz)
        yield Occurrence(
            fire.astimezone(UTC),
            (local.date() - anchor).days + 1,
            None,
            local.strftime("%Y-%m-%dT%H:%M"),
        )
        previous, now = fire, fire + timedelta(microseconds=1)


def _absolute(
    at: datetime, anchor: date, tz: ZoneInfo, first: date, last: date
) -> Iterator[Occurrence]:
    aware = at if at.tzinfo is not None else at.replace(tzinfo=tz)
    local = aware.astimezone(tz)
    if first <= local.date() <= last:
        yield Occurrence(aware.astimezone(UTC), (local.date() - anchor).days + 1, 1, "at")
