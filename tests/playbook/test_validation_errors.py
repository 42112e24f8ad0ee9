"""Every mistake an ops person can make is reported as FILE:LINE:COL: message."""

from __future__ import annotations

import pytest

BASE = """\
id: demo
name: 演示
audience:
  tags: {any: [打卡]}
steps:
  - id: hello
    schedule: {day: 1, time: "09:00"}
    text: "你好 {{ group.name }}"
"""


def only_errors(problems):
    return [p for p in problems if p.severity == "error"]


def test_a_valid_playbook_has_no_problems(build):
    library, problems = build({"demo.yaml": BASE})
    assert problems == []
    assert [p.id for p in library.playbooks] == ["demo"]


@pytest.mark.parametrize(
    ("yaml", "line", "col", "message"),
    [
        pytest.param(
            BASE.replace("audience:", "audiance:"),
            3,
            1,
            "unknown key 'audiance' (did you mean 'audience'?)",
            id="typo-top-level",
        ),
        pytest.param(
            BASE.replace("    text:", "    txet: x\n    text:"),
            8,
            5,
            "steps[0]: unknown key 'txet' (did you mean 'text'?)",
            id="typo-in-step",
        ),
        pytest.param(
            BASE.replace("name: 演示\n", ""), 1, 1, "missing required key 'name'", id="missing-key"
        ),
        pytest.param(
            BASE.replace("day: 1,", "day: one,"),
            7,
            21,
            "steps[0].schedule.day",
            id="wrong-type",
        ),
        pytest.param(
            BASE.replace('{day: 1, time: "09:00"}', '{cron: "0 9 * *"}'),
            7,
            22,
            "steps[0].schedule.cron: cron needs 5 fields",
            id="bad-cron",
        ),
        pytest.param(
            BASE.replace('{day: 1, time: "09:00"}', '{cron: "0 9 1 * mon"}'),
            7,
            22,
            "restrict day-of-month or day-of-week, not both",
            id="cron-dom-and-dow",
        ),
        pytest.param(
            BASE.replace('time: "09:00"', 'time: "9h"'),
            7,
            30,
            "expected a local time of day as 'HH:MM'",
            id="bad-time",
        ),
        pytest.param(
            BASE.replace('{day: 1, time: "09:00"}', '{day: 1, cron: "0 9 * * *"}'),
            7,
            15,
            "a schedule needs exactly one of",
            id="two-schedule-kinds",
        ),
        pytest.param(
            BASE.replace('{day: 1, time: "09:00"}', "{day: 1}"),
            7,
            15,
            "a 'day' schedule needs a 'time'",
            id="missing-time",
        ),
        pytest.param(
            BASE + "timezone: Asia/Shanghia\n",
            9,
            11,
            "unknown timezone 'Asia/Shanghia'",
            id="bad-timezone",
        ),
        pytest.param(
            BASE + "anchor: soon\n",
            9,
            9,
            "anchor must be 'group_created', 'enrolled'",
            id="bad-anchor",
        ),
        pytest.param(
            BASE + "checkin:\n  regex: '(打卡'\n",
            10,
            10,
            "checkin.regex: bad regex",
            id="bad-regex",
        ),
        pytest.param(
            BASE + "checkin:\n  points: 5\n",
            10,
            3,
            "needs 'keywords' or 'regex'",
            id="checkin-without-matcher",
        ),
        pytest.param(
            BASE.replace("id: hello", "id: Hello World"),
            6,
            9,
            "steps[0].id: String should match pattern",
            id="bad-step-id",
        ),
        pytest.param(
            BASE + "  - id: hello\n    schedule: {day: 2, time: '09:00'}\n    text: again\n",
            9,
            9,
            "duplicate step id 'hello'",
            id="duplicate-step-id",
        ),
        pytest.param(
            BASE.replace("    text:", "    variants:\n      宝妈: {text: hi}\n    text:"),
            9,
            7,
            "variant '宝妈' names no segment",
            id="variant-without-segment",
        ),
        pytest.param(
            BASE.replace('    text: "你好 {{ group.name }}"', "    template: nothere.j2"),
            8,
            15,
            "template 'nothere.j2' not found",
            id="unknown-template",
        ),
        pytest.param(
            BASE.replace(
                "    text:", "    attachments:\n      - image: {file: nope.png}\n    text:"
            ),
            9,
            23,
            "attachment file 'nope.png' not found",
            id="missing-attachment-file",
        ),
        pytest.param(
            BASE.replace(
                "    text:",
                "    attachments:\n"
                + "      - link: {title: t, url: 'https://x'}\n" * 10
                + "    text:",
            ),
            9,
            7,
            "List should have at most 9 items",
            id="too-many-attachments",
        ),
        pytest.param(
            BASE.replace(
                "    text:",
                "    attachments:\n      - link: {title: "
                + "标" * 50
                + ", url: 'https://x'}\n    text:",
            ),
            9,
            15,
            "link title is 150 bytes; WeCom allows 128",
            id="link-title-too-long",
        ),
        pytest.param(
            BASE.replace(
                "    text:",
                "    attachments:\n      - image: {file: a.png, url: 'https://x'}\n    text:",
            ),
            9,
            16,
            "needs exactly one of 'file', 'url', 'media_id'",
            id="media-two-sources",
        ),
        pytest.param(
            BASE.replace('"你好 {{ group.name }}"', "\"{{ '字' * 1400 }}\""),
            8,
            11,
            "renders to 4200 bytes on day 1; WeCom allows 4000",
            id="text-too-long",
        ),
        pytest.param(
            BASE.replace("group.name", "gruop.name"),
            8,
            18,
            "'gruop' is undefined",
            id="inline-template-typo",
        ),
        pytest.param(
            BASE.replace("group.name }}", "group.name }"),
            8,
            11,
            "template syntax",
            id="inline-template-syntax",
        ),
        pytest.param(
            BASE + "audience: {}\n", 9, 1, "YAML: while constructing a mapping", id="duplicate-key"
        ),
        pytest.param(BASE + "steps: [\n", 10, 1, "YAML:", id="yaml-syntax"),
        pytest.param(
            "- just\n- a list\n", 1, 1, "a playbook file holds one mapping", id="not-a-mapping"
        ),
        pytest.param(
            BASE.replace("  tags: {any: [打卡]}", "  chat_type: single\n  name: '*群*'"),
            4,
            3,
            "'name' and 'chat_ids' select groups",
            id="audience-mismatch",
        ),
        pytest.param(
            BASE.replace('{day: 1, time: "09:00"}', "{days: {from: 5, to: 2}, time: '09:00'}"),
            7,
            22,
            "'to' (2) is before 'from' (5)",
            id="day-range-backwards",
        ),
        pytest.param(
            BASE.replace(
                '    text: "你好 {{ group.name }}"', "    text: x\n    expires_after: 2 hours"
            ),
            9,
            20,
            "expected a duration like '30s', '30m'",
            id="bad-duration",
        ),
        pytest.param(
            BASE.replace('    text: "你好 {{ group.name }}"', "    text: x\n    expires_after: 0m"),
            9,
            20,
            "must be a positive duration (longer than zero)",
            id="zero-duration",
        ),
    ],
)
def test_each_mistake_is_located(build, yaml, line, col, message):
    _, problems = build({"demo.yaml": yaml})
    errors = only_errors(problems)
    assert errors, "expected an error"
    found = [p for p in errors if message in p.message]
    assert found, f"no error mentions {message!r}: {[str(p) for p in errors]}"
    assert (found[0].line, found[0].col) == (line, col), str(found[0])
    assert found[0].path.endswith("demo.yaml")


