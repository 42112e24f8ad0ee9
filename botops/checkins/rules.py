"""The check-in rules, as a pure function: no database, no clock.

`evaluate` decides what one group message is worth to its sender, given the playbook's
`CheckinRule`, its timezone and what the ledger already knows about the member. Every day is
a *local* day in the playbook's timezone, so 23:59 and 00:01 are two days, whatever UTC says.

The order of the checks, first match wins:

    msgid already scored            -> DUPLICATE            (a redelivery never scores twice)
    make-up and check-in keywords,  -> CHECKIN for today    (today can only be earned today;
      today not counted yet            the make-up can still be claimed afterwards)
    make-up keyword (rule.makeup)   -> NOT_STARTED / FINISHED (sent before Day 1 / after the
                                       last day), else MAKEUP; refused (no missed day /
                                       allowance): the check-in rules below when a check-in
                                       keyword matched too, else MAKEUP_REFUSED
    no keyword and no regex match   -> NOT_CHECKIN
    sent before Day 1               -> NOT_STARTED
    sent after the last day         -> FINISHED
    outside the daily window        -> OUTSIDE_WINDOW
    today already counted           -> ALREADY_CHECKED_IN
    otherwise                       -> CHECKIN (+ streak bonuses newly reached)

A make-up is not bound by the window: it is late by definition. It is bound by the
challenge's days: sent within them, filling no day before Day 1. A streak is the run of
consecutive local days (make-up days included) through the day just added; a streak bonus is
paid once, when the member's streak first reaches its length — so it is due exactly when the
longest run before this message was shorter than the threshold and the new run is not.

Keywords match text and keywords alike NFKC-normalized, without format characters (zero-width
spaces and joiners, byte-order marks) and case-folded: ｄｏｎｅ and 打\u200b卡 are done and 打卡.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from botops.checkins.message import Message
from botops.playbook.model import CheckinRule

ONE_DAY = timedelta(days=1)


class Outcome(StrEnum):
    NOT_CHECKIN = "not_checkin"
    DUPLICATE = "duplicate"
    OUTSIDE_WINDOW = "outside_window"
    ALREADY_CHECKED_IN = "already_checked_in"
    MAKEUP_REFUSED = "makeup_refused"
    CHECKIN = "checkin"
    MAKEUP = "makeup"
    NOT_STARTED = "not_started"  # a check-in or make-up sent before the group's Day 1
    FINISHED = "finished"  # one sent after the playbook's last day (duration_days)


@dataclass(frozen=True, slots=True)
class MemberHistory:
    """What the ledger knows about one member in one group and playbook."""

    days: frozenset[date] = frozenset()  # local days checked in, make-up days included
    makeups_used: int = 0
    msgids: frozenset[str] = frozenset()  # messages that already scored

    def adding(self, day: date, msgid: str, *, makeup: bool) -> MemberHistory:
        return MemberHistory(
            self.days | {day}, self.makeups_used + int(makeup), self.msgids | {msgid}
        )


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    day: date  # the message's local day
    points: int = 0  # for the check-in or the make-up
    credited_day: date | None = None  # the day that counts: `day`, or the day a make-up fills
    # Streak bonuses newly reached: (length, points), shortest first, e.g. ((7, 30), (21, 100)).
    bonuses: tuple[tuple[int, int], ...] = ()
    streak: int = 0  # the streak through `credited_day` once it is counted
    detail: str = ""
    matched: tuple[str, ...] = ()  # the keywords (or "regex") that matched

    @property
    def scored(self) -> bool:
        return self.outcome in (Outcome.CHECKIN, Outcome.MAKEUP)

    @property
    def bonus(self) -> int:
        """The streak-bonus points."""
        return sum(points for _, points in self.bonuses)

    @property
    def bonus_streaks(self) -> tuple[int, ...]:
        """The streak lengths the bonus is for, e.g. (7,) or (7, 21)."""
        return tuple(length for length, _ in self.bonuses)

    @property
    def total(self) -> int:
        return self.points + self.bonus


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def evaluate(
    rule: CheckinRule,
    tz: ZoneInfo,
    message: Message,
    history: MemberHistory,
    *,
    not_before: date | None = None,
    not_after: date | None = None,
) -> Decision:
    """What `message` is worth. `not_before` and `not_after` are the challenge's first and
    last local days (the group's Day 1, the playbook's last day; None: unbounded): nothing
    sent outside them scores, and a make-up fills no day before Day 1."""
    local = message.sent_at.astimezone(tz)
    today = local.date()
    if message.msgid in history.msgids:
        return Decision(Outcome.DUPLICATE, today, detail="this message already scored")
    matched = _matches(rule, message.text)
    makeup_words = () if rule.makeup is None else _keywords_in(message.text, rule.makeup.keywords)
    if makeup_words:
        # "今天打卡✅ 顺便问下补卡怎么操作" is today's check-in: credit today when it can be;
        # the make-up stays claimable, by a later message, within its days.
        if matched and today not in history.days:
            checkin = _checkin(rule, local, history, matched, not_before, not_after)
            if checkin.scored:
                return checkin
        outside = _outside_days(today, not_before, not_after, makeup_words)
        if outside is not None:
            return outside
        makeup = _makeup(rule, today, history, makeup_words, not_before)
        if makeup.scored or not matched:
            return makeup
    if not matched:
        return Decision(Outcome.NOT_CHECKIN, today)
    return _checkin(rule, local, history, matched, not_before, not_after)


def _checkin(
    rule: CheckinRule,
    local: datetime,
    history: MemberHistory,
    matched: tuple[str, ...],
    not_before: date | None,
    not_after: date | None,
) -> Decision:
    """The check-in rules for a message that matched, sent at `local` (the playbook's time)."""
    today = local.date()
    outside = _outside_days(today, not_before, not_after, matched)
    if outside is not None:
        return outside
    window = rule.window
    if window is not None and not window.start <= local.time() < window.end:
        detail = f"{local:%H:%M} is outside {window.start:%H:%M}-{window.end:%H:%M}"
        return Decision(Outcome.OUTSIDE_WINDOW, today, detail=detail, matched=matched)
    if today in history.days:
        return Decision(Outcome.ALREADY_CHECKED_IN, today, credited_day=today, matched=matched)
    return _credit(Outcome.CHECKIN, rule, today, today, rule.points, history, matched)


def _outside_days(
    today: date, first: date | None, last: date | None, matched: tuple[str, ...]
) -> Decision | None:
    """NOT_STARTED before Day 1, FINISHED after the last day; None within the challenge."""
    if first is not None and today < first:
        detail = f"the challenge starts on {first.isoformat()}"
        return Decision(Outcome.NOT_STARTED, today, detail=detail, matched=matched)
    if last is not None and today > last:
        detail = f"the challenge ended on {last.isoformat()}"
        return Decision(Outcome.FINISHED, today, detail=detail, matched=matched)
    return None


def _makeup(
    rule: CheckinRule,
    today: date,
    history: MemberHistory,
    matched: tuple[str, ...],
    not_before: date | None,
) -> Decision:
    makeup = rule.makeup
    assert makeup is not None
    if history.makeups_used >= makeup.allowance:
        detail = f"all {makeup.allowance} make-ups used"
        return Decision(Outcome.MAKEUP_REFUSED, today, detail=detail, matched=matched)
    missed = _most_recent_missed(today, makeup.within_days, history.days, not_before)
    if missed is None:
        detail = f"no missed day in the last {makeup.within_days} day(s)"
        return Decision(Outcome.MAKEUP_REFUSED, today, detail=detail, matched=matched)
    points = rule.points if makeup.points is None else makeup.points
    return _credit(Outcome.MAKEUP, rule, today, missed, points, history, matched)


def _most_recent_missed(
    today: date, within_days: int, days: frozenset[date], not_before: date | None
) -> date | None:
    for back in range(1, within_days + 1):
        day = today - back * ONE_DAY
        if not_before is not None and day < not_before:
            return None
        if day not in days:
            return day
    return None


def _credit(
    outcome: Outcome,
    rule: CheckinRule,
    today: date,
    credited: date,
    points: int,
    history: MemberHistory,
    matched: tuple[str, ...],
) -> Decision:
    streak = run_through(history.days | {credited}, credited)
    best_before = longest_run(history.days)
    reached = tuple(
        (n, bonus)
        for n, bonus in sorted(rule.streak_bonus.items())
        if best_before < n <= streak and bonus
    )
    return Decision(
        outcome,
        today,
        points=points,
        credited_day=credited,
        bonuses=reached,
        streak=streak,
        matched=matched,
    )


def run_through(days: frozenset[date] | set[date], day: date) -> int:
    """Length of the run of consecutive days in `days` that contains `day` (0 if absent)."""
    if day not in days:
        return 0
    start = day
    while start - ONE_DAY in days:
        start -= ONE_DAY
    end = day
    while end + ONE_DAY in days:
        end += ONE_DAY
    return (end - start).days + 1


def current_streak(days: Iterable[date], today: date) -> int:
    """The streak still alive on `today`: the run ending today, or yesterday while today's
    check-in may still come; 0 once a whole day was missed."""
    days = frozenset(days)
    for end in (today, today - ONE_DAY):
        if end in days:
            length = 0
            while end - length * ONE_DAY in days:
                length += 1
            return length
    return 0


def longest_run(days: Iterable[date]) -> int:
    ordered = sorted(set(days))
    best = run = 0
    previous: date | None = None
    for day in ordered:
        run = run + 1 if previous is not None and day - previous == ONE_DAY else 1
        best = max(best, run)
        previous = day
    return best


def _plain(text: str) -> str:
    """`text` as typed on any keyboard: NFKC (full-width ｄｏｎｅ is done), without format
    characters (a zero-width space pasted into 打卡 is invisible to the member)."""
    normal = unicodedata.normalize("NFKC", text)
    return "".join(c for c in normal if unicodedata.category(c) != "Cf")


def _keywords_in(text: str, keywords: Iterable[str]) -> tuple[str, ...]:
    folded = _plain(text).casefold()
    return tuple(k for k in keywords if (plain := _plain(k)) and plain.casefold() in folded)


def _matches(rule: CheckinRule, text: str) -> tuple[str, ...]:
    matched = _keywords_in(text, rule.keywords)
    # The pattern may be written for the text as typed or as normalized: either counts.
    if rule.regex is not None and (
        re.search(rule.regex, text) or re.search(rule.regex, _plain(text))
    ):
        matched += ("regex",)
    return matched
