"""`botops validate` names the file an attachment was looked for at: in a container whose
mounts leave out `assets/`, the message must say where it looked, resolved."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from botops.cli import main
from tests.helpers import write_tree

PLAYBOOK = """\
id: poster
name: 海报
anchor: 2026-12-01
audience: {tags: {any: [打卡]}}
steps:
  - id: day7
    schedule: {days: {from: 7, to: 7}, time: "09:00"}
    template: hello.j2
    attachments:
      - image: {file: ../assets/milestone-poster.png}
"""


def test_a_missing_attachment_names_the_resolved_path_it_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(tmp_path, {"poster.yaml": PLAYBOOK}, {"hello.j2": "第{{ day }}天"})
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("BOTOPS_")]:
        monkeypatch.delenv(name)
    assert main(["validate"]) == 1
    err = capsys.readouterr().err
    wanted = tmp_path.resolve() / "assets" / "milestone-poster.png"
    assert f"attachment file '../assets/milestone-poster.png' not found at {wanted}" in err
    assert "looked in" not in err
