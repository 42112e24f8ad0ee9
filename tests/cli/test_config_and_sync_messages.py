"""Messages that send people the right way: a missing `--config FILE` is blamed on --config
(not on $BOTOPS_CONFIG), a sync stopped by a configuration error asks for the fix, not for a
rerun that would fail the same way, and a value past its bound is refused by its key."""

from __future__ import annotations

import pytest

from botops.cli import main


def test_a_missing_config_file_given_with_dash_dash_config_names_the_option(
    env, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", "nope.yaml", "validate"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "botops: config --config: no such file: nope.yaml"


def test_dash_dash_config_is_blamed_even_with_botops_config_set(
    env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (env / "good.yaml").write_text("timezone: Asia/Shanghai\n", encoding="utf-8")
    monkeypatch.setenv("BOTOPS_CONFIG", str(env / "good.yaml"))
    assert main(["sync", "--config", "nope.yaml"]) == 1
    assert "BOTOPS_CONFIG" not in capsys.readouterr().err


def test_a_sync_with_a_wrong_secret_asks_for_the_fix_not_a_rerun(
    env, external, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOTOPS_WECOM__SECRET", "not-the-secret")
    assert main(["sync"]) == 1
    out = capsys.readouterr().out
    assert "errcode 40001" in out
    assert "run `botops sync` again" not in out
    assert out.rstrip().splitlines()[-1].endswith("— fix the configuration error above first")


def test_a_default_expiry_past_a_year_is_a_config_error_not_cut_short(
    env, capsys: pytest.CaptureFixture[str]
) -> None:
    # A step's expires_after has the same bound; the planner takes both as they are.
    (env / "config.yaml").write_text("policy:\n  expires_after: 400d\n", encoding="utf-8")
    assert main(["--config", "config.yaml", "validate"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        "botops: config.yaml:2:18: policy.expires_after: '400d' is too long: at most 366d"
    )
