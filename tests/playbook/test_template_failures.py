"""Whatever a template does wrong is a located problem at validate time and skips only its own
send at plan time: Python errors, values that are not set, included files."""

from __future__ import annotations

from datetime import datetime

import pytest

from botops.planning.planner import Window, plan
from botops.planning.policy import SendPolicy
from botops.planning.sends import Status
from botops.planning.targets import Target
from tests.helpers import SHANGHAI, local

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
  product: 云朵绒四件套
  community: 福利社
"""
NO_LIMITS = SendPolicy.model_validate(
    {"quiet_hours": None, "receive_cap": {"period": "day", "limit": 50}}
)
DAY_ONE = Window(local("2026-12-01 00:00"), local("2026-12-02 00:00"))


def errors(problems):
    return [p for p in problems if p.severity == "error"]


def group(chat_id: str, member_count: int, created_at: datetime | None = None) -> Target:
    return Target(
        chat_id, f"群{chat_id}", "zhangsan", frozenset({"打卡"}), created_at, member_count
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param("{{ 1 / 0 }}", "ZeroDivisionError: division by zero", id="division"),
        pytest.param(
            "{{ vars.product + 1 }}",
            'TypeError: can only concatenate str (not "int") to str',
            id="type-error",
        ),
        pytest.param(
            "{{ vars.community | cn_date }}",
            "ValueError: expected a date like '2026-12-08', got '福利社'",
            id="cn-date-of-text",
        ),
        pytest.param(
            '{{ date | add_days("7") }}',
            "TypeError: add_days needs a whole number of days, got '7'",
            id="add-days-of-text",
        ),
        pytest.param(
            '{{ "%d" | format(vars.product) }}',
            "TypeError: %d format: a real number is required, not str",
            id="format",
        ),
    ],
)
def test_a_python_error_in_a_template_is_located(build, line, message):
    _, problems = build({"demo.yaml": PLAYBOOK}, {"hello.j2": f"你好\n{line}\n"})
    [problem] = errors(problems)
    assert problem.path.endswith("templates/hello.j2")
    assert (problem.line, problem.col) == (2, 1)
    assert problem.message == f"{message} (step 'hello', segment 'default')"


def test_a_python_error_at_send_time_skips_that_send_only(build):
    template = "打卡率 {{ (checkin.today_count / group.member_count * 100) | round }}%\n"
    library, problems = build({"demo.yaml": PLAYBOOK}, {"hello.j2": template})
    assert problems == []  # the sample group has members
    sends = plan(library, [group("wrA", 20), group("wrB", 0)], DAY_ONE, NO_LIMITS).sends
    by_group = {s.target: s for s in sends}
    assert by_group["wrA"].status == Status.PLANNED
    assert by_group["wrB"].status == Status.SKIPPED
    assert by_group["wrB"].reason == (
        "template error: hello.j2:1: ZeroDivisionError: division by zero"
    )


def test_a_group_without_a_creation_time_skips_its_send(build):
    template = "建群于 {{ group.created_at | cn_date }}\n"
    library, _ = build({"demo.yaml": PLAYBOOK}, {"hello.j2": template})
    created = datetime(2026, 11, 20, 10, tzinfo=SHANGHAI)
    sends = plan(library, [group("wrA", 5, created), group("wrB", 5)], DAY_ONE, NO_LIMITS).sends
    texts = {s.target: (s.status, s.text or s.reason) for s in sends}
    assert texts["wrA"] == (Status.PLANNED, "建群于 11月20日")
    assert texts["wrB"][0] == Status.SKIPPED
    assert texts["wrB"][1].startswith("template error: hello.j2:1: `| cn_date` was given a value")


# --- None never reaches a customer ---------------------------------------------------------

NONE_PLAYBOOK = """\
id: demo
name: 演示
anchor: 2026-12-01
audience:
  tags: {any: [打卡]}
steps:
  - id: fine
    schedule: {day: 1, time: "09:00"}
    text: |
      {% if vars.empty is none %}未设置{% endif %}
      {{ vars.empty or "默认" }} {{ vars.empty | default("缺省") }}
      {% if days_left is not none %}还剩 {{ days_left }} 天{% endif %}{{ days_left | d("") }}
  - id: blank
    schedule: {day: 1, time: "10:00"}
    text: "优惠券：{{ vars.empty }}"
vars:
  empty:
