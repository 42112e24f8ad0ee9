"""Scalar types of the playbook language: durations, local times, weekdays, ids.

Each parses the friendly text ops people write ("2h30m", "08:00", "mon") and documents its
shape in the JSON Schema, so editor completion and validation agree.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    StrictInt,
    WithJsonSchema,
)

_DURATION = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")

# Bounds no real playbook reaches, so that no value can overflow a date or keep validation
# busy for minutes (docs/playbooks.md, "Value formats").
DURATION_MAX = timedelta(days=3660)  # any duration, also in the config: ten years
EXPIRY_MAX = timedelta(days=366)  # a step's expires_after
DAY_NUMBER_MAX = 3660  # day numbers -3660..3660, duration_days and other day counts
DATE_MIN, DATE_MAX = date(2000, 1, 1), date(2999, 12, 31)  # anchor and `at` dates


def parse_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str) or not (match := _DURATION.match(value.strip())) or not value:
        raise ValueError(
            f"expected a duration like '30s', '30m', '2h', '1d' or '1d12h', got {value!r}"
        )
    parts = {k: v.lstrip("0") or "0" for k, v in match.groupdict(default="0").items()}
    seconds = DURATION_MAX.total_seconds() + 1  # anything longer is refused below
    if all(len(v) < 12 for v in parts.values()):  # int() of 5,000 digits is an error too
        d, h, m, s = (int(parts[k]) for k in "dhms")
        seconds = ((d * 24 + h) * 60 + m) * 60 + s
    if seconds > DURATION_MAX.total_seconds():
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise ValueError(f"{shown!r} is too long: at most {format_duration(DURATION_MAX)}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    minutes, secs = divmod(int(value.total_seconds()), 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = ((days, "d"), (hours, "h"), (mins, "m"), (secs, "s"))
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0m"


def parse_local_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        hour, minute = (int(x) for x in value.strip().split(":"))
        if hour < 24 and minute < 60:
            return time(hour, minute)
    raise ValueError(f"expected a local time of day as 'HH:MM' (00:00-23:59), got {value!r}")


_DURATION_SCHEMA = WithJsonSchema(
    {
        "type": "string",
        "pattern": r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$",
        "examples": ["30m", "2h", "1d"],
    }
)
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    _DURATION_SCHEMA,
]


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive duration (longer than zero)")
    return value


PositiveDuration = Annotated[Duration, AfterValidator(_positive)]
"""An interval, window or delay: zero would mean "never", "at once" or "in a busy loop"."""


def _within_expiry_max(value: timedelta) -> timedelta:
    if value > EXPIRY_MAX:
        shown = format_duration(value)
        raise ValueError(f"{shown!r} is too long: at most {format_duration(EXPIRY_MAX)}")
    return value


Expiry = Annotated[PositiveDuration, AfterValidator(_within_expiry_max)]
"""How long a send stays worth sending: a message a year late is not worth sending."""

DayNumber = Annotated[StrictInt, Field(ge=-DAY_NUMBER_MAX, le=DAY_NUMBER_MAX)]
"""Day 1 is the anchor date; Day -6 a week before it."""

DayCount = Annotated[StrictInt, Field(ge=1, le=DAY_NUMBER_MAX)]
"""A number of days: a run's length, a step, a look-back."""


def in_date_range(value: date) -> date:
    if not DATE_MIN <= value <= DATE_MAX:
        raise ValueError(f"{value} is out of range: use a date from {DATE_MIN} to {DATE_MAX}")
    return value


LocalTime = Annotated[
    time,
    BeforeValidator(parse_local_time),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,2}:\d{2}$", "examples": ["08:00"]}),
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Ids end up in idempotency keys and file names: keep them boring.
Slug = Annotated[
    str,
    Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="lower-case letters, digits, - and _"),
]
