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
    last_recorded_at,
    record_alert,
    record_sync_outcome,
)
from botops.store.daemons import silent_daemons
from botops.store.db import session
from botops.store.digest_inputs import failed_sends
from botops.store.models import DaemonSeen
from botops.sync.report import SYNC_RECOVERED_ALERT, SyncReport, render_alert
from botops.wecom.limits import ROBOT_MARKDOWN_MAX_BYTES, utf8_len

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
    heartbeat): crashed, killed for memory, host lost. Kubernetes restarts such a pod quietly,
    so this is how ops learn of it. At most one alert an hour, listing the replicas gone
    silent since the last one: a pod in a crash loop (a new worker id each run) must not
    flood the ops group, and a replica is named once, not every hour until it is forgotten."""
    with session(engine) as s:
        last = last_recorded_at(s, DAEMON_SILENT)
        # The last alert named those silent before `last - DAEMON_GONE_AFTER`, and a silent
        # replica's heartbeat no longer moves: the rest are new.
        silent = [
            d
            for d in silent_daemons(s, now - DAEMON_GONE_AFTER)
            if d.worker != me and (last is None or d.seen_at >= last - DAEMON_GONE_AFTER)
        ]
        if silent:
            text = silent_daemons_alert(silent, ZoneInfo(tz))
            record_alert(s, hourly_key(DAEMON_SILENT, now, tz), DAEMON_SILENT, text, now)


def silent_daemons_alert(
    silent: Sequence[DaemonSeen], tz: ZoneInfo, limit: int = ROBOT_MARKDOWN_MAX_BYTES
) -> str:
    """The alert naming replicas gone silent, oldest first, within WeCom's byte limit."""
    count = "一个" if len(silent) == 1 else f"{len(silent)} 个"
    head = f"**botops: {count} botops 进程没有正常退出**\n"
    tail = (
        "可能崩溃、因内存不足被杀掉，或与数据库失去连接。请查看它们的日志；"
        "`botops status` 显示现在运行的进程。"
    )
    lines = [
        f"> {d.worker}（{'主节点' if d.role == 'leader' else '备用节点'}，botops {d.version}）"
        f"最后一次心跳在 {d.seen_at.astimezone(tz):%m-%d %H:%M}\n"
        for d in silent
    ]
    text = head
    for index, line in enumerate(lines):
        more = f"> …还有 {len(lines) - index} 个\n"
        reserve = utf8_len(more) if index < len(lines) - 1 else 0
        if utf8_len(text + line + tail) + reserve > limit:
            return text + more + tail
        text += line
    return text + tail
