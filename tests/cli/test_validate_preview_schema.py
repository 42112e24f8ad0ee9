"""`botops validate`, `botops preview` and `botops schema` through the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from botops.cli import main
from tests.helpers import REPO, write_tree

VALID = """\
id: demo
name: 演示
anchor: 2026-12-01
audience: {tags: {any: [打卡]}}
steps:
  - id: hello
    schedule: {days: {from: 1, to: 3}, time: "09:00"}
    template: hello.j2
"""
GROUPS = """\
- chat_id: wrA
  name: 打卡A群
  owner: zhangsan
  tags: [打卡]
  created_at: "2026-11-01T10:00:00+08:00"
- chat_id: wrB
  name: 打卡B群
  owner: zhangsan
  tags: [打卡]
- chat_id: wrC
  name: 闲聊群
  owner: lisi
  tags: []
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway ops repo as the working directory, with no config file."""
    write_tree(tmp_path, {"demo.yaml": VALID}, {"hello.j2": "第{{ day }}天，{{ group.name }}加油"})
    (tmp_path / "groups.yaml").write_text(GROUPS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("BOTOPS_")]:
        monkeypatch.delenv(name)
    return tmp_path


def test_validate_ok_exits_0(project, capsys):
    assert main(["validate"]) == 0
    assert "ok: 1 valid playbook(s), 0 error(s), 0 warning(s)" in capsys.readouterr().out


def test_validate_reports_every_problem_and_exits_1(project, capsys):
    (project / "sops" / "bad.yaml").write_text(
        VALID.replace("id: demo", "id: bad").replace("audience", "audiance")
    )
    (project / "templates" / "hello.j2").write_text("{{ gruop.name }}")
    assert main(["validate"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert any(
        line.endswith("bad.yaml:4:1: unknown key 'audiance' (did you mean 'audience'?)")
        for line in err
    )
    assert any("templates/hello.j2:1:4: 'gruop' is undefined" in line for line in err)


def test_validate_strict_fails_on_warnings(project):
    (project / "sops" / "demo.yaml").write_text(VALID.replace('"09:00"', '"23:00"'))
    assert main(["validate"]) == 0
    assert main(["validate", "--strict"]) == 1


def test_validate_explicit_file_and_missing_path(project, capsys):
    assert main(["validate", "sops/demo.yaml"]) == 0
    assert main(["validate", "sops/nothere.yaml"]) == 1
    assert "sops/nothere.yaml:1:1: no such file or folder" in capsys.readouterr().err


def test_preview_json_lists_exactly_the_planned_sends(project, capsys):
    assert (
        main(
            [
                "preview",
                "--start",
                "2026-12-01",
                "--days",
                "2",
                "--groups",
                "groups.yaml",
                "--format",
                "json",
            ]
        )
        == 0
    )
    sends = json.loads(capsys.readouterr().out)
    assert [(s["at"], s["chat_id"], s["text"]) for s in sends] == [
        ("2026-12-01T09:00:00+08:00", "wrA", "第1天，打卡A群加油"),
        ("2026-12-01T09:00:00+08:00", "wrB", "第1天，打卡B群加油"),
        ("2026-12-02T09:00:00+08:00", "wrA", "第2天，打卡A群加油"),
        ("2026-12-02T09:00:00+08:00", "wrB", "第2天，打卡B群加油"),
    ]
    first = sends[0]
    assert first["key"] == "demo:hello:wrA:2026-12-01"
    assert (first["playbook"], first["step"], first["segment"], first["status"]) == (
        "demo",
        "hello",
        "default",
        "planned",
    )
    assert first["attachments"] == []
    assert sends[0]["batch"] != sends[1]["batch"]  # different text: two tasks


REMINDER = """\
id: remind
name: 提醒
anchor: 2026-12-01
audience: {tags: {any: [打卡]}}
steps:
  - id: evening
    schedule: {day: 1, time: "20:00"}
    text: "{% if checkin.not_checked_in %}还没打卡：{{ checkin.not_checked_in | join('、') }}{% endif %}"
