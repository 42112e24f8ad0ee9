"""Settings: file, environment overrides, secret files, and errors that name the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from botops.config import Settings, load_settings
from botops.errors import ConfigError
from tests.helpers import REPO


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, {})
    assert settings.timezone == "Asia/Shanghai"
    assert settings.database_url == "sqlite:///data/botops.db"
    assert not settings.wecom.configured
    assert settings.send_policy.receive_cap.describe() == "days_in_month/month"


def test_the_example_config_loads_and_equals_the_defaults(tmp_path):
    settings = load_settings(REPO / "config.example.yaml", {})
    defaults = Settings()
    assert settings.policy == defaults.policy
    assert settings.sops_dir == REPO / "sops"  # relative to the file
    assert (settings.server, settings.wecom, settings.database) == (
        defaults.server,
        defaults.wecom,
        defaults.database,
    )


def test_environment_overrides_file(tmp_path):
    config = write(tmp_path / "c.yaml", "server:\n  port: 8080\nwecom:\n  corp_id: ww1\n")
    env = {
        "BOTOPS_SERVER__PORT": "9000",
        "BOTOPS_WECOM__SECRET": "s3cr3t",
        "BOTOPS_TIMEZONE": "Europe/Berlin",
        "BOTOPS_POLICY__RECEIVE_CAP__PERIOD": "day",
        "BOTOPS_POLICY__RECEIVE_CAP__LIMIT": "1",
    }
    settings = load_settings(config, env)
    assert settings.server.port == 9000
    assert settings.wecom.configured
    assert settings.timezone == "Europe/Berlin"
    assert settings.send_policy.receive_cap.describe() == "1/day"


def test_values_from_the_environment_lose_surrounding_whitespace(tmp_path):
    # A Kubernetes Secret made with `echo` keeps the newline in the environment variable.
    env = {
        "BOTOPS_DATABASE__URL": f"sqlite:///{tmp_path / 'b.db'}\n",
        "BOTOPS_WECOM__CORP_ID": " ww1\n",
        "BOTOPS_WECOM__SECRET": "s3cr3t\n",
        "BOTOPS_INGEST__SECRET": "\thmac-key \n",
    }
    settings = load_settings(None, env)
    assert settings.database_url == f"sqlite:///{tmp_path / 'b.db'}"
    assert settings.wecom.corp_id == "ww1"
    assert settings.wecom.secret is not None
    assert settings.wecom.secret.get_secret_value() == "s3cr3t"
    assert settings.ingest.secret is not None
    assert settings.ingest.secret.get_secret_value() == "hmac-key"


def test_a_scalar_ruamel_cannot_read_is_a_config_error(tmp_path):
    config = write(tmp_path / "c.yaml", "server:\n  port: 0x_\n")
    with pytest.raises(ConfigError, match=r"c\.yaml.*cannot read: YAML"):
        load_settings(config, {})


def test_null_in_the_environment_unsets_a_setting(tmp_path):
    config = write(tmp_path / "c.yaml", "reports:\n  digest_at: '08:00'\n")
    assert load_settings(config, {}).reports.digest_at is not None
    assert load_settings(config, {"BOTOPS_REPORTS__DIGEST_AT": "null"}).reports.digest_at is None
    # send history is kept 400 days unless told otherwise, forever with null
    assert load_settings(config, {}).daemon.keep_sends == timedelta(days=400)
    assert load_settings(config, {"BOTOPS_DAEMON__KEEP_SENDS": "null"}).daemon.keep_sends is None


def test_config_path_from_environment(tmp_path):
    config = write(tmp_path / "c.yaml", "timezone: Asia/Tokyo\n")
    assert load_settings(None, {"BOTOPS_CONFIG": str(config)}).timezone == "Asia/Tokyo"
    with pytest.raises(ConfigError, match=r"BOTOPS_CONFIG: config file .* does not exist"):
        load_settings(None, {"BOTOPS_CONFIG": str(tmp_path / "missing.yaml")})


def test_secret_from_file_and_never_in_repr(tmp_path):
    write(tmp_path / "secret.txt", "topsecret\n")
    config = write(tmp_path / "c.yaml", "wecom:\n  corp_id: ww1\n  secret_file: secret.txt\n")
    settings = load_settings(config, {})
    assert settings.wecom.secret is not None
    assert settings.wecom.secret.get_secret_value() == "topsecret"
    assert "topsecret" not in repr(settings)
    assert "topsecret" not in str(settings.model_dump())
    env_file = load_settings(None, {"BOTOPS_ALERTS__ROBOT_KEY_FILE": str(tmp_path / "secret.txt")})
    assert env_file.alerts.robot_key is not None
    assert env_file.alerts.robot_key.get_secret_value() == "topsecret"


@pytest.mark.parametrize(
    ("text", "env", "key", "message"),
    [
        ("server:\n  prot: 1\n", {}, "server.prot", "unknown key"),
        ("server:\n  port: http\n", {}, "server.port", "valid integer"),
        ("timezone: Mars/Olympus\n", {}, "timezone", "unknown timezone"),
        (
            "",
            {"BOTOPS_WECOM__SECRTE": "x"},
            "BOTOPS_WECOM__SECRTE",
            "did you mean BOTOPS_WECOM__SECRET",
        ),
        ("", {"BOTOPS_SERVER__PORT": "99999"}, "server.port", "less than or equal to 65535"),
        (
            "policy:\n  receive_cap: {period: year}\n",
            {},
            "policy.receive_cap.period",
            "'day', 'week' or 'month'",
        ),
        ("server:\n  host_file: x\n", {}, "server.host_file", "only secret keys"),
        ("wecom:\n  secret_file: nothere\n", {}, "wecom.secret_file", "cannot read"),
        ("- a list\n", {}, "c.yaml", "one mapping"),
        ("daemon:\n  keep_callbacks: 2h\n", {}, "daemon.keep_callbacks", "at least 1d"),
        ("daemon:\n  keep_sends: 3d\n", {}, "daemon.keep_sends", "at least 7d, or null"),
        ("daemon:\n  keep_messages: 6d\n", {}, "daemon.keep_messages", "at least 7d, or null"),
        ("daemon:\n  callback_retry_after: 0s\n", {}, "daemon.callback_retry_after", "positive"),
        # Zero would mean never planning ahead, a busy loop, or resending at once a send
        # whose answer was lost: every interval and window must be positive.
        ("daemon:\n  plan_ahead: 0m\n", {}, "daemon.plan_ahead", "positive duration"),
        ("", {"BOTOPS_DAEMON__PLAN_EVERY": "0s"}, "daemon.plan_every", "positive duration"),
        ("daemon:\n  sync_every: 0h\n", {}, "daemon.sync_every", "positive duration"),
        ("daemon:\n  reconcile_after: 0s\n", {}, "daemon.reconcile_after", "positive duration"),
        ("wecom:\n  callback_max_skew: 0s\n", {}, "wecom.callback_max_skew", "positive duration"),
        ("tracking:\n  poll_every: 0m\n", {}, "tracking.poll_every", "positive duration"),
        ("tracking:\n  remind_after: [0m, 2h]\n", {}, "tracking.remind_after.0", "positive"),
        ("tracking:\n  remind_after: [2h, 30m]\n", {}, "tracking.remind_after", "ascending"),
        ("policy:\n  expires_after: 0h\n", {}, "policy.expires_after", "positive duration"),
    ],
)
def test_errors_name_the_key(tmp_path, text, env, key, message):
    config = write(tmp_path / "c.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env)
    assert caught.value.key.endswith(key)
    assert message in str(caught.value)


def test_wecom_limits_from_config_reach_the_client(tmp_path):
    from botops.wecom.connect import client_limits

    config = write(
        tmp_path / "c.yaml", "wecom:\n  calls_per_minute: 2000\n  calls_per_hour: 30000\n"
    )
    limits, retry = client_limits(
        load_settings(config, {"BOTOPS_WECOM__RETRY_ATTEMPTS": "2"}).wecom
    )
    assert [(w.limit, w.seconds) for w in limits.per_api] == [(2000, 60), (30000, 3600)]
    assert [(w.limit, w.seconds) for w in limits.per_robot] == [(20, 60)]
    assert retry.attempts == 2


@pytest.mark.parametrize(
    ("text", "env", "missing"),
    [
        ("wecom:\n  corp_id: ww1\n", {}, "wecom.secret"),  # a misspelt Secret name
        ("", {"BOTOPS_WECOM__SECRET": "s3cr3t"}, "wecom.corp_id"),
        ("wecom:\n  api_base: http://127.0.0.1:8900\n", {}, "wecom.corp_id"),
    ],
)
def test_half_a_set_of_wecom_credentials_is_an_error_not_the_simulator(
    tmp_path, text, env, missing
):
    config = write(tmp_path / "c.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env)
    assert caught.value.key == missing
    assert "built-in simulator" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


def test_the_simulator_or_all_credentials(tmp_path):
    # None of them: the built-in simulator; WeCom's own host with a trailing slash is none.
    own_host = {"BOTOPS_WECOM__API_BASE": "https://qyapi.weixin.qq.com/"}
    assert not load_settings(None, own_host).wecom.configured
    sim = {
        "BOTOPS_WECOM__API_BASE": "http://127.0.0.1:8900",
        "BOTOPS_WECOM__CORP_ID": "wwsim",
        "BOTOPS_WECOM__SECRET": "sim-secret",
    }
    assert load_settings(None, sim).wecom.configured


def test_the_environment_beats_a_secret_file_in_the_config_file(tmp_path, monkeypatch):
    write(tmp_path / "file-secret.txt", "from-the-file\n")
    config = write(tmp_path / "c.yaml", "wecom:\n  corp_id: ww1\n  secret_file: file-secret.txt\n")
    settings = load_settings(config, {"BOTOPS_WECOM__SECRET": "from-the-env"})
    assert settings.wecom.secret is not None
    assert settings.wecom.secret.get_secret_value() == "from-the-env"

    # ... and a value in the file loses to a file named in the environment, whose relative
    # path is relative to the current directory, not to the config file.
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    write(elsewhere / "env-secret.txt", "from-the-env-file\n")
    monkeypatch.chdir(elsewhere)
    config = write(tmp_path / "c2.yaml", "wecom:\n  corp_id: ww1\n  secret: in-the-file\n")
    settings = load_settings(config, {"BOTOPS_WECOM__SECRET_FILE": "env-secret.txt"})
    assert settings.wecom.secret is not None
    assert settings.wecom.secret.get_secret_value() == "from-the-env-file"


@pytest.mark.parametrize(
    ("text", "env", "key"),
    [
        ("wecom:\n  secret: a\n  secret_file: s.txt\n", {}, "wecom.secret"),
        (
            "",
            {"BOTOPS_WECOM__SECRET": "a", "BOTOPS_WECOM__SECRET_FILE": "s.txt"},
            "BOTOPS_WECOM__SECRET",
        ),
    ],
)
def test_a_key_and_its_file_in_one_source_are_an_error(tmp_path, monkeypatch, text, env, key):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "s.txt", "b\n")
    with pytest.raises(ConfigError, match="given twice") as caught:
        load_settings(write(tmp_path / "c.yaml", text), env)
    assert caught.value.key == key


def test_a_null_key_beside_its_file_is_not_given_twice(tmp_path):
    # config.example.yaml has `secret: null`: adding secret_file to a copy of it is fine.
    write(tmp_path / "s.txt", "b\n")
    text = "wecom:\n  corp_id: ww1\n  secret: null\n  secret_file: s.txt\n"
    settings = load_settings(write(tmp_path / "c.yaml", text), {})
    assert settings.wecom.secret is not None
    assert settings.wecom.secret.get_secret_value() == "b"


def test_the_ingest_secret_can_come_from_a_file(tmp_path):
    write(tmp_path / "ingest.txt", "hmac-key\n")
    settings = load_settings(write(tmp_path / "c.yaml", "ingest:\n  secret_file: ingest.txt\n"), {})
    assert settings.ingest.secret is not None
    assert settings.ingest.secret.get_secret_value() == "hmac-key"


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        (
            'wecom:\n  corp_id: ww1\n  secret: "SuperSecretValue123\nalerts:\n  robot_key: k\n',
            "c.yaml:6:1",
            "quoted scalar at line 3, column 11",
        ),
        ("wecom:\n  secret: SuperSecretValue123: x\n", "c.yaml:2:30", "mapping values"),
        (
            "wecom:\n  secret: SuperSecretValue123\n  secret: SuperSecretValue123x\n",
            "c.yaml:3:3",
            'duplicate key "secret"',
        ),
    ],
)
def test_a_yaml_error_names_file_line_and_column_never_the_line_itself(
    tmp_path, text, where, problem
):
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path / "c.yaml", text), {})
    message = str(caught.value)
    assert caught.value.key == f"{tmp_path / where}"
    assert problem in message
    assert "SuperSecret" not in message
    assert "<unicode string>" not in message
    assert "\n" not in message


def test_a_relative_sqlite_url_is_relative_to_the_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "etc"
    folder.mkdir()
    config = write(folder / "c.yaml", "database:\n  url: sqlite:///state/botops.db?timeout=5\n")
    assert load_settings(config, {}).database_url == f"sqlite:///{folder}/state/botops.db?timeout=5"
    # From the environment: relative to the current directory, as every path given there.
    env = {"BOTOPS_DATABASE__URL": "sqlite:///state/botops.db", "BOTOPS_DATA_DIR": "d"}
    settings = load_settings(config, env)
    assert settings.database_url == "sqlite:///state/botops.db"
    assert settings.data_dir == Path("d")
    for url in ("sqlite://", "sqlite:///:memory:", f"sqlite:///{tmp_path}/abs.db"):
        assert (
            load_settings(write(folder / "m.yaml", f"database:\n  url: '{url}'\n"), {}).database_url
            == url
        )
