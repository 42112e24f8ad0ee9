"""Cron steps across daylight-saving transitions: each wall-clock time fires once, as
docs/playbooks.md says for every schedule — an ambiguous time at its first occurrence, a
missing one moved forward by the gap — and planning ends (it once looped forever on the day
Berlin's clocks go back)."""

from __future__ import annotations

from datetime import UTC, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from botops.planning.planner import Window, plan
from botops.planning.policy import SendPolicy
from botops.planning.targets import Target
from tests.helpers import local
from tests.planning.support import within

BERLIN = ZoneInfo("Europe/Berlin")
GROUP = Target("wrA", "读书群A", "zhangsan", frozenset({"打卡"}))
POLICY = SendPolicy.model_validate(
    {"quiet_hours": None, "receive_cap": {"period": "day", "limit": 50}}
)


def cron_playbook(expression: str) -> str:
    return f"""\
id: dst-cron
name: 夏令时
timezone: Europe/Berlin
anchor: 2026-01-01
audience: {{tags: {{any: [打卡]}}}}
steps:
  - id: c
    schedule: {{cron: "{expression}"}}
    text: "cron {{{{ date }}}} {{{{ time }}}}"
"""


def sends_through_2026(build, expression: str):
    """Both of 2026's transitions: 29 March (02:00 → 03:00) and 25 October (03:00 → 02:00)."""
    library, problems = build({"p.yaml": cron_playbook(expression)})
    assert not problems, problems
    window = Window(local("2026-03-27 00:00", BERLIN), local("2026-10-28 00:00", BERLIN))
    return within(20, lambda: plan(library, [GROUP], window, POLICY).sends)


def on(sends, day: str) -> list[str]:
    """`day`'s sends in Berlin: 'local time zone (UTC time)'."""
    return [
        f"{s.at.astimezone(BERLIN):%H:%M %Z} ({s.at.astimezone(UTC):%H:%M})"
        for s in sends
        if s.at.astimezone(BERLIN).strftime("%m-%d") == day
    ]


def test_a_daily_cron_fires_once_on_both_transition_days(build):
    sends = sends_through_2026(build, "30 2 * * *")
    assert on(sends, "03-29") == ["03:30 CEST (01:30)"]  # 02:30 does not exist: moved on
    assert on(sends, "10-25") == ["02:30 CEST (00:30)"]  # 02:30 happens twice: the first
    assert on(sends, "10-26") == ["02:30 CET (01:30)"]
    [fall_back] = [s for s in sends if s.key.endswith("2026-10-25T02:30")]
    assert fall_back.text == "cron 2026-10-25 02:30"
    assert len(sends) == len({s.key for s in sends}) == 215  # one a day, 27 March-27 October
    gaps = [later.at - earlier.at for earlier, later in pairwise(sends)]
    assert min(gaps) == timedelta(hours=23)
    assert max(gaps) == timedelta(hours=25)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        pytest.param(
            "03-29",
            # 02:00 and 02:30 do not exist: moved onto 03:00 and 03:30, each sent once
            ["01:00 CET (00:00)", "01:30 CET (00:30)", "03:00 CEST (01:00)", "03:30 CEST (01:30)"],
            id="spring-forward",
        ),
        pytest.param(
            "10-25",
            # 02:00 and 02:30 happen twice: sent at their first occurrence only
            [
                "01:00 CEST (23:00)",
                "01:30 CEST (23:30)",
                "02:00 CEST (00:00)",
                "02:30 CEST (00:30)",
                "03:00 CET (02:00)",
                "03:30 CET (02:30)",
            ],
            id="fall-back",
        ),
    ],
)
def test_every_half_hour_each_wall_time_fires_once(build, day, expected):
    assert on(sends_through_2026(build, "*/30 1-3 * * *"), day) == expected
