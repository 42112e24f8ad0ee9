"""Checks that span several fields of one playbook (the model checks each field alone).

Each finding is (path, message, severity, at_key) so the loader can locate it in the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Protocol

from botops.playbook.locate import Loc
from botops.playbook.model import Playbook, QuietHours
from botops.playbook.types import format_duration

Finding = tuple[Loc, str, str, bool]


class PolicyDefaults(Protocol):
    """What checks need of the config's policy (botops.planning.policy.PolicySettings)."""

    @property
    def quiet_hours(self) -> QuietHours | None: ...

    @property
    def expires_after(self) -> timedelta: ...


def semantic_problems(playbook: Playbook, defaults: PolicyDefaults | None = None) -> list[Finding]:
    """`defaults`: the config's policy, for playbooks and steps that do not set their own."""
    return [
        *_duplicate_ids(playbook),
        *_unknown_variants(playbook),
        *_anchor_fits_audience(playbook),
        *_steps_beyond_duration(playbook),
        *_steps_in_quiet_hours(playbook, defaults),
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


def _steps_beyond_duration(playbook: Playbook) -> Iterator[Finding]:
    if playbook.duration_days is None:
        return
    for index, step in enumerate(playbook.steps):
        schedule = step.schedule
        if schedule.day is not None:
            last: int | None = max(schedule.day)
        else:
            last = schedule.days.to if schedule.days else None
        if last is not None and last > playbook.duration_days:
            yield (
                ("steps", index, "schedule"),
                f"step {step.id!r} fires on day {last}, after duration_days ({playbook.duration_days})",
                "warning",
                False,
            )


def _steps_in_quiet_hours(playbook: Playbook, defaults: PolicyDefaults | None) -> Iterator[Finding]:
    quiet = playbook.policy.quiet_hours or (defaults.quiet_hours if defaults else None)
    if quiet is None:
        return
    for index, step in enumerate(playbook.steps):
        at = step.schedule.time
        if at is None or not quiet.contains(at):
            continue
        end = datetime.combine(date.min, quiet.end)
        start = datetime.combine(date.min, at)
        wait = end - start if end > start else end + timedelta(days=1) - start
        expiry = step.expires_after or (defaults.expires_after if defaults else None)
        if quiet.action == "skip":
            outcome = "skipped"
        elif expiry is not None and wait > expiry:
            outcome = f"skipped: {quiet.end:%H:%M} is {format_duration(wait)} later, past expires_after {format_duration(expiry)}"
        else:
            outcome = f"shifted to {quiet.end:%H:%M}"
        yield (
            ("steps", index, "schedule", "time"),
            f"{at:%H:%M} is inside quiet hours {quiet.start:%H:%M}-{quiet.end:%H:%M}; sends will be {outcome}",
            "warning",
            False,
        )
