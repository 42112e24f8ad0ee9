"""A mistake in config.yaml is located as FILE:LINE:COL, as a playbook's is: an unknown key at
the key (with the known key it is closest to), a wrong value at the value, never quoting the
line or the value (it may be a secret). Values from the environment or from a secret file are
not in the file: their errors stay as they were, naming the variable or the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from botops.config import load_settings
from botops.errors import ConfigError


def refused(path: Path | None, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env or {})
    return caught.value


def test_an_unknown_key_is_located_at_the_key_with_the_closest_known_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text("wecom:\n  corpid: ww123\n", encoding="utf-8")
    error = refused(None)  # ./config.yaml, found as botops finds it
    assert str(error) == "config.yaml:2:3: wecom.corpid: unknown key (did you mean 'corp_id'?)"
    assert error.key == "wecom.corpid"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("sops_dri: playbooks\n", "c.yaml:1:1: sops_dri: unknown key (did you mean 'sops_dir'?)"),
        # A secret's file variant is a known key too.
        ("wecom:\n  secret_fiel: s\n", "c.yaml:2:3: wecom.secret_fiel: unknown key (did you mean"),
        # (start is then missing: said at the mapping it is missing from)
        ("policy:\n  quiet_hours:\n    strat: '22:00'\n", "c.yaml:3:5: policy.quiet_hours.strat"),
        ("policy:\n  quiet_hours:\n    strat: '22:00'\n", "c.yaml:3:5: policy.quiet_hours.start: "),
        ("server:\n  xyzzy: 1\n", "c.yaml:2:3: server.xyzzy: unknown key"),
    ],
)
def test_unknown_keys_anywhere_are_located(tmp_path, text, said):
    error = refused(write(tmp_path / "c.yaml", text))
    assert f"{tmp_path}/{said}" in str(error), str(error)


def test_nothing_close_is_no_guess(tmp_path):
    error = refused(write(tmp_path / "c.yaml", "server:\n  xyzzy: 1\n"))
    assert str(error) == f"{tmp_path}/c.yaml:2:3: server.xyzzy: unknown key"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "server: {port: nope}\n",
            "c.yaml:1:16: server.port: Input should be a valid integer, unable to parse string "
            "as an integer",
        ),
        ("server:\n  port: 70000\n", "c.yaml:2:9: server.port: Input should be less than or"),
        ("wecom: 5\n", "c.yaml:1:8: wecom: Input should be a valid dictionary"),
        ("tracking:\n  remind_after: [2h, 0m]\n", "c.yaml:2:22: tracking.remind_after.1: must be"),
        # Text the model splits into a list: the text itself.
        ("tracking:\n  remind_after: '0m,2h'\n", "c.yaml:2:17: tracking.remind_after.0: must be"),
        ("reports:\n  inactivity_min_messages: null\n", "c.yaml:2:3: reports: inactivity_days"),
    ],
)
def test_a_wrong_value_is_located_at_the_value(tmp_path, text, said):
    error = refused(write(tmp_path / "c.yaml", text))
    assert str(error).startswith(f"{tmp_path}/{said}"), str(error)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("wecom: {secret: [SuperSecretValue123]}\n", "c.yaml:1:17: wecom.secret"),
        (
            "wecom:\n  corp_id: ww1\n  secret: {SuperSecretValue123: 1}\n",
            "c.yaml:3:11: wecom.secret",
        ),
        ("alerts:\n  robot_key:\n    - SuperSecretValue123\n", "c.yaml:3:5: alerts.robot_key"),
    ],
)
def test_a_wrong_secret_is_located_but_never_quoted(tmp_path, text, where):
    message = str(refused(write(tmp_path / "c.yaml", text)))
    assert message == f"{tmp_path}/{where}: Input should be a valid string"
    assert "SuperSecret" not in message


def test_every_error_is_located_in_file_order(tmp_path):
    text = "wecom:\n  corpid: ww1\nserver:\n  port: nope\nsops_dri: x\n"
    message = str(refused(write(tmp_path / "c.yaml", text)))
    assert [part.split(": ")[0] for part in message.split("; ")] == [
        f"{tmp_path}/c.yaml:2:3",
        f"{tmp_path}/c.yaml:4:9",
        f"{tmp_path}/c.yaml:5:1",
    ]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("server:\n  host_file: x\n", "c.yaml:2:3: server.host_file: only secret keys can be"),
        ("wecom:\n  secret: a\n  secret_file: s.txt\n", "c.yaml:2:3: wecom.secret: given twice"),
        ("wecom:\n  secret_file: nothere\n", "c.yaml:2:16: wecom.secret_file: cannot read"),
    ],
)
def test_secret_file_mistakes_in_the_file_are_located(tmp_path, text, said):
    error = refused(write(tmp_path / "c.yaml", text))
    assert str(error).startswith(f"{tmp_path}/{said}"), str(error)


def test_values_from_the_environment_keep_their_messages_beside_located_ones(tmp_path):
    config = write(tmp_path / "c.yaml", "server:\n  port: 8080\nwecom:\n  corpid: ww1\n")
    env = {"BOTOPS_SERVER__PORT": "nope"}  # the file's port is fine; the environment's is not
    assert str(refused(config, env)) == (
        "config server.port: Input should be a valid integer, unable to parse string as an "
        f"integer; {tmp_path}/c.yaml:4:3: wecom.corpid: unknown key (did you mean 'corp_id'?)"
    )
    # As before: the variable's name, and the close one.
    error = refused(config, {"BOTOPS_WECOM__SECRTE": "x"})
    assert str(error) == (
        "config BOTOPS_WECOM__SECRTE: is not a setting (did you mean BOTOPS_WECOM__SECRET?)"
    )
    error = refused(config, {"BOTOPS_WECOM__SECRET_FILE": str(tmp_path / "nothere")})
    assert str(error).startswith("config BOTOPS_WECOM__SECRET_FILE: cannot read ")
    # A list the environment gives, in the file too: the environment's is the one refused.
    listed = write(tmp_path / "l.yaml", "tracking:\n  remind_after: [1h]\n")
    error = refused(listed, {"BOTOPS_TRACKING__REMIND_AFTER": "2h,0m"})
    assert (
        str(error)
        == "config tracking.remind_after.1: must be a positive duration (longer than zero)"
    )


def test_a_yaml_error_is_located_as_the_others(tmp_path):
    message = str(refused(write(tmp_path / "c.yaml", "wecom:\n  secret: Super: x\n")))
    assert (
        message == f"{tmp_path}/c.yaml:2:16: cannot read: YAML: mapping values are not allowed here"
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
