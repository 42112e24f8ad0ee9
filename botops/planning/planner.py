"""The planner: a pure function of (playbooks, targets, window, policy).

    plan(library, targets, window, policy) -> Plan

No clock, no I/O: the same inputs always give the same plan. The daemon calls it every cycle
for the window that is due; `botops preview` calls it for the days asked for.

How a send's fate is decided, in order:
1. the step's schedule gives its occurrences for the target (Day 1 = the target's anchor);
2. quiet hours shift it to their end (or skip it) unless that passes its expiry;
3. the receive cap is allocated per period, highest priority first, then earliest; losers
   move to the next period (`defer`, while still before their expiry) or are dropped;
4. the message is rendered for the target's segment; an empty message is skipped.

Steps 1-3 depend only on the schedules and the anchor dates, not on the target itself, so
they are computed once per distinct (playbooks, anchors) signature and shared: a day of
10,000 groups costs little more than rendering their messages. The cap is allocated over
whole cap periods around the window, so a send's fate does not depend on where the window
starts: preview and daemon agree.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from botops.planning.policy import SendPolicy
from botops.planning.schedule import occurrences, to_instant
from botops.planning.sends import PlannedSend, Status, send_key
from botops.planning.targets import Target, matches
from botops.playbook.context import EMPTY_CHECKINS, CheckinSnapshot, TargetView, message_context
from botops.playbook.library import PlaybookLibrary
from botops.playbook.model import Playbook, QuietHours, Step
from botops.playbook.templates import TemplateProblem, Templates
from botops.wecom import limits


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open range of instants [start, end)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a planning window needs timezone-aware datetimes")
        if self.end <= self.start:
            raise ValueError("a planning window must end after it starts")

    def __contains__(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


@dataclass(frozen=True)
class Plan:
    window: Window
    sends: list[PlannedSend]

    def sendable(self) -> list[PlannedSend]:
        return [s for s in self.sends if s.sendable]


@dataclass(slots=True)
class _Candidate:
    """A step occurrence for a signature, before it is tied to a target."""

    playbook: Playbook
    step: Step
    tz: ZoneInfo
    day: int
    number: int | None
    occurrence_id: str
    planned_at: datetime
    at: datetime
    expires_at: datetime
    priority: int
    status: Status = Status.PLANNED
    reason: str = ""

    def order(self) -> tuple[int, datetime, str, str]:
        return (-self.priority, self.at, self.playbook.id, self.step.id)


def plan(
    library: PlaybookLibrary,
    targets: Iterable[Target],
    window: Window,
    policy: SendPolicy,
    checkins: Mapping[str, CheckinSnapshot] | None = None,
) -> Plan:
    playbooks = [p for p in library.playbooks if p.enabled]
    horizon = _horizon(playbooks, window, policy)
    zones = [ZoneInfo(p.timezone or policy.timezone) for p in playbooks]
    memo: dict[tuple[tuple[int, date], ...], list[_Candidate]] = {}
    sends: list[PlannedSend] = []
    for target in targets:
        signature = tuple(
            (
                index,
                _anchor(
                    playbook, target, window.start.astimezone(zones[index]).date(), zones[index]
                ),
            )
            for index, playbook in enumerate(playbooks)
            if matches(playbook.audience, target)
        )
        if not signature:
            continue
        if signature not in memo:
            memo[signature] = _decide(playbooks, signature, horizon, policy)
        stats = (checkins or {}).get(target.id, EMPTY_CHECKINS)
        sends.extend(
            _instantiate(library, candidate, target, stats)
            for candidate in memo[signature]
            if candidate.at in window and not _before_target_existed(candidate, target)
        )
    sends.sort(key=lambda s: (s.at, s.playbook, s.step, s.target))
    return Plan(window, _batch(sends))


def _anchor(playbook: Playbook, target: Target, default: date, tz: ZoneInfo) -> date:
    """Day 1 for this target. A target not yet enrolled would be enrolled on the window's
    first day, which is what the daemon does when it first plans for it."""
    if isinstance(playbook.anchor, date):
        return playbook.anchor
    if playbook.anchor == "group_created" and target.created_at is not None:
        return target.created_at.astimezone(tz).date()
    return target.enrolled.get(playbook.id, default)


def _before_target_existed(candidate: _Candidate, target: Target) -> bool:
    """A group created at 21:00 does not get its Day 1 20:00 message."""
    return (
        candidate.playbook.anchor == "group_created"
        and target.created_at is not None
        and candidate.planned_at < target.created_at
    )


def _horizon(
    playbooks: Sequence[Playbook], window: Window, policy: SendPolicy
) -> tuple[datetime, datetime]:
    """Whole cap periods around the window, reaching back far enough for late sends."""
    longest = max(
        (s.expires_after or policy.expires_after for p in playbooks for s in p.steps),
        default=policy.expires_after,
    )
    tz = ZoneInfo(policy.timezone)
    cap = policy.receive_cap
    first = cap.period_start((window.start - longest).astimezone(tz).date())
    last = cap.next_period_start((window.end - timedelta(microseconds=1)).astimezone(tz).date())
    return to_instant(first, time(), tz), to_instant(last, time(), tz)


def _decide(
    playbooks: Sequence[Playbook],
    signature: tuple[tuple[int, date], ...],
    horizon: tuple[datetime, datetime],
    policy: SendPolicy,
) -> list[_Candidate]:
    candidates: list[_Candidate] = []
    for index, anchor in signature:
        playbook = playbooks[index]
        tz = ZoneInfo(playbook.timezone or policy.timezone)
        first = horizon[0].astimezone(tz).date() - timedelta(days=1)
        last = horizon[1].astimezone(tz).date()
        quiet = playbook.policy.quiet_hours or policy.quiet_hours
        for step in playbook.steps:
            expiry = step.expires_after or policy.expires_after
            priority = playbook.priority if step.priority is None else step.priority
            for occ in occurrences(playbook, step.schedule, anchor, tz, first, last):
                if not horizon[0] <= occ.at < horizon[1]:
                    continue
                candidate = _Candidate(
                    playbook,
                    step,
                    tz,
                    occ.day,
                    occ.number,
                    occ.occurrence_id,
                    occ.at,
                    occ.at,
                    occ.at + expiry,
                    priority,
                )
                if quiet is not None:
                    _apply_quiet_hours(candidate, quiet)
                candidates.append(candidate)
    _allocate_cap(candidates, policy)
    return candidates


def _apply_quiet_hours(candidate: _Candidate, quiet: QuietHours) -> None:
    local = candidate.at.astimezone(candidate.tz)
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return
    if quiet.action == "skip":
        candidate.status, candidate.reason = (
            Status.SKIPPED,
            f"quiet hours {quiet.start:%H:%M}-{quiet.end:%H:%M}",
        )
        return
    end_day = (
        local.date() + timedelta(days=1)
        if quiet.start > quiet.end and local.time() >= quiet.start
        else local.date()
    )
    shifted = to_instant(end_day, quiet.end, candidate.tz)
    if shifted > candidate.expires_at:
        candidate.status = Status.SKIPPED
        candidate.reason = f"quiet hours until {quiet.end:%H:%M} would pass expires_after"
    else:
        candidate.at, candidate.status = shifted, Status.SHIFTED
        candidate.reason = f"quiet hours: shifted from {local:%H:%M} to {quiet.end:%H:%M}"


def _allocate_cap(candidates: list[_Candidate], policy: SendPolicy) -> None:
    cap = policy.receive_cap
    tz = ZoneInfo(policy.timezone)
    pending: dict[date, list[_Candidate]] = defaultdict(list)
    for candidate in candidates:
        if candidate.status != Status.SKIPPED:
            pending[cap.period_start(candidate.at.astimezone(tz).date())].append(candidate)
    while pending:
        period = min(pending)
        pool = sorted(pending.pop(period), key=_Candidate.order)
        limit = cap.limit_for(period)
        for candidate in pool[limit:]:
            behaviour = candidate.step.when_capped or candidate.playbook.policy.when_capped
            later = _next_period_instant(candidate, cap.next_period_start(period))
            if behaviour == "defer" and later <= candidate.expires_at:
                candidate.at, candidate.status = later, Status.DEFERRED
                candidate.reason = f"receive cap {cap.describe()} reached: deferred"
                pending[cap.period_start(later.astimezone(tz).date())].append(candidate)
            else:
                candidate.at, candidate.status = candidate.planned_at, Status.CAPPED
                candidate.reason = f"receive cap {cap.describe()} reached" + (
                    "; deferring would pass expires_after" if behaviour == "defer" else ": dropped"
                )


def _next_period_instant(candidate: _Candidate, period_start: date) -> datetime:
    """Same local time of day, on the first day of the next period."""
    local = candidate.at.astimezone(candidate.tz)
    return to_instant(period_start, local.time().replace(tzinfo=None), candidate.tz)


def _instantiate(
    library: PlaybookLibrary, candidate: _Candidate, target: Target, stats: CheckinSnapshot
) -> PlannedSend:
    playbook, step = candidate.playbook, candidate.step
    segment = playbook.segment_of(target.tags)
    message = library.message(playbook.id, step.id, segment)
    view = TargetView(
        target.id,
        target.name,
        target.owner,
        target.member_count,
        sorted(target.tags),
        target.created_at,
    )
    context = message_context(
        playbook=playbook,
        step=step,
        target=view,
        kind=target.kind,
        segment=segment,
        day=candidate.day,
        occurrence=candidate.number,
        local_time=candidate.at.astimezone(candidate.tz).replace(tzinfo=None),
        checkins=stats,
    )
    status, reason = candidate.status, candidate.reason
    try:
        text = Templates.render(message.template, context, message.name)
    except TemplateProblem as exc:
        text, status, reason = "", Status.SKIPPED, f"template error: {exc}"
    if status in (Status.PLANNED, Status.SHIFTED, Status.DEFERRED):
        size = limits.utf8_len(text)
        if not text and not message.attachments:
            status, reason = Status.SKIPPED, "message rendered empty"
        elif size > limits.MASS_TEXT_MAX_BYTES:
            status, reason = (
                Status.SKIPPED,
                f"text is {size} bytes; WeCom allows {limits.MASS_TEXT_MAX_BYTES}",
            )
    return PlannedSend(
        key=send_key(playbook.id, step.id, target.id, candidate.occurrence_id),
        playbook=playbook.id,
        step=step.id,
        target=target.id,
        target_kind=target.kind,
        target_name=target.name,
        sender=target.owner,
        segment=segment,
        day=candidate.day,
        occurrence=candidate.number,
        planned_at=candidate.planned_at.astimezone(UTC),
        at=candidate.at.astimezone(UTC),
        expires_at=candidate.expires_at.astimezone(UTC),
        status=status,
        reason=reason,
        text=text,
        attachments=message.attachments,
        priority=candidate.priority,
        playbook_digest=library.digest(playbook.id),
    )


def _batch(sends: list[PlannedSend]) -> list[PlannedSend]:
    """Mark sends that can be one WeCom task: same playbook, step, sender, time and message.

    Staff confirm each task once in their WeCom client, so this is the difference between
    one tap and two thousand.
    """
    groups: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for index, send in enumerate(sends):
        if send.sendable:
            task = (
                send.playbook,
                send.step,
                send.sender,
                send.at,
                send.target_kind,
                send.text,
                send.attachments,
            )
            groups[task].append(index)
    result = list(sends)
    for identity, members in groups.items():
        size = (
            limits.MASS_MAX_CHAT_IDS if identity[4] == "group" else limits.MASS_MAX_EXTERNAL_USERIDS
        )
        digest = hashlib.sha1(repr(identity).encode(), usedforsecurity=False).hexdigest()[:10]
        ordered = sorted(members, key=lambda i: sends[i].target)
        chunks = [ordered[i : i + size] for i in range(0, len(ordered), size)]
        for number, chunk in enumerate(chunks, start=1):
            name = digest if len(chunks) == 1 else f"{digest}-{number}"
            for i in chunk:
                result[i] = replace(sends[i], batch=name)
    return result
