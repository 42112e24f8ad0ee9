"""Sending the daily ops digest to the ops group robot (`alerts.robot_key`).

`send_digest` is safe to call often: it does nothing before `reports.digest_at` (local time
in `timezone`) and sends at most once per local day, whoever calls it. Each day's digest is
claimed in the `digests` table (insert-or-ignore, committed) before it is sent, so a restart,
a second call or a second replica never sends it twice. A digest whose sending failed in a
way that says nothing was posted (WeCom busy, rate limited, network) is unclaimed and goes
out at the next call; after a rejection (a wrong key) or an unknown outcome it is not retried
that day — a digest is worth less than a duplicate is annoying.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import Engine
from sqlmodel import Session, col, delete

from botops.config import Settings
from botops.errors import WeComError, WeComRetryableError
from botops.playbook.model import Playbook
from botops.reports.digest import build_digest
from botops.store.db import dialect_insert
from botops.store.db import session as open_session
from botops.store.digest_inputs import gather_digest
from botops.store.inactivity import evaluate_flags
from botops.store.models import DigestRun
from botops.wecom.responses import OutcomeUnknown
from botops.wecom.robot import RobotClient

log = structlog.get_logger()

SYNC_OVERDUE_ROUNDS = 3
"""The digest reports the group sync as stopped after this many `daemon.sync_every` without
one: a single failed round (WeCom busy for a minute) is not news."""


async def send_digest(
    engine: Engine,
    robots: RobotClient,
    robot_key: str | None,
    playbooks: Sequence[Playbook],
    settings: Settings,
    now: datetime,
) -> bool:
    """Evaluate inactivity flags, then send today's digest if it is due and not sent yet;
    whether it was sent.

    Scheduling: call it from the leader on every planning round (`daemon.plan_every`, each
    minute) with `library.playbooks` and `alerts.robot_key`; it sends once a day at or after
    `reports.digest_at` (09:00 by default), late after downtime rather than never. Flags are
    evaluated only when the digest is due; to keep `group_flags` current between digests,
    also call `botops.store.inactivity.evaluate_flags` (e.g. after each sync)."""
    at = settings.reports.digest_at
    if robot_key is None or at is None:
        return False
    tz = ZoneInfo(settings.timezone)
    local = now.astimezone(tz)
    if local.time() < at:
        return False
    with open_session(engine) as s:
        if _sent_already(s, local.date()):
            return False
        changes = evaluate_flags(s, playbooks, settings, now)
        inputs = gather_digest(
            s, now, sync_overdue=SYNC_OVERDUE_ROUNDS * settings.daemon.sync_every
        )
        claimed = _claim(s, local.date(), now)
    if not claimed:
        return False  # another replica claimed it between our read and our write
    text = build_digest(inputs, now, tz)
    try:
        await robots.send_markdown(robot_key, text)
    except WeComError as exc:
        retry = isinstance(exc, WeComRetryableError) and not isinstance(exc, OutcomeUnknown)
        log.error("reports.digest_failed", error=str(exc), retry=retry)
        if retry:
            with open_session(engine) as s:
                s.exec(delete(DigestRun).where(col(DigestRun.local_day) == local.date()))
        return False
    log.info(
        "reports.digest_sent",
        day=str(local.date()),
        flagged=len(inputs.flagged),
        flags_changed=len(changes),
        waiting_staff=len(inputs.backlog),
        failed=inputs.failed_count,
    )
    return True


def _sent_already(session: Session, day: date) -> bool:
    return session.get(DigestRun, day) is not None


def _claim(session: Session, day: date, now: datetime) -> bool:
    insert = dialect_insert(session)
    statement = (
        insert(DigestRun)
        .values(local_day=day, claimed_at=now)
        .on_conflict_do_nothing()
        .returning(col(DigestRun.local_day))
    )
    return session.exec(statement).first() is not None
