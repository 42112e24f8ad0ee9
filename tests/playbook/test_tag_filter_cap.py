"""WeCom caps a tag_filter at 100 tags per group (tag_list), not 100 in all (D-92135)."""

from __future__ import annotations

from pathlib import Path

from botops.playbook.library import load_library
from tests.helpers import write_tree

PLAYBOOK = """\
id: vip
name: 会员
audience:
  chat_type: single
  tag_filter: FILTER
steps:
  - id: hello
    schedule: {day: 1, time: "09:00"}
    text: "你好"
"""


def errors(tmp_path: Path, groups: list[int]) -> list[str]:
    lists = [[f"t{g}-{n}" for n in range(size)] for g, size in enumerate(groups)]
    write_tree(tmp_path, {"vip.yaml": PLAYBOOK.replace("FILTER", str(lists))})
    _, problems = load_library([tmp_path / "sops"], tmp_path / "templates")
    return [p.message for p in problems if p.severity == "error"]


def test_a_hundred_tags_in_each_of_two_groups_is_within_wecoms_cap(tmp_path: Path) -> None:
    assert errors(tmp_path, [100, 100]) == []


def test_one_group_over_a_hundred_tags_is_refused_naming_it(tmp_path: Path) -> None:
    [message] = errors(tmp_path, [3, 101])
    assert "tag_filter[1] has 101 tags; WeCom allows 100 per group" in message
