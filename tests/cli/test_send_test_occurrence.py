"""`botops send-test` renders a step as the campaign sends it to the group: the day's
occurrence (which lecture of a series), date and time, from the planner's schedule code."""

from __future__ import annotations

from pathlib import Path

import pytest

from botops.cli import main

LECTURES = "wrOgQhDgAAMYQiS5ol9G7gK9JVCCCC"
READING = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"
GROUPS = f"""\
- chat_id: {LECTURES}
  name: 科学育儿直播课·家长交流1群
  owner: wangwu
  tags: [讲座]
- chat_id: {READING}
  name: 百日读书打卡1群
  owner: zhangsan
  tags: [打卡挑战]
  enrolled: {{checkin-100days: 2026-12-07}}  # a Monday: Day 7 is a Sunday
"""


@pytest.fixture
def groups(env: Path) -> Path:
    path = env / "groups.yaml"
    path.write_text(GROUPS, encoding="utf-8")
    return path


def send_test(groups: Path, *args: str) -> int:
    return main(["send-test", *args, "--groups", str(groups), "--via", "robot"])


def robot_text(builtin) -> str:
    """The text the group robot posted (attachments follow as messages of their own)."""
    (sim,) = builtin
    text = sim.robot_messages()[0]
    assert text.msgtype == "text"
    return text.body["text"]["content"]


@pytest.mark.parametrize(
    ("day", "said", "lecture"),
    [
        pytest.param(
            [],
            "rendered as day 1, the step's first occurrence (--day N): 2026-12-08 20:00,"
            " occurrence 1",
            "第1讲「读懂孩子的情绪",
            id="first",
        ),
        pytest.param(
            ["--day", "15"],
            "rendered as day 15: 2026-12-22 20:00, occurrence 3",
            "第3讲「专注力不是",
            id="third",
        ),
    ],
)
def test_a_lecture_is_rendered_as_its_occurrence(groups, builtin, capsys, day, said, lecture):
    assert send_test(groups, "lecture-series", "live-start", "--group", LECTURES, *day) == 0
    assert said in capsys.readouterr().out
    assert lecture in robot_text(builtin)


def test_without_day_a_weekday_step_is_rendered_as_its_first_occurrence(groups, builtin, capsys):
    assert send_test(groups, "checkin-100days", "weekly-leaderboard", "--group", READING) == 0
    out = capsys.readouterr().out
    assert "rendered as day 7, the step's first occurrence (--day N): 2026-12-13 21:00" in out


def test_a_weekday_step_takes_its_next_occurrence_from_the_day_asked(groups, builtin, capsys):
    code = send_test(
        groups, "checkin-100days", "weekly-leaderboard", "--group", READING, "--day", "3"
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "rendered as day 7, its next occurrence from day 3: 2026-12-13 21:00" in out
    assert "本周打卡排行榜（第 7 天）" in robot_text(builtin)


def test_a_day_with_no_occurrence_left_is_refused(groups, builtin, capsys):
    # Day 100 is a Tuesday, the challenge's last day: no Sunday leaderboard from then on.
    code = send_test(
        groups, "checkin-100days", "weekly-leaderboard", "--group", READING, "--day", "100"
    )
    assert code == 1
    assert (
        "step 'weekly-leaderboard' does not run on or after day 100 (2027-03-16 Tue)"
        in capsys.readouterr().err
    )
    assert builtin == []  # nothing was started, let alone sent
