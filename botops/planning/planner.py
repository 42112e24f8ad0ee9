"""The planner: a pure function of (playbooks, targets, window, policy).

    plan(library, targets, window, policy) -> Plan

No clock, no I/O: the same inputs always give the same plan. The daemon calls it every cycle
for the window that is due; `botops preview` calls it for the days asked for.

How a send's fate is decided, in order:
1. the step's schedule gives its occurrences for the target (Day 1 = the target's anchor);
   for `anchor: group_created`, those scheduled before the group existed are left out;
2. quiet hours shift it to their end (or skip it) unless that passes its expiry;
3. the receive cap is allocated per period, highest priority first, then earliest; losers
   move to the next period (`defer`, while still before their expiry) or are dropped;
4. the message is rendered for the target's segment; an empty message is skipped.

Steps 1-3 depend only on the schedules, the anchor dates and which sends came before the
group existed, not on the target itself, so they are computed once per distinct signature
and shared: a day of 10,000 groups costs little more than rendering their messages. The cap
is allocated over whole cap periods around the window, so a send's fate does not depend on
where the window starts: preview and daemon agree.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from botops.planning.policy import SendPolicy
from botops.planning.sends import SENDABLE, PlannedSend, Status, send_key
from botops.planning.targets import Target, day_one, matches, template_view
from botops.playbook.context import (
    EMPTY_CHECKINS,
    CheckinSnapshot,
    message_context,
    schedule_context,
)
from botops.playbook.library import MessageSpec, PlaybookLibrary
from botops.playbook.model import Attachment, Playbook, QuietHours, Step
from botops.playbook.schedule import FIRST_DAY, LAST_DAY, first_date, occurrences, to_instant
from botops.playbook.templates import TemplateProblem, Templates
from botops.playbook.types import EXPIRY_MAX
from botops.wecom import limits

CAP_LOOKBACK = timedelta(days=366)
# Windows are planned within these instants; the planner's dates then stay in the range
# botops.playbook.schedule computes within, however far off a window or a day number is. The
# cap is allocated up to the longest expiry past the window: validation bounds every expiry
# (the steps' and the config's) by EXPIRY_MAX, which bounds both the work and the dates.
EARLIEST = datetime.combine(FIRST_DAY, time(), UTC) + CAP_LOOKBACK
LATEST = datetime.combine(LAST_DAY, time(), UTC) - EXPIRY_MAX

# Per playbook that applies to a target: its index, Day 1, and the last of its sends
# scheduled before the target existed (None: none). Equal signatures get equal sends.
Signature = tuple[tuple[int, date, datetime | None], ...]


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
    # (target id, playbook id) → Day 1 assumed for targets with no recorded enrolment. The
    # daemon records these before acting, so later windows count days from the same Day 1.
    enrolments: dict[tuple[str, str], date] = field(default_factory=dict)


@dataclass(slots=True)
class _Candidate:
    """A step occurrence for a signature, before it is tied to a target."""

    playbook: Playbook
    step: Step
    tz: ZoneInfo
    anchor: date
    day: int
    number: int | None
    occurrence_id: str
    planned_at: datetime
    at: datetime
    expires_at: datetime
    priority: int
    status: Status = Status.PLANNED
    reason: str = ""

    _context: dict[str, Any] | None = None

    def schedule_context(self) -> dict[str, Any]:
        """Computed once per occurrence and shared by every group of the signature."""
        if self._context is None:
            self._context = schedule_context(
                playbook=self.playbook,
                step=self.step,
                anchor=self.anchor,
                day=self.day,
                occurrence=self.number,
                local_time=self.at.astimezone(self.tz).replace(tzinfo=None),
            )
        return self._context

    def order(self) -> tuple[int, datetime, datetime, str, str]:
        """Who gets a capped slot: higher priority, then earlier, then older (deferred)."""
        return (-self.priority, self.at, self.planned_at, self.playbook.id, self.step.id)


RENDERED_WHEN_DUE = "text rendered when due, with the check-in figures of that moment"


def plan(
    library: PlaybookLibrary,
    targets: Iterable[Target],
    window: Window,
    policy: SendPolicy,
    checkins: Mapping[str, CheckinSnapshot] | None = None,
    *,
    enrol_at: datetime | None = None,
    checkins_at_send: bool = False,
) -> Plan:
    """`enrol_at`: when targets with no recorded enrolment are enrolled, each playbook taking
    that instant's date in its own timezone (the daemon: now). Default: the date the window
    starts on in the policy's timezone, for every playbook alike (a preview from --start
    enrols on that day, whatever a playbook's timezone). The daemon plans from a little in
    the past, to send late what is still fresh, and enrols new groups today.

    `checkins_at_send`: messages that show check-in figures will be rendered again when due
    (the daemon), so their text here is provisional: an empty or over-long one is not
    skipped now, the render at send time decides."""
    playbooks = [p for p in library.playbooks if p.enabled]
    enrolling: datetime | date = (
        enrol_at or window.start.astimezone(ZoneInfo(policy.timezone)).date()
    )
    horizon = _horizon(playbooks, window, policy)
    zones = [ZoneInfo(p.timezone or policy.timezone) for p in playbooks]
    before_creation = _BeforeCreation(playbooks, zones, horizon)
    memo: dict[Signature, list[_Candidate]] = {}
    drafts: list[_Draft] = []
    rendered = _Rendered()
    enrolments: dict[tuple[str, str], date] = {}
    for target in targets:
        signature = tuple(
            (index, anchor, before_creation.last_send(index, anchor, target))
            for index, playbook in enumerate(playbooks)
            if matches(playbook.audience, target)
            for anchor in [_anchor(playbook, target, enrolling, zones[index], enrolments)]
        )
        if not signature:
            continue
        if signature not in memo:
            # Decided over the whole horizon, kept for the window only.
            memo[signature] = [
                c for c in _decide(playbooks, signature, horizon, policy) if c.at in window
            ]
        who = template_view(target)
        stats = (checkins or {}).get(target.id, EMPTY_CHECKINS)
        drafts.extend(
            _render(library, candidate, target, who, stats, rendered, checkins_at_send)
            for candidate in memo[signature]
        )
    drafts.sort(
        key=lambda d: (d.candidate.at, d.candidate.playbook.id, d.candidate.step.id, d.target.id)
    )
    batches = _batches(drafts)
    # Drafts become sends one by one, each draft freed as its send is made: the daemon's
    # memory peaks here, and holding both lists at once was ~2 MB of it per 20,000 sends.
    drafts.reverse()
    sends: list[PlannedSend] = []
    while drafts:
        sends.append(_send(library, drafts.pop(), batches.get(len(sends))))
    return Plan(window, sends, enrolments)


def _anchor(
    playbook: Playbook,
    target: Target,
    enrolling: datetime | date,
    tz: ZoneInfo,
    assumed: dict[tuple[str, str], date],
) -> date:
    """Day 1 for this target. A target with no recorded enrolment is enrolled on the day of
    `enrolling` (an instant: its date in `tz`), as the daemon does when it first plans for
    it (and records in `assumed`)."""
    day = day_one(playbook, target, tz)
    if day is None:
        on = enrolling.astimezone(tz).date() if isinstance(enrolling, datetime) else enrolling
        day = assumed[(target.id, playbook.id)] = on
    return day


@dataclass(slots=True)
class _BeforeCreation:
    """Sends scheduled before their group existed: a group created at 21:00 does not get its
    Day 1 20:00 message. They are left out when a signature's sends are decided, before the
    receive cap is shared out, so they take no slot from a send that does go out."""

    playbooks: Sequence[Playbook]
    zones: Sequence[ZoneInfo]
    horizon: tuple[datetime, datetime]
    # (playbook index, Day 1) -> the instants its sends are scheduled at up to Day 1, sorted
    _times: dict[tuple[int, date], list[datetime]] = field(default_factory=dict)

    def last_send(self, index: int, anchor: date, target: Target) -> datetime | None:
        """The last send of playbook `index` scheduled before `target` was created, if any.
        Groups created at different times share a signature while they miss the same sends."""
        playbook = self.playbooks[index]
        if playbook.anchor != "group_created" or target.created_at is None:
            return None
        if (index, anchor) not in self._times:
            tz = self.zones[index]
            first = self.horizon[0].astimezone(tz).date() - timedelta(days=1)
            # Day 1 is the local date of creation: later days come after it.
            last = min(anchor, self.horizon[1].astimezone(tz).date())
            self._times[(index, anchor)] = sorted(
                occ.at
                for step in playbook.steps
                for occ in occurrences(playbook, step.schedule, anchor, tz, first, last)
            )
        times = self._times[(index, anchor)]
        missed = bisect_left(times, target.created_at)
        return times[missed - 1] if missed else None


def _horizon(
    playbooks: Sequence[Playbook], window: Window, policy: SendPolicy
) -> tuple[datetime, datetime]:
    """The instants the cap is allocated over: from the look-back limit (a signature starts
    later, at its first possible send) to past the window by the longest expiry, so every
    send planned in the window has met its final fate (a deferred send may still be dropped
    in a later period, and is then shown at its planned time)."""
    longest = max(
        (s.expires_after or policy.expires_after for p in playbooks for s in p.steps),
        default=policy.expires_after,
    )
    tz = ZoneInfo(policy.timezone)
    cap = policy.receive_cap
    start = min(max(window.start, EARLIEST), LATEST)
    end = max(min(window.end, LATEST), EARLIEST)
    first = cap.period_start((start - CAP_LOOKBACK).astimezone(tz).date())
    last = cap.next_period_start((end + longest).astimezone(tz).date())
    return to_instant(first, time(), tz), to_instant(last, time(), tz)


def _signature_start(
    playbooks: Sequence[Playbook],
    signature: Signature,
    horizon: tuple[datetime, datetime],
    policy: SendPolicy,
) -> datetime:
    """Allocation starts at the cap period of the signature's first possible send.

    Losers are deferred into the next period, where they change who loses there, and so on:
    only an allocation that starts before the first send gives the same answer whatever the
    window, so preview and the daemon agree. Bounded by CAP_LOOKBACK for long-running
    playbooks."""
    tz = ZoneInfo(policy.timezone)
    earliest = min(
        to_instant(first_date(playbooks[index], anchor, zone) - timedelta(days=1), time(), zone)
        for index, anchor, _ in signature
        for zone in [ZoneInfo(playbooks[index].timezone or policy.timezone)]
    )
    start = policy.receive_cap.period_start(earliest.astimezone(tz).date())
    return max(horizon[0], to_instant(start, time(), tz))


def _decide(
    playbooks: Sequence[Playbook],
    signature: Signature,
    horizon: tuple[datetime, datetime],
    policy: SendPolicy,
) -> list[_Candidate]:
    horizon = (_signature_start(playbooks, signature, horizon, policy), horizon[1])
    candidates: list[_Candidate] = []
    for index, anchor, before_creation in signature:
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
                if before_creation is not None and occ.at <= before_creation:
                    continue  # the group did not exist yet
                candidate = _Candidate(
                    playbook=playbook,
                    step=step,
                    tz=tz,
                    anchor=anchor,
                    day=occ.day,
                    number=occ.number,
                    occurrence_id=occ.occurrence_id,
                    planned_at=occ.at,
                    at=occ.at,
                    expires_at=occ.at + expiry,
                    priority=priority,
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
            later = _next_period_instant(
                candidate, to_instant(cap.next_period_start(period), time(), tz)
            )
            if behaviour == "defer" and later <= candidate.expires_at:
                candidate.at, candidate.status = later, Status.DEFERRED
                candidate.reason = f"receive cap {cap.describe()} reached: deferred"
                pending[cap.period_start(later.astimezone(tz).date())].append(candidate)
            else:
                candidate.at, candidate.status = candidate.planned_at, Status.CAPPED
                candidate.reason = f"receive cap {cap.describe()} reached" + (
                    "; deferring would pass expires_after" if behaviour == "defer" else ": dropped"
                )


def _next_period_instant(candidate: _Candidate, period_start: datetime) -> datetime:
    """The first instant at or after the next cap period's start with the send's own local
    time of day (cap periods count in the config's timezone, sends in the playbook's)."""
    time_of_day = candidate.at.astimezone(candidate.tz).time().replace(tzinfo=None)
    day = period_start.astimezone(candidate.tz).date()
    later = to_instant(day, time_of_day, candidate.tz)
    return (
        later
        if later >= period_start
        else to_instant(day + timedelta(days=1), time_of_day, candidate.tz)
    )


@dataclass(frozen=True, slots=True)
class _Draft:
    """A rendered send before batching."""

    candidate: _Candidate
    target: Target
    segment: str
    text: str
    attachments: tuple[Attachment, ...]
    status: Status
    reason: str

    @property
    def sendable(self) -> bool:
        return self.status in SENDABLE


@dataclass(slots=True)
class _Rendered:
    """What one plan() works out once and shares between targets."""

    # (step, tag set) -> segment and message: groups share a handful of tag sets.
    messages: dict[tuple[int, frozenset[str]], tuple[str, MessageSpec]] = field(
        default_factory=dict
    )
    # A message that reads nothing of its target renders once per occurrence and segment
    # (MessageSpec.per_target).
    shared: dict[tuple[int, str, int], tuple[str, Status, str]] = field(default_factory=dict)
    # One copy of each distinct text: per-target messages mostly render alike (a day of
    # 20,000 sends had 434 distinct texts in 6,000 strings, 3 MB).
    texts: dict[str, str] = field(default_factory=dict)


def _render(
    library: PlaybookLibrary,
    candidate: _Candidate,
    target: Target,
    who: dict[str, Any],
    stats: CheckinSnapshot,
    rendered: _Rendered,
    checkins_at_send: bool,
) -> _Draft:
    lookup = (id(candidate.step), target.tags)
    if lookup not in rendered.messages:
        segment = candidate.playbook.segment_of(target.tags)
        rendered.messages[lookup] = (
            segment,
            library.message(candidate.playbook.id, candidate.step.id, segment),
        )
    segment, message = rendered.messages[lookup]
    final = not (checkins_at_send and message.reads_checkins)
    if message.per_target:
        text, status, reason = _text(candidate, message, who, segment, stats, final)
        text = rendered.texts.setdefault(text, text)
    else:
        key = (id(candidate), segment, id(stats))
        if key not in rendered.shared:
            rendered.shared[key] = _text(candidate, message, who, segment, stats, final)
        text, status, reason = rendered.shared[key]
    return _Draft(candidate, target, segment, text, message.attachments, status, reason)


def _text(
    candidate: _Candidate,
    message: MessageSpec,
    who: dict[str, Any],
    segment: str,
    stats: CheckinSnapshot,
    final: bool,
) -> tuple[str, Status, str]:
    """The rendered text, and the send's status once the text is known (only a `final`
    text can make a send skipped: a provisional one is rendered again when due)."""
    status, reason = candidate.status, candidate.reason
    try:
        context = message_context(candidate.schedule_context(), who, segment, stats)
        text = Templates.render(message.template, context, message.name)
    except TemplateProblem as exc:
        return "", Status.SKIPPED, f"template error: {exc}"
    if status in SENDABLE and not final:
        reason = "; ".join(filter(None, (reason, RENDERED_WHEN_DUE)))
    elif status in SENDABLE:
        size = limits.utf8_len(text)
        if not text and not message.attachments:
            status, reason = Status.SKIPPED, "message rendered empty"
        elif size > limits.MASS_TEXT_MAX_BYTES:
            status = Status.SKIPPED
            reason = f"text is {size} bytes; WeCom allows {limits.MASS_TEXT_MAX_BYTES}"
    return text, status, reason


def _batches(drafts: list[_Draft]) -> dict[int, str]:
    """Which sends can be one WeCom task: same playbook, step, sender, time and message.

    Staff confirm each task once in their WeCom client, so this is the difference between
    one tap and two thousand. A task holds at most 2,000 groups (10,000 customers).
    """
    tasks: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for index, draft in enumerate(drafts):
        if draft.sendable:
            c = draft.candidate
            task = (
                c.playbook.id,
                c.step.id,
                draft.target.owner,
                c.at,
                draft.target.kind,
                draft.text,
                draft.attachments,
            )
            tasks[task].append(index)
    names: dict[int, str] = {}
    for identity, members in tasks.items():
        is_group = identity[4] == "group"
        size = limits.MASS_MAX_CHAT_IDS if is_group else limits.MASS_MAX_EXTERNAL_USERIDS
        digest = hashlib.sha1(repr(identity).encode(), usedforsecurity=False).hexdigest()[:10]
        ordered = sorted(members, key=lambda i: drafts[i].target.id)
        chunks = [ordered[i : i + size] for i in range(0, len(ordered), size)]
        for number, chunk in enumerate(chunks, start=1):
            for i in chunk:
                names[i] = digest if len(chunks) == 1 else f"{digest}-{number}"
    return names


def _send(library: PlaybookLibrary, draft: _Draft, batch: str | None) -> PlannedSend:
    c, target = draft.candidate, draft.target
    return PlannedSend(
        key=send_key(c.playbook.id, c.step.id, target.id, c.occurrence_id),
        playbook=c.playbook.id,
        step=c.step.id,
        target=target.id,
        target_kind=target.kind,
        target_name=target.name,
        sender=target.owner,
        segment=draft.segment,
        day=c.day,
        occurrence=c.number,
        planned_at=c.planned_at,
        at=c.at,
        expires_at=c.expires_at,
        status=draft.status,
        reason=draft.reason,
        text=draft.text,
        attachments=draft.attachments,
        priority=c.priority,
        playbook_digest=library.digest(c.playbook.id),
        batch=batch,
    )
