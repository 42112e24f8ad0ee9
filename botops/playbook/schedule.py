"""When a step fires for one target: its occurrences within a range of local dates.

Pure date arithmetic on the playbook model (the planner and `botops validate` both use it).
Wall-clock times are turned into instants with zoneinfo's `fold=0`: an ambiguous time
(clocks go back) is its first occurrence, and a time that does not exist (clocks go forward)
moves forward by the gap, e.g. 02:30 → 03:30 — the way cron daemons do. Cron expressions
follow the same rule: they are matched against the wall clock, then turned into instants
like every other schedule.

Day numbers are compared as integers, and only those within the range asked for become
dates, so no day number or bound (Day 5,000,000) can overflow `date`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from botops.playbook.cron import parse_cron
from botops.playbook.model import Playbook, Schedule
from botops.playbook.types import WEEKDAYS

# The dates schedules are computed within: far enough from date.min and date.max that a
# year of look-back, expiry or search added to them cannot overflow.
FIRST_DAY = date(1000, 1, 1)
LAST_DAY = date(9000, 1, 1)
# How far `first_occurrence` looks: a cron of 29 February may wait 8 years (2096 → 2104).
SEARCH_DAYS = 8 * 366
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


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
    """Occurrences whose scheduled local date is within [first, last], in time order."""
    lo, hi = (first - anchor).days + 1, (last - anchor).days + 1  # their day numbers
    if schedule.day is not None:
        listed = enumerate(sorted(set(schedule.day)), start=1)
        yield from _on_days(schedule, anchor, tz, ((n, k) for k, n in listed if lo <= n <= hi))
    elif schedule.weekdays is not None:
        yield from _weekdays(playbook, schedule, anchor, tz, lo, hi)
    elif schedule.cron is not None:
        yield from _cron(playbook, schedule, anchor, tz, lo, hi)
    elif schedule.at is not None:
        yield from _absolute(schedule.at, anchor, tz, first, last)
    elif schedule.days is not None:
        days = schedule.days
        start, end = max(days.from_, lo), min(days.to, hi)
        start += (-(start - days.from_)) % days.every  # first day ≥ lo on the K-day grid
        numbers = range(start, end + 1, days.every)
        ordinals = ((n, (n - days.from_) // days.every + 1) for n in numbers)
        yield from _on_days(schedule, anchor, tz, ordinals)


def first_date(playbook: Playbook, anchor: date, tz: ZoneInfo) -> date:
    """The earliest local date any step of the playbook can fire for this anchor (clamped
    to FIRST_DAY..LAST_DAY)."""
    return min(_first_date(playbook, step.schedule, anchor, tz) for step in playbook.steps)


def first_occurrence(
    playbook: Playbook, schedule: Schedule, anchor: date, tz: ZoneInfo, since: date | None = None
) -> Occurrence | None:
    """The step's first occurrence for this anchor, on or after `since` if given; None if it
    has none (within SEARCH_DAYS, and before LAST_DAY)."""
    start = max(_first_date(playbook, schedule, anchor, tz), since or FIRST_DAY)
    if start > LAST_DAY:
        return None
    end = start + timedelta(days=min(SEARCH_DAYS, (LAST_DAY - start).days))
    return next(occurrences(playbook, schedule, anchor, tz, start, end), None)


def cron_dates(expression: str, first: date, last: date) -> Iterator[tuple[date, tuple[time, ...]]]:
    """The dates in [first, last] a cron expression matches, each with its wall-clock times
    of day in order (not yet turned into instants: see `local_instants`).

    Cron's minute and hour fields do not depend on the date, so every date it matches has
    the same times: they are listed on the first, and each further date costs one search,
    not one per firing (`* * * * *` fires 1,440 times a day)."""
    trigger = _wall_clock_trigger(expression)
    after, end = _midnight(first), _midnight(last + DAY)
    times: tuple[time, ...] = ()
    while (fire := trigger.get_next_fire_time(None, after)) is not None and fire < end:
        if fire < after:  # cannot happen in UTC; never loop on it
            raise RuntimeError(f"cron trigger went back from {after} to {fire}")
        after = _midnight(fire.date() + DAY)
        times = times or tuple(wall.time() for wall in _wall_times(trigger, fire, after))
        yield fire.date(), times


def local_instants(day: date, times: Iterable[time], tz: ZoneInfo) -> list[datetime]:
    """The instants (UTC) of wall-clock times on a local date, in order, each once: a time
    in a spring-forward gap moves forward by the gap, onto another time of the day (02:30 →
    03:30, as 03:30 itself)."""
    return sorted({to_instant(day, at, tz) for at in times})


def _midnight(day: date) -> datetime:
    """The start of a date on the wall clock, written as UTC (see _wall_clock_trigger)."""
    return datetime.combine(day, time(), UTC)


def _first_date(playbook: Playbook, schedule: Schedule, anchor: date, tz: ZoneInfo) -> date:
    if schedule.at is not None:
        return _instant(schedule.at, tz).astimezone(tz).date()
    number = min(schedule.day) if schedule.day is not None else _bounds(playbook, schedule)[0]
    offset = min(max(number - 1, (FIRST_DAY - anchor).days), (LAST_DAY - anchor).days)
    return anchor + timedelta(days=offset)


def _on_days(
    schedule: Schedule, anchor: date, tz: ZoneInfo, numbered: Iterable[tuple[int, int]]
) -> Iterator[Occurrence]:
    """(day number, ordinal) pairs, ascending and within the range asked for; the ordinal
    is the day's place in the step's full list."""
    assert schedule.time is not None
    for number, ordinal in numbered:
        day = anchor + timedelta(days=number - 1)
        yield Occurrence(to_instant(day, schedule.time, tz), number, ordinal, day.isoformat())


def _bounds(playbook: Playbook, schedule: Schedule) -> tuple[int, int | None]:
    """Day-number range for weekday and cron schedules: 'days' if given, else the run."""
    if schedule.days is not None:
        return schedule.days.from_, schedule.days.to
    return 1, playbook.duration_days


def _clip(playbook: Playbook, schedule: Schedule, lo: int, hi: int) -> tuple[int, int, int]:
    """(the step's first day number, then its first and last within [lo, hi])."""
    bound_lo, bound_hi = _bounds(playbook, schedule)
    return bound_lo, max(bound_lo, lo), hi if bound_hi is None else min(bound_hi, hi)


def _weekdays(
    playbook: Playbook, schedule: Schedule, anchor: date, tz: ZoneInfo, lo: int, hi: int
) -> Iterator[Occurrence]:
    assert schedule.time is not None
    assert schedule.weekdays is not None
    wanted = {WEEKDAYS.index(w) for w in schedule.weekdays}
    bound_lo, start, end = _clip(playbook, schedule, lo, hi)
    first_weekday = (anchor.weekday() + bound_lo - 1) % 7  # of the step's first day
    for number in range(start, end + 1):
        day = anchor + timedelta(days=number - 1)
        if day.weekday() in wanted:
            ordinal = _count_weekdays(first_weekday, number - bound_lo + 1, wanted)
            yield Occurrence(to_instant(day, schedule.time, tz), number, ordinal, day.isoformat())


def _count_weekdays(first_weekday: int, span: int, wanted: set[int]) -> int:
    """How many of `span` days, the first a `first_weekday`, fall on a wanted weekday."""
    weeks, rest = divmod(span, 7)
    return weeks * len(wanted) + sum((first_weekday + i) % 7 in wanted for i in range(rest))


@lru_cache(maxsize=1024)
def _wall_clock_trigger(expression: str) -> CronTrigger:
    # Matched against the wall clock as if it were UTC, which has no daylight saving: in the
    # playbook's zone APScheduler returned the second 02:30 of a fall-back day forever.
    return parse_cron(expression, UTC)


def _cron(
    playbook: Playbook, schedule: Schedule, anchor: date, tz: ZoneInfo, lo: int, hi: int
) -> Iterator[Occurrence]:
    assert schedule.cron is not None
    _, start, end = _clip(playbook, schedule, lo, hi)
    if end < start:
        return
    first, last = anchor + timedelta(days=start - 1), anchor + timedelta(days=end - 1)
    previous: datetime | None = None
    for day, times in cron_dates(schedule.cron, first, last):
        for at in local_instants(day, times, tz):
            if previous is None or at > previous:  # each instant fires once, in order
                previous = at
                local = at.astimezone(tz).strftime("%Y-%m-%dT%H:%M")
                yield Occurrence(at, (day - anchor).days + 1, None, local)


def _wall_times(trigger: CronTrigger, start: datetime, end: datetime) -> Iterator[datetime]:
    """The trigger's times in [start, end), wall-clock times written as UTC. Each search
    starts a minute past the last time found (cron's resolution), so the loop ends."""
    after = start
    while (fire := trigger.get_next_fire_time(None, after)) is not None and fire < end:
        if fire < after:  # cannot happen in UTC; never loop on it
            raise RuntimeError(f"cron trigger went back from {after} to {fire}")
        yield fire
        after = fire + MINUTE


def _instant(at: datetime, tz: ZoneInfo) -> datetime:
    """`at` as an instant (in `tz` when it has no offset). The model keeps its date within
    2000-2999, well inside FIRST_DAY..LAST_DAY."""
    return (at if at.tzinfo is not None else at.replace(tzinfo=tz)).astimezone(UTC)


def _absolute(
    at: datetime, anchor: date, tz: ZoneInfo, first: date, last: date
) -> Iterator[Occurrence]:
    instant = _instant(at, tz)
    local = instant.astimezone(tz).date()
    if first <= local <= last:
        yield Occurrence(instant, (local - anchor).days + 1, 1, "at")
