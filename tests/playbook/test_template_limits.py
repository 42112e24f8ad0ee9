"""The sandbox refuses a `*` or `**` that would build something far larger than any message:
a located problem at validate time, one skipped send at plan time, never gigabytes.

Inputs stay just above the limit, so that code without the limit renders them quickly (and
these tests fail) instead of exhausting memory; the typos from the wild are tried only once
a just-too-large case is known to be refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from botops.planning.planner import Window, plan
from botops.planning.policy import SendPolicy
from botops.planning.sends import Status
from botops.planning.targets import Target
from botops.playbook.templates import MAX_BUILT_SIZE, TemplateProblem, Templates
from tests.helpers import REPO, local

PLAYBOOK = """\
id: demo
name: 演示
anchor: 2026-12-01
audience:
  tags: {any: [打卡]}
steps:
  - id: hello
    schedule: {day: 1, time: "09:00"}
    template: hello.j2
vars:
  count: 40961
  a: 21
"""
NO_LIMITS = SendPolicy.model_validate(
    {"quiet_hours": None, "receive_cap": {"period": "day", "limit": 50}}
)
DAY_ONE = Window(local("2026-12-01 00:00"), local("2026-12-02 00:00"))
OVER = MAX_BUILT_SIZE + 1
WHY = f"the sandbox allows {MAX_BUILT_SIZE:,}"


def errors(problems):
    return [p for p in problems if p.severity == "error"]


def render(tmp_path: Path, text: str, **context: object) -> str:
    templates = Templates(tmp_path)
    return Templates.render(templates.get(None, text), dict(context), None)


def test_the_limit_is_ten_wecom_messages_and_documented():
    assert MAX_BUILT_SIZE == 40960
    doc = (REPO / "docs" / "templates.md").read_text(encoding="utf-8")
    assert f"more than {MAX_BUILT_SIZE:,} characters" in doc


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param(
            f'{{{{ "=" * {OVER} }}}}',
            f"`*` would repeat text to {OVER:,} characters; {WHY} characters",
            id="text-times-int",
        ),
        pytest.param(
            f'{{{{ {OVER} * "🎉" }}}}',
            f"`*` would repeat text to {OVER:,} characters; {WHY} characters",
            id="int-times-text",
        ),
        pytest.param(
            '{{ "ab" * (vars.count // 2 + 1) }}',
            f"`*` would repeat text to {OVER + 1:,} characters",
            id="text-times-var",
        ),
        pytest.param(
            "{{ [0] * vars.count }}",
            f"`*` would repeat a list of 1 item {OVER:,} times; {WHY} items and characters",
            id="list",
        ),
        pytest.param(
            "{{ (0, 1) * (vars.count // 2 + 1) }}",
            "`*` would repeat a tuple of 2 items 20,481 times",
            id="tuple",
        ),
        pytest.param(
            f'{{{{ (["x" * {MAX_BUILT_SIZE // 2}] * 2) | join }}}}',
            "`*` would repeat a list of 1 item 2 times",
            id="list-of-long-text",
        ),
        pytest.param(
            f'{{{{ [[["x" * {MAX_BUILT_SIZE // 2}]]] * 2 }}}}',
            "`*` would repeat a list of 1 item 2 times",
            id="nested-lists",
        ),
        pytest.param(
            "{{ 2 ** 200000 }}",
            f"`**` would make a number of up to 120,413 digits; {WHY} digits",
            id="power",
        ),
        pytest.param(
            "{{ (-3) ** (vars.a * 4000) }}",
            "`**` would make a number of up to 50,574 digits",
            id="negative-power",
        ),
        pytest.param(
            "{% set ns = namespace(n=3) %}{% for i in range(18) %}"
            "{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n }}",
            "`*` would make a number of up to 62,538 digits",
            id="squaring-loop",
        ),
    ],
)
def test_too_large_a_result_is_a_located_validation_error(build, line, message):
    library, problems = build({"demo.yaml": PLAYBOOK}, {"hello.j2": f"你好\n{line}\n"})
    [problem] = errors(problems)
    assert problem.path.endswith("templates/hello.j2")
    assert (problem.line, problem.col) == (2, 1)
    assert problem.message.startswith(message)
    assert "(a WeCom message is at most 4,096 bytes)" in problem.message
    assert problem.message.endswith("(step 'hello', segment 'default')")
    assert library.playbooks == []


@pytest.mark.parametrize(
    "text",
    [
        '{{ "=" * 1000000000 }}',
        '{{ "🎉" * 10**9 }}',
        "{{ [0] * 10**9 }}",
        "{{ 10 ** (10 ** 8) }}",
        '{{ "x" * count }}',
    ],
)
def test_typos_from_the_wild_are_refused_at_once(tmp_path, text):
    with pytest.raises(TemplateProblem, match="the sandbox allows"):  # else the next is huge
        render(tmp_path, f'{{{{ "=" * {OVER} }}}}')
    with pytest.raises(TemplateProblem, match=r"^line 1: `\*\*?` would "):
        render(tmp_path, text, count=10**9)


def test_at_the_limit_still_renders(tmp_path):
    assert render(tmp_path, f'{{{{ "=" * {MAX_BUILT_SIZE} }}}}') == "=" * MAX_BUILT_SIZE
    assert render(tmp_path, f'{{{{ {MAX_BUILT_SIZE // 4} * "🎉" }}}}') == "🎉" * 10240
    assert render(tmp_path, f"{{{{ ([0] * {MAX_BUILT_SIZE}) | length }}}}") == "40960"
    assert render(tmp_path, "{{ (2 ** 68000) % 10 }}") == "6"  # up to 40,941 digits
    with pytest.raises(TemplateProblem, match="up to 41,001 digits"):
        render(tmp_path, "{{ (2 ** 68100) % 10 }}")


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("{{ vars.a * 2 }}", "42"),
        ('{{ "-" * 20 }}', "-" * 20),
        ('{{ 3 * "ab" }}', "ababab"),
        ('{{ "x" * 0 }}{{ "y" * -5 }}{{ "" * 10**9 }}|', "|"),
        ("{{ ([1, 2] * 3) | join(',') }}", "1,2,1,2,1,2"),
        ("{{ 1.5 * 2 }} {{ vars.a * 2.5 }}", "3.0 52.5"),
        ("{{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2 ** 0.5 > 1.41 }}", "1024 0.5 True"),
        ("{{ 1 ** 10**18 }} {{ (-1) ** (10**18 + 1) }} {{ 0 ** 10**18 }}", "1 -1 0"),
        ('{{ ("=" * 100)[:5] }}', "====="),
        ("{{ 10**9 * 10**9 }}", "1000000000000000000"),
    ],
)
def test_ordinary_arithmetic_is_unaffected(build, text, rendered):
    library, problems = build({"demo.yaml": PLAYBOOK}, {"hello.j2": text})
    assert problems == []
    [send] = plan(library, [group("wrA", 5)], DAY_ONE, NO_LIMITS).sends
    assert send.text == rendered


def test_an_undefined_operand_is_still_undefined(build):
    _, problems = build({"demo.yaml": PLAYBOOK}, {"hello.j2": "{{ nope * 3 }}"})
    [problem] = errors(problems)
    assert problem.message.startswith("'nope' is undefined")


def test_a_float_power_overflowing_is_a_located_error(build):
    _, problems = build({"demo.yaml": PLAYBOOK}, {"hello.j2": "你好\n{{ 2.0 ** 100000 }}\n"})
    [problem] = errors(problems)
    assert (problem.path.rsplit("/", 1)[-1], problem.line) == ("hello.j2", 2)
    assert problem.message.startswith("OverflowError: ")


def group(chat_id: str, member_count: int) -> Target:
    return Target(chat_id, f"群{chat_id}", "zhangsan", frozenset({"打卡"}), None, member_count)


def test_too_large_at_send_time_skips_only_that_send(build):
    # The sample group has 120 members: it validates; a real group may be far larger.
    library, problems = build(
        {"demo.yaml": PLAYBOOK}, {"hello.j2": '{{ "=" * group.member_count }}'}
    )
    assert problems == []
    sends = plan(library, [group("wrA", 20), group("wrB", OVER)], DAY_ONE, NO_LIMITS).sends
    by_group = {s.target: s for s in sends}
    assert (by_group["wrA"].status, by_group["wrA"].text) == (Status.PLANNED, "=" * 20)
    assert by_group["wrB"].status == Status.SKIPPED
    assert by_group["wrB"].reason.startswith(
        f"template error: hello.j2:1: `*` would repeat text to {OVER:,} characters; {WHY}"
    )
