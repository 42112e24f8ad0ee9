"""Validation findings that must not be false alarms: a cron that fires only in some months
or years, a `days` range whose last firing is earlier than its `to`, an anchor that is not
a date."""

from __future__ import annotations

import pytest

from tests.playbook.test_validation_errors import only_errors as errors

PLAYBOOK = """\
id: demo
name: 演示
audience:
  tags: {any: [打卡]}
EXTRA
steps:
  - id: s
    schedule: SCHEDULE
    text: "TEXT"
"""


def playbook(schedule: str, text: str = "hi", extra: str = "") -> str:
    return PLAYBOOK.replace("SCHEDULE", schedule).replace("TEXT", text).replace("EXTRA\n", extra)


@pytest.mark.parametrize(
    ("cron", "extra"),
    [
        # Day 1 differs per group: a group enrolled in June gets July's sends.
        pytest.param("0 9 * 7 *", "duration_days: 30\n", id="july-only-30-day-run"),
        # Fires in 2028, beyond the first 400 days sampled, for enrolled and fixed anchors.
        pytest.param("0 9 29 2 *", "", id="leap-day-enrolled"),
        pytest.param("0 9 29 2 *", "anchor: 2026-03-01\n", id="leap-day-fixed-anchor"),
    ],
)
def test_a_cron_firing_only_in_some_months_is_rendered_not_called_never_firing(build, cron, extra):
    _, problems = build({"demo.yaml": playbook(f"{{cron: '{cron}'}}", "{{ nope.x }}", extra)})
    [problem] = problems
    assert problem.severity == "error"
    assert "'nope' is undefined" in problem.message
    _, problems = build({"demo.yaml": playbook(f"{{cron: '{cron}'}}", "{{ date }}", extra)})
    assert problems == []


def test_a_cron_that_fires_only_past_a_fixed_run_never_fires(build):
    extra = "anchor: 2026-03-01\nduration_days: 30\n"
    _, problems = build({"demo.yaml": playbook("{cron: '0 9 29 2 *'}", extra=extra)})
    [warning] = problems
    assert warning.message == "step 's' never fires: its schedule matches none of its days"


def test_a_days_range_with_every_warns_only_if_a_firing_is_after_the_run(build):
    extra = "duration_days: 10\n"
    schedule = "{days: {from: 1, to: 12, every: 7}, time: '20:00'}"  # days 1 and 8
    _, problems = build({"demo.yaml": playbook(schedule, extra=extra)})
    assert problems == []
    schedule = "{days: {from: 1, to: 15, every: 7}, time: '20:00'}"  # days 1, 8 and 15
    _, problems = build({"demo.yaml": playbook(schedule, extra=extra)})
    [warning] = problems
    assert warning.message == "step 's' fires on day 15, after duration_days (10)"


def test_an_anchor_that_is_no_date_says_so(build):
    _, problems = build(
        {"demo.yaml": playbook("{day: 1, time: '09:00'}", extra="anchor: 2027-02-29\n")}
    )
    [problem] = errors(problems)
    assert (problem.line, problem.col) == (5, 9)
    assert problem.message == "anchor: 2027-02-29 is not a date: day is out of range for month"


@pytest.mark.parametrize("kind", ["weekdays: [sun], time: '21:00'", "cron: '0 21 * * 0'"])
def test_every_in_a_range_bounding_weekdays_or_cron_is_a_warning(build, kind):
    schedule = f"{{{kind}, days: {{from: 1, to: 28, every: 2}}}}"
    _, problems = build({"demo.yaml": playbook(schedule)})
    [warning] = problems
    assert warning.severity == "warning"
    assert (warning.line, warning.col) == (7, schedule.index("2}") + 15)
    assert warning.message.startswith("'every' is not used with '")
    assert warning.message.endswith("'days' only bounds it (days 1-28); remove 'every'")
