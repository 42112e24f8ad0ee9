"""tracking.give_up_after: read from the config (and environment), validated, and decided
purely by TrackingPolicy.given_up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from botops.config import Settings, load_settings
from botops.errors import ConfigError
from botops.tracking import TrackingPolicy
from tests.helpers import REPO


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_give_up_after_is_read_from_the_config_file_and_the_environment(tmp_path):
    assert Settings().tracking.give_up_after == timedelta(hours=24)
    example = load_settings(REPO / "config.example.yaml", {}).tracking
    assert example == Settings().tracking  # the example documents the default
    from_file = load_settings(config(tmp_path, "tracking:\n  give_up_after: 1d12h\n"), {})
    assert TrackingPolicy.from_settings(from_file.tracking).give_up_after == timedelta(hours=36)
    from_env = load_settings(None, {"BOTOPS_TRACKING__GIVE_UP_AFTER": "90m"})
    assert TrackingPolicy.from_settings(from_env.tracking).give_up_after == timedelta(minutes=90)


@pytest.mark.parametrize(
    ("value", "message"),
    [("0h", "positive duration"), ("1 day", "expected a duration"), ("-2h", "duration")],
)
def test_a_bad_give_up_after_is_a_config_error_naming_the_key(tmp_path, value, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(config(tmp_path, f"tracking:\n  give_up_after: {value}\n"), {})
    assert caught.value.key.endswith("tracking.give_up_after")
    assert message in str(caught.value)


def test_given_up_without_expiry_counts_from_the_first_failed_read():
    policy = TrackingPolicy(give_up_after=timedelta(hours=2))
    since = datetime(2026, 3, 2, 8, tzinfo=UTC)
    later = since + timedelta(days=30)
    assert not policy.given_up(None, later)  # reads get through: tracked however old
    assert not policy.given_up(None, since + timedelta(hours=2) - timedelta(seconds=1), since)
    assert policy.given_up(None, since + timedelta(hours=2), since)
    # With an expiry, the expiry alone decides: until then staff may still send it.
    expiry = later
    assert not policy.given_up(expiry, later, since)
    assert policy.given_up(expiry, expiry + timedelta(hours=2), None)
