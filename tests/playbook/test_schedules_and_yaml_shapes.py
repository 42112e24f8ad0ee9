"""Validation follows the real schedule, reads every YAML shape ops write (merge keys, folded
and quoted scalars), and refuses values no playbook means (huge numbers, `true` as a number)."""

from __future__ import annotations

import pytest

from tests.playbook.test_validation_errors import BASE
from tests.playbook.test_validation_errors import only_errors as errors

# --- YAML merge keys -----------------------------------------------------------------------

MERGED = """\
id: demo
name: 演示
audience:
  tags: {any: [打卡]}
steps:
  - &base
    id: a
    schedule: {day: 1, time: "08:00"}
    text: hi
    expire_after: 2h
  - <<: *base
    id: b
"""


def test_a_mistake_in_a_merged_mapping_is_located_where_it_is_written(build):
    other = BASE.replace('"09:00"', '"25:00"')  # its problem must be reported too
    _, problems = build({"merged.yaml": MERGED, "other.yaml": other})
    found = sorted((p.path.rsplit("/", 1)[-1], p.line, p.col, p.message[:30]) for p in problems)
    assert found == [
        ("merged.yaml", 10, 5, "steps[0]: unknown key 'expire_"),
        ("merged.yaml", 10, 5, "steps[1]: unknown key 'expire_"),
        ("other.yaml", 7, 30, "steps[0].schedule.time: expect"),
    ]


def test_a_merged_value_out_of_range_is_located(build):
    yaml = BASE + "  - id: c\n    <<: {priority: 300}\n    schedule: {day: 2, time: '08:00'}\n"
    _, problems = build({"demo.yaml": yaml + "    text: ok\n"})
    [problem] = errors(problems)
    assert (problem.line, problem.col) == (10, 20)
    assert problem.message == "steps[1].priority: Input should be less than or equal to 100"


# --- lines of inline text ------------------------------------------------------------------

INLINE = """\
id: demo
name: 演示
audience:
  tags: {any: [打卡]}
steps:
  - id: hello
    schedule: {day: 1, time: "09:00"}
    text: TEXT
"""


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        pytest.param('"第一行 {{ day }}\\n第二行 {{ grop }}"', 8, 11, id="double-quoted-escape"),
        pytest.param(">-\n      第一行\n\n      第二行 {{ grop }}", 11, 14, id="folded-blank-line"),
        pytest.param("第一行\n      第二行\n\n      {{ grop }}", 11, 10, id="plain-multi-line"),
        pytest.param(
            ">\n      一\n      二\n        缩进\n      {{ grop }}", 12, 10, id="folded-indented"
        ),
    ],
)
def test_an_error_in_inline_text_is_on_its_line(build, text, line, col):
    _, problems = build({"demo.yaml": INLINE.replace("TEXT", text)})
    [problem] = errors(problems)
    assert problem.message.startswith("'grop' is undefined")
    assert (problem.line, problem.col) == (line, col)


def test_an_error_in_an_inline_check_in_reply_is_on_its_line(build):
    reply = "  reply:\n    text: |\n      ✅ 成功\n      {{ result.pionts }}\n"
    _, problems = build({"demo.yaml": BASE + "checkin:\n  keywords: [打卡]\n" + reply})
    [problem] = errors(problems)
    assert (problem.line, problem.col) == (14, 17)
    assert "result has no 'pionts' (did you mean 'points'?)" in problem.message


# --- the real schedule ---------------------------------------------------------------------

WEEKLY = """\
id: demo
name: 演示
audience:
  tags: {any: [打卡]}
duration_days: 28
steps:
  - id: s
    schedule: SCHEDULE
    text: "TEXT"
vars:
  lectures: [一, 二, 三]
"""


def weekly(schedule: str, text: str, anchor: str = "") -> str:
    return WEEKLY.replace("SCHEDULE", schedule).replace("TEXT", text) + anchor


def test_weekend_steps_are_rendered_on_weekends_only(build):
    text = "{{ {5: '周六好', 6: '周日好'}[weekday] }}"
    _, problems = build({"demo.yaml": weekly("{weekdays: [sat, sun], time: '10:00'}", text)})
    assert problems == []


def test_a_weekday_step_is_rendered_for_every_occurrence(build):
    text = "第{{ occurrence }}讲 {{ vars.lectures[occurrence - 1] }}"
    enrolled = weekly("{weekdays: [tue], time: '20:00'}", text)
    fixed = enrolled.replace("id: demo", "id: fixed") + "anchor: 2026-12-08\n"
    _, problems = build({"demo.yaml": enrolled, "fixed.yaml": fixed})
    assert sorted(p.path.rsplit("/", 1)[-1] for p in errors(problems)) == [
        "demo.yaml",
        "fixed.yaml",
    ]
    for problem in problems:  # four Tuesdays in 28 days, three lectures
        assert "has no element 3" in problem.message
        assert "(tue, occurrence 4)" in problem.message
    assert any("on day 22 (tue, occurrence 4)" in p.message for p in problems)


