"""Quiet hours, the receive cap with priorities, expiry, empty messages and batching."""

from __future__ import annotations

from datetime import datetime, timedelta

from botops.planning.planner import Window, plan
from botops.planning.policy import SendPolicy
from botops.planning.sends import Status
from botops.planning.targets import Target
from tests.helpers import SHANGHAI, local


def group(n: int, owner: str = "zhangsan", tags: tuple[str, ...] = ("打卡",)) -> Target:
    return Target(
        f"wrG{n:04d}", f"群{n}", owner, frozenset(tags), datetime(2026, 1, 1, tzinfo=SHANGHAI), 50
    )


def policy(**kwargs) -> SendPolicy:
    return SendPolicy.model_validate(kwargs)


def one_playbook(steps: str, *, pid: str = "a", priority: int = 50, extra: str = "") -> str:
    return f"""\
id: {pid}
name: {pid}
priority: {priority}
anchor: 2026-03-01
audience: {{tags: {{any: [打卡]}}}}
{extra}
steps:
{steps}
"""


STEP = """\
  - id: {sid}
    schedule: {{days: {{from: 1, to: 60}}, time: '{time}'}}
    text: "{sid} {{{{ day }}}}"
{more}"""


def step(sid: str, time: str, more: str = "") -> str:
    return STEP.format(sid=sid, time=time, more=more)


def days(start: str, n: int) -> Window:
    return Window(local(f"{start} 00:00"), local(f"{start} 00:00") + timedelta(days=n))


def test_quiet_hours_shift_to_their_end(build):
    library, _ = build({"a.yaml": one_playbook(step("s", "06:15"))})
    [send] = plan(
        library,
        [group(1)],
        days("2026-03-02", 1),
        policy(quiet_hours={"start": "22:00", "end": "07:00"}),
    ).sends
    assert send.status == Status.SHIFTED
    assert send.at.astimezone(SHANGHAI).strftime("%H:%M") == "07:00"
    assert send.planned_at.astimezone(SHANGHAI).strftime("%H:%M") == "06:15"
    assert "shifted from 06:15 to 07:00" in send.reason


def test_quiet_hours_late_evening_shifts_to_next_morning(build):
    library, _ = build({"a.yaml": one_playbook(step("s", "23:00", "    expires_after: 12h\n"))})
    sends = plan(
        library,
        [group(1)],
        days("2026-03-02", 2),
        policy(quiet_hours={"start": "22:00", "end": "07:00"}),
    ).sends
    assert [s.at.astimezone(SHANGHAI).strftime("%d %H:%M") for s in sends] == [
        "02 07:00",
        "03 07:00",
    ]
    assert sends[1].day == 2  # yesterday's 23:00 send, shifted into today


def test_quiet_hours_shift_past_expiry_is_skipped(build):
    library, _ = build({"a.yaml": one_playbook(step("s", "23:00", "    expires_after: 2h\n"))})
    [send] = plan(
        library,
        [group(1)],
        days("2026-03-02", 1),
        policy(quiet_hours={"start": "22:00", "end": "07:00"}),
    ).sends
    assert send.status == Status.SKIPPED
    assert "would pass expires_after" in send.reason


def test_quiet_hours_skip_action(build):
    library, _ = build({"a.yaml": one_playbook(step("s", "06:00"))})
    quiet = {"start": "22:00", "end": "07:00", "action": "skip"}
    [send] = plan(library, [group(1)], days("2026-03-02", 1), policy(quiet_hours=quiet)).sends
    assert (send.status, send.reason) == (Status.SKIPPED, "quiet hours 22:00-07:00")


def test_playbook_quiet_hours_override_the_config(build):
    extra = "policy:\n  quiet_hours: {start: '12:00', end: '14:00'}\n"
    library, _ = build({"a.yaml": one_playbook(step("s", "12:30"), extra=extra)})
    [send] = plan(library, [group(1)], days("2026-03-02", 1), policy()).sends
    assert send.at.astimezone(SHANGHAI).strftime("%H:%M") == "14:00"


def test_cap_priority_decides_and_loser_is_dropped(build):
    library, _ = build(
        {
            "a.yaml": one_playbook(
                step("low", "09:00", "    when_capped: drop\n"), pid="a", priority=10
            ),
            "b.yaml": one_playbook(step("high", "20:00"), pid="b", priority=90),
        }
    )
    sends = plan(
        library,
        [group(1)],
        days("2026-03-02", 1),
        policy(receive_cap={"period": "day", "limit": 1}),
    ).sends
    by_step = {s.step: s for s in sends}
    assert by_step["high"].status == Status.PLANNED
    assert by_step["low"].status == Status.CAPPED
    assert by_step["low"].reason == "receive cap 1/day reached: dropped"


