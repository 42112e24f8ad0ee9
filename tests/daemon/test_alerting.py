"""botops.daemon.alerting: which alerts are recorded, under which key, once; within the
robot's size limit."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from botops.daemon.alerting import DAEMON_GONE_AFTER, alert_silent_daemons
from botops.store.alerts import DAEMON_SILENT, finish_alert, pending_alerts
from botops.store.daemons import beat
from botops.store.db import session
from botops.store.models import Alert, AlertStatus
from botops.wecom.limits import ROBOT_MARKDOWN_MAX_BYTES, utf8_len
from tests.helpers import local

NOW = local("2026-03-10 09:00")
TZ = "Asia/Shanghai"


def silent_alerts(engine: Engine) -> list[Alert]:
    with session(engine) as s:
        return [a for a in pending_alerts(s) if a.kind == DAEMON_SILENT]


def crash(engine: Engine, worker: str, seen_ago: timedelta, now: datetime = NOW) -> None:
    """A replica whose last heartbeat was `seen_ago` before `now`."""
    with session(engine) as s:
        beat(s, worker, "standby", "0.1.0", now - seen_ago - timedelta(minutes=1), now - seen_ago)


def test_a_replica_gone_silent_is_alerted_once(engine: Engine) -> None:
    with session(engine) as s:
        beat(s, "me:1:a", "leader", "0.1.0", NOW, NOW - DAEMON_GONE_AFTER * 5)  # myself
        beat(s, "pod-b:7:b", "leader", "0.1.0", NOW, NOW - timedelta(minutes=3))  # crashed
        beat(s, "pod-c:9:c", "standby", "0.1.0", NOW, NOW - timedelta(seconds=20))  # alive
    for _ in range(2):
        alert_silent_daemons(engine, "me:1:a", "Asia/Shanghai", NOW)
    with session(engine) as s:
        [alert] = pending_alerts(s)
    assert (alert.kind, alert.key) == (DAEMON_SILENT, f"{DAEMON_SILENT}:2026-03-10T09")
    assert alert.text.splitlines()[:2] == [
        "**botops: 一个 botops 进程没有正常退出**",
        "> pod-b:7:b（主节点，botops 0.1.0）最后一次心跳在 03-10 08:57",
    ]


def test_a_crash_loop_is_one_alert_an_hour_listing_every_run(engine: Engine) -> None:
    # One pod OOM-killed 40 times: each run has a fresh worker id.
    for run in range(40):
        crash(engine, f"pod-b:1:{run:08x}", timedelta(minutes=3 + 5 * run))
    for minutes in range(0, 60, 10):  # every planning round of the hour
        alert_silent_daemons(engine, "me:1:a", TZ, NOW + timedelta(minutes=minutes))
    [alert] = silent_alerts(engine)
    lines = alert.text.splitlines()
    assert lines[0] == "**botops: 40 个 botops 进程没有正常退出**"
    assert len([line for line in lines if line.startswith("> pod-b:1:")]) == 40
    assert utf8_len(alert.text) <= ROBOT_MARKDOWN_MAX_BYTES


def test_a_silent_replica_is_named_once_a_new_one_in_the_next_hour(engine: Engine) -> None:
    crash(engine, "pod-b:1:first", timedelta(minutes=3))
    alert_silent_daemons(engine, "me:1:a", TZ, NOW)
    [first] = silent_alerts(engine)
    with session(engine) as s:
        finish_alert(s, first.id or 0, AlertStatus.SENT, NOW)
    later = NOW + timedelta(minutes=30)
    crash(engine, "pod-b:1:second", timedelta(minutes=3), later)
    alert_silent_daemons(engine, "me:1:a", TZ, later)
    assert silent_alerts(engine) == []  # one alert an hour: the second waits for the next
    next_hour = NOW + timedelta(hours=1)
    for minutes in (0, 10):
        alert_silent_daemons(engine, "me:1:a", TZ, next_hour + timedelta(minutes=minutes))
    [second] = silent_alerts(engine)
    assert second.key == f"{DAEMON_SILENT}:2026-03-10T10"
    assert "pod-b:1:second" in second.text
    assert "pod-b:1:first" not in second.text  # already told
    with session(engine) as s:
        finish_alert(s, second.id or 0, AlertStatus.SENT, next_hour)
    alert_silent_daemons(engine, "me:1:a", TZ, NOW + timedelta(hours=2))  # both still silent
    assert silent_alerts(engine) == []


def test_the_silent_replicas_alert_fits_the_robot_limit(engine: Engine) -> None:
    for run in range(200):
        crash(engine, f"pod-with-a-long-name-{run:03d}:1:{run:032x}", timedelta(minutes=3 + run))
    alert_silent_daemons(engine, "me:1:a", TZ, NOW)
    [alert] = silent_alerts(engine)
    assert utf8_len(alert.text) <= ROBOT_MARKDOWN_MAX_BYTES
    lines = alert.text.splitlines()
    assert lines[0] == "**botops: 200 个 botops 进程没有正常退出**"
    shown = len([line for line in lines if line.startswith("> pod-with-a-long-name-")])
    assert 0 < shown < 200
    assert f"> …还有 {200 - shown} 个" in lines
    assert lines[-1].startswith("可能崩溃")  # the advice survives the clipping
