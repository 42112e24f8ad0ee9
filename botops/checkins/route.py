"""Routing one normalized group message to the check-in rules of its group's playbooks.

A group's playbook scores check-ins when it is enabled, has a `checkin` rule, its audience
matches the stored group (tags, owner, name...) and the group has a Day 1 for it: it is
enrolled, or the playbook's anchor is a fixed date or the group's creation. Only messages
sent from Day 1 to the playbook's last day (`duration_days`) score; one outside them is
decided NOT_STARTED or FINISHED (rules.evaluate), so a reply and the ingest tally can say
why. Runs in the caller's session (one transaction: the caller commits).

Before any playbook decides, a message is not scored at all (`route` says why)
when it is dated more than MAX_CLOCK_SKEW after now (SENT_IN_FUTURE: it would take a day
the member has not lived yet), its group is not stored (UNKNOWN_GROUP) or was dismissed
before it was sent (GROUP_DISMISSED; one sent before still counts, however late it comes),
its sender is staff in the group's roster (STAFF: staff remind, they do not check in; a
sender not in the roster is a customer who joined since the last sync), a check-in
playbook selects the group but has given it no Day 1 yet (NOT_ENROLLED: with `anchor:
enrolled` the daemon records Day 1 at its first planning round after the group entered the
audience), or no check-in playbook selects the group (NO_CHECKIN_PLAYBOOK).
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
from botops.store.groups import STAFF_MEMBER, dismissed_target, targets
from botops.store.models import GroupMember

log = structlog.get_logger()

# A forwarder's clock may run a little ahead of ours; more than this is a wrong date.
MAX_CLOCK_SKEW = timedelta(minutes=5)

SENT_IN_FUTURE = "sent_in_future"
UNKNOWN_GROUP = "unknown_group"
GROUP_DISMISSED = "group_dismissed"
STAFF = "staff"
NOT_ENROLLED = "not_enrolled"
NO_CHECKIN_PLAYBOOK = "no_checkin_playbook"


def groups(session: Session) -> dict[str, Target]:
    """The active stored groups by chat_id (pass to `score` to look them up once a batch)."""
    return {t.id: t for t in targets(session)}


class Scored(NamedTuple):
    """One playbook's decision on a message, with what a reply needs to describe it."""

    playbook: Playbook
    target: Target
    day_one: date
    decision: Decision


class Routed(NamedTuple):
    """What scoring a message did: one decision per check-in playbook of its group, or none
    and why (`not_scored`, with `detail` in words)."""

    results: list[Scored]
    not_scored: str = ""
    detail: str = ""


def score(
    session: Session,
    library: PlaybookLibrary,
    message: Message,
    now: datetime,
    tz_default: str,
    *,
    known: Mapping[str, Target] | None = None,
) -> list[Scored]:
    """Score `message` under every active check-in playbook of its group; one decision each
    (none: `route` says why)."""
    return route(session, library, message, now, tz_default, known=known).results


def route(
    session: Session,
    library: PlaybookLibrary,
    message: Message,
    now: datetime,
    tz_default: str,
    *,
    known: Mapping[str, Target] | None = None,
) -> Routed:
    """`score`, with why no playbook decided when none did. `known`: the active groups
    (`groups`), read once for a batch."""
    zone = ZoneInfo(tz_default)
    if message.sent_at > now + MAX_CLOCK_SKEW:
        at = now.astimezone(zone).isoformat(timespec="seconds")
        detail = f"sent_at {message.sent_at.isoformat()} is after now ({at})"
        log.warning("checkins.sent_in_future", msgid=message.msgid, detail=detail)
        return Routed([], SENT_IN_FUTURE, detail)
    target = (known if known is not None else groups(session)).get(message.chat_id)
    if target is None:
        dismissed = dismissed_target(session, message.chat_id)
        if dismissed is None:
            log.warning("checkins.unknown_group", chat_id=message.chat_id, msgid=message.msgid)
            return Routed([], UNKNOWN_GROUP)
        target, dismissed_at = dismissed
        if message.sent_at >= dismissed_at:
            at = dismissed_at.astimezone(zone).isoformat(timespec="seconds")
            detail = f"the group was dismissed at {at}"
            log.warning("checkins.group_dismissed", chat_id=message.chat_id, msgid=message.msgid)
            return Routed([], GROUP_DISMISSED, detail)
    record_message(session, message, zone)  # activity counts every message
    sender = session.get(GroupMember, (message.chat_id, message.sender_id))
    if sender is not None and sender.member_type == STAFF_MEMBER:
        return Routed([], STAFF, "staff members do not check in")
    decisions = []
    waiting = []  # check-in playbooks selecting the group that gave it no Day 1 yet
    for playbook in library.playbooks:
        if playbook.checkin is None or not selects(playbook, target):
            continue
        first = active_since(playbook, target, tz_default)
        if first is None:
            waiting.append(playbook.id)
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
    if decisions:
        return Routed(decisions)
    if waiting:
        detail = f"group {message.chat_id} under {', '.join(waiting)}"
        log.info(
            "checkins.not_enrolled",
            chat_id=message.chat_id,
            msgid=message.msgid,
            playbooks=waiting,
        )
        return Routed([], NOT_ENROLLED, detail)
    return Routed([], NO_CHECKIN_PLAYBOOK)


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
    if not selects(playbook, target):
        return None
    return day_one(playbook, target, ZoneInfo(playbook.timezone or tz_default))


def selects(playbook: Playbook, target: Target) -> bool:
    """Whether `playbook` runs for the group once it has a Day 1: enabled, audience matching."""
    return playbook.enabled and matches(playbook.audience, target)


def playbook_last_day(playbook: Playbook, first: date) -> date | None:
    """The group's last day under `playbook`, Day 1 being `first` (None: it runs on)."""
    if playbook.duration_days is None:
        return None
    return first + timedelta(days=playbook.duration_days - 1)
