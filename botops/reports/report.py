"""The `botops report` data: built once from plain inputs, rendered as a table, JSON or HTML.

Inputs are what the store gathered (botops.store.report_inputs); nothing here reads a
database or a clock. Sections:

    groups       each active group's activity over the period and its inactivity verdict,
                 flagged ones first (least active first), then the rest, most active first
    overview     all groups' figures per day (the chart at the top)
    rates        per check-in playbook: playbook day -> members checked in / members
    leaderboards per check-in playbook, the top members by points with their ranks (as the
                 store ranks them: a tie shares one, 1, 1, 3), at most LEADERBOARD_ROWS
                 rows; members tied with the last row beyond it are counted, not listed
    outcomes     per playbook and step: outbox sends by outcome over the period
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from botops.playbook.context import LeaderRow
from botops.reports.activity import DayActivity, add_up, days_between, total
from botops.reports.inactivity import State, Verdict

# Rows per leaderboard: a tie at the cut is counted, not listed, so early in a challenge
# (everyone tied) the report does not list every member.
LEADERBOARD_ROWS = 10

# Send outcomes, in display order. The outbox's states map onto them (OUTCOME_OF_STATE).
OUTCOMES = ("sent", "submitted", "failed", "expired", "missed", "cancelled", "pending")
OUTCOME_OF_STATE = {
    "sent": "sent",
    "submitted": "submitted",  # WeCom created the task; staff have not confirmed it
    "failed": "failed",
    "partial": "failed",
    "expired": "expired",
    "missed": "missed",
    "cancelled": "cancelled",
    "planned": "pending",
    "claimed": "pending",
}


@dataclass(frozen=True, slots=True)
class GroupInput:
    chat_id: str
    name: str
    owner: str
    member_count: int
    days: Sequence[DayActivity]  # the report's days (missing days count as silent)
    speakers: int  # distinct senders over the period
    verdict: Verdict
    flagged_since: datetime | None = None  # the stored open flag's time, if any


@dataclass(frozen=True, slots=True)
class CheckinInput:
    """One group under one check-in playbook: its Day 1 and who checked in each day."""

    playbook: str
    chat_id: str
    day_one: date
    last_day: date | None  # the playbook's last day for the group (duration_days)
    members: int  # current customer members
    checked: Mapping[date, int]  # local day -> current members credited with that day


@dataclass(frozen=True, slots=True)
class OutcomeInput:
    playbook: str
    step: str
    state: str  # an outbox SendState value
    count: int


@dataclass(frozen=True, slots=True)
class ReportInputs:
    generated_at: datetime
    timezone: str
    first: date
    last: date  # today, in `timezone`
    groups: Sequence[GroupInput]
    checkins: Sequence[CheckinInput] = ()
    leaderboards: Mapping[str, Sequence[LeaderRow]] = field(default_factory=dict)
    outcomes: Sequence[OutcomeInput] = ()
    playbook_names: Mapping[str, str] = field(default_factory=dict)  # id -> name


@dataclass(frozen=True, slots=True)
class GroupRow:
    chat_id: str
    name: str
    owner: str
    member_count: int
    days: tuple[DayActivity, ...]
    totals: DayActivity  # summed over the period (speakers: see `speakers`)
    speakers: int
    verdict: Verdict
    flagged_since: datetime | None


def percent(share: float) -> str:
    """A share (0..1) in words a reader can trust: whole percent from 10 % to 99 %, one
    decimal nearer the ends, so a share that is not nothing never reads 0% and one short
    of everybody never reads 100% (1 of 328: 0.3%; 1 of 5,000: <0.1%; 327 of 328: 99.7%)."""
    if share <= 0 or share >= 1 or 0.1 <= share <= 0.99:
        return f"{share:.0%}"
    text = f"{share:.1%}"
    if text == "0.0%":
        return "<0.1%"
    if text == "100.0%":
        return ">99.9%"
    return text.replace(".0%", "%")  # 5.0% -> 5%, 9.96% -> 10%


@dataclass(frozen=True, slots=True)
class DayRate:
    day: int  # playbook day number (Day 1 = 1)
    checked: int
    members: int
    groups: int  # groups that had reached this day

    @property
    def rate(self) -> float:
        return self.checked / self.members if self.members else 0.0


@dataclass(frozen=True, slots=True)
class PlaybookRates:
    playbook: str
    name: str
    days: tuple[DayRate, ...]


@dataclass(frozen=True, slots=True)
class Leaderboard:
    playbook: str
    name: str
    rows: tuple[LeaderRow, ...]  # at most LEADERBOARD_ROWS
    more_tied: int = 0  # members tied with the last row (rank rows[-1].rank), not in `rows`


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    playbook: str
    step: str
    counts: tuple[tuple[str, int], ...]  # (outcome, count) in OUTCOMES order

    @property
    def total(self) -> int:
        return sum(n for _, n in self.counts)


@dataclass(frozen=True, slots=True)
class Report:
    generated_at: datetime
    timezone: str
    days: tuple[date, ...]
    overview: tuple[DayActivity, ...]
    groups: tuple[GroupRow, ...]
    rates: tuple[PlaybookRates, ...]
    leaderboards: tuple[Leaderboard, ...]
    outcomes: tuple[OutcomeRow, ...]

    @property
    def flagged(self) -> tuple[GroupRow, ...]:
        return tuple(g for g in self.groups if g.verdict.flagged)

    @property
    def outcome_totals(self) -> tuple[tuple[str, int], ...]:
        sums = dict.fromkeys(OUTCOMES, 0)
        for row in self.outcomes:
            for outcome, n in row.counts:
                sums[outcome] += n
        return tuple(sums.items())


def build_report(inputs: ReportInputs) -> Report:
    days = tuple(days_between(inputs.first, inputs.last))
    groups = tuple(sorted((_group_row(g, days) for g in inputs.groups), key=_group_order))
    names = dict(inputs.playbook_names)
    return Report(
        generated_at=inputs.generated_at,
        timezone=inputs.timezone,
        days=days,
        overview=tuple(add_up((g.days for g in groups), days)),
        groups=groups,
        rates=_rates(inputs.checkins, inputs.last, names),
        leaderboards=tuple(
            _leaderboard(p, names.get(p, p), rows)
            for p, rows in sorted(dict(inputs.leaderboards).items())
            if rows
        ),
        outcomes=_outcomes(inputs.outcomes),
    )


def _leaderboard(playbook: str, name: str, rows: Sequence[LeaderRow]) -> Leaderboard:
    shown = tuple(rows[:LEADERBOARD_ROWS])
    tied = sum(1 for r in rows[LEADERBOARD_ROWS:] if r.rank == shown[-1].rank)
    return Leaderboard(playbook, name, shown, tied)


def _group_row(group: GroupInput, days: Sequence[date]) -> GroupRow:
    by_day = {d.day: d for d in group.days}
    filled = tuple(by_day.get(day, DayActivity(day)) for day in days)
    return GroupRow(
        chat_id=group.chat_id,
        name=group.name,
        owner=group.owner,
        member_count=group.member_count,
        days=filled,
        totals=total(filled),
        speakers=group.speakers,
        verdict=group.verdict,
        flagged_since=group.flagged_since,
    )


def _group_order(row: GroupRow) -> tuple[int, int, int, str, str]:
    activity = row.totals.messages + row.totals.checkins
    if row.verdict.state is State.FLAGGED:
        return (0, activity, 0, row.name, row.chat_id)  # the quietest flagged group first
    return (1, -activity, -row.totals.checkins, row.name, row.chat_id)


def _rates(
    inputs: Sequence[CheckinInput], today: date, names: Mapping[str, str]
) -> tuple[PlaybookRates, ...]:
    """Day n of a playbook sums the groups that have reached day n (today's figures are
    those so far); a group past its last day stops adding."""
    sums: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    for item in inputs:
        end = today if item.last_day is None else min(today, item.last_day)
        for day in days_between(item.day_one, end) if item.day_one <= end else ():
            cell = sums[item.playbook][(day - item.day_one).days + 1]
            cell[0] += item.checked.get(day, 0)
            cell[1] += item.members
            cell[2] += 1
    return tuple(
        PlaybookRates(
            playbook,
            names.get(playbook, playbook),
            tuple(DayRate(n, *by_number[n]) for n in sorted(by_number)),
        )
        for playbook, by_number in sorted(sums.items())
    )


def _outcomes(inputs: Sequence[OutcomeInput]) -> tuple[OutcomeRow, ...]:
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    for item in inputs:
        counts[(item.playbook, item.step)][OUTCOME_OF_STATE.get(item.state, "pending")] += (
            item.count
        )
    return tuple(
        OutcomeRow(playbook, step, tuple(by_outcome.items()))
        for (playbook, step), by_outcome in sorted(counts.items())
    )


def period_start(last: date, days: int) -> date:
    """The first day of a report of `days` days ending on `last`."""
    return last - timedelta(days=days - 1)
