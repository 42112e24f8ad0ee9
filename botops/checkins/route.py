"""Routing one normalized group message to the check-in rules of its group's playbooks.

A group's playbook scores check-ins when it is enabled, has a `checkin` rule, its audience
matches the stored group (tags, owner, name...) and the group has a Day 1 for it: it is
enrolled, or the playbook's anchor is a fixed date or the group's creation. Only messages
sent from Day 1 to the playbook's last day (`duration_days`) score; one outside them is
decided NOT_STARTED or FINISHED (rules.evaluate), so a reply and the ingest tally can say
why. Runs in the caller's session (one transaction: the caller commits).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import structlog
from sqlmodel import Session

from botops.checkins.engine import apply
from botops.checkins.message import Message
from botops.checkins.rules import Decision
from botops.metrics import CHECKINS
from botops.planning.targets import Target, day_one, matches
from botops.playbook.library import PlaybookLibrary
from botops.playbook.model import Playbook
from botops.store.activity import record_message
from botops.store.groups import targets

log = structlog.get_logger()


def groups(session: Session) -> dict[str, Target]:
    """The active stored groups by chat_id (pass to `score` to look them up once a batch)."""
    return {t.id: t for t in targets(session)}


class Scored(NamedTuple):
    """One playbook's decision on a message, with what a reply needs to describe it."""

    playbook: Playbook
    target: Target
    day_one: date
    decision: Decision


def score(
    session: Session,
    library: PlaybookLibrary,
    message: Message,
    now: datetime,
    tz_default: str,
    *,
    known: Mapping[str, Target] | None = None,
) -> list[Scored]:
    """Score `message` under every active check-in playbook of its group; one decision each.
    A message for a group botops does not know scores nothing (and is logged)."""
    target = (known if known is not None else groups(session)).get(message.chat_id)
    if target is None:
        log.warning("checkins.unknown_group", chat_id=message.chat_id, msgid=message.msgid)
        return []
    record_message(session, message, ZoneInfo(tz_default))  # activity counts every message
    decisions = []
    for playbook in library.playbooks:
        first = active_since(playbook, target, tz_default)
        if first is None or playbook.checkin is None:
            continue
        tz = ZoneInfo(playbook.timezone or tz_default)
        decision = apply(
            session,
            playbook.id,
            playbook.checkin,
            tz,
            message,
            now,
            not_before=first,
            not_after=playbook_last_day(playbook, first),
        )
        CHECKINS.labels(playbook.id, str(decision.outcome)).inc()
        log.info(
            "checkins.scored",
            playbook=playbook.id,
            chat_id=message.chat_id,
            msgid=message.msgid,
            outcome=str(decision.outcome),
            points=decision.total,
        )
        decisions.append(Scored(playbook, target, first, decision))
    return decisions


def active_since(playbook: Playbook, target: Target, tz_default: str) -> date | None:
    """The group's Day 1 under `playbook` when the playbook scores its check-ins, else None."""
    if playbook.checkin is None:
        return None
    return playbook_day_one(playbook, target, tz_default)


def playbook_day_one(playbook: Playbook, target: Target, tz_default: str) -> date | None:
    """The group's Day 1 under `playbook` when the playbook runs for it (enabled, audience
    matching, a Day 1 known), else None; with or without a check-in rule. Day 1 is the
    planner's (planning.targets.day_one): a fixed date, the group's creation, else its
    recorded enrolment."""
    if not playbook.enabled or not matches(playbook.audience, target):
        return None
    return day_one(playbook, target, ZoneInfo(playbook.timezone or tz_default))


def playbook_last_day(playbook: Playbook, first: date) -> date | None:
    """The group's last day under `playbook`, Day 1 being `first` (None: it runs on)."""
    if playbook.duration_days is None:
        return None
    return first + timedelta(days=playbook.duration_days - 1)