"""


def test_a_value_that_is_not_set_is_an_error_unless_tested(build):
    library, problems = build({"demo.yaml": NONE_PLAYBOOK})
    [problem] = errors(problems)
    assert (problem.line, problem.col) == (15, 11)
    assert problem.message.startswith("a value renders None (it is not set); give a default")
    assert "step 'blank'" in problem.message
    assert library.playbooks == []


@pytest.mark.parametrize(
    "use",
    [
        "vars.empty | upper",
        "vars.empty | int",
        "vars.empty | string",
        "vars.empty | add_days(1) | cn_date",
        "(vars.empty | trim)[:2]",
    ],
)
def test_a_value_that_is_not_set_given_to_a_filter_is_an_error(build, use):
    text = NONE_PLAYBOOK.replace('"优惠券：{{ vars.empty }}"', f'"优惠券：{{{{ {use} }}}}"')
    library, problems = build({"demo.yaml": text})
    [problem] = errors(problems)
    assert problem.line == 15
    name = use.split("| ")[1].split(" ")[0].split(")")[0].split("(")[0]
    assert problem.message.startswith(f"`| {name}` was given a value that is not set (None)")
    assert library.playbooks == []


def test_days_left_without_a_duration_is_an_error_in_its_file(build):
    _, problems = build({"demo.yaml": PLAYBOOK}, {"hello.j2": "早安\n还剩 {{ days_left }} 天\n"})
    [problem] = errors(problems)
    assert (problem.path.rsplit("/", 1)[-1], problem.line) == ("hello.j2", 2)
    assert problem.message.startswith("a value renders None")


def test_tested_and_defaulted_values_render(build):
    fine = NONE_PLAYBOOK.split("  - id: blank")[0] + "vars:\n  empty:\n"
    library, problems = build({"demo.yaml": fine})
    assert problems == []
    [send] = plan(library, [group("wrA", 5)], DAY_ONE, NO_LIMITS).sends
    assert send.text == "未设置默认 缺省"  # trim_blocks eats the newline after endif


# --- included, imported and base templates -------------------------------------------------


@pytest.mark.parametrize(
    ("files", "where", "message"),
    [
        pytest.param(
            {"hello.j2": "你好\n{% include 'parts/footer.j2' %}\n"},
            ("hello.j2", 2),
            "template 'parts/footer.j2' not found in ",
            id="missing-include",
        ),
        pytest.param(
            {
                "hello.j2": "你好\n{% include 'parts/footer.j2' %}\n",
                "parts/footer.j2": "一\n二 {{ day \n",
            },
            ("parts/footer.j2", 2),
            "template syntax: ",
            id="include-does-not-compile",
        ),
        pytest.param(
            {
                "hello.j2": "你好\n{% include 'parts/footer.j2' %}\n",
                "parts/footer.j2": "一\n二\n{{ vars.nope }}\n",
            },
            ("parts/footer.j2", 3),
            "vars has no 'nope'",
            id="include-typo",
        ),
        pytest.param(
            {
                "hello.j2": "{% extends 'base.j2' %}{% block body %}hi{% endblock %}\n",
                "base.j2": "头\n{% block body %}{% endblock %}\n{{ foot }}\n",
            },
            ("base.j2", 3),
            "'foot' is undefined",
            id="base-typo",
        ),
        pytest.param(
            {
                "hello.j2": "{% import 'm.j2' as m %}\n{{ m.hi(vars.product) }}\n",
                "m.j2": "{% macro hi(x) %}\n你好\n{{ x.nope }}\n{% endmacro %}\n",
            },
            ("m.j2", 3),
            "'str object' has no attribute 'nope'",
            id="macro-typo",
        ),
        pytest.param(
            {"hello.j2": "你好\n{% include 'hello.j2' %}\n"},
            ("hello.j2", 2),
            "RecursionError",
            id="includes-itself",
        ),
    ],
)
def test_a_mistake_in_a_referenced_template_is_located_in_its_file(build, files, where, message):
    _, problems = build({"demo.yaml": PLAYBOOK}, files)
    [problem] = errors(problems)
    assert (problem.path.split("templates/", 1)[-1], problem.line) == where
    assert message in problem.message


def test_a_template_that_is_not_utf8_is_located(build, tmp_path):
    build({"demo.yaml": PLAYBOOK}, {})
    (tmp_path / "templates" / "hello.j2").write_bytes("第一行\n".encode() + "再见".encode("gbk"))
    _, problems = build({}, {})
    [problem] = errors(problems)
    assert (problem.path.rsplit("/", 1)[-1], problem.line) == ("hello.j2", 2)
    assert problem.message.startswith("not UTF-8 text")


def test_a_byte_order_mark_is_not_sent(build, tmp_path):
    build({"demo.yaml": PLAYBOOK}, {})
    (tmp_path / "templates" / "hello.j2").write_bytes(b"\xef\xbb\xbf" + "你好".encode())
    library, problems = build({}, {})
    assert problems == []
    [send] = plan(library, [group("wrA", 5)], DAY_ONE, NO_LIMITS).sends
    assert send.text == "你好"


def test_a_missing_template_is_reported_once_for_all_segments(build):
    yaml = PLAYBOOK + "segments:\n  - name: 宝妈\n    when: {any: [宝妈群]}\n"
    _, problems = build({"demo.yaml": yaml}, {})
    [problem] = errors(problems)
    assert problem.message.startswith("template 'hello.j2' not found")
    assert (problem.line, problem.col) == (9, 15)
