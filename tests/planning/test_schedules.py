"""When steps fire: day numbers, ranges, weekdays, cron, absolute times; DST and month ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from botops.planning.planner import Window, plan
from botops.planning.policy import SendPolicy
from botops.planning.targets import Target
from tests.helpers import SHANGHAI, local

GROUP = Target(
    "wrG1",
    "打卡1群",
    "zhangsan",
    frozenset({"打卡"}),
    datetime(2026, 1, 31, 9, tzinfo=SHANGHAI),
    100,
)
NO_QUIET = SendPolicy.model_validate(
    {"quiet_hours": None, "receive_cap": {"period": "day", "limit": 50}}
)


def playbook(
    schedule: str, *, anchor: str = "2026-01-31", tz: str = "Asia/Shanghai", extra: str = ""
) -> str:
    return f"""\
id: demo
name: demo
timezone: {tz}
anchor: {anchor}
audience: {{tags: {{any: [打卡]}}}}
{extra}
steps:
  - id: s
    schedule: {schedule}
    text: "第{{{{ day }}}}天 #{{{{ occurrence if occurrence is not none else '-' }}}}"
"""


def fire_times(build, schedule, start, days, **kwargs):
    library, problems = build({"p.yaml": playbook(schedule, **kwargs)})
    assert not [p for p in problems if p.severity == "error"], problems
    tz = ZoneInfo(kwargs.get("tz", "Asia/Shanghai"))
    window = Window(local(start, tz), local(start, tz) + timedelta(days=days))
    return [
        (s.at.astimezone(tz).strftime("%m-%d %H:%M"), s.text)
        for s in plan(library, [GROUP], window, NO_QUIET).sends
    ]


@pytest.mark.parametrize(
    ("schedule", "start", "days", "expected"),
    [
        pytest.param(
            "{day: 1, time: '09:00'}",
            "2026-01-30",
            3,
            [("01-31 09:00", "第1天 #1")],
            id="day-1-is-anchor",
        ),
        pytest.param(
            "{day: 0, time: '20:00'}",
            "2026-01-30",
            3,
            [("01-30 20:00", "第0天 #1")],
            id="day-0-is-eve",
        ),
        pytest.param(
            "{day: -6, time: '10:00'}",
            "2026-01-20",
            10,
            [("01-24 10:00", "第-6天 #1")],
            id="negative-day",
        ),
        pytest.param(
            "{day: [1, 30, 29], time: '09:00'}",
            "2026-01-31",
            40,
            [
                ("01-31 09:00", "第1天 #1"),
                ("02-28 09:00", "第29天 #2"),
                ("03-01 09:00", "第30天 #3"),
            ],
            id="day-list-across-february",
        ),
        pytest.param(
            "{days: {from: 1, to: 10, every: 3}, time: '08:00'}",
            "2026-02-01",
            30,
            [
                ("02-03 08:00", "第4天 #2"),
                ("02-06 08:00", "第7天 #3"),
                ("02-09 08:00", "第10天 #4"),
            ],
            id="every-k-days-window-starts-mid-range",
        ),
        pytest.param(
            "{weekdays: [mon, fri], days: {from: 1, to: 10}, time: '12:00'}",
            "2026-01-31",
            20,
            [
                ("02-02 12:00", "第3天 #1"),
                ("02-06 12:00", "第7天 #2"),
                ("02-09 12:00", "第10天 #3"),
            ],
            id="weekdays-bounded-by-days",
        ),
        pytest.param(
            "{cron: '30 21 * * 0'}",
            "2026-01-31",
            9,
            [("02-01 21:30", "第2天 #-"), ("02-08 21:30", "第9天 #-")],
            id="cron-sunday-is-0",
        ),
        pytest.param(
            "{cron: '0 9 last * *'}",
            "2026-02-01",
            60,
            [("02-28 09:00", "第29天 #-"), ("03-31 09:00", "第60天 #-")],
            id="cron-last-day-of-month",
        ),
        pytest.param(
            "{at: '2026-02-14T20:00:00+08:00'}",
            "2026-02-01",
            30,
            [("02-14 20:00", "第15天 #1")],
            id="absolute",
        ),
        pytest.param(
            "{at: '2026-02-14T20:00:00'}",
            "2026-02-01",
            30,
            [("02-14 20:00", "第15天 #1")],
            id="absolute-local",
        ),
    ],
)
def test_fire_times(build, schedule, start, days, expected):
    assert fire_times(build, schedule, start, days) == expected


def test_leap_day(build):
    times = fire_times(
        build, "{days: {from: 1, to: 3}, time: '09:00'}", "2028-02-27", 5, anchor="2028-02-28"
    )
    assert [t for t, _ in times] == ["02-28 09:00", "02-29 09:00", "03-01 09:00"]


def test_weekdays_without_bounds_run_for_duration(build):
    times = fire_times(
        build, "{weekdays: [sat], time: '10:00'}", "2026-01-25", 30, extra="duration_days: 14"
    )
    assert [t for t, _ in times] == [
        "01-31 10:00",
        "02-07 10:00",
    ]  # day 1 is Sat 01-31; day 15 is past


BERLIN = ZoneInfo("Europe/Berlin")


def test_dst_spring_forward_moves_a_missing_time_forward(build):
    # 2026-03-29: clocks jump 02:00 → 03:00 in Berlin; 02:30 does not exist that day.
    library, _ = build(
        {
            "p.yaml": playbook(
                "{days: {from: 1, to: 3}, time: '02:30'}", anchor="2026-03-28", tz="Europe/Berlin"
            )
        }
    )
    window = Window(local("2026-03-28 00:00", BERLIN), local("2026-03-31 00:00", BERLIN))
    sends = plan(library, [GROUP], window, NO_QUIET).sends
    assert [s.at.astimezone(BERLIN).strftime("%d %H:%M %Z") for s in sends] == [
        "28 02:30 CET",
        "29 03:30 CEST",
        "30 02:30 CEST",
    ]
    assert [s.at - sends[0].at for s in sends[1:]] == [timedelta(hours=24), timedelta(hours=47)]


def test_dst_fall_back_fires_once_at_the_first_occurrence(build):
    # 2026-10-25: 02:00-03:00 happens twice in Berlin; a daily 02:30 fires once, at CEST.
    library, _ = build(
        {
            "p.yaml": playbook(
                "{days: {from: 1, to: 2}, time: '02:30'}", anchor="2026-10-25", tz="Europe/Berlin"
            )
        }
    )
    window = Window(local("2026-10-25 00:00", BERLIN), local("2026-10-27 00:00", BERLIN))
    sends = plan(library, [GROUP], window, NO_QUIET).sends
    assert [s.at.astimezone(UTC).strftime("%d %H:%M") for s in sends] == ["25 00:30", "26 01:30"]


def test_cron_across_dst(build):
    library, _ = build(
        {"p.yaml": playbook("{cron: '0 9 * * *'}", anchor="2026-03-27", tz="Europe/Berlin")}
    )
    window = Window(local("2026-03-28 00:00", BERLIN), local("2026-03-31 00:00", BERLIN))
    sends = plan(library, [GROUP], window, NO_QUIET).sends
    assert [s.at.astimezone(BERLIN).strftime("%d %H:%M") for s in sends] == [
        "28 09:00",
        "29 09:00",
        "30 09:00",
    ]
    assert [s.key.split(":", 3)[-1] for s in sends] == [
        "2026-03-28T09:00",
        "2026-03-29T09:00",
        "2026-03-30T09:00",
    ]


def test_anchor_group_created_uses_the_groups_local_date(build):
    # Created 2026-01-31 23:30 in Shanghai = 15:30 UTC: Day 1 is 01-31 in Shanghai.
    late = Target("wrG2", "g", "u", frozenset({"打卡"}), datetime(2026, 1, 31, 15, 30, tzinfo=UTC))
    library, _ = build({"p.yaml": playbook("{day: 2, time: '09:00'}", anchor="group_created")})
    window = Window(local("2026-01-30 00:00"), local("2026-02-05 00:00"))
    [send] = plan(library, [late], window, NO_QUIET).sends
    assert send.at.astimezone(SHANGHAI).strftime("%m-%d") == "02-01"


def test_anchor_enrolled_defaults_to_the_first_planned_day_and_honours_recorded_enrolment(build):
    library, _ = build({"p.yaml": playbook("{day: 1, time: '09:00'}", anchor="enrolled")})
    window = Window(local("2026-03-01 00:00"), local("2026-03-10 00:00"))
    enrolled = Target(
        "wrG3", "g", "u", frozenset({"打卡"}), enrolled={"demo": datetime(2026, 3, 5).date()}
    )
    sends = plan(library, [GROUP, enrolled], window, NO_QUIET).sends
    assert {s.target: s.at.astimezone(SHANGHAI).strftime("%m-%d") for s in sends} == {
        "wrG1": "03-01",
        "wrG3": "03-05",
    }


def test_a_preview_enrols_on_its_first_day_whatever_the_playbooks_timezone(build):
    """Previewing from 12-07 (the config's Asia/Shanghai) a playbook kept in UTC: Day 1 is
    12-07, as the daemon enrols a group it first plans for on 12-07 — not 12-06, the UTC
    date of midnight in Shanghai."""
    library, problems = build(
        {"p.yaml": playbook("{days: {from: 1, to: 3}, time: '02:00'}", anchor="enrolled", tz="UTC")}
    )
    assert not [p for p in problems if p.severity == "error"], problems
    window = Window(local("2026-12-07 00:00"), local("2026-12-10 00:00"))
    result = plan(library, [GROUP], window, NO_QUIET)
    assert result.enrolments == {(GROUP.id, "demo"): date(2026, 12, 7)}
    utc = ZoneInfo("UTC")
    assert [(s.at.astimezone(utc).strftime("%m-%d %H:%M"), s.text) for s in result.sends] == [
        ("12-07 02:00", "第1天 #1"),
        ("12-08 02:00", "第2天 #2"),
        ("12-09 02:00", "第3天 #3"),
    ]
