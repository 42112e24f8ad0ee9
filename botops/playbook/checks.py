"""Checks that span several fields of one playbook (the model checks each field alone).

Each finding is (path, message, severity, at_key) so the loader can locate it in the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from botops.playbook.locate import Loc
from botops.playbook.model import Playbook, QuietHours
from botops.playbook.schedule import SEARCH_DAYS, cron_dates
from botops.playbook.types import format_duration

Finding = tuple[Loc, str, str, bool]


class PolicyDefaults(Protocol):
    """What checks need of the config's policy (botops.planning.policy.PolicySettings)."""

    @property
    def quiet_hours(self) -> QuietHours | None: ...

    @property
    def expires_after(self) -> timedelta: ...


@dataclass(frozen=True, slots=True)
class ValidateDefaults:
    """The policy plus what only `botops validate` knows: the config's timezone and now.
    With them an `at` with an offset is checked against quiet hours, and a past `at` is found.
    """

    quiet_hours: QuietHours | None
    expires_after: timedelta
    timezone: str
    now: datetime  # timezone-aware


# Any span holding every date a cron can match (29 February: within 8 years).
CRON_SAMPLE_FROM = date(2024, 1, 1)
CRON_SAMPLE_TO = CRON_SAMPLE_FROM + timedelta(days=SEARCH_DAYS)

CUSTOMERS_NOT_SENT = (
    "chat_type single: botops run does not send to individual customers yet (it stores groups"
    " only); preview shows what would be sent"
)


def semantic_problems(playbook: Playbook, defaults: PolicyDefaults | None = None) -> list[Finding]:
    """`defaults`: the config's policy, for playbooks and steps that do not set their own."""
    return [
        *_duplicate_ids(playbook),
        *_unknown_variants(playbook),
        *_anchor_fits_audience(playbook),
        *_steps_beyond_duration(playbook),
        *_every_bounding(playbook),
        *_steps_in_quiet_hours(playbook, defaults),
        *_at_steps(playbook, defaults),
        *_customers_not_sent(playbook),
    ]


def _duplicate_ids(playbook: Playbook) -> Iterator[Finding]:
    first: dict[str, int] = {}
    for index, step in enumerate(playbook.steps):
        if step.id in first:
            yield (
                ("steps", index, "id"),
                f"duplicate step id {step.id!r} (also steps[{first[step.id]}])",
                "error",
                False,
            )
        first.setdefault(step.id, index)
    names: dict[str, int] = {}
    for index, segment in enumerate(playbook.segments):
        if segment.name in names or segment.name == playbook.default_segment:
            yield (
                ("segments", index, "name"),
                f"segment name {segment.name!r} is used twice",
                "error",
                False,
            )
        names.setdefault(segment.name, index)


def _unknown_variants(playbook: Playbook) -> Iterator[Finding]:
    known = {s.name for s in playbook.segments} | {playbook.default_segment}
    for index, step in enumerate(playbook.steps):
        for name in step.variants:
            if name not in known:
                yield (
                    ("steps", index, "variants", name),
                    f"variant {name!r} names no segment (segments: {', '.join(sorted(known))})",
                    "error",
                    True,
                )


def _anchor_fits_audience(playbook: Playbook) -> Iterator[Finding]:
    if playbook.audience.chat_type == "single" and playbook.anchor == "group_created":
        yield (("anchor",), "anchor 'group_created' needs chat_type: group", "error", False)


def _customers_not_sent(playbook: Playbook) -> Iterator[Finding]:
    # Until customers are synced and stored, such a playbook would silently send nothing.
    if playbook.audience.chat_type == "single":
        yield (("audience", "chat_type"), CUSTOMERS_NOT_SENT, "warning", False)


def _steps_beyond_duration(playbook: Playbook) -> Iterator[Finding]:
    if playbook.duration_days is None:
        return
    for index, step in enumerate(playbook.steps):
        schedule = step.schedule
        last: int | None = None
        if schedule.day is not None:
            last = max(schedule.day)
        elif schedule.days is not None:
            span = schedule.days
            # Alone, its last day on the K-day grid; bounding weekdays or cron, its end.
            alone = schedule.weekdays is None and schedule.cron is None
            last = span.to - (span.to - span.from_) % span.every if alone else span.to
        if last is not None and last > playbook.duration_days:
            yield (
                ("steps", index, "schedule"),
                f"step {step.id!r} fires on day {last}, after duration_days ({playbook.duration_days})",
                "warning",
                False,
            )


def _every_bounding(playbook: Playbook) -> Iterator[Finding]:
    """A `days` range bounding weekdays or cron only bounds them: its `every` is not used."""
    for index, step in enumerate(playbook.steps):
        schedule, span = step.schedule, step.schedule.days
        kind = "weekdays" if schedule.weekdays is not None else "cron" if schedule.cron else ""
        if kind and span is not None and span.every > 1:
            yield (
                ("steps", index, "schedule", "days", "every"),
                f"'every' is not used with '{kind}': 'days' only bounds it (days"
                f" {span.from_}-{span.to}); remove 'every'",
                "warning",
                False,
            )


