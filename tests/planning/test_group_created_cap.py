"""Sends scheduled before their group existed are dropped before the receive cap is shared
out: they never take a slot from a send that does go out."""

from __future__ import annotations

from datetime import timedelta

from botops.planning.planner import Window, plan
from botops.planning.policy import SendPolicy
from botops.planning.sends import Status
from botops.planning.targets import Target
from tests.helpers import local

ONE_A_DAY = SendPolicy.model_validate(
    {"quiet_hours": None, "receive_cap": {"period": "day", "limit": 1}}
)
FLASH = """\
id: flash
name: 快闪
priority: 90
anchor: group_created
audience: {tags: {any: [快闪群]}}
policy: {when_capped: drop}
steps:
  - id: warm-up
    schedule: {day: 1, time: "20:00"}
    text: 预热
    expires_after: 1h30m
"""
WELCOME = """\
id: welcome
name: 入群欢迎
priority: 10
anchor: group_created
audience: {tags: {any: [快闪群]}}
steps:
  - id: hello
    schedule: {day: 1, time: "21:30"}
    text: 欢迎！
    expires_after: 30m
"""


def group(chat_id: str, created: str) -> Target:
    return Target(chat_id, chat_id, "zhaoliu", frozenset({"快闪群"}), local(created))


def fates(sends) -> dict[tuple[str, str], str]:
    return {(s.target, s.step): s.status for s in sends}


def test_a_send_before_the_group_existed_takes_no_cap_slot(build):
    library, problems = build({"flash.yaml": FLASH, "welcome.yaml": WELCOME})
    assert not problems, problems
    early = group("wrEARLY", "2026-12-07 19:00")  # gets the 20:00 warm-up: that is its one
    late = group("wrLATE", "2026-12-07 21:00")  # the warm-up was never sent: room for hello
    window = Window(local("2026-12-07 00:00"), local("2026-12-08 00:00"))
    sends = plan(library, [early, late], window, ONE_A_DAY).sends
    assert fates(sends) == {
        ("wrEARLY", "warm-up"): Status.PLANNED,
        ("wrEARLY", "hello"): Status.CAPPED,
        ("wrLATE", "hello"): Status.PLANNED,
    }


def test_a_replan_at_the_due_instant_agrees(build):
    """The daemon renders some sends again when due by planning just that instant
    (botops.outbox.render_at_send): the late group's hello must still be sendable then."""
    library, _ = build({"flash.yaml": FLASH, "welcome.yaml": WELCOME})
    late = group("wrLATE", "2026-12-07 21:00")
    due = local("2026-12-07 21:30")
    [send] = plan(library, [late], Window(due, due + timedelta(microseconds=1)), ONE_A_DAY).sends
    assert (send.step, send.status) == ("hello", Status.PLANNED)