def test_a_deferred_send_that_loses_again_is_dropped_at_expiry(build):
    library, _ = build(
        {
            "a.yaml": one_playbook(
                step("low", "09:00", "    expires_after: 1d12h\n"), pid="a", priority=10
            ),
            "b.yaml": one_playbook(step("high", "20:00"), pid="b", priority=90),
        }
    )
    # low fires daily but shares each day with high: deferred a day, it loses again there and
    # expiry drops it. A dropped send is shown at its planned time.
    window = days("2026-03-02", 2)
    sends = plan(
        library, [group(1)], window, policy(receive_cap={"period": "day", "limit": 1})
    ).sends
    assert [(s.step, s.status, s.at.astimezone(SHANGHAI).strftime("%d %H:%M")) for s in sends] == [
        ("low", Status.CAPPED, "02 09:00"),
        ("high", Status.PLANNED, "02 20:00"),
        ("low", Status.CAPPED, "03 09:00"),
        ("high", Status.PLANNED, "03 20:00"),
    ]
    assert "deferring would pass expires_after" in sends[0].reason


def test_deferral_lands_in_the_next_period(build):
    steps = step("low", "09:00", "    expires_after: 3d\n").replace("to: 60", "to: 1")
    library, _ = build(
        {
            "a.yaml": one_playbook(steps, pid="a", priority=10),
            "b.yaml": one_playbook(
                step("high", "20:00").replace("to: 60", "to: 1"), pid="b", priority=90
            ),
        }
    )
    sends = plan(
        library,
        [group(1)],
        days("2026-03-01", 3),
        policy(receive_cap={"period": "day", "limit": 1}),
    ).sends
    low = next(s for s in sends if s.step == "low")
    assert low.status == Status.DEFERRED
    assert low.at.astimezone(SHANGHAI).strftime("%m-%d %H:%M") == "03-02 09:00"
    assert low.planned_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M") == "03-01 09:00"


def test_weekly_cap_counts_monday_to_sunday(build):
    library, _ = build({"a.yaml": one_playbook(step("s", "09:00", "    when_capped: drop\n"))})
    sends = plan(
        library,
        [group(1)],
        days("2026-03-02", 7),
        policy(receive_cap={"period": "week", "limit": 3}),
    ).sends
    # 2026-03-02 is a Monday: the first three days of the week win (same priority: earliest first).
    assert [s.status for s in sends] == [Status.PLANNED] * 3 + [Status.CAPPED] * 4


def test_days_in_month_cap(build):
    steps = step("a", "09:00", "    when_capped: drop\n") + step(
        "b", "10:00", "    when_capped: drop\n"
    )
    library, _ = build({"a.yaml": one_playbook(steps)})
    sends = plan(
        library, [group(1)], days("2026-03-01", 31), policy()
    ).sends  # 2 a day, 31 allowed in March
    assert sum(s.sendable for s in sends) == 31


def test_cap_decisions_do_not_depend_on_the_window(build):
    steps = step("a", "09:00", "    when_capped: drop\n") + step(
        "b", "10:00", "    when_capped: drop\n    priority: 80\n"
    )
    library, _ = build({"a.yaml": one_playbook(steps)})
    whole = plan(library, [group(1)], days("2026-03-01", 31), policy())
    pieces = [
        plan(library, [group(1)], days(f"2026-03-{d:02d}", 1), policy()) for d in range(1, 32)
    ]
    assert [(s.key, s.status) for s in whole.sends] == [
        (s.key, s.status) for p in pieces for s in p.sends
    ]


def test_a_message_that_renders_empty_is_skipped(build):
    text = '    text: "{% if day > 1 %}第{{ day }}天{% endif %}"\n'
    library, _ = build(
        {
            "a.yaml": one_playbook(
                "  - id: s\n    schedule: {days: {from: 1, to: 2}, time: '09:00'}\n" + text
            )
        }
    )
    sends = plan(library, [group(1)], days("2026-03-01", 2), policy()).sends
    assert [(s.status, s.reason) for s in sends] == [
        (Status.SKIPPED, "message rendered empty"),
        (Status.PLANNED, ""),
    ]


