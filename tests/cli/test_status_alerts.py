"""`botops status` and alerts that had no robot to go to: without `alerts.robot_key` alerts
are only logged, by configuration. Status says so once instead of listing every alert as an
error; an alert a robot really refused (a wrong key) stays listed."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from botops.cli import main
from botops.senders.alerts import send_alerts
from botops.store.alerts import DAEMON_SILENT, SYNC_BROKEN, record_alert
from botops.store.db import open_database, session
from botops.wecom.robot import RobotClient
from tests.helpers import local

pytestmark = pytest.mark.anyio

NOW = local("2026-03-10 15:00")
NOTE = "alerts are logged only (alerts.not_sent): alerts.robot_key is not set"


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in [n for n in os.environ if n.startswith("BOTOPS_")]:
        monkeypatch.delenv(name)
    url = f"sqlite:///{tmp_path / 'botops.db'}"
    monkeypatch.setenv("BOTOPS_DATABASE__URL", url)
    monkeypatch.chdir(tmp_path)
    return url


async def alert(url: str, robot: RobotClient, key: str | None, kind: str, minutes: int) -> None:
    """An alert recorded `minutes` before NOW, then sent as the daemon would, with `key`."""
    engine = open_database(url)
    try:
        at = NOW - timedelta(minutes=minutes)
        with session(engine) as s:
            record_alert(s, f"{kind}:{minutes}", kind, f"**botops: {kind}**", at)
        await send_alerts(engine, robot, key, at)
    finally:
        engine.dispose()


def status(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["status", "--now", NOW.isoformat(), *args]) == 0
    return capsys.readouterr().out


async def test_alerts_without_a_robot_key_are_a_note_not_errors_and_a_wrong_key_is_an_error(
    database_url: str, make_robot: Callable[..., RobotClient], capsys: pytest.CaptureFixture[str]
) -> None:
    async with make_robot() as robot:
        await alert(database_url, robot, None, DAEMON_SILENT, 30)
        await alert(database_url, robot, None, SYNC_BROKEN, 20)

        out = status(capsys)
        assert out.count(NOTE) == 1, out
        assert out.split("Recent errors:")[1].strip() == "none", out
        assert json.loads(status(capsys, "--format", "json"))["alerts_logged_only"] is True

        # Ops set a key, a wrong one: the robot refuses, and that is an error worth listing.
        await alert(database_url, robot, "not-a-robot-key", DAEMON_SILENT, 10)
    out = status(capsys)
    assert NOTE not in out
    [listed] = [line for line in out.split("Recent errors:")[1].splitlines() if line.strip()]
    assert f"alert {DAEMON_SILENT} (failed)" in listed
    assert "93000" in listed
    assert json.loads(status(capsys, "--format", "json"))["alerts_logged_only"] is False
