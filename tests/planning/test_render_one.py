"""`render_step` (what `botops send-test` sends): the day asked for against the step's
schedule. A day-numbered step refuses a day it does not list; a weekday or cron step takes its
next occurrence, a `days` range only bounding it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from botops.errors import BotopsError
from botops.planning.render_one import render_step
from botops.planning.targets import Target

GROUP = Target("wrG", "打卡群", "zhangsan", frozenset({"打卡"}))
PLAYBOOK = """\
id: demo
name: demo
anchor: 2026-12-07  # a Monday: the Sundays are days 7, 14, 21 and 28
audience: {tags: {any: [打卡]}}
steps:
  - id: sunday
    schedule: {weekdays: [sun], days: {from: 1, to: 28, every: 2}, time: "21:00"}
    text: "第{{ day }}天 第{{ occurrence }}次"
  - id: every-other-day
    schedule: {days: {from: 1, to: 28, every: 2}, time: "08:00"}
    text: "第{{ day }}天"
"""


@pytest.fixture
def library(build):
    library, problems = build({"p.yaml": PLAYBOOK})
    assert not [p for p in problems if p.severity == "error"], problems
    return library


@pytest.mark.parametrize(("day", "expected"), [(0, 7), (4, 7), (8, 14), (28, 28)])
def test_a_weekday_step_takes_its_next_occurrence_whatever_its_days_range(library, day, expected):
    # The range bounds the Sundays; its `every` is not theirs (days 4 and 28 are off its grid).
    message = render_step(library, "demo", "sunday", GROUP, day=day)
    assert (message.day, message.text) == (expected, f"第{expected}天 第{expected // 7}次")
    assert message.local_time.date() == date(2026, 12, 6) + timedelta(days=expected)


def test_a_weekday_step_past_its_days_range_does_not_run(library):
    with pytest.raises(BotopsError, match=r"does not run on or after day 29 \(2027-01-04 Mon\)"):
        render_step(library, "demo", "sunday", GROUP, day=29)


def test_a_day_numbered_step_refuses_a_day_off_its_grid(library):
    with pytest.raises(BotopsError, match="runs on days 1-28 every 2 days, not on day 4"):
        render_step(library, "demo", "every-other-day", GROUP, day=4)
