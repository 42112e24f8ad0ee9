"""`botops status`: the running system in one screen. Pure: plain inputs in, text or JSON out.

Read from the database, so it works from any machine that can reach it, daemon up or down:
the daemons running (leader, standbys, silent ones), today's sends by state, mass-send tasks
waiting for staff, inactive groups, recent errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from botops.preview.table_view import clean, truncate
from botops.reports.digest import FlaggedGroup, StaffBacklog
from botops.reports.table_view import columns

ERROR_CHARS = 100
DAEMON_SILENT_AFTER = timedelta(seconds=30)  # six missed heartbeats


@dataclass(frozen=True, slots=True)
class RecentError:
    at: datetime
    where: str  # "send playbook:step → group", "callback Kind" or "alert kind (status)"
    error: str


@dataclass(frozen=True, slots=True)
class DaemonStatus:
    worker: str  # host:pid:random
    role: str  # leader or standby
    version: str
    started_at: datetime
    seen_at: datetime  # its last heartbeat (every 5 s while it runs)


@dataclass(frozen=True, slots=True)
class StatusInputs:
    day: date  # today, local
    sends_today: Mapping[str, int]  # outbox state -> sends due today
    backlog: Sequence[StaffBacklog]
    flagged: Sequence[FlaggedGroup]
    errors: Sequence[RecentError]  # newest first
    pending_callbacks: int  # stored, not yet handled
    last_planned: datetime | None  # the latest outbox write: is a daemon working?
    last_synced: datetime | None  # the latest group fetched from WeCom: is the sync working?
    daemons: Sequence[DaemonStatus]  # leader first
    alerts_logged_only: bool = False  # the last alert had no robot key to go to: only logged


def render_text(status: StatusInputs, now: datetime, tz: ZoneInfo) -> str:
    local = now.astimezone(tz)
    lines = [f"botops status — {local:%Y-%m-%d %H:%M} ({tz.key})", ""]
    lines += _daemons(status.daemons, now)
    lines.append(f"last outbox activity: {_when(now, status.last_planned, tz)}")
    lines.append(f"groups last synced: {_when(now, status.last_synced, tz)}")
    lines.append(f"callbacks waiting to be handled: {status.pending_callbacks}")
    if status.alerts_logged_only:
        lines.append("alerts are logged only (alerts.not_sent): alerts.robot_key is not set")
    lines += ["", f"Sends due today ({status.day:%m-%d}):"]
    if status.sends_today:
        counts = sorted(status.sends_today.items(), key=lambda kv: (-kv[1], kv[0]))
        lines += columns(["state", "sends"], [[s, str(n)] for s, n in counts], numeric={1})
    else:
        lines.append("  none")
    lines += ["", "Waiting for staff to confirm:"]
    if status.backlog:
        rows = [
            [b.sender, str(b.tasks), _ago(now, b.oldest)]
            for b in sorted(status.backlog, key=lambda b: (-b.tasks, b.sender))
        ]
        lines += columns(["staff", "tasks", "oldest"], rows, numeric={1})
    else:
        lines.append("  nobody")
    lines += ["", f"Inactive groups: {len(status.flagged)}"]
    lines += [f"  {clean(f.name) or f.chat_id}  {clean(f.reason)}" for f in status.flagged[:10]]
    if len(status.flagged) > 10:
        lines.append(f"  … and {len(status.flagged) - 10} more (botops report)")
    lines += ["", "Recent errors:"]
    lines += [
        f"  {e.at.astimezone(tz):%m-%d %H:%M}  {e.where}  {truncate(clean(e.error), ERROR_CHARS)}"
        for e in status.errors
    ] or ["  none"]
    return "\n".join(lines) + "\n"


def _daemons(daemons: Sequence[DaemonStatus], now: datetime) -> list[str]:
    if not daemons:
        return ["daemons: none running", ""]
    lines = ["daemons:"]
    for d in daemons:
        if now - d.seen_at > DAEMON_SILENT_AFTER:
            state = f"not seen for {_ago(now, d.seen_at)}: stopped or hung"
        else:
            state = f"seen {_ago(now, d.seen_at)} ago, up {_ago(now, d.started_at)}"
        lines.append(f"  {d.role:<8} {d.worker}  {state}  (botops {d.version})")
    if not any(d.role == "leader" and now - d.seen_at <= DAEMON_SILENT_AFTER for d in daemons):
        lines.append("  no leader: nothing is planned or sent")
    return [*lines, ""]


def render_json(status: StatusInputs, tz: ZoneInfo) -> str:
    """Times as ISO 8601 in `tz`, as the table shows them (and as in the report's JSON)."""

    def encode(value: object) -> str:
        if isinstance(value, datetime):
            return value.astimezone(tz).isoformat(timespec="seconds")
        return str(value)  # a date

    return json.dumps(asdict(status), ensure_ascii=False, indent=2, default=encode) + "\n"


def _when(now: datetime, then: datetime | None, tz: ZoneInfo) -> str:
    if then is None:
        return "never"
    shown = "%H:%M" if now - then < timedelta(days=1) else "%m-%d %H:%M"
    return f"{_ago(now, then)} ago ({then.astimezone(tz):{shown}})"


def _ago(now: datetime, then: datetime) -> str:
    seconds = max(int((now - then).total_seconds()), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600}h"