def test_template_file_typo_points_into_the_template(build):
    yaml = BASE.replace('    text: "你好 {{ group.name }}"', "    template: hello.j2")
    _, problems = build(
        {"demo.yaml": yaml},
        {"hello.j2": "第一行\n{% if day == 1 %}\n{{ gruop.name }}\n{% endif %}\n"},
    )
    [problem] = only_errors(problems)
    assert problem.path.endswith("templates/hello.j2")
    assert (problem.line, problem.col) == (3, 4)
    assert "'gruop' is undefined" in problem.message
    assert "step 'hello'" in problem.message


def test_a_typo_in_a_branch_for_a_late_day_is_caught(build):
    yaml = BASE.replace(
        '{day: 1, time: "09:00"}', "{days: {from: 1, to: 100}, time: '09:00'}"
    ).replace('"你好 {{ group.name }}"', '"{% if day == 100 %}{{ ceremony }}{% endif %}hi"')
    _, problems = build({"demo.yaml": yaml})
    assert any("'ceremony' is undefined" in p.message for p in only_errors(problems))


def test_a_segment_variant_is_rendered_too(build):
    yaml = BASE + "segments:\n  - name: 宝妈\n    when: {any: [宝妈群]}\n"
    yaml = yaml.replace("    text:", "    variants:\n      宝妈: {text: '{{ nope }}'}\n    text:")
    _, problems = build({"demo.yaml": yaml})
    [problem] = only_errors(problems)
    assert "'nope' is undefined" in problem.message
    assert "segment '宝妈'" in problem.message


