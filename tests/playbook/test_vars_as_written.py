"""Numbers in a playbook's `vars` print exactly as the YAML writes them (`19.90` stays 19.90,
`0520` stays 0520) and still compute as numbers."""

from __future__ import annotations

import copy
import json
import os
import pickle
from pathlib import Path

import pytest

from botops.cli import main
from botops.planning.planner import Window, plan
from botops.planning.policy import SendPolicy
from botops.planning.targets import Target
from botops.playbook.loader import yaml_loader
from botops.playbook.written import WrittenFloat, WrittenInt
from tests.helpers import local, write_tree

PLAYBOOK = """\
id: sale
name: 快闪
anchor: 2026-12-01
audience:
  tags: {any: [快闪]}
steps:
  - id: hello
    schedule: {day: 1, time: "09:00"}
    text: "{{ LINE }}"
vars:
  flash_price: 19.90
  original_price: 49.90
  coupon_code: 0520
  thousand: 1e3
  stock: 1_000
  hex: 0x1F
  open: true
  quoted: "19.90"
  start: 2026-12-08
  lectures:
    - {title: 第一讲, fee: 1.50}
    - title: 第二讲
      fee: 2.00
"""
NO_LIMITS = SendPolicy.model_validate(
    {"quiet_hours": None, "receive_cap": {"period": "day", "limit": 50}}
)
DAY_ONE = Window(local("2026-12-01 00:00"), local("2026-12-02 00:00"))
GROUP = Target("wrA", "快闪1群", "zhangsan", frozenset({"快闪"}), None, 100)


@pytest.fixture
def render(build):
    """render(line) -> the text the planner sends for a step whose template is `line`, after
    `botops validate`'s sample rendering passed."""

    def _render(line: str) -> str:
        text = json.dumps(line, ensure_ascii=False)[1:-1]  # inside the YAML double quotes
        library, problems = build({"sale.yaml": PLAYBOOK.replace("{{ LINE }}", text)})
        assert problems == []
        [send] = plan(library, [GROUP], DAY_ONE, NO_LIMITS).sends
        assert send.text is not None
        return send.text

    return _render


@pytest.mark.parametrize(
    ("line", "text"),
    [
        pytest.param("快闪价 {{ vars.flash_price }} 元", "快闪价 19.90 元", id="trailing-zero"),
        pytest.param("券码 {{ vars.coupon_code }}", "券码 0520", id="leading-zero"),
        pytest.param("{{ vars.thousand }} {{ vars.stock }}", "1e3 1_000", id="exponent-underscore"),
        pytest.param("{{ vars.hex }}", "0x1F", id="hex"),
        pytest.param(
            "{% for l in vars.lectures %}{{ l.title }} {{ l.fee }} 元；{% endfor %}",
            "第一讲 1.50 元；第二讲 2.00 元；",
            id="nested-list-of-mappings",
        ),
        pytest.param(
            "{{ vars.lectures | map(attribute='fee') | join('、') }}", "1.50、2.00", id="join"
        ),
        pytest.param("{{ vars.flash_price ~ '元' }}", "19.90元", id="concat"),
        pytest.param("{{ vars.flash_price | string }}", "19.90", id="string-filter"),
        pytest.param("{{ '%s' | format(vars.flash_price) }}", "19.90", id="percent-s"),
        pytest.param("{{ '{}'.format(vars.flash_price) }}", "19.90", id="str-format"),
        pytest.param("{{ [vars.flash_price, 3] | max }}", "19.90", id="max-keeps-the-value"),
    ],
)
def test_numbers_in_vars_render_as_written(render, line, text):
    assert render(line) == text


@pytest.mark.parametrize(
    ("line", "text"),
    [
        pytest.param(
            "省 {{ vars.original_price - vars.flash_price }} 元", "省 30.0 元", id="arithmetic"
        ),
        pytest.param("{{ '%.2f' | format(vars.flash_price) }}", "19.90", id="format-2f"),
        pytest.param("{{ '%.1f' | format(vars.lectures[0].fee) }}", "1.5", id="format-1f"),
        pytest.param("{{ '%d' | format(vars.coupon_code) }}", "520", id="format-d"),
        pytest.param("{{ '{:.3f}'.format(vars.flash_price) }}", "19.900", id="format-spec"),
        pytest.param("{{ vars.flash_price | round(0) }}", "20.0", id="round"),
        pytest.param("{{ vars.flash_price | int }}", "19", id="int"),
        pytest.param("{{ vars.coupon_code + 1 }}", "521", id="int-arithmetic"),
        pytest.param(
            "{{ vars.flash_price < 20 and vars.coupon_code == 520 }}", "True", id="compare"
        ),
        pytest.param(
            "{{ vars.lectures | sort(attribute='fee', reverse=true) | map(attribute='title')"
            " | first }}",
            "第二讲",
            id="sort",
        ),
        pytest.param("{{ vars.lectures | sum(attribute='fee') }}", "3.5", id="sum"),
        pytest.param(
            "{{ vars.coupon_code is integer and vars.flash_price is float }}", "True", id="tests"
        ),
    ],
)
def test_numbers_in_vars_still_compute_as_numbers(render, line, text):
    assert render(line) == text


