"""What the daemon alerts the ops robot about, recorded in the `alerts` outbox (sent by
botops.senders.alerts): each function decides the alert's key and text, and records it in
one transaction. Synchronous: the daemon runs them off the event loop."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from botops.daemon.reload import format_alert
from botops.errors import Problem
from botops.reports.digest import build_failed_sends_alert
from botops.store.alerts import (
    PLAYBOOKS_REJECTED,
    SENDS_FAILED,
    hourly_key,
    record_alert,
    record_sync_outcome,
)
from botops.store.db import session
from botops.store.digest_inputs import failed_sends
from botops.sync.report import SYNC_RECOVERED_ALERT, SyncReport, render_alert


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