def test_all_problems_in_all_files_are_reported_at_once(build):
    _, problems = build(
        {
            "a.yaml": BASE.replace("audience:", "audiance:"),
            "b.yaml": BASE.replace("id: demo", "id: other").replace("group.name", "gruop"),
            "c.yaml": BASE,  # valid
        }
    )
    errors = only_errors(problems)
    assert {p.path.rsplit("/", 1)[-1] for p in errors} == {"a.yaml", "b.yaml"}


def test_playbook_ids_are_unique_across_files(build):
    library, problems = build({"a.yaml": BASE, "b.yaml": BASE})
    [problem] = only_errors(problems)
    assert problem.path.endswith("b.yaml")
    assert "playbook id 'demo' is also used by" in problem.message
    assert (problem.line, problem.col) == (1, 5)
    assert len(library.playbooks) == 1


def test_warnings_do_not_fail(build):
    yaml = BASE + "duration_days: 0\n"
    _, problems = build({"demo.yaml": yaml})
    assert only_errors(problems)  # 0 is invalid: ge=1
    yaml = BASE.replace("day: 1,", "day: 30,") + "duration_days: 10\n"
    library, problems = build({"demo.yaml": yaml})
    assert [p.severity for p in problems] == ["warning"]
    assert "fires on day 30, after duration_days (10)" in problems[0].message
    assert library.playbooks


@pytest.mark.parametrize(
    ("time", "expires", "outcome"),
    [
        ("06:30", "", "sends will be shifted to 07:00"),
        ("23:00", "", "sends will be skipped: 07:00 is 8h later, past expires_after 6h"),
        ("23:00", "    expires_after: 9h\n", "sends will be shifted to 07:00"),
    ],
)
def test_quiet_hours_warning_says_what_will_happen(build, tmp_path, time, expires, outcome):
    from botops.planning.policy import PolicySettings
    from botops.playbook.library import load_library

    build(
        {
            "demo.yaml": BASE.replace('time: "09:00"', f'time: "{time}"').replace(
                "    text:", expires + "    text:"
            )
        }
    )
    _, problems = load_library([tmp_path / "sops"], tmp_path / "templates", PolicySettings())
    [warning] = problems
    assert warning.severity == "warning"
    assert warning.message == f"{time} is inside quiet hours 22:00-07:00; {outcome}"


def test_a_playbook_version_covers_included_templates(build, tmp_path):
    included = BASE.replace('    text: "你好 {{ group.name }}"', "    template: outer.j2")
    other = BASE.replace("id: demo", "id: other")
    files = {"outer.j2": "{% include 'parts/inner.j2' %}", "parts/inner.j2": "内层 v1"}
    library, _ = build({"demo.yaml": included, "other.yaml": other}, files)
    before = (library.digest("demo"), library.digest("other"))
    (tmp_path / "templates" / "parts" / "inner.j2").write_text("内层 v2", encoding="utf-8")
    library, _ = build({"demo.yaml": included, "other.yaml": other}, {})
    assert library.digest("demo") != before[0]  # the included file changed
    assert library.digest("other") == before[1]  # a playbook not using it did not