"""


@pytest.mark.parametrize(
    ("flags", "status", "text", "reason"),
    [
        ([], "planned", "", "text rendered when due, with the check-in figures of that moment"),
        (["--sample-checkins"], "planned", "还没打卡：小雨、阿杰、Lily", ""),
    ],
)
def test_preview_shows_check_in_texts_as_rendered_when_due(
    project, capsys, flags, status, text, reason
):
    (project / "sops" / "remind.yaml").write_text(REMINDER, encoding="utf-8")
    args = ["preview", "--start", "2026-12-01", "--days", "1", "--groups", "groups.yaml"]
    assert main([*args, "--group", "wrA", "--format", "json", *flags]) == 0
    sends = [s for s in json.loads(capsys.readouterr().out) if s["playbook"] == "remind"]
    assert [(s["status"], s["text"], s["reason"]) for s in sends] == [(status, text, reason)]


@pytest.mark.parametrize(
    ("flags", "cell"),
    [([], "(written when due; see --sample-checkins)"), (["--sample-checkins"], "还没打卡：小雨")],
)
def test_the_table_says_why_a_check_in_text_is_not_shown_yet(project, capsys, flags, cell):
    """Empty until it is due, the reminder would otherwise be a blank cell (a broken template?)."""
    (project / "sops" / "remind.yaml").write_text(REMINDER, encoding="utf-8")
    args = ["preview", "--start", "2026-12-01", "--days", "1", "--groups", "groups.yaml"]
    assert main([*args, "--group", "wrA", *flags]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "remind/" in line]
    assert len(rows) == 1
    assert cell in rows[0]


def test_preview_group_filter_and_unknown_group(project, capsys):
    assert (
        main(
            [
                "preview",
                "--start",
                "2026-12-01",
                "--days",
                "1",
                "--groups",
                "groups.yaml",
                "--group",
                "wrB",
                "--format",
                "json",
            ]
        )
        == 0
    )
    assert [s["chat_id"] for s in json.loads(capsys.readouterr().out)] == ["wrB"]
    assert main(["preview", "--groups", "groups.yaml", "--group", "wrZ"]) == 1
    assert "not in groups.yaml: wrZ" in capsys.readouterr().err


def test_preview_writes_only_the_output_file(project, capsys):
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    assert (
        main(
            [
                "preview",
                "--start",
                "2026-12-01",
                "--days",
                "3",
                "--groups",
                "groups.yaml",
                "--format",
                "html",
                "--output",
                "cal.html",
            ]
        )
        == 0
    )
    after = sorted(p.relative_to(project) for p in project.rglob("*"))
    assert after == sorted([*before, Path("cal.html")])
    page = (project / "cal.html").read_text(encoding="utf-8")
    assert "打卡A群" in page
    assert "第3天，打卡B群加油" in page


def test_preview_refuses_invalid_playbooks_and_malformed_groups(project, capsys):
    (project / "groups.yaml").write_text("- chat_id: wrA\n  name: x\n", encoding="utf-8")
    assert main(["preview", "--groups", "groups.yaml"]) == 1
    assert "groups.yaml:1:3: [0].owner: Field required" in capsys.readouterr().err
    (project / "templates" / "hello.j2").write_text("{{ nope }}")
    assert main(["preview", "--groups", "groups.yaml"]) == 1
    assert "'nope' is undefined" in capsys.readouterr().err


def test_preview_without_groups_says_what_to_do(project, capsys):
    assert main(["preview"]) == 1
    assert "pass --groups FILE" in capsys.readouterr().err


def test_schema_is_json_schema_of_the_format(project, capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {
        "id",
        "name",
        "audience",
        "steps",
        "segments",
        "checkin",
        "inactivity",
        "policy",
    } <= set(schema["properties"])
    assert schema["additionalProperties"] is False
    step = schema["$defs"]["Step"]
    assert step["additionalProperties"] is False
    assert "expires_after" in step["properties"]
    assert "from" in schema["$defs"]["DayRange"]["properties"]


def test_schema_accepts_the_shipped_playbooks():
    import jsonschema

    from botops.playbook.loader import yaml_loader
    from botops.playbook.schema import playbook_schema

    validator = jsonschema.Draft202012Validator(playbook_schema())
    for path in sorted((REPO / "sops").glob("*.yaml")):
        document = json.loads(json.dumps(yaml_loader().load(path.read_text(encoding="utf-8"))))
        errors = [e.message for e in validator.iter_errors(document)]
        assert errors == [], f"{path.name}: {errors}"


def test_every_shipped_playbook_validates(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["validate", "--strict", "sops"]) == 0, capsys.readouterr().err


def test_console_script_runs_as_a_real_process(tmp_path):
    """`python -m botops` in a fresh process: what ops actually run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOTOPS_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "botops",
            "validate",
            str(REPO / "sops"),
            "--templates",
            str(REPO / "templates"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "valid playbook(s)" in result.stdout
