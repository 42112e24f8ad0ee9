"""When a rule may first judge a group, against local midnight: a group created (or a message
source connected) late in the evening has not lived through that day, so the day is no silent
day of it. A rule of `days: N` waits for N whole local days (and today so far)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from botops.config import ReportSettings, Settings
from botops.playbook.library import PlaybookLibrary
from botops.reports.inactivity import State
from botops.store.db import session
from botops.store.inactivity import assess, evaluate_flags
from tests.helpers import local
from tests.reports.support import add_group, make_library, say

ONE_DAY = Settings(reports=ReportSettings(inactivity_days=1))
THREE_DAYS = Settings()  # the default rule: 3 days, at least 1 message


@pytest.fixture
def library(tmp_path: Path) -> PlaybookLibrary:
    return make_library(tmp_path)


def flagged(engine: Engine, library: PlaybookLibrary, at: str, settings: Settings) -> list[str]:
    with session(engine) as s:
        evaluate_flags(s, library.playbooks, settings, local(at))
        return [
            a.target.id
            for a in assess(s, library.playbooks, settings, local(at))
            if a.verdict.state is State.FLAGGED
        ]


@pytest.mark.parametrize(
    ("settings", "created", "too_early", "due"),
    [
        (ONE_DAY, "2026-03-09 23:30", "2026-03-10 00:10", "2026-03-11 00:10"),
        (THREE_DAYS, "2026-03-07 23:50", "2026-03-10 00:10", "2026-03-11 00:10"),
        (THREE_DAYS, "2026-03-07 10:00", "2026-03-10 10:00", "2026-03-11 00:10"),
    ],
)
def test_a_new_group_waits_for_whole_days_after_its_creation(
    engine: Engine,
    library: PlaybookLibrary,
    settings: Settings,
    created: str,
    too_early: str,
    due: str,
):
    add_group(engine, "wr-talk", created="2026-01-01 10:00")
    say(engine, library, "wr-talk", "wm-a", "2026-01-02 10:00")  # messages logged for long
    for day in ("2026-03-09", "2026-03-10"):
        say(engine, library, "wr-talk", "wm-a", f"{day} 00:00")
    add_group(engine, "wr-new", created=created, now=local(created))
    assert flagged(engine, library, too_early, settings) == []
    assert "wr-new" in flagged(engine, library, due, settings)


def test_a_group_created_at_local_midnight_has_that_whole_day(
    engine: Engine, library: PlaybookLibrary
):
    add_group(engine, "wr-talk", created="2026-01-01 10:00")
    say(engine, library, "wr-talk", "wm-a", "2026-01-02 10:00")
    add_group(engine, "wr-new", created="2026-03-09 00:00", now=local("2026-03-09 00:00"))
    assert "wr-new" in flagged(engine, library, "2026-03-10 00:10", ONE_DAY)


def test_message_counts_wait_for_whole_days_of_logging(engine: Engine, library: PlaybookLibrary):
    """The message source was connected last night: one hour of listening proves no silence."""
    add_group(engine, "wr-quiet", created="2026-01-01 10:00")
    add_group(engine, "wr-talk", created="2026-01-01 10:00")
    say(engine, library, "wr-talk", "wm-a", "2026-03-09 23:00")  # the first message ever logged
    assert flagged(engine, library, "2026-03-10 00:10", ONE_DAY) == []
    assert flagged(engine, library, "2026-03-11 00:10", ONE_DAY) == ["wr-quiet", "wr-talk"]
