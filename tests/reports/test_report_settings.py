"""The `reports` settings: the default inactivity rule and the digest time."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from botops.config import load_settings
from botops.errors import ConfigError
from botops.playbook.model import InactivityRule


def settings_from(tmp_path: Path, text: str, **environ: str):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ)


def test_defaults(tmp_path: Path):
    reports = settings_from(tmp_path, "").reports
    assert reports.default_rule == InactivityRule(days=3, min_messages=1)
    assert reports.digest_at == time(9, 0)


def test_file_and_environment(tmp_path: Path):
    reports = settings_from(
        tmp_path,
        "reports:\n  inactivity_min_messages: null\n  inactivity_min_checkins: 4\n  digest_at: null\n",
        BOTOPS_REPORTS__INACTIVITY_DAYS="5",
    ).reports
    assert reports.default_rule == InactivityRule(days=5, min_checkins=4)
    assert reports.digest_at is None
    off = settings_from(tmp_path, "reports:\n  inactivity_days: 0\n").reports
    assert off.default_rule is None


def test_a_rule_without_threshold_is_refused_naming_the_section(tmp_path: Path):
    with pytest.raises(ConfigError, match="inactivity_days needs") as caught:
        settings_from(tmp_path, "reports:\n  inactivity_min_messages: null\n")
    assert caught.value.key == "reports"
