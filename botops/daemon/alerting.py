"""What the daemon alerts the ops robot about, recorded in the `alerts` outbox (sent by
botops.senders.alerts): each function decides the alert's key and text, and records it in
one transaction. Synchronous: the daemon runs them off the event loop."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from botops.daemon.reload import format_alert
from botops.errors import Problem
from botops.reports.digest import build_failed_sends_alert
from botops.store.alerts import (
    DAEMON_SILENT,
    PLAYBOOKS_REJECTED,
    SENDS_FAILED,
    hourly_key,
    record_alert,
    record_sync_outcome,
)
from botops.store.daemons import silent_daemons
from botops.store.db import session
from botops.store.digest_inputs import failed_sends
from botops.sync.report import SYNC_RECOVERED_ALERT, SyncReport, render_alert

DAEMON_GONE_AFTER = timedelta(minutes=2)
"""A replica's heartbeat (every 5 s) this old means it is gone: a GC pause or a slow
database does not last that long. (`botops status` already calls one silent after 30 s.)"""


def alert_sync(engine: Engine, report: SyncReport, now: datetime) -> None:
    """Once when a sync stops at a configuration error, once when one succeeds again: whether
    ops were told is in the database, so a restart or a new leader knows."""
    text = render_alert(report) if report.aborted else SYNC_RECOVERED_ALERT
    with session(engine) as s:
        record_sync_outcome(s, report.ok, report.aborted, text, now)


def alert_rejected(engine: Engine, problems: Sequence[Problem], tz: str, now: datetime) -> None:
    """An invalid playbook change. Keyed by local day and text: a new leader rejecting the
    same files alerts no second time that day."""
    text = format_alert(problems)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    key = f"{PLAYBOOKS_REJECTED}:{now.astimezone(ZoneInfo(tz)).date()}:{digest}"
    with session(engine) as s:
        record_alert(s, key, PLAYBOOKS_REJECTED, text, now)


def alert_failed_sends(engine: Engine, since: datetime, tz: str, now: datetime) -> None:
    """Sends WeCom refused since `since`, at most once an hour: a WeCom that refuses every
    round must not flood the ops group (`botops status` and the digest list them all)."""
    with session(engine) as s:
        failed, count = failed_sends(s, since)
        if count:
            text = build_failed_sends_alert(failed, count)
            record_alert(s, hourly_key(SENDS_FAILED, now, tz), SENDS_FAILED, text, now)


def alert_silent_daemons(engine: Engine, me: str, tz: str, now: datetime) -> None:
    """Replicas that stopped without shutting down cleanly (a clean stop deletes its
    heartbeat): crashed, killed for memory, host lost. Once per replica; Kubernetes restarts
    such a pod quietly, so this is how ops learn of it."""
    with session(engine) as s:
        for daemon in silent_daemons(s, now - DAEMON_GONE_AFTER):
            if daemon.worker == me:
                continue
            seen = daemon.seen_at.astimezone(ZoneInfo(tz))
            text = (
                "**botops: 一个 botops 进程没有正常退出**\n"
                f"> {daemon.worker}（{'主节点' if daemon.role == 'leader' else '备用节点'}，"
                f"botops {daemon.version}）最后一次心跳在 {seen:%m-%d %H:%M}\n"
                "可能崩溃、因内存不足被杀掉，或与数据库失去连接。请查看它的日志；"
                "`botops status` 显示现在运行的进程。"
            )
            record_alert(s, f"{DAEMON_SILENT}:{daemon.worker}", DAEMON_SILENT, text, now)