def test_booleans_text_and_dates_are_unchanged(render):
    line = "{{ vars.open }} {{ vars.quoted }} {{ vars.quoted | length }} {{ vars.start }}"
    assert render(line) == "True 19.90 5 2026-12-08"
    assert render("{{ vars.start | add_days(7) | cn_date }}") == "12月15日"


def test_validation_renders_the_written_text(build):
    """`botops validate` samples with the same values: the key exists only as written."""
    text = "{{ {'19.90': '快闪价'}[vars.flash_price | string] }}"
    _, problems = build({"sale.yaml": PLAYBOOK.replace("{{ LINE }}", text)})
    assert problems == []
    written_short = PLAYBOOK.replace("{{ LINE }}", text).replace("19.90\n", "19.9\n", 1)
    _, problems = build({"sale.yaml": written_short})
    [problem] = problems
    assert problem.message.startswith("'dict object' has no attribute '19.9'")


def test_written_numbers_are_plain_numbers_to_python(build):
    library, _ = build({"sale.yaml": PLAYBOOK.replace("{{ LINE }}", "x")})
    [playbook] = library.playbooks
    price = playbook.vars["flash_price"]
    assert type(price) is WrittenFloat
    assert type(playbook.vars["coupon_code"]) is WrittenInt
    assert price == 19.9
    assert hash(price) == hash(19.9)  # a dict or cache key is the number's
    assert {19.9: "a"}[price] == "a"
    assert repr(price) == "19.9"
    assert json.loads(json.dumps(playbook.vars))["lectures"][0]["fee"] == 1.5  # valid JSON
    assert type(price + 0) is float
    assert type(playbook.vars["coupon_code"] * 1) is int
    for copied in (
        copy.copy(playbook.vars),
        copy.deepcopy(playbook.vars),
        pickle.loads(pickle.dumps(playbook.vars)),
    ):
        assert copied == playbook.vars
        assert str(copied["flash_price"]) == "19.90"
        assert str(copied["coupon_code"]) == "0520"
        assert str(copied["lectures"][1]["fee"]) == "2.00"
    for number in (price, playbook.vars["coupon_code"]):  # ruamel's lists: protocol 2 and up
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            again = pickle.loads(pickle.dumps(number, protocol=protocol))
            assert (type(again), again, str(again)) == (type(number), number, str(number))
    # Only vars: the rest of the playbook has ruamel's numbers, as before.
    assert playbook.steps[0].schedule.day == [1]
    assert not isinstance(playbook.steps[0].schedule.day[0], WrittenInt)


def test_other_yaml_files_keep_plain_numbers():
    """Config and groups files share the loader: only playbook vars get written numbers."""
    value = yaml_loader().load("price: 19.90\n")["price"]
    assert not isinstance(value, WrittenFloat)
    assert str(value) == "19.9"


def test_aliases_and_merge_keys_in_vars(build):
    playbook = PLAYBOOK.replace(
        "  open: true\n", "  open: true\n  base: &base {fee: 9.90}\n  vip: {<<: *base, n: 1}\n"
    )
    text = "{{ vars.base.fee }}/{{ vars.vip.fee }}"
    library, problems = build({"sale.yaml": playbook.replace("{{ LINE }}", text)})
    assert problems == []
    [send] = plan(library, [GROUP], DAY_ONE, NO_LIMITS).sends
    assert send.text == "9.90/9.90"


def test_a_mistake_in_vars_is_still_located(build):
    """vars read again for their numbers keep their positions for error messages."""
    playbook = PLAYBOOK.replace("{{ LINE }}", "x") + "  7: 0.50\n"
    _, problems = build({"sale.yaml": playbook})
    [problem] = problems
    assert (problem.line, problem.col) == (24, 3)
    assert problem.message == "vars: key 7: Input should be a valid string"


# --- through the command line --------------------------------------------------------------

GROUPS = """\
- chat_id: wrA
  name: 快闪1群
  owner: zhangsan
  tags: [快闪]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway ops repo as the working directory, with no config file."""
    write_tree(
        tmp_path,
        {"sale.yaml": PLAYBOOK.replace('text: "{{ LINE }}"', "template: warm-up.j2")},
        {
            "warm-up.j2": "日常价 {{ vars.original_price }} 元 → 群内快闪价 "
            "{{ vars.flash_price }} 元，立省 {{ '%.2f' | format(vars.original_price"
            " - vars.flash_price) }} 元，券码 {{ vars.coupon_code }}"
        },
    )
    (tmp_path / "groups.yaml").write_text(GROUPS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("BOTOPS_")]:
        monkeypatch.delenv(name)
    return tmp_path


EXPECTED = "日常价 49.90 元 → 群内快闪价 19.90 元，立省 30.00 元，券码 0520"


def test_preview_json_shows_prices_as_written(project, capsys):
    args = ["preview", "--start", "2026-12-01", "--days", "1", "--groups", "groups.yaml"]
    assert main([*args, "--format", "json"]) == 0
    [send] = json.loads(capsys.readouterr().out)
    assert send["text"] == EXPECTED


def test_preview_table_shows_prices_as_written(project, capsys):
    args = ["preview", "--start", "2026-12-01", "--days", "1", "--groups", "groups.yaml"]
    assert main(args) == 0
    assert "快闪价 19.90 元" in capsys.readouterr().out


def test_validate_accepts_it(project, capsys):
    assert main(["validate"]) == 0
    assert "ok: 1 valid playbook(s), 0 error(s), 0 warning(s)" in capsys.readouterr().out
