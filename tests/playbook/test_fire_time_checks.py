"""Validate checks the times steps actually fire: cron and `at` too, not only `time`."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from botops.cli import main
from botops.planning.policy import PolicySettings
from botops.playbook.checks import ValidateDefaults
from botops.playbook.library import load_library
from tests.helpers import write_tree

BASE = """\
id: demo
name: 演示
anchor: 2026-12-01
audience:
  tags: {any: [打卡]}
steps:
  - id: hello
    schedule: SCHEDULE
    text: "你好"
"""
POLICY = PolicySettings()  # quiet hours 22:00-07:00, shift; expires_after 6h


def problems_for(tmp_path: Path, schedule: str, defaults=POLICY, extra: str = ""):
    write_tree(tmp_path, {"demo.yaml": BASE.replace("SCHEDULE", schedule) + extra})
    _, problems = load_library([tmp_path / "sops"], tmp_path / "templates", defaults)
    return problems


def validate_defaults(now: datetime) -> ValidateDefaults:
    return ValidateDefaults(POLICY.quiet_hours, POLICY.expires_after, "Asia/Shanghai", now)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (
            '{cron: "30 23 * * *"}',
            "cron '30 23 * * *' fires at 23:30 inside quiet hours 22:00-07:00; sends will be"
            " skipped: 07:00 is 7h30m later, past expires_after 6h",
        ),
        (
            '{cron: "0 */2 * * *"}',
            "cron '0 */2 * * *' fires 5 of its 12 daily times inside quiet hours 22:00-07:00;"
            " sends at 02:00, 04:00, 06:00 will be shifted to 07:00; those at 00:00, 22:00 will"
            " be skipped (07:00 is past expires_after 6h)",
        ),
        (
            '{cron: "*/10 23 * * *"}',
            "cron '*/10 23 * * *' fires all of its 6 daily times inside quiet hours 22:00-07:00;"
            " sends at 23:00, 23:10, 23:20, … will be skipped (07:00 is past expires_after 6h)",
        ),
        (
            '{at: "2026-12-08T23:30:00"}',
            "2026-12-08 23:30 is inside quiet hours 22:00-07:00; the send will be skipped: 07:00"
            " is 7h30m later, past expires_after 6h",
        ),
    ],
)
def test_cron_and_at_inside_quiet_hours_warn(tmp_path, schedule, message):
    [warning] = problems_for(tmp_path, schedule)
    assert (warning.severity, warning.message) == ("warning", message)
    assert warning.line == 8  # at the schedule's cron / at


@pytest.mark.parametrize(
    "schedule",
    ['{cron: "0 12 * * 1-5"}', '{cron: "0 20 last * *"}', '{at: "2026-12-08T12:00:00"}'],
)
def test_cron_and_at_outside_quiet_hours_do_not(tmp_path, schedule):
    assert problems_for(tmp_path, schedule) == []


def test_an_at_with_an_offset_is_checked_on_the_playbooks_clock(tmp_path):
    # 15:30 UTC is 23:30 in Shanghai.
    schedule = '{at: "2026-12-08T15:30:00+00:00"}'
    [warning] = problems_for(tmp_path, schedule, extra="timezone: Asia/Shanghai\n")
    assert warning.message.startswith("2026-12-08 23:30 is inside quiet hours")
    now = datetime(2026, 11, 25, tzinfo=UTC)
    [warning] = problems_for(tmp_path, schedule, validate_defaults(now))  # the config's zone
    assert warning.message.startswith("2026-12-08 23:30 is inside quiet hours")


def test_an_at_in_the_past_never_fires(tmp_path):
    schedule = '{at: "2026-12-08T12:00:00"}'
    now = datetime(2026, 12, 8, 4, tzinfo=UTC) + timedelta(hours=6)  # 12:00 + 6h Shanghai
    [warning] = problems_for(tmp_path, schedule, validate_defaults(now))
    assert warning.message == "at 2026-12-08 12:00 is in the past: this step never fires"
    assert warning.severity == "warning"
    # Still fresh (the daemon sends it late until it expires), or no clock: no warning.
    assert problems_for(tmp_path, schedule, validate_defaults(now - timedelta(minutes=1))) == []
    assert problems_for(tmp_path, schedule) == []


def test_chat_type_single_warns_that_the_daemon_does_not_send_it(build):
    yaml = BASE.replace("SCHEDULE", '{day: 1, time: "09:00"}').replace(
        "  tags: {any: [打卡]}", "  chat_type: single\n  tag_filter: [[VIP]]"
    )
    library, [warning] = build({"demo.yaml": yaml})
    assert warning.severity == "warning"
    assert warning.message.startswith("chat_type single: botops run does not send to individual")
    assert (warning.line, warning.col) == (5, 14)
    assert [p.id for p in library.playbooks] == ["demo"]  # a warning, not an error


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("BOTOPS_")]:
        monkeypatch.delenv(name)
    return tmp_path


def test_validate_warns_about_a_past_at_and_strict_fails(project, capsys):
    write_tree(project, {"demo.yaml": BASE.replace("SCHEDULE", '{at: "2020-01-01T12:00:00"}')})
    assert main(["validate"]) == 0
    assert main(["validate", "--strict"]) == 1
    err = capsys.readouterr().err
    assert "sops/demo.yaml:8:20: warning: at 2020-01-01 12:00 is in the past" in err
    write_tree(project, {"demo.yaml": BASE.replace("SCHEDULE", '{at: "2998-01-01T12:00:00"}')})
    assert main(["validate", "--strict"]) == 0
