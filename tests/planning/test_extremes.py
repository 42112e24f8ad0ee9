"""Out-of-range numbers reach the planner only if validation lets them through; they must
not overflow a date or keep the planner busy. They are put into a loaded playbook with
pydantic's `model_copy`/`model_construct`, past validation, so what is tested is the
planner's own safety, whatever bounds validation sets. Expiry is the exception: the planner
relies on validation's bound (EXPIRY_MAX), for the steps' and the config's alike."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from botops.planning.planner import Window, plan
from botops.planning.policy import SendPolicy
from botops.planning.targets import Target
from botops.playbook.library import PlaybookLibrary
from botops.playbook.model import DayRange
from botops.playbook.types import EXPIRY_MAX
from tests.helpers import SHANGHAI, local
from tests.planning.support import within

POLICY = SendPolicy.model_validate(
    {"quiet_hours": None, "receive_cap": {"period": "month", "limit": 100}}
)
GROUP = Target("wrG", "打卡群", "zhangsan", frozenset({"打卡"}))
PLAYBOOK = """\
id: demo
name: demo
anchor: 2026-12-01
audience: {tags: {any: [打卡]}}
steps:
  - id: s
    schedule: {day: 1, time: "09:00"}
    text: "第{{ day }}天"
"""
DECEMBER = Window(local("2026-12-01 00:00"), local("2026-12-04 00:00"))


def days(start: int, end: int) -> DayRange:
    return DayRange.model_construct(from_=start, to=end, every=1)


def loaded(build, *, schedule: dict[str, Any], **fields: Any) -> PlaybookLibrary:
    """The demo playbook, its one step's schedule and the step's or playbook's `fields`
    changed without validation."""
    library, problems = build({"p.yaml": PLAYBOOK})
    assert not problems, problems
    [playbook] = library.playbooks
    [step] = playbook.steps
    step_fields = {k: v for k, v in fields.items() if k in type(step).model_fields}
    step = step.model_copy(
        update={"schedule": step.schedule.model_copy(update=schedule), **step_fields}
    )
    rest = {k: v for k, v in fields.items() if k not in step_fields}
    library.playbooks[0] = playbook.model_copy(update={"steps": [step], **rest})
    return library


def when(sends) -> list[str]:
    return [f"{s.at.astimezone(SHANGHAI):%m-%d %H:%M} {s.text}" for s in sends]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({"schedule": {"day": [1, 5_000_000]}}, ["12-01 09:00 第1天"], id="day-number"),
        pytest.param(
            {"schedule": {"day": None, "weekdays": ["wed"]}, "duration_days": 30_000_000},
            ["12-02 09:00 第2天"],
            id="weekdays-for-a-huge-duration",
        ),
        pytest.param(
            {"schedule": {"day": None, "weekdays": ["thu"], "days": days(-30_000_000, 3)}},
            ["12-03 09:00 第3天"],
            id="weekdays-from-a-huge-negative-day",
        ),
        pytest.param(
            {"schedule": {"day": None, "time": None, "cron": "0 9 * * *", "days": days(2, 10**9)}},
            ["12-02 09:00 第2天", "12-03 09:00 第3天"],
            id="cron-until-a-huge-day",
        ),
    ],
)
def test_huge_day_numbers(build, changes, expected):
    library = loaded(build, **changes)
    assert when(within(10, lambda: plan(library, [GROUP], DECEMBER, POLICY).sends)) == expected


def test_the_configs_expiry_is_bounded_like_a_steps():
    # Not cut to a year when planning: refused where it is written, like a step's.
    with pytest.raises(ValidationError, match="'400d' is too long: at most 366d"):
        SendPolicy.model_validate({"expires_after": "400d"})


def test_the_longest_expiry_is_kept_in_full_even_at_the_end_of_time(build):
    library = loaded(build, schedule={})  # its step takes the config's expiry
    longest = POLICY.model_copy(update={"expires_after": EXPIRY_MAX})
    [send] = within(10, lambda: plan(library, [GROUP], DECEMBER, longest).sends)
    assert send.expires_at - send.at == EXPIRY_MAX
    window = Window(local("9999-06-01 00:00"), local("9999-06-08 00:00"))
    assert within(10, lambda: plan(library, [GROUP], window, longest).sends) == []


def test_a_window_at_the_end_of_time_plans_nothing(build):
    library = loaded(
        build, schedule={"day": None, "weekdays": ["mon"]}, expires_after=timedelta(days=300)
    )
    window = Window(local("9999-06-01 00:00"), local("9999-06-08 00:00"))
    assert within(10, lambda: plan(library, [GROUP], window, POLICY).sends) == []
