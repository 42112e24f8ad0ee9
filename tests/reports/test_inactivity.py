"""The inactivity decision as table tests: thresholds, the window, young groups, no message
source, which rule applies, and what a verdict does to a stored flag."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from botops.playbook.model import InactivityRule
from botops.reports.activity import DayActivity
from botops.reports.inactivity import (
    FROM_CONFIG,
    AppliedRule,
    FlagAction,
    Programme,
    State,
    Verdict,
    choose_rule,
    flag_action,
    judge,
)

TODAY = date(2026, 3, 10)
LONG_AGO = date(2026, 1, 1)
CHECKINS = InactivityRule(days=3, min_checkins=5)
MESSAGES = InactivityRule(days=3, min_messages=2)
BOTH = InactivityRule(days=3, min_messages=2, min_checkins=5)


def days(**by_offset: tuple[int, int]) -> list[DayActivity]:
    """days(d0=(messages, checkins), d3=...) : dN is N days before TODAY."""
    return [
        DayActivity(TODAY - timedelta(days=int(k[1:])), messages=m, checkins=c)
        for k, (m, c) in by_offset.items()
    ]


def verdict(rule: InactivityRule, activity: list[DayActivity], **kw: date | None) -> Verdict:
    since = kw.get("since", LONG_AGO)
    messages_since = kw.get("messages_since", LONG_AGO)
    return judge(AppliedRule(rule, "daily", since), activity, TODAY, messages_since=messages_since)


@pytest.mark.parametrize(
    ("rule", "activity", "state", "reason"),
    [
        (CHECKINS, days(), State.FLAGGED, "3 天内没有打卡（阈值 5）"),
        (CHECKINS, days(d1=(0, 2)), State.FLAGGED, "3 天内仅 2 次打卡（阈值 5）"),
        (CHECKINS, days(d1=(0, 4), d2=(9, 0)), State.FLAGGED, "3 天内仅 4 次打卡（阈值 5）"),
        (CHECKINS, days(d1=(0, 4), d3=(0, 1)), State.ACTIVE, ""),  # the 3rd whole day counts
        (CHECKINS, days(d1=(0, 4), d4=(0, 9)), State.FLAGGED, "3 天内仅 4 次打卡（阈值 5）"),
        (CHECKINS, days(d0=(0, 5)), State.ACTIVE, ""),  # today counts: activity returns
        (MESSAGES, days(d2=(1, 0)), State.FLAGGED, "3 天内仅 1 条消息（阈值 2）"),
        (MESSAGES, days(d2=(1, 0), d0=(1, 0)), State.ACTIVE, ""),
        (BOTH, days(d1=(1, 5)), State.FLAGGED, "3 天内仅 1 条消息（阈值 2）"),
        (
            BOTH,
            days(),
            State.FLAGGED,
            "3 天内没有消息（阈值 2）；3 天内没有打卡（阈值 5）",
        ),
        (BOTH, days(d1=(2, 5)), State.ACTIVE, ""),
    ],
)
def test_thresholds_over_the_window(
    rule: InactivityRule, activity: list[DayActivity], state: State, reason: str
):
    result = verdict(rule, activity)
    assert (result.state, result.reason) == (state, reason)
    assert result.source == "daily"


@pytest.mark.parametrize(
    ("since", "state"),
    [
        (TODAY, State.NOT_JUDGED),
        (TODAY - timedelta(days=2), State.NOT_JUDGED),
        (TODAY - timedelta(days=3), State.FLAGGED),  # three whole days behind it
        (None, State.FLAGGED),  # creation unknown: judged
    ],
)
def test_a_group_younger_than_the_window_is_not_judged(since: date | None, state: State):
    assert verdict(CHECKINS, [], since=since).state is state


def test_the_young_reason_names_the_start():
    assert verdict(CHECKINS, [], since=TODAY).reason == "未满 3 天（2026-03-10 起）"


def test_message_counts_wait_for_a_message_source():
    never = verdict(MESSAGES, [], messages_since=None)
    assert never.state is State.NOT_JUDGED
    assert never.reason == "尚未接收满 3 天的群消息"
    recent = verdict(MESSAGES, [], messages_since=TODAY - timedelta(days=1))
    assert recent.state is State.NOT_JUDGED
    # A rule with a check-in threshold is still judged on that one.
    both = verdict(BOTH, days(d1=(0, 1)), messages_since=None)
    assert (both.state, both.reason) == (State.FLAGGED, "3 天内仅 1 次打卡（阈值 5）")


def test_no_rule_is_never_flagged():
    assert judge(None, [], TODAY, messages_since=LONG_AGO).state is State.NOT_JUDGED


DEFAULT = InactivityRule(days=3, min_messages=1)


@pytest.mark.parametrize(
    ("programmes", "expected"),
    [
        ([], AppliedRule(DEFAULT, FROM_CONFIG, date(2026, 2, 1))),
        (
            [Programme("daily", date(2026, 3, 1), None, CHECKINS)],
            AppliedRule(CHECKINS, "daily", date(2026, 3, 1)),
        ),
        (  # a running playbook without a rule: the default
            [Programme("lectures", date(2026, 3, 1), None, None)],
            AppliedRule(DEFAULT, FROM_CONFIG, date(2026, 2, 1)),
        ),
        (  # finished, or not started: not running
            [
                Programme("old", date(2026, 1, 1), date(2026, 3, 9), CHECKINS),
                Programme("later", date(2026, 3, 11), None, CHECKINS),
            ],
            AppliedRule(DEFAULT, FROM_CONFIG, date(2026, 2, 1)),
        ),
        (  # several: the first by id
            [
                Programme("zeta", date(2026, 3, 5), None, MESSAGES),
                Programme("alpha", date(2026, 1, 1), TODAY, CHECKINS),
            ],
            AppliedRule(CHECKINS, "alpha", date(2026, 2, 1)),  # since: created, later than Day 1
        ),
    ],
)
def test_which_rule_applies(programmes: list[Programme], expected: AppliedRule):
    assert choose_rule(programmes, DEFAULT, date(2026, 2, 1), TODAY) == expected


def test_without_a_default_only_playbook_rules_apply():
    assert choose_rule([], None, date(2026, 2, 1), TODAY) is None


FLAGGED = Verdict(State.FLAGGED, "3 天内没有打卡（阈值 5）", "daily")


@pytest.mark.parametrize(
    ("open_reason", "verdict_", "action"),
    [
        (None, FLAGGED, FlagAction.OPEN),
        (FLAGGED.reason, FLAGGED, FlagAction.KEEP),  # idempotent
        ("3 天内仅 1 次打卡（阈值 5）", FLAGGED, FlagAction.UPDATE),
        (FLAGGED.reason, Verdict(State.ACTIVE, "", "daily"), FlagAction.CLEAR),
        (FLAGGED.reason, Verdict(State.NOT_JUDGED, "未满 3 天", "daily"), FlagAction.CLEAR),
        (None, Verdict(State.ACTIVE, "", "daily"), FlagAction.KEEP),
    ],
)
def test_what_a_verdict_does_to_the_flag(
    open_reason: str | None, verdict_: Verdict, action: FlagAction
):
    assert flag_action(open_reason, verdict_) is action
