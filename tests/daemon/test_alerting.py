"""botops.daemon.alerting: which alerts are recorded, under which key, once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from botops.daemon.alerting import DAEMON_GONE_AFTER, alert_silent_daemons
from botops.store.alerts import DAEMON_SILENT, pending_alerts
from botops.store.daemons import beat
from botops.store.db import session
from tests.helpers import local

NOW = local("2026-03-10 09:00")


def test_a_replica_gone_silent_is_alerted_once(engine: Engine) -> None:
    with session(engine) as s:
        beat(s, "me:1:a", "leader", "0.1.0", NOW, NOW - DAEMON_GONE_AFTER * 5)  # myself
        beat(s, "pod-b:7:b", "leader", "0.1.0", NOW, NOW - timedelta(minutes=3))  # crashed
        beat(s, "pod-c:9:c", "standby", "0.1.0", NOW, NOW - timedelta(seconds=20))  # alive
    for _ in range(2):
        alert_silent_daemons(engine, "me:1:a", "Asia/Shanghai", NOW)
    with session(engine) as s:
        [alert] = pending_alerts(s)
    assert (alert.kind, alert.key) == (DAEMON_SILENT, f"{DAEMON_SILENT}:pod-b:7:b")
    assert alert.text.splitlines()[:2] == [
        "**botops: 一个 botops 进程没有正常退出**",
        "> pod-b:7:b（主节点，botops 0.1.0）最后一次心跳在 03-10 08:57",
    ]
