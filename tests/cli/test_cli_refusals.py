"""Mistakes the command line refuses in one line, exit 1 (or argparse's 2), touching nothing:
half a set of WeCom credentials, a pretended time against WeCom itself, a message with
nothing in it, unusable arguments, database URLs and output paths, unknown ids — and no
database created by a command that only reads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from botops.cli import main
from botops.simulator import Simulator
from botops.store.db import open_database, session
from botops.store.models import MassTask
from tests.cli.support import GROUPS, READING


def refused(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 1) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"BOTOPS_WECOM__CORP_ID": "ww0000000000000000"}, "wecom.secret"),
        ({"BOTOPS_WECOM__SECRET": "SuperSecretValue123"}, "wecom.corp_id"),
        ({"BOTOPS_WECOM__API_BASE": "https://wecom-proxy.corp.example"}, "wecom.corp_id"),
    ],
)
@pytest.mark.parametrize("command", [["sync"], ["run", "--once"]])
def test_half_a_set_of_credentials_is_an_error_not_the_builtin_simulator(
    env: Path,
    builtin: list[Simulator],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    given: dict[str, str],
    missing: str,
    command: list[str],
) -> None:
    # A misspelt Secret name in production: the sends must not vanish into a simulator.
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    err = refused(capsys, command)
    assert err.startswith(f"botops: config {missing}: not set, but ")
    assert "SuperSecretValue123" not in err
    assert builtin == []
    assert not (env / "data").exists()


def test_once_with_a_pretended_time_is_refused_against_wecom_itself(
    env: Path, builtin: list[Simulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    # It would send now, to customers, and store the pretended day as groups' Day 1.
    monkeypatch.setenv("BOTOPS_WECOM__CORP_ID", "ww0000000000000000")
    monkeypatch.setenv("BOTOPS_WECOM__SECRET", "not-a-real-secret")
    with pytest.raises(SystemExit) as stopped:
        main(["run", "--once", "--now", "2026-12-08T07:31:00+08:00"])
    message = str(stopped.value.code)
    assert message.startswith("botops run: --once --now tries a time of day and runs only on a")
    assert "https://qyapi.weixin.qq.com" in message
    assert builtin == []
    assert not (env / "data").exists()


def test_once_with_a_pretended_time_runs_on_a_simulator_reached_over_http(
    env: Path, external: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--once", "--now", "2026-12-08T07:31:00+08:00"]) == 0
    assert "planned:" in capsys.readouterr().out


def test_a_step_that_renders_empty_is_not_sent_and_says_so(
    env: Path, builtin: list[Simulator], capsys: pytest.CaptureFixture[str]
) -> None:
    # The shipped evening reminder names who has not checked in: with no check-ins known
    # to the test, nobody, so nothing.
    argv = ["send-test", "checkin-100days", "evening-reminder", "--group", READING]
    err = refused(capsys, [*argv, "--groups", str(GROUPS)])
    assert err == (
        f"botops: checkin-100days/evening-reminder renders empty for group {READING} on day 1: "
        "nothing to send (the daemon skips such a send too)"
    )
    assert builtin == []  # refused before connecting


def test_an_output_path_that_cannot_be_written_is_one_line(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (env / "a-folder").mkdir()
    argv = ["preview", "--groups", str(GROUPS), "--start", "2026-12-07", "--days", "1"]
    err = refused(capsys, [*argv, "--output", "a-folder"])
    assert err.startswith("botops: cannot write a-folder: ")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["preview", "--start", "9999-12-30", "--days", "5"], "out of range"),
        (["preview", "--days", "0"], "must be between 1 and 3660"),
        (["status", "--now", "9999-12-31T23:00:00+00:00"], "out of range"),
        (["run", "--once", "--now", "0001-01-01T00:00:00+08:00"], "out of range"),
        (["simulator", "--port", "99999"], "must be between 1 and 65535"),
        (["simulator", "--port", "0"], "must be between 1 and 65535"),
    ],
)
def test_arguments_out_of_range_are_usage_errors(
    env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://botops:PaSsWoRd@db/botops", "unsupported database 'mysql'"),
        ("postgresql://botops:PaSsWoRd@db:notaport/botops", "not a database URL"),
        ("sqlite+pysqlcipher:///PaSsWoRd.db", "database driver 'sqlite+pysqlcipher' is not"),
    ],
)
@pytest.mark.parametrize("command", [["status"], ["groups", "list"], ["sync"]])
def test_an_unusable_database_url_is_one_line_without_the_password(
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    url: str,
    message: str,
    command: list[str],
) -> None:
    monkeypatch.setenv("BOTOPS_DATABASE__URL", url)
    err = refused(capsys, command)
    assert err.startswith(f"botops: config database.url: {message}")
    assert "PaSsWoRd" not in err


def test_groups_list_creates_no_database(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(capsys, ["groups", "list"])
    assert err.startswith("botops: no database at ")
    assert not (env / "data").exists()


def test_send_test_from_an_empty_folder_creates_no_database(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(capsys, ["send-test", "checkin-100days", "milestone", "--group", READING])
    assert err.startswith("botops: no database at ")
    assert "--groups FILE" in err
    assert not (env / "data").exists()


def waiting_task(env: Path, playbook: str, step: str) -> None:
    engine = open_database(f"sqlite:///{env / 'data' / 'botops.db'}")
    try:
        with session(engine) as s:
            s.add(
                MassTask(
                    msgid=f"msg-{playbook}-{step}",
                    sender="zhangsan",
                    playbook=playbook,
                    step=step,
                    created_at=datetime(2026, 3, 10, tzinfo=UTC),
                )
            )
    finally:
        engine.dispose()


def test_withdraw_refuses_ids_neither_the_playbooks_nor_the_database_know(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    waiting_task(env, "retired-campaign", "kickoff")  # its playbook left sops/ since
    err = refused(capsys, ["withdraw", "nosuch"])
    assert err.startswith("botops: unknown playbook 'nosuch' (known: ")
    assert "checkin-100days" in err
    assert "retired-campaign" in err
    err = refused(capsys, ["withdraw", "checkin-100days", "nosuchstep"])
    assert err.startswith("botops: unknown step 'nosuchstep' of checkin-100days (known: ")
    assert "evening-reminder" in err

    assert main(["withdraw", "checkin-100days", "milestone"]) == 0
    assert "nothing to withdraw" in capsys.readouterr().out
    assert main(["withdraw", "retired-campaign", "kickoff"]) == 0
    assert "msg-retired-campaign-kickoff" in capsys.readouterr().out
