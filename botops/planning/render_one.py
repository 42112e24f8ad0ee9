"""Render one step for one target as the campaign sends it from a chosen day on (`botops
send-test`).

Uses the planner's Day 1, context and templates, and the schedule code it uses for the
occurrence (its day, time and `occurrence`, which counts the lectures of a series), so what
ops check on their phone is what the campaign will send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from botops.errors import BotopsError
from botops.planning.targets import Target, day_one, template_view
from botops.playbook.context import (
    EMPTY_CHECKINS,
    CheckinSnapshot,
    message_context,
    schedule_context,
)
from botops.playbook.library import PlaybookLibrary
from botops.playbook.model import DEFAULT_TIMEZONE, Attachment, Playbook, Step
from botops.playbook.schedule import Occurrence, first_occurrence
from botops.playbook.templates import Templates


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    day: int  # the day it was rendered as
    segment: str
    text: str
    attachments: tuple[Attachment, ...]
    occurrence: int | None  # the step's n-th firing, counted from its first (None for cron)
    local_time: datetime  # scheduled wall-clock time, in the playbook's zone


def render_step(
    library: PlaybookLibrary,
    playbook_id: str,
    step_id: str,
    target: Target,
    *,
    day: int | None,
    anchor: date | None = None,
    now: datetime | None = None,
    timezone: str = DEFAULT_TIMEZONE,
    checkins: CheckinSnapshot = EMPTY_CHECKINS,
) -> RenderedMessage:
    """Render the step as its first occurrence from `day` on (default: its first of all).

    Day 1 is `anchor` when given, else the target's Day 1 as the planner works it out (a
    target not yet enrolled is enrolled on the day of `now`); `timezone` is the config's,
    for playbooks without their own. Raises BotopsError for an unknown playbook or step, or
    a day a day-numbered step does not run on; TemplateProblem if rendering fails."""
    playbook = next((p for p in library.playbooks if p.id == playbook_id), None)
    if playbook is None:
        known = ", ".join(p.id for p in library.playbooks)
        raise BotopsError(f"no playbook {playbook_id!r} (playbooks: {known})")
    step = next((s for s in playbook.steps if s.id == step_id), None)
    if step is None:
        known = ", ".join(s.id for s in playbook.steps)
        raise BotopsError(f"playbook {playbook_id!r} has no step {step_id!r} (steps: {known})")
    tz = ZoneInfo(playbook.timezone or timezone)
    if anchor is None:
        anchor = day_one(playbook, target, tz)
    if anchor is None:
        if now is None:
            raise ValueError(f"{target.id} is not enrolled in {playbook.id}: pass now")
        anchor = now.astimezone(tz).date()
    found = _occurrence(playbook, step, anchor, tz, day)
    local = found.at.astimezone(tz).replace(tzinfo=None)
    segment = playbook.segment_of(target.tags)
    message = library.message(playbook.id, step.id, segment)
    context = message_context(
        schedule_context(
            playbook=playbook,
            step=step,
            anchor=anchor,
            day=found.day,
            occurrence=found.number,
            local_time=local,
        ),
        template_view(target),
        segment,
        checkins,
    )
    return RenderedMessage(
        found.day,
        segment,
        Templates.render(message.template, context, message.name),
        message.attachments,
        found.number,
        local,
    )


def _occurrence(
    playbook: Playbook, step: Step, anchor: date, tz: ZoneInfo, day: int | None
) -> Occurrence:
    """The step's first occurrence from `day` on (default: its first of all).

    A template may rely on its schedule (`lectures[occurrence - 1]`, `titles[day]` of the
    days it runs on), so it is never rendered for a day it does not run on. A day-numbered
    step names its days, so another day is refused as a mistake; for weekday, cron and `at`
    steps, whose day numbers nobody counts, the next occurrence is taken."""
    since = None
    if day is not None:
        _check_day(step, day)
        try:
            since = anchor + timedelta(days=day - 1)
        except OverflowError:
            raise BotopsError(f"day {day} is out of range: pass --day") from None
    found = first_occurrence(playbook, step.schedule, anchor, tz, since)
    if found is None:
        after = "" if day is None else f" on or after day {day} ({since:%Y-%m-%d %a})"
        raise BotopsError(f"step {step.id!r} does not run{after} for Day 1 = {anchor}")
    return found


def _check_day(step: Step, day: int) -> None:
    """A day-numbered step (`day`, or `days` alone) names the days it runs on: say which.
    A `days` range bounding a weekday or cron step is not checked (nor its `every`, which
    such a step does not use): from a day outside it the next occurrence is taken."""
    schedule = step.schedule
    days, span = schedule.day, schedule.days
    if days and day not in days:
        listed = ", ".join(map(str, days))
        raise BotopsError(f"step {step.id!r} runs on day {listed}, not on day {day}: pass --day")
    day_numbered = schedule.weekdays is None and schedule.cron is None
    if span and day_numbered and not span.contains(day):
        every = f" every {span.every} days" if span.every > 1 else ""
        raise BotopsError(
            f"step {step.id!r} runs on days {span.from_}-{span.to}{every}, not on day {day}:"
            " pass --day"
        )
