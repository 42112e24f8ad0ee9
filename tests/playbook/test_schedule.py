"""A step's next occurrence is searched for within the dates schedules are computed in: a
`since` near the end of time finds none rather than overflowing `date`."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from botops.playbook.model import Playbook
from botops.playbook.schedule import LAST_DAY, first_occurrence
from tests.helpers import SHANGHAI

ANCHOR = date(2026, 12, 7)  # a Monday


def step_schedule(schedule: dict[str, object]):
    playbook = Playbook.model_validate(
        {
            "id": "demo",
            "name": "demo",
            "audience": {"tags": {"any": ["打卡"]}},
            "steps": [{"id": "s", "schedule": schedule, "text": "hi"}],
        }
    )
    return playbook, playbook.steps[0].schedule


SCHEDULES = [
    pytest.param({"weekdays": ["sun"], "time": "21:00"}, id="weekdays"),
    pytest.param({"cron": "0 9 * * *"}, id="cron"),
    pytest.param({"days": {"from": 1, "to": 3660}, "time": "08:00"}, id="days"),
]


@pytest.mark.parametrize("since", [date(9998, 6, 1), date.max, LAST_DAY + timedelta(days=1)])
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_no_occurrence_is_found_past_the_last_day(schedule, since):
    playbook, found = step_schedule(schedule)
    assert first_occurrence(playbook, found, ANCHOR, SHANGHAI, since) is None


def test_the_search_stops_at_the_last_day():
    playbook, schedule = step_schedule({"weekdays": ["tue"], "time": "21:00"})
    since = LAST_DAY - timedelta(days=3)  # 8999-12-29, a Sunday
    found = first_occurrence(playbook, schedule, ANCHOR, SHANGHAI, since)
    assert found is not None
    assert found.occurrence_id == "8999-12-31"
    # LAST_DAY is a Wednesday: the next Tuesday is past it.
    assert first_occurrence(playbook, schedule, ANCHOR, SHANGHAI, LAST_DAY) is None
