"""The variables a message template sees (documented in docs/templates.md).

Built the same way for `botops validate` (from a sample target), `botops preview` and the
daemon, so a template that validates renders in production.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from botops.playbook.model import Playbook, Step


@dataclass(frozen=True, slots=True)
class LeaderRow:
    name: str
    points: int
    streak: int
    rank: int  # competition rank: members tied on points and streak share it (1, 1, 3)


@dataclass(frozen=True, slots=True)
class CheckinSnapshot:
    """Check-in figures for one target at render time (filled by the check-in engine)."""

    today_count: int = 0
    today_rate: float = 0.0
    not_checked_in: list[str] = field(default_factory=list)
    leaderboard: list[LeaderRow] = field(default_factory=list)  # bounded: see ledger.snapshot
    leaderboard_more: int = 0  # members tied with its last row, not listed (a big tie)
    total_points: int = 0
    best_streak: int = 0


EMPTY_CHECKINS = CheckinSnapshot()


@dataclass(frozen=True, slots=True)
class TargetView:
    """What templates may know about a group (`group`) or customer (`customer`)."""

    id: str
    name: str
    owner: str
    member_count: int
    tags: list[str]
    created_at: datetime | None


def schedule_context(
    *,
    playbook: Playbook,
    step: Step,
    anchor: date,
    day: int,
    occurrence: int | None,
    local_time: datetime,
) -> dict[str, Any]:
    """What depends on when the send is, not on whom: `local_time` is its wall-clock time in
    the playbook's timezone. The planner computes this once per occurrence, not per group."""
    total = playbook.duration_days
    return {
        "playbook": {"id": playbook.id, "name": playbook.name},
        "step": {"id": step.id, "name": step.name},
        "day": day,
        "days_total": total,
        "days_left": None if total is None else max(total - day, 0),
        "occurrence": occurrence,
        "anchor": anchor,  # Day 1, even when quiet hours or the cap moved the send
        "date": local_time.date(),
        "time": local_time.strftime("%H:%M"),
        "now": local_time,
        "weekday": local_time.weekday(),
        "vars": playbook.vars,
    }


def target_context(target: TargetView, kind: str) -> dict[str, Any]:
    """What depends on whom: the group (or customer), also as `target`."""
    view = {
        "id": target.id,
        "chat_id": target.id,
        "name": target.name,
        "owner": target.owner,
        "member_count": target.member_count,
        "tags": target.tags,
        "created_at": target.created_at,
    }
    return {"group" if kind == "group" else "customer": view, "target": view}


def message_context(
    schedule: dict[str, Any], target: dict[str, Any], segment: str, checkins: CheckinSnapshot
) -> dict[str, Any]:
    """The full context of one message (templates read the snapshot's attributes directly)."""
    return {**schedule, **target, "segment": segment, "checkin": checkins}


SAMPLE_CHECKINS = CheckinSnapshot(
    today_count=86,
    today_rate=0.72,
    not_checked_in=["小雨", "阿杰", "Lily"],
    leaderboard=[
        LeaderRow("小雨", 320, 23, 1),
        LeaderRow("阿杰", 300, 21, 2),
        LeaderRow("Lily", 260, 19, 3),
    ],
    leaderboard_more=2,  # so validation renders what a template says about a tie
    total_points=12_340,
    best_streak=23,
)


def sample_target(kind: str, created_at: datetime) -> TargetView:
    if kind == "group":
        return TargetView(
            "wrSAMPLE0000000000000000000", "示例打卡1群", "zhangsan", 120, ["示例"], created_at
        )
    return TargetView(
        "wmSAMPLE0000000000000000000", "示例客户", "zhangsan", 1, ["示例"], created_at
    )


# --- the AI bot's answer to a check-in (CheckinRule.reply) ---------------------------------

# The outcomes a reply is rendered for: a message that tried to check in. Plain chat and
# redeliveries get no answer.
REPLY_OUTCOMES = (
    "checkin",
    "makeup",
    "already_checked_in",
    "outside_window",
    "makeup_refused",
    "not_started",
    "finished",
)


@dataclass(frozen=True, slots=True)
class CheckinResult:
    """What one message earned, as a reply template reads it (`result`)."""

    outcome: str  # one of REPLY_OUTCOMES
    points: int = 0  # this message's points, streak bonus included
    bonus: int = 0  # the streak bonus part of `points`
    streak: int = 0  # the member's streak alive on the message's day
    detail: str = ""  # why it did not count: outside_window, makeup_refused, not_started...


def reply_context(
    *,
    playbook: Playbook,
    target: dict[str, Any],
    member_id: str,
    member_name: str,
    result: CheckinResult,
    day: int,
    points_total: int,
) -> dict[str, Any]:
    """`target` is the group as `target_context` gives it; `day` is the playbook day the
    message counted for (Day 1 = the group's Day 1)."""
    return {
        "playbook": {"id": playbook.id, "name": playbook.name},
        **target,
        "member": {"id": member_id, "name": member_name},
        "result": result,
        "day": day,
        "points_total": points_total,
        "vars": playbook.vars,
    }


def sample_reply_contexts(playbook: Playbook) -> list[dict[str, Any]]:
    """One context per outcome, for `botops validate`."""
    group = sample_target("group", datetime.fromisoformat("2026-01-01T10:00:00+08:00"))
    return [
        reply_context(
            playbook=playbook,
            target=target_context(group, "group"),
            member_id="wmSAMPLE",
            member_name="小雨",
            result=CheckinResult(outcome, points=40, bonus=30, streak=7, detail="示例"),
            day=7,
            points_total=230,
        )
        for outcome in REPLY_OUTCOMES
    ]
