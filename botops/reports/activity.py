"""Per-group daily activity: the figures inactivity rules and reports are built from."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True, slots=True)
class DayActivity:
    """One group on one local day.

    `messages` are the group messages botops saw (every source, each msgid once), `speakers`
    the distinct senders among them, `checkins` the distinct members credited with a
    check-in or make-up for that day, `joined`/`left` roster changes by join and quit time."""

    day: date
    messages: int = 0
    speakers: int = 0
    checkins: int = 0
    joined: int = 0
    left: int = 0


def days_between(first: date, last: date) -> list[date]:
    """Every day from `first` to `last`, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def total(days: Iterable[DayActivity], first: date | None = None) -> DayActivity:
    """The sum over `days` (from `first` on, when given), dated by the last one. Speakers
    are summed day by day: the same person on two days counts twice."""
    chosen = [d for d in days if first is None or d.day >= first]
    return DayActivity(
        day=max((d.day for d in chosen), default=first or date.min),
        messages=sum(d.messages for d in chosen),
        speakers=sum(d.speakers for d in chosen),
        checkins=sum(d.checkins for d in chosen),
        joined=sum(d.joined for d in chosen),
        left=sum(d.left for d in chosen),
    )


def add_up(groups: Iterable[Sequence[DayActivity]], days: Sequence[date]) -> list[DayActivity]:
    """All groups' figures per day, for the overview chart."""
    sums = {day: DayActivity(day) for day in days}
    for group in groups:
        for d in group:
            if d.day in sums:
                s = sums[d.day]
                sums[d.day] = DayActivity(
                    d.day,
                    s.messages + d.messages,
                    s.speakers + d.speakers,
                    s.checkins + d.checkins,
                    s.joined + d.joined,
                    s.left + d.left,
                )
    return [sums[day] for day in days]