def test_identical_messages_of_one_sender_are_one_task(build):
    library, _ = build({"a.yaml": one_playbook(step("s", "09:00"))})
    targets = [group(n, owner="zhangsan") for n in range(3)] + [group(10, owner="lisi")]
    sends = plan(library, targets, days("2026-03-02", 1), policy()).sends
    batches = {s.target: s.batch for s in sends}
    assert batches["wrG0000"] == batches["wrG0001"] == batches["wrG0002"]
    assert batches["wrG0010"] != batches["wrG0000"]


def test_batches_are_split_at_2000_groups(build):
    library, _ = build({"a.yaml": one_playbook(step("s", "09:00"))})
    sends = plan(library, [group(n) for n in range(4500)], days("2026-03-02", 1), policy()).sends
    sizes: dict[str, int] = {}
    for send in sends:
        assert send.batch is not None
        sizes[send.batch] = sizes.get(send.batch, 0) + 1
    assert sorted(sizes.values()) == [500, 2000, 2000]
    assert all(name.endswith(("-1", "-2", "-3")) for name in sizes)


def test_segments_pick_the_variant(build):
    extra = "segments:\n  - name: 宝妈\n    when: {any: [宝妈群]}\ndefault_segment: 通用\n"
    body = "  - id: s\n    schedule: {day: 1, time: '09:00'}\n    text: 通用版\n    variants:\n      宝妈: {text: 宝妈版}\n"
    library, _ = build({"a.yaml": one_playbook(body, extra=extra)})
    targets = [group(1, tags=("打卡", "宝妈群")), group(2)]
    sends = plan(library, targets, days("2026-03-01", 1), policy()).sends
    assert {(s.target, s.segment, s.text) for s in sends} == {
        ("wrG0001", "宝妈", "宝妈版"),
        ("wrG0002", "通用", "通用版"),
    }


def test_disabled_playbooks_and_unmatched_groups_plan_nothing(build):
    library, _ = build({"a.yaml": one_playbook(step("s", "09:00"), extra="enabled: false\n")})
    assert plan(library, [group(1)], days("2026-03-02", 1), policy()).sends == []
    library, _ = build({"a.yaml": one_playbook(step("s", "09:00"))})
    assert plan(library, [group(1, tags=("别的",))], days("2026-03-02", 1), policy()).sends == []


def test_shared_renders_still_see_each_groups_own_checkins(build):
    from botops.playbook.context import CheckinSnapshot

    body = "  - id: s\n    schedule: {day: 1, time: '09:00'}\n    text: '今日打卡 {{ checkin.today_count }} 人 · {{ segment }}'\n"
    library, _ = build({"a.yaml": one_playbook(body)})
    stats = {"wrG0001": CheckinSnapshot(today_count=5), "wrG0002": CheckinSnapshot(today_count=9)}
    sends = plan(
        library, [group(1), group(2), group(3)], days("2026-03-01", 1), policy(), stats
    ).sends
    assert {s.target: s.text for s in sends} == {
        "wrG0001": "今日打卡 5 人 · default",
        "wrG0002": "今日打卡 9 人 · default",
        "wrG0003": "今日打卡 0 人 · default",
    }


def test_templates_that_include_others_render_per_group(build, tmp_path):
    body = (
        "  - id: s\n    schedule: {day: 1, time: '09:00'}\n    text: \"{% include 'name.j2' %}\"\n"
    )
    library, _ = build({"a.yaml": one_playbook(body)}, {"name.j2": "{{ group.name }}"})
    sends = plan(library, [group(1), group(2)], days("2026-03-01", 1), policy()).sends
    assert [s.text for s in sends] == ["群1", "群2"]


def test_a_moved_send_keeps_its_day_and_anchor(build):
    body = (
        "  - id: s\n    schedule: {day: 2, time: '23:00'}\n    expires_after: 12h\n"
        "    text: '第{{ day }}天 {{ anchor | cn_date }} {{ date | cn_date }} {{ time }}'\n"
    )
    library, _ = build({"a.yaml": one_playbook(body)})
    [send] = plan(
        library,
        [group(1)],
        days("2026-03-03", 1),
        policy(quiet_hours={"start": "22:00", "end": "07:00"}),
    ).sends
    assert send.text == "第2天 3月1日 3月3日 07:00"
