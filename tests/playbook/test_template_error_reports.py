"""A misspelt name in a template is reported once, where it is written, with what was meant:
one line for a mistake several segments share, the column of the name, "did you mean"."""

from __future__ import annotations

import os

import pytest

from botops.cli import main
from tests.helpers import write_tree

PLAYBOOK = """\
id: camp
name: 打卡营
anchor: 2026-12-01
duration_days: 10
audience:
  tags: {any: [打卡]}
segments:
  - name: 宝妈
    when: {any: [宝妈群]}
  - name: 白领
    when: {any: [白领群]}
default_segment: 通用
steps:
  - id: morning
    schedule: {days: {from: 1, to: 3}, time: "07:30"}
    template: morning.j2
    variants:
      宝妈:
        template: morning-mom.j2
vars:
  book_list_url: https://example.com/books
"""
MORNING = "第 {{ day }} 天，还剩 {{ days_left }} 天。书单：{{ vars.book_list_url }}\n"
MOM = "宝妈们早安！第 {{ day }} 天\n"


def errors(problems):
    return [p for p in problems if p.severity == "error"]


def located(problem):
    return f"{problem.path.split('templates/', 1)[-1]}:{problem.line}:{problem.col}"


@pytest.mark.parametrize(
    ("morning", "where", "message"),
    [
        pytest.param(
            MORNING.replace("days_left", "day_left"),
            "1:21",
            "'day_left' is undefined (did you mean 'days_left'?)",
            id="variable",
        ),
        pytest.param(
            MORNING.replace("book_list_url", "book_lst_url"),
            "1:47",
            "vars has no 'book_lst_url' (did you mean 'book_list_url'?)",
            id="vars-key",
        ),
        pytest.param(
            "{{ date | cn_weekdy }}\n",
            "1:11",
            "No filter named 'cn_weekdy' (did you mean 'cn_weekday'?)",
            id="filter",
        ),
        pytest.param(
            "{% if day == 3 %}{{ date | cn_weekdy }}{% endif %}\n",
            "1:28",
            "No filter named 'cn_weekdy' (did you mean 'cn_weekday'?)",
            id="filter-in-a-branch",
        ),
        pytest.param(
            "{% if day is od %}单{% endif %}\n",
            "1:14",
            "No test named 'od' (did you mean 'odd'?)",
            id="test",
        ),
        pytest.param(
            "今日 {{ checkin.today_rat }}\n",
            "1:15",
            "checkin has no 'today_rat' (did you mean 'today_rate'?)",
            id="check-in-figure",
        ),
        pytest.param(
            "{% for row in checkin.leaderboard %}\n{{ rwo.name }}\n{% endfor %}\n",
            "2:4",
            "'rwo' is undefined (did you mean 'row'?)",
            id="loop-variable",
        ),
    ],
)
def test_a_misspelt_name_is_one_line_at_its_column_with_a_hint(build, morning, where, message):
    _, problems = build({"camp.yaml": PLAYBOOK}, {"morning.j2": morning, "morning-mom.j2": MOM})
    [problem] = errors(problems)  # not one per segment rendering morning.j2
    assert located(problem) == f"morning.j2:{where}"
    assert problem.message.startswith(message)
    assert "(step 'morning', segments '白领', '通用'" in problem.message


def test_a_mistake_in_one_segments_variant_names_that_segment(build):
    mom = "宝妈们早安！还剩 {{ day_left }} 天\n"
    _, problems = build({"camp.yaml": PLAYBOOK}, {"morning.j2": MORNING, "morning-mom.j2": mom})
    assert [f"{located(p)}: {p.message}" for p in errors(problems)] == [
        "morning-mom.j2:1:13: 'day_left' is undefined (did you mean 'days_left'?)"
        " (step 'morning', segment '宝妈')"
    ]


def test_mistakes_met_by_different_segments_are_each_reported_once(build):
    morning = "{{ date | cn_weekdy }}\n"
    mom = "{{ grop.name }}\n"
    _, problems = build({"camp.yaml": PLAYBOOK}, {"morning.j2": morning, "morning-mom.j2": mom})
    assert sorted(f"{located(p)}: {p.message}" for p in errors(problems)) == [
        "morning-mom.j2:1:4: 'grop' is undefined (did you mean 'group'?)"
        " (step 'morning', segment '宝妈')",
        "morning.j2:1:11: No filter named 'cn_weekdy' (did you mean 'cn_weekday'?)"
        " (step 'morning', segments '白领', '通用')",
    ]


def test_a_name_written_twice_on_its_line_is_at_column_1(build):
    morning = "{{ group.nme }}，{{ group.nme }}\n"
    _, problems = build({"camp.yaml": PLAYBOOK}, {"morning.j2": morning, "morning-mom.j2": MOM})
    [problem] = errors(problems)
    assert located(problem) == "morning.j2:1:1"
    assert problem.message.startswith("'dict object' has no attribute 'nme' (did you mean 'name'?)")


def test_a_name_in_inline_text_is_at_its_column_in_the_yaml(build):
    yaml = PLAYBOOK.replace(
        "    template: morning.j2\n", '    text: "你好 {{ vars.book_lst_url }}"\n'
    )
    _, problems = build({"camp.yaml": yaml}, {"morning-mom.j2": MOM})
    [problem] = errors(problems)
    assert (problem.line, problem.col) == (16, 23)  # the name, not the scalar's quote
    assert problem.message == (
        "vars has no 'book_lst_url' (did you mean 'book_list_url'?)"
        " (step 'morning', segments '白领', '通用')"
    )


def test_validate_prints_one_line_per_mistake(tmp_path, monkeypatch, capsys):
    templates = {"morning.j2": MORNING.replace("days_left", "day_left"), "morning-mom.j2": MOM}
    write_tree(tmp_path, {"camp.yaml": PLAYBOOK}, templates)
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("BOTOPS_")]:
        monkeypatch.delenv(name)
    assert main(["validate", "--quiet"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "templates/morning.j2:1:21: 'day_left' is undefined (did you mean 'days_left'?)"
        " (step 'morning', segments '白领', '通用')"
    ]
