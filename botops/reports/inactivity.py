"""Inactive groups: which rule applies to a group, whether it fires, and what that does to the
group's flag. Pure: the store passes in the activity, the days and "today".

The window of a rule with `days: N` is the N whole local days before today plus today so
far: a group is flagged only when even counting today it stays under the threshold, and a
flag clears as soon as today's activity lifts it over. A group is judged only once it has
existed (under the rule's playbook: since its Day 1) for those N whole days, and on message
counts only once botops has been receiving messages for them — a deployment with no message
source yet must not flag every group for silence.

Reasons are Chinese: they are read by the ops team, in the report and the robot digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from botops.playbook.model import InactivityRule
from botops.reports.activity import DayActivity

FROM_CONFIG = "config"  # the rule source of `reports.inactivity_*`


@dataclass(frozen=True, slots=True)
class Programme:
    """A playbook running for a group: its Day 1, last day and inactivity rule, if any."""

    playbook: str
    day_one: date
    last_day: date | None  # None: no duration_days
    rule: InactivityRule | None


@dataclass(frozen=True, slots=True)
class AppliedRule:
    rule: InactivityRule
    source: str  # FROM_CONFIG, or the playbook id
    since: date | None  # the first whole local day the group existed under it; None: unknown


def choose_rule(
    programmes: Sequence[Programme],
    default: InactivityRule | None,
    created: date | None,
    today: date,
) -> AppliedRule | None:
    """The rule of the group's running playbook (the first by id when several have one);
    else the config default; None when neither exists. A playbook not started yet, or past
    its last day, is not running: a finished challenge falls back to the default."""
    running = sorted(
        (
            p
            for p in programmes
            if p.rule is not None
            and p.day_one <= today
            and (p.last_day is None or today <= p.last_day)
        ),
        key=lambda p: p.playbook,
    )
    if running:
        chosen = running[0]
        assert chosen.rule is not None
        since = chosen.day_one if created is None else max(created, chosen.day_one)
        return AppliedRule(chosen.rule, chosen.playbook, since)
    if default is None:
        return None
    return AppliedRule(default, FROM_CONFIG, created)


class State(StrEnum):
    FLAGGED = "flagged"
    ACTIVE = "active"
    NOT_JUDGED = "not_judged"  # no rule, too young, or nothing to count yet


@dataclass(frozen=True, slots=True)
class Verdict:
    state: State
    reason: str = ""  # flagged: why; not judged: why not; active: empty
    source: str = ""  # the applied rule's source; empty without a rule

    @property
    def flagged(self) -> bool:
        return self.state is State.FLAGGED


def judge(
    applied: AppliedRule | None,
    days: Sequence[DayActivity],
    today: date,
    *,
    messages_since: date | None,
) -> Verdict:
    """Whether the group's activity in the rule's window is under its thresholds.

    `days` may hold any days (missing ones count as silent); `messages_since` is the first
    local day botops logged any group message, None if it never did."""
    if applied is None:
        return Verdict(State.NOT_JUDGED, "没有不活跃规则")
    rule, source = applied.rule, applied.source
    first = today - timedelta(days=rule.days)
    if applied.since is not None and applied.since > first:
        return Verdict(State.NOT_JUDGED, f"未满 {rule.days} 天（{applied.since} 起）", source)
    window = [d for d in days if first <= d.day <= today]
    shortfalls = []
    counted = False
    # The first day of logging is no whole day of listening (the source may have been
    # connected at 23:00): message counts wait for N whole days after it.
    if rule.min_messages is not None and messages_since is not None and messages_since < first:
        counted = True
        messages = sum(d.messages for d in window)
        if messages < rule.min_messages:
            shortfalls.append(_shortfall(rule.days, messages, rule.min_messages, "条消息", "消息"))
    if rule.min_checkins is not None:
        counted = True
        checkins = sum(d.checkins for d in window)
        if checkins < rule.min_checkins:
            shortfalls.append(_shortfall(rule.days, checkins, rule.min_checkins, "次打卡", "打卡"))
    if not counted:
        return Verdict(State.NOT_JUDGED, f"尚未接收满 {rule.days} 天的群消息", source)
    if shortfalls:
        return Verdict(State.FLAGGED, "；".join(shortfalls), source)
    return Verdict(State.ACTIVE, "", source)


def _shortfall(days: int, count: int, minimum: int, unit: str, noun: str) -> str:
    seen = f"没有{noun}" if count == 0 else f"仅 {count} {unit}"
    return f"{days} 天内{seen}（阈值 {minimum}）"


class FlagAction(StrEnum):
    OPEN = "open"  # no open flag, and the rule fires
    UPDATE = "update"  # still flagged, with another reason (the counts moved)
    CLEAR = "clear"  # an open flag, and the rule no longer fires (or no longer applies)
    KEEP = "keep"  # nothing to write


def flag_action(open_reason: str | None, verdict: Verdict) -> FlagAction:
    """What the stored flag must do, given its reason when open (None: no open flag)."""
    if verdict.flagged:
        if open_reason is None:
            return FlagAction.OPEN
        return FlagAction.KEEP if open_reason == verdict.reason else FlagAction.UPDATE
    return FlagAction.KEEP if open_reason is None else FlagAction.CLEAR
