"""The sends `botops validate` renders a step's message for, as the planner would make them.

Within a step's first SAMPLE_DAYS_MAX days: every day and occurrence it fires; where Day 1
differs per group (`enrolled`, `group_created`), from a Day 1 on every weekday when the
weekday matters. A cron step can fire every minute: each day it fires on is checked with its
first firing, and each time of day it fires at once (on the first day it does).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from botops.playbook.model import DEFAULT_TIMEZONE, Playbook, Schedule
from botops.playbook.schedule import (
    SEARCH_DAYS,
    cron_dates,
    local_instants,
    occurrences,
    to_instant,
)
from botops.playbook.types import WEEKDAYS

SAMPLE_DAYS_MAX = 400
SAMPLE_CREATED = datetime.fromisoformat("2026-01-01T10:00:00+08:00")
# Variables that depend on the calendar, not only on the day number: with a Day 1 that
# differs per group, they are sampled from a Day 1 on every weekday. (`time` is the send's
# time of day, which the day number, occurrence and schedule decide.)
DATED_VARIABLES = frozenset({"anchor", "date", "now", "weekday"})


@dataclass(frozen=True, slots=True)
class Sample:
    anchor: date  # Day 1
    day: int
    occurrence: int | None
    local: datetime  # wall-clock time of the send, in the playbook's timezone

    def describe(self) -> str:
        weekday = WEEKDAYS[self.local.weekday()]
        occurrence = "" if self.occurrence is None else f", occurrence {self.occurrence}"
        return f"on day {self.day} ({weekday}{occurrence})"


# (Day 1, first date, last date) to look for a step's sends in.
Range = tuple[date, date, date]


def samples(playbook: Playbook, schedule: Schedule, dated: bool) -> list[Sample]:
    """The sends to render a message for. `dated`: whether its text reads the calendar
    (DATED_VARIABLES); if not, it depends only on the day number, occurrence and time of
    day, and each of those is rendered once, whatever Day 1 it came from."""
    tz = ZoneInfo(playbook.timezone or DEFAULT_TIMEZONE)
    ranges = list(_ranges(playbook, schedule, tz, dated))
    if schedule.cron is not None:
        found = _cron_samples(schedule.cron, tz, ranges)
        if not found:  # a cron of some months only (July, 29 February): from its first date
            found = _cron_samples(
                schedule.cron, tz, _from_first_cron_date(playbook, schedule, ranges)
            )
    else:
        found = [
            Sample(anchor, occ.day, occ.number, occ.at.astimezone(tz).replace(tzinfo=None))
            for anchor, first, last in ranges
            for occ in occurrences(playbook, schedule, anchor, tz, first, last)
        ]
    if dated:
        return found
    distinct: dict[tuple[int, int | None, time], Sample] = {}
    for sample in found:
        distinct.setdefault((sample.day, sample.occurrence, sample.local.time()), sample)
    return list(distinct.values())


def _ranges(playbook: Playbook, schedule: Schedule, tz: ZoneInfo, dated: bool) -> Iterator[Range]:
    fixed = playbook.anchor if isinstance(playbook.anchor, date) else None
    if schedule.at is not None:
        at = schedule.at if schedule.at.tzinfo is None else schedule.at.astimezone(tz)
        if fixed is not None:
            yield fixed, at.date(), at.date()
            return
        # Its day number depends on each group's Day 1: days 1 to duration_days.
        last_day = min(playbook.duration_days or 1, SAMPLE_DAYS_MAX)
        for day in range(1, last_day + 1):
            yield at.date() - timedelta(days=day - 1), at.date(), at.date()
        return
    by_weekday = schedule.weekdays is not None or schedule.cron is not None or dated
    week = [SAMPLE_CREATED.date() + timedelta(days=n) for n in range(7 if by_weekday else 1)]
    lo, hi = _day_range(playbook, schedule)
    for anchor in [fixed] if fixed is not None else week:
        yield anchor, anchor + timedelta(days=lo - 1), anchor + timedelta(days=hi - 1)


def _day_range(playbook: Playbook, schedule: Schedule) -> tuple[int, int]:
    """The day numbers to sample: all of a `day` list, else at most SAMPLE_DAYS_MAX days."""
    if schedule.day is not None:
        return min(schedule.day), max(schedule.day)
    span = schedule.days
    if span is not None and schedule.weekdays is None and schedule.cron is None:
        return span.from_, min(span.to, span.from_ + (SAMPLE_DAYS_MAX - 1) * span.every)
    lo = span.from_ if span is not None else 1
    hi = span.to if span is not None else playbook.duration_days
    return lo, min(hi or SAMPLE_DAYS_MAX, lo + SAMPLE_DAYS_MAX - 1)


def _from_first_cron_date(
    playbook: Playbook, schedule: Schedule, ranges: list[Range]
) -> list[Range]:
    """The sampled ranges moved to the first date the cron matches, when none of theirs does.
    With a fixed Day 1, that date must be within the step's days (past the first
    SAMPLE_DAYS_MAX); where Day 1 differs per group, some group's days hold it, and Day 1 moves
    with it."""
    assert schedule.cron is not None
    if not ranges:
        return []
    start = min(r[1] for r in ranges)
    fixed = isinstance(playbook.anchor, date)
    hi = schedule.days.to if schedule.days is not None else playbook.duration_days
    end = start + timedelta(days=SEARCH_DAYS)
    if fixed and hi is not None:
        end = min(end, ranges[0][0] + timedelta(days=hi - 1))
    found = next(cron_dates(schedule.cron, start, end), None)
    if found is None:
        return []
    first = found[0]
    if fixed:
        last = first + timedelta(days=SAMPLE_DAYS_MAX - 1)
        return [(ranges[0][0], first, last if hi is None else min(last, end))]
    shift = first - start
    return [(anchor + shift, lo + shift, last + shift) for anchor, lo, last in ranges]


def _cron_samples(expression: str, tz: ZoneInfo, ranges: list[Range]) -> list[Sample]:
    """The firings are listed once over all the ranges' dates, and each Day 1's day numbers
    are worked out from their dates: cron fires on calendar dates, whatever Day 1 is."""
    if not ranges:
        return []
    first, last = min(r[1] for r in ranges), max(r[2] for r in ranges)
    found: list[Sample] = []
    for day, firings in _cron_firings(expression, tz, first, last):
        for anchor, lo, hi in ranges:
            if lo <= day <= hi:
                number = (day - anchor).days + 1
                found.extend(Sample(anchor, number, None, local) for local in firings)
    return found


def _cron_firings(
    expression: str, tz: ZoneInfo, first: date, last: date
) -> Iterator[tuple[date, list[datetime]]]:
    """Per date the cron fires on: its first firing and each time of day not fired at on an
    earlier date (local wall-clock times). On a date without a daylight-saving change its
    times of day are the expression's, so once one such date is seen the rest need only
    their first firing."""
    seen: set[time] = set()
    complete = False  # every time of day of the expression is in `seen`
    for day, times in cron_dates(expression, first, last):
        shifts = _offset_changes(day, tz)
        if complete and not shifts:
            instants = [to_instant(day, times[0], tz)]
        else:
            instants = local_instants(day, times, tz)
            complete = complete or not shifts
        local = [at.astimezone(tz).replace(tzinfo=None) for at in instants]
        yield day, local[:1] + [at for at in local[1:] if at.time() not in seen]
        seen.update(at.time() for at in local)


def _offset_changes(day: date, tz: ZoneInfo) -> bool:
    """Whether the UTC offset changes during the local date (clocks go forward or back)."""
    start = datetime.combine(day, time(), tz)
    return start.utcoffset() != (start + timedelta(days=1)).utcoffset()