@pytest.mark.parametrize(
    ("cron", "day", "weekday"),
    [
        pytest.param("0 * * * *", 100, "", id="hourly"),
        pytest.param("*/5 8-22 * * *", 100, "", id="every-5-minutes"),
        pytest.param("* * * * *", 400, "", id="every-minute-last-day"),
        pytest.param("30 7 * * 1", 400, "and weekday == 0", id="mondays"),
    ],
)
def test_a_cron_step_is_rendered_on_every_day_it_fires(build, cron, day, weekday):
    text = f"{{% if day == {day} {weekday} %}}{{{{ 1 / 0 }}}}{{% endif %}}ok"
    yaml = weekly(f"{{cron: '{cron}'}}", text).replace("duration_days: 28", "duration_days: 400")
    _, problems = build({"demo.yaml": yaml})
    [problem] = errors(problems)
    assert problem.message.startswith("ZeroDivisionError")
    assert f"on day {day} (" in problem.message


def test_a_cron_step_is_rendered_at_every_time_of_day_it_fires(build):
    text = "{% if time == '22:55' %}{{ vars.nope }}{% endif %}ok"
    _, problems = build({"demo.yaml": weekly("{cron: '*/5 8-22 * * *'}", text)})
    [problem] = errors(problems)
    assert "vars has no 'nope'" in problem.message


def test_a_cron_time_moved_by_daylight_saving_is_rendered(build):
    # 2026-03-08 02:00-03:00 does not exist in New York: 02:00 and 02:30 go at 03:00 and
    # 03:30 that day only.
    text = "{% if time == '03:30' %}{{ vars.nope }}{% endif %}ok"
    yaml = weekly("{cron: '0,30 2 * * *'}", text) + "timezone: America/New_York\n"
    _, problems = build({"demo.yaml": yaml.replace("duration_days: 28", "duration_days: 100")})
    [problem] = errors(problems)
    assert "vars has no 'nope'" in problem.message


def test_a_step_that_never_fires_is_a_warning(build):
    schedule = "{weekdays: [mon], days: {from: 2, to: 3}, time: '10:00'}"  # Wed and Thu
    _, problems = build({"demo.yaml": weekly(schedule, "hi", "anchor: 2026-12-08\n")})
    [warning] = problems
    assert (warning.severity, warning.line) == ("warning", 8)
    assert warning.message == "step 's' never fires: its schedule matches none of its days"


# --- bounds and strict values --------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        pytest.param(
            "text:",
            "expires_after: 99999999999d\n    text:",
            # Refused as any duration is: longer than ten years.
            "steps[0].expires_after: '99999999999d' is too long: at most 3660d",
            id="huge-duration",
        ),
        pytest.param(
            "text:",
            "expires_after: 400d\n    text:",
            "steps[0].expires_after: '400d' is too long: at most 366d",
            id="expiry-over-a-year",
        ),
        pytest.param(
            "day: 1,",
            "day: [7, 21, 5000000],",
            "steps[0].schedule.day[2]: Input should be less than or equal to 3660",
            id="huge-day",
        ),
        pytest.param(
            "day: 1,",
            "days: {from: 1, to: 30000000},",
            "steps[0].schedule.days.to: Input should be less than or equal to 3660",
            id="huge-range",
        ),
        pytest.param(
            "steps:",
            "duration_days: 5000\nsteps:",
            "duration_days: Input should be less than or equal to 3660",
            id="huge-duration-days",
        ),
        pytest.param(
            "steps:",
            "anchor: 9999-12-01\nsteps:",
            "anchor: 9999-12-01 is out of range: use a date from 2000-01-01 to 2999-12-31",
            id="anchor-at-the-end-of-time",
        ),
        pytest.param(
            "steps:",
            "priority: true\nsteps:",
            "priority: Input should be a valid integer",
            id="priority-bool",
        ),
        pytest.param(
            "text:",
            'priority: "90"\n    text:',
            "steps[0].priority: Input should be a valid integer",
            id="priority-text",
        ),
    ],
)
def test_values_no_playbook_means_are_refused(build, old, new, message):
    _, problems = build({"demo.yaml": BASE.replace(old, new, 1)})
    assert [p.message for p in errors(problems)] == [message]


@pytest.mark.parametrize(
    ("bonus", "col", "message"),
    [
        pytest.param(
            '{7: 30, "7": 500}', 25, "key '7': Input should be a valid integer", id="text"
        ),
        pytest.param(
            '{"07": 30, 7: 1}', 18, "key '07': Input should be a valid integer", id="zero"
        ),
        pytest.param("{7.0: 30}", 18, "key '7.0': Input should be a valid integer", id="float"),
        pytest.param("{7: 30, 7.0: 500}", 25, 'found duplicate key "7.0"', id="same-number"),
        pytest.param("{7: 30, 0x7: 500}", 25, 'found duplicate key "7"', id="same-number-hex"),
    ],
)
def test_a_streak_length_is_a_whole_number_given_once(build, bonus, col, message):
    yaml = BASE.replace("steps:", f"checkin:\n  keywords: [打卡]\n  streak_bonus: {bonus}\nsteps:")
    _, problems = build({"demo.yaml": yaml})
    [problem] = errors(problems)
    assert (problem.line, problem.col) == (7, col)
    assert message in problem.message


def test_a_playbook_with_cross_field_errors_is_not_valid(build):
    yaml = BASE + "  - id: hello\n    schedule: {day: 2, time: '09:00'}\n    text: again\n"
    library, problems = build({"demo.yaml": yaml})
    assert [p.message for p in problems] == ["duplicate step id 'hello' (also steps[0])"]
    assert library.playbooks == []


def test_upper_case_suffixes_are_playbooks_too(build):
    library, problems = build({"a.YAML": BASE, "b.Yml": BASE.replace("id: demo", "id: other")})
    assert problems == []
    assert sorted(p.id for p in library.playbooks) == ["demo", "other"]
