"""rules.evaluate, as tables: each row is a history, a message and what it is worth."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from botops.checkins.message import Message
from botops.checkins.rules import (
    MemberHistory,
    Outcome,
    current_streak,
    evaluate,
    longest_run,
    run_through,
)
from botops.playbook.model import CheckinRule
from tests.checkins.helpers import ALL_DAY, RULE, history, message, run, score_all
from tests.helpers import SHANGHAI, local

NEW_YORK = ZoneInfo("America/New_York")
D = date.fromisoformat


@pytest.mark.parametrize(
    ("text", "at", "outcome"),
    [
        ("今天打卡", "2026-12-01 08:00", Outcome.CHECKIN),
        ("第 3 天 读完了", "2026-12-01 08:00", Outcome.CHECKIN),  # the regex
        ("DONE!", "2026-12-01 08:00", Outcome.CHECKIN),  # keywords ignore case
        ("早上好", "2026-12-01 08:00", Outcome.NOT_CHECKIN),
        ("我在第 3 天", "2026-12-01 08:00", Outcome.NOT_CHECKIN),  # the regex is anchored
        ("打卡", "2026-12-01 04:59", Outcome.OUTSIDE_WINDOW),
        ("打卡", "2026-12-01 05:00", Outcome.CHECKIN),  # start is the first minute counted
        ("打卡", "2026-12-01 23:29", Outcome.CHECKIN),
        ("打卡", "2026-12-01 23:30", Outcome.OUTSIDE_WINDOW),  # end is not counted
    ],
)
def test_matching_and_the_window(text: str, at: str, outcome: Outcome):
    decision = evaluate(RULE, SHANGHAI, message(text, at), MemberHistory())
    assert decision.outcome is outcome
    assert decision.points == (10 if outcome is Outcome.CHECKIN else 0)
    assert decision.day == D(at[:10])


def test_once_per_member_per_local_day():
    decision = evaluate(RULE, SHANGHAI, message("打卡", "2026-12-01 20:00"), history("2026-12-01"))
    assert (decision.outcome, decision.total) == (Outcome.ALREADY_CHECKED_IN, 0)


def test_the_same_message_never_scores_twice():
    msg = message("打卡", "2026-12-01 08:00", msgid="m-1")
    past = MemberHistory(frozenset(), 0, frozenset({"m-1"}))
    assert evaluate(RULE, SHANGHAI, msg, past).outcome is Outcome.DUPLICATE


def test_the_day_is_the_playbooks_local_day_not_utcs():
    # 00:30 in Shanghai is 16:30 UTC the day before
    decision = evaluate(ALL_DAY, SHANGHAI, message("打卡", "2026-12-01 00:30"), MemberHistory())
    assert decision.day == D("2026-12-01")


@pytest.mark.parametrize(
    ("before", "at"),
    [
        ("2026-12-01 23:59", "2026-12-02 00:01"),  # local midnight (same UTC day: 15:59, 16:01)
        ("2027-01-31 23:00", "2027-02-01 07:00"),  # month end
        ("2027-02-28 23:00", "2027-03-01 07:00"),  # February, not a leap year
        ("2026-12-31 23:59", "2027-01-01 00:01"),  # year end
    ],
)
def test_consecutive_local_days_make_a_streak(before: str, at: str):
    first, second = score_all(ALL_DAY, SHANGHAI, [message("打卡", before), message("打卡", at)])
    assert (first.outcome, second.outcome) == (Outcome.CHECKIN, Outcome.CHECKIN)
    assert (first.streak, second.streak) == (1, 2)


@pytest.mark.parametrize(
    ("days", "at", "streak", "bonus"),
    [
        (run("2026-12-06", 5), "2026-12-07 08:00", 6, 0),
        (run("2026-12-06", 6), "2026-12-07 08:00", 7, 30),
        (run("2027-01-31", 6), "2027-02-01 08:00", 7, 30),  # across a month end
        (run("2026-12-31", 20), "2027-01-01 08:00", 21, 100),  # across a year end
        (run("2026-12-07", 7), "2026-12-07 20:00", 0, 0),  # already in today: nothing
        (run("2026-12-07", 7), "2026-12-08 08:00", 8, 0),  # 7 was paid on the 7th day
        # a 10-day run earlier: reaching 7 again pays nothing, the bonus is paid once
        (run("2026-11-10", 10) | run("2026-12-06", 6), "2026-12-07 08:00", 7, 0),
        (run("2026-12-05", 6), "2026-12-07 08:00", 1, 0),  # a missed day restarts the streak
    ],
)
def test_streak_bonuses(days: frozenset[date], at: str, streak: int, bonus: int):
    decision = evaluate(RULE, SHANGHAI, message("打卡", at), history(days))
    assert (decision.streak, decision.bonus) == (streak, bonus)
    assert decision.bonus_streaks == ((7,) if bonus == 30 else (21,) if bonus == 100 else ())


@pytest.mark.parametrize(
    ("past", "at", "outcome", "filled"),
    [
        (history(), "2026-12-03 09:00", Outcome.MAKEUP, "2026-12-02"),  # most recent missed
        (history("2026-12-02"), "2026-12-03 09:00", Outcome.MAKEUP, "2026-12-01"),
        (history("2026-12-01", "2026-12-02"), "2026-12-03 09:00", Outcome.MAKEUP_REFUSED, None),
        (history(makeups=2), "2026-12-03 09:00", Outcome.MAKEUP_REFUSED, None),  # allowance
        (history(makeups=1), "2026-12-03 09:00", Outcome.MAKEUP, "2026-12-02"),
        (history(), "2026-12-03 23:45", Outcome.MAKEUP, "2026-12-02"),  # not bound by window
        (history(), "2027-01-01 09:00", Outcome.MAKEUP, "2026-12-31"),  # across a year end
        (history(), "2027-03-01 09:00", Outcome.MAKEUP, "2027-02-28"),
    ],
)
def test_makeups(past: MemberHistory, at: str, outcome: Outcome, filled: str | None):
    decision = evaluate(RULE, SHANGHAI, message("补卡", at), past)
    assert decision.outcome is outcome
    assert decision.credited_day == (None if filled is None else D(filled))
    assert decision.points == (5 if outcome is Outcome.MAKEUP else 0)
    assert decision.day == D(at[:10])


def test_a_makeup_reaches_no_further_than_within_days_nor_before_day_one():
    past = history("2026-12-02", "2026-12-03")  # missed the 1st, 3 days back; within_days 2
    assert evaluate(RULE, SHANGHAI, message("补卡", "2026-12-04 09:00"), past).outcome is (
        Outcome.MAKEUP_REFUSED
    )
    msg = message("补卡", "2026-12-03 09:00")
    decision = evaluate(RULE, SHANGHAI, msg, MemberHistory(), not_before=D("2026-12-03"))
    assert (decision.outcome, decision.detail) == (
        Outcome.MAKEUP_REFUSED,
        "no missed day in the last 2 day(s)",
    )


def test_a_makeup_without_a_makeup_rule_is_just_text():
    rule = RULE.model_copy(update={"makeup": None})
    assert evaluate(rule, SHANGHAI, message("补卡", "2026-12-03 09:00"), history()).outcome is (
        Outcome.NOT_CHECKIN
    )
    assert evaluate(rule, SHANGHAI, message("补卡打卡", "2026-12-03 09:00"), history()).outcome is (
        Outcome.CHECKIN
    )


def test_a_makeup_filling_a_gap_completes_a_7_day_streak():
    # checked in 11-24..11-29 and today (12-01), missed 11-30: the make-up joins both runs
    past = history(run("2026-11-29", 6), "2026-12-01")
    decision = evaluate(RULE, SHANGHAI, message("补卡", "2026-12-01 21:00"), past)
    assert (decision.outcome, decision.credited_day) == (Outcome.MAKEUP, D("2026-11-30"))
    assert (decision.points, decision.streak, decision.bonus) == (5, 8, 30)


def test_a_makeup_then_a_checkin_reach_21_and_pay_each_bonus_once():
    past = history(run("2026-12-19", 19))  # 12-01..12-19; missed 12-20
    makeup, checkin, next_day = score_all(
        RULE,
        SHANGHAI,
        [
            message("补卡", "2026-12-21 07:00"),  # fills 12-20: 20 days
            message("打卡", "2026-12-21 07:05"),  # 21 days
            message("打卡", "2026-12-22 07:00"),
        ],
        past,
    )
    assert (makeup.credited_day, makeup.streak, makeup.bonus) == (D("2026-12-20"), 20, 0)
    assert (checkin.streak, checkin.bonus, checkin.bonus_streaks) == (21, 100, (21,))
    assert (next_day.streak, next_day.bonus) == (22, 0)


def test_one_message_may_reach_several_bonuses():
    rule = CheckinRule(
        keywords=["打卡"], streak_bonus={3: 5, 5: 10}, makeup={"allowance": 1, "within_days": 3}
    )
    past = history("2026-12-01", "2026-12-02", "2026-12-04", "2026-12-05")
    decision = evaluate(rule, SHANGHAI, message("补卡", "2026-12-05 09:00"), past)
    assert decision.credited_day == D("2026-12-03")
    assert (decision.streak, decision.bonus, decision.bonus_streaks) == (5, 15, (3, 5))
    assert (decision.points, decision.total) == (10, 25)  # makeup points default to the rule's


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("2026-03-08 04:59", Outcome.OUTSIDE_WINDOW),  # EDT from 02:00: 08:59 UTC
        ("2026-03-08 05:00", Outcome.CHECKIN),
        ("2026-11-01 05:00", Outcome.CHECKIN),  # back to EST: 10:00 UTC
        ("2026-11-01 04:59", Outcome.OUTSIDE_WINDOW),
    ],
)
def test_the_window_is_wall_clock_time_across_dst(text: str, outcome: Outcome):
    msg = message("打卡", text, tz=NEW_YORK)
    assert evaluate(RULE, NEW_YORK, msg, MemberHistory()).outcome is outcome


def test_streaks_across_dst_changes():
    msgs = [
        message("打卡", at, tz=NEW_YORK)
        for at in (
            "2026-03-07 23:59",
            "2026-03-08 00:01",  # the 23-hour day
            "2026-03-09 00:01",
            "2026-10-31 23:59",
            "2026-11-01 01:30",  # the 25-hour day (first 01:30)
            "2026-11-01 23:59",
            "2026-11-02 00:00",
        )
    ]
    decisions = score_all(ALL_DAY, NEW_YORK, msgs)
    assert [d.streak for d in decisions] == [1, 2, 3, 1, 2, 0, 3]
    assert decisions[5].outcome is Outcome.ALREADY_CHECKED_IN


def test_message_needs_an_aware_time():
    with pytest.raises(ValueError, match="aware"):
        Message("m", "c", "u", "n", "打卡", local("2026-12-01 08:00").replace(tzinfo=None), "t")


def test_streak_helpers():
    days = run("2026-12-31", 3) | run("2027-01-10", 2)
    assert run_through(days, D("2026-12-30")) == 3
    assert run_through(days, D("2027-01-01")) == 0
    assert longest_run(days) == 3
    assert current_streak(days, D("2027-01-10")) == 2
    assert current_streak(days, D("2027-01-11")) == 2  # today's check-in may still come
    assert current_streak(days, D("2027-01-12")) == 0


@pytest.mark.parametrize(
    ("past", "text", "at", "outcome", "credited"),
    [
        # a check-in that asks about make-ups is today's check-in, whether or not a day is
        # missing: today can only be earned today, the make-up is still there to claim later
        (
            history(),
            "今天打卡✅ 顺便问下补卡怎么操作",
            "2026-12-03 09:00",
            Outcome.CHECKIN,
            "2026-12-03",
        ),
        (
            history("2026-12-01", "2026-12-02"),
            "打卡 补卡?",
            "2026-12-03 09:00",
            Outcome.CHECKIN,
            "2026-12-03",
        ),
        # today counted already: the make-up it names is what the member wants
        (history("2026-12-03"), "补卡打卡", "2026-12-03 20:00", Outcome.MAKEUP, "2026-12-02"),
        # out of the window, today cannot be earned: the make-up still can
        (history(), "补卡打卡", "2026-12-03 23:45", Outcome.MAKEUP, "2026-12-02"),
        # a refused make-up falls back to the check-in rules
        (
            history("2026-12-02", "2026-12-03", makeups=2),
            "打卡 补卡",
            "2026-12-03 20:00",
            Outcome.ALREADY_CHECKED_IN,
            "2026-12-03",
        ),
        (
            history("2026-12-01", "2026-12-02"),
            "打卡 补卡",
            "2026-12-03 23:45",
            Outcome.OUTSIDE_WINDOW,
            None,
        ),
        # a make-up alone, refused, still says so
        (
            history("2026-12-02", makeups=2),
            "补卡",
            "2026-12-03 09:00",
            Outcome.MAKEUP_REFUSED,
            None,
        ),
    ],
)
def test_a_message_naming_both_check_in_and_make_up(
    past: MemberHistory, text: str, at: str, outcome: Outcome, credited: str | None
):
    decision = evaluate(RULE, SHANGHAI, message(text, at), past)
    assert decision.outcome is outcome
    assert decision.credited_day == (None if credited is None else D(credited))


@pytest.mark.parametrize(
    ("keywords", "text"),
    [
        (["done"], "ｄｏｎｅ"),  # full-width letters
        (["DONE"], "Ｄone!"),
        (["打卡"], "打\u200b卡"),  # a zero-width space pasted in
        (["打卡"], "\ufeff打\u200d卡"),  # a byte-order mark, a zero-width joiner
        (["ｄｏｎｅ"], "done"),  # the keyword written full-width
    ],
)
def test_keywords_match_whatever_the_keyboard(keywords: list[str], text: str):
    rule = CheckinRule(keywords=keywords, makeup={"allowance": 1, "keywords": ["补\u200b卡"]})
    at = "2026-12-03 09:00"
    assert evaluate(rule, SHANGHAI, message(text, at), history()).outcome is Outcome.CHECKIN
    makeup = evaluate(rule, SHANGHAI, message("补卡", at), history())
    assert makeup.outcome is Outcome.MAKEUP
