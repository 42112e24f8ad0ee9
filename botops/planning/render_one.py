"""Render one step for one target on a chosen day, outside any schedule (`botops send-test`).

Uses the same context and templates as the planner, so what ops check on their phone is what
the campaign will send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from botops.errors import BotopsError
from botops.planning.targets import Target, template_view
from botops.playbook.context import (
    EMPTY_CHECKINS,
    CheckinSnapshot,
    message_context,
    schedule_context,
)
from botops.playbook.library import PlaybookLibrary
from botops.playbook.model import Attachment, Step
from botops.playbook.templates import Templates


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    day: int  # the day it was rendered as
    segment: str
    text: str
    attachments: tuple[Attachment, ...]


def render_step(
    library: PlaybookLibrary,
    playbook_id: str,
    step_id: str,
    target: Target,
    *,
    day: int | None,
    anchor: date,
    checkins: CheckinSnapshot = EMPTY_CHECKINS,
) -> RenderedMessage:
    """Render the step as on `day` (default: its first scheduled day). Raises BotopsError for an
    unknown playbook or step, or a day the step never runs on; TemplateProblem if rendering
    fails."""
    playbook = next((p for p in library.playbooks if p.id == playbook_id), None)
    if playbook is None:
        known = ", ".join(p.id for p in library.playbooks)
        raise BotopsError(f"no playbook {playbook_id!r} (playbooks: {known})")
    step = next((s for s in playbook.steps if s.id == step_id), None)
    if step is None:
        known = ", ".join(s.id for s in playbook.steps)
        raise BotopsError(f"playbook {playbook_id!r} has no step {step_id!r} (steps: {known})")
    day = _scheduled_day(step, day)
    segment = playbook.segment_of(target.tags)
    message = library.message(playbook.id, step.id, segment)
    local = datetime.combine(anchor + timedelta(days=day - 1), step.schedule.time or time(9))
    context = message_context(
        schedule_context(
            playbook=playbook, step=step, anchor=anchor, day=day, occurrence=None, local_time=local
        ),
        template_view(target),
        segment,
        checkins,
    )
    return RenderedMessage(
        day,
        segment,
        Templates.render(message.template, context, message.name),
        message.attachments,
    )


def _scheduled_day(step: Step, day: int | None) -> int:
    """`day`, checked against a schedule of day numbers; else the first day the step runs.
    A template may rely on its schedule (`titles[day]` of the days it runs on), so rendering
    it for another day would show an error the campaign never meets."""
    days, span = step.schedule.day, step.schedule.days
    if day is None:
        return days[0] if days else span.from_ if span else 1
    if days and day not in days:
        listed = ", ".join(map(str, days))
        raise BotopsError(f"step {step.id!r} runs on day {listed}, not on day {day}: pass --day")
    if span and not span.contains(day):
        every = f" every {span.every} days" if span.every > 1 else ""
        raise BotopsError(
            f"step {step.id!r} runs on days {span.from_}-{span.to}{every}, not on day {day}:"
            " pass --day"
        )
    return day
