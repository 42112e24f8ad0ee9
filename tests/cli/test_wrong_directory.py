"""botops run in the wrong folder: a missing sops_dir is named in full, saying how it was
resolved; a command that writes says that no config file was found and where the database
is; a mistake in config.yaml is located, as a playbook's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from botops.cli import main

NO_CONFIG = "botops: no config file here (./config.yaml, $BOTOPS_CONFIG or --config)"


@pytest.fixture
def elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty folder, no BOTOPS_* variables: the wrong directory."""
    for name in list(os.environ):
        if name.startswith("BOTOPS_"):
            monkeypatch.delenv(name)
    folder = tmp_path / "otherdir"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def errors(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_validate_without_a_config_file_names_the_folder_and_how_to_fix_it(
    elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate"]) == 1
    assert errors(capsys) == [
        f"{elsewhere}/sops:1:1: no such file or folder (sops_dir, relative to the current "
        "directory: no config file was found here — run botops where your config.yaml is, or "
        "pass --config)"
    ]


def test_a_missing_path_argument_is_named_in_full(
    elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "nothere.yaml"]) == 1
    assert errors(capsys) == [f"{elsewhere}/nothere.yaml:1:1: no such file or folder"]


@pytest.mark.parametrize(
    ("config", "env", "looked_for", "how"),
    [
        ("", {}, "project/sops", "sops_dir not set in project/c.yaml: the default, relative to its folder"),
        ("sops_dir: playbooks\n", {}, "project/playbooks", "sops_dir in project/c.yaml, relative to its folder"),
        ("sops_dir: /nowhere/sops\n", {}, "/nowhere/sops", "sops_dir in project/c.yaml"),
        ("sops_dir: playbooks\n", {"BOTOPS_SOPS_DIR": "mine"}, "mine", "BOTOPS_SOPS_DIR, relative to the current directory"),
    ],
)  # fmt: skip
def test_the_hint_says_how_sops_dir_was_resolved(
    elsewhere: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    config: str,
    env: dict[str, str],
    looked_for: str,
    how: str,
) -> None:
    (elsewhere / "project").mkdir()
    (elsewhere / "project" / "c.yaml").write_text(config, encoding="utf-8")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["--config", "project/c.yaml", "validate"]) == 1
    path = looked_for if looked_for.startswith("/") else f"{elsewhere}/{looked_for}"
    assert errors(capsys) == [f"{path}:1:1: no such file or folder ({how})"]


def test_a_sync_without_a_config_file_says_where_the_database_is(
    elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync"]) == 0
    err = errors(capsys)
    assert err[0] == f"{NO_CONFIG}: the default database, {elsewhere}/data/botops.db"
    assert [line for line in err if line.startswith(NO_CONFIG)] == [err[0]]  # said once
    assert (elsewhere / "data" / "botops.db").is_file()


def test_no_note_with_a_config_file_a_chosen_database_or_a_command_that_only_reads(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (elsewhere / "messages.jsonl").write_text("", encoding="utf-8")
    (elsewhere / "sops").mkdir()
    assert main(["import-messages", "messages.jsonl"]) == 0  # writes: the note
    assert errors(capsys)[0].startswith(NO_CONFIG)
    assert main(["status"]) == 0  # only reads
    assert not any(line.startswith(NO_CONFIG) for line in errors(capsys))
    (elsewhere / "config.yaml").write_text("timezone: Asia/Shanghai\n", encoding="utf-8")
    assert main(["import-messages", "messages.jsonl"]) == 0
    assert not any(line.startswith(NO_CONFIG) for line in errors(capsys))
    (elsewhere / "config.yaml").unlink()
    monkeypatch.setenv("BOTOPS_DATA_DIR", str(elsewhere / "state"))
    assert main(["import-messages", "messages.jsonl"]) == 0
    assert not any(line.startswith(NO_CONFIG) for line in errors(capsys))


def test_a_mistake_in_config_yaml_is_located_with_the_key_meant(
    elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (elsewhere / "config.yaml").write_text("wecom:\n  corpid: ww123\n", encoding="utf-8")
    assert main(["validate"]) == 1
    assert errors(capsys) == [
        "botops: config.yaml:2:3: wecom.corpid: unknown key (did you mean 'corp_id'?)"
    ]
    (elsewhere / "config.yaml").write_text("wecom:\n  secret: [SuperSecret1]\n", encoding="utf-8")
    assert main(["validate"]) == 1
    assert errors(capsys) == [
        "botops: config.yaml:2:11: wecom.secret: Input should be a valid string"
    ]
