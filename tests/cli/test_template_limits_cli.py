"""`botops validate` and `botops preview` on a template building something far too large."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from botops.cli import main
from botops.playbook.templates import MAX_BUILT_SIZE
from tests.helpers import write_tree

PLAYBOOK = """\
id: demo
name: 演示
anchor: 2026-12-01
audience: {tags: {any: [打卡]}}
steps:
  - id: hello
    schedule: {day: 1, time: "09:00"}
    template: hello.j2
"""
OVER = MAX_BUILT_SIZE + 1


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_tree(tmp_path, {"demo.yaml": PLAYBOOK}, {"hello.j2": "你好"})
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("BOTOPS_")]:
        monkeypatch.delenv(name)
    return tmp_path


def test_validate_points_at_the_repetition(project, capsys):
    (project / "templates" / "hello.j2").write_text(f'你好\n{{{{ "=" * {OVER} }}}}\n')
    assert main(["validate"]) == 1
    err = capsys.readouterr().err
    assert f"templates/hello.j2:2:1: `*` would repeat text to {OVER:,} characters" in err


def test_preview_skips_the_one_group_it_is_too_large_for(project, capsys):
    (project / "templates" / "hello.j2").write_text('{{ "=" * group.member_count }}')
    (project / "groups.yaml").write_text(
        "- {chat_id: wrA, name: A, owner: zhangsan, tags: [打卡], member_count: 30}\n"
        f"- {{chat_id: wrB, name: B, owner: zhangsan, tags: [打卡], member_count: {OVER}}}\n",
        encoding="utf-8",
    )
    args = ["preview", "--start", "2026-12-01", "--days", "1", "--groups", "groups.yaml"]
    assert main([*args, "--format", "json"]) == 0
    sends = {s["chat_id"]: s for s in json.loads(capsys.readouterr().out)}
    assert (sends["wrA"]["status"], sends["wrA"]["text"]) == ("planned", "=" * 30)
    assert sends["wrB"]["status"] == "skipped"
    assert sends["wrB"]["reason"].startswith(
        f"template error: hello.j2:1: `*` would repeat text to {OVER:,} characters"
    )