def _steps_in_quiet_hours(playbook: Playbook, defaults: PolicyDefaults | None) -> Iterator[Finding]:
    quiet = playbook.policy.quiet_hours or (defaults.quiet_hours if defaults else None)
    if quiet is None:
        return
    span = f"{quiet.start:%H:%M}-{quiet.end:%H:%M}"
    for index, step in enumerate(playbook.steps):
        schedule = step.schedule
        expiry = step.expires_after or (defaults.expires_after if defaults else None)
        if schedule.time is not None and quiet.contains(schedule.time):
            outcome = _quiet_outcome(quiet, schedule.time, expiry)
            message = f"{schedule.time:%H:%M} is inside quiet hours {span}; sends will be {outcome}"
            yield (("steps", index, "schedule", "time"), message, "warning", False)
        elif schedule.cron is not None:
            # The daemon checks quiet hours on the times a cron fires, not on `time` (it has
            # none): the times of its first firing day, the same on every day it fires.
            times = _cron_times(schedule.cron)
            inside = [t for t in times if quiet.contains(t)]
            if inside:
                if len(times) == 1:
                    fires = f"fires at {inside[0]:%H:%M}"
                    outcome = f"sends will be {_quiet_outcome(quiet, inside[0], expiry)}"
                else:
                    some = "all" if len(inside) == len(times) else str(len(inside))
                    fires = f"fires {some} of its {len(times)} daily times"
                    outcome = _cron_outcome(quiet, inside, expiry)
                yield (
                    ("steps", index, "schedule", "cron"),
                    f"cron {schedule.cron!r} {fires} inside quiet hours {span}; {outcome}",
                    "warning",
                    False,
                )


def _quiet_wait(quiet: QuietHours, at: time) -> timedelta:
    end = datetime.combine(date.min, quiet.end)
    start = datetime.combine(date.min, at)
    return end - start if end > start else end + timedelta(days=1) - start


def _quiet_outcome(quiet: QuietHours, at: time, expiry: timedelta | None) -> str:
    wait = _quiet_wait(quiet, at)
    if quiet.action == "skip":
        return "skipped"
    if expiry is not None and wait > expiry:
        return (
            f"skipped: {quiet.end:%H:%M} is {format_duration(wait)} later,"
            f" past expires_after {format_duration(expiry)}"
        )
    return f"shifted to {quiet.end:%H:%M}"


def _cron_outcome(quiet: QuietHours, inside: list[time], expiry: timedelta | None) -> str:
    """What happens to a cron's several times inside quiet hours, in one sentence."""
    if quiet.action == "skip":
        return f"sends at {_some_times(inside)} will be skipped"
    late = [t for t in inside if expiry is not None and _quiet_wait(quiet, t) > expiry]
    shifted = [t for t in inside if t not in late]
    parts = []
    if shifted:
        parts.append(f"sends at {_some_times(shifted)} will be shifted to {quiet.end:%H:%M}")
    if late and expiry is not None:
        who = "those" if shifted else "sends"
        parts.append(
            f"{who} at {_some_times(late)} will be skipped"
            f" ({quiet.end:%H:%M} is past expires_after {format_duration(expiry)})"
        )
    return "; ".join(parts)


def _cron_times(expression: str) -> tuple[time, ...]:
    """A cron's local times of day. Its minute and hour fields do not depend on the date, so
    one firing day gives them all: at most 1,440, found with one search per time."""
    first = next(cron_dates(expression, CRON_SAMPLE_FROM, CRON_SAMPLE_TO), None)
    return first[1] if first is not None else ()


def _some_times(times: list[time], shown: int = 3) -> str:
    listed = ", ".join(f"{t:%H:%M}" for t in times[:shown])
    return listed + (", …" if len(times) > shown else "")


def _local_at(playbook: Playbook, at: datetime, defaults: PolicyDefaults | None) -> datetime | None:
    """An `at` on the playbook's wall clock; None when it carries an offset and the
    playbook's timezone is not known here (the config's is, only through validate)."""
    if at.tzinfo is None:
        return at
    zone = playbook.timezone or (
        defaults.timezone if isinstance(defaults, ValidateDefaults) else None
    )
    return at.astimezone(ZoneInfo(zone)).replace(tzinfo=None) if zone else None


def _at_steps(playbook: Playbook, defaults: PolicyDefaults | None) -> Iterator[Finding]:
    """`at` steps: one in the past never fires; one inside quiet hours is shifted or skipped."""
    quiet = playbook.policy.quiet_hours or (defaults.quiet_hours if defaults else None)
    for index, step in enumerate(playbook.steps):
        at = step.schedule.at
        if at is None:
            continue
        loc: Loc = ("steps", index, "schedule", "at")
        expiry = step.expires_after or (defaults.expires_after if defaults else None)
        local = _local_at(playbook, at, defaults)
        # Only `botops validate` knows now; the loader alone has no clock and skips this.
        if isinstance(defaults, ValidateDefaults) and local is not None:
            zone = ZoneInfo(playbook.timezone or defaults.timezone)
            # The daemon still sends a late `at` until it expires.
            late = step.expires_after or defaults.expires_after
            if local.replace(tzinfo=zone) + late <= defaults.now:
                yield (
                    loc,
                    f"at {local:%Y-%m-%d %H:%M} is in the past: this step never fires",
                    "warning",
                    False,
                )
                continue
        if quiet is not None and local is not None and quiet.contains(local.time()):
            span = f"{quiet.start:%H:%M}-{quiet.end:%H:%M}"
            yield (
                loc,
                f"{local:%Y-%m-%d %H:%M} is inside quiet hours {span};"
                f" the send will be {_quiet_outcome(quiet, local.time(), expiry)}",
                "warning",
                False,
            )
