"""Sending the recorded alerts (botops.store.alerts) to the ops robot (`alerts.robot_key`).

Called by the leader every planning round. Alerts go out oldest first. One that WeCom says
was not posted (busy, rate limited, network) stays pending and stops the round, keeping the
order; the next round tries again, for up to GIVE_UP_AFTER. A rejection (a wrong key) or an
unknown outcome is not retried: like the digest, an alert posted twice is worse than one
reported only in the log. Without a robot key an alert is logged and given up.

A round posts no more than the robot takes in a minute (counting what the rounds before it
posted): the rest stay pending, untried, for a later round. It runs while the leader's other
jobs wait, so it must never sit in the robot's rate limiter for a minute.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Engine

from botops.errors import WeComError, WeComRetryableError
from botops.store.alerts import (
    NO_ROBOT_KEY,
    delivery_failed,
    finish_alert,
    pending_alerts,
    sent_since,
)
from botops.store.db import in_session
from botops.store.models import AlertStatus
from botops.wecom.limits import ROBOT_MESSAGES_PER_MINUTE
from botops.wecom.ratelimit import TRANSIT_MARGIN
from botops.wecom.responses import OutcomeUnknown
from botops.wecom.robot import RobotClient

log = structlog.get_logger()

GIVE_UP_AFTER = timedelta(hours=24)
"""An alert not delivered by then is given up: a day late, it tells ops nothing the digest and
`botops status` do not."""

RATE_WINDOW = timedelta(minutes=1) * (1 + TRANSIT_MARGIN)
"""The span the robot client's rate limiter (botops.wecom.ratelimit) holds a message for."""


async def send_alerts(
    engine: Engine,
    robots: RobotClient,
    robot_key: str | None,
    now: datetime,
    *,
    per_minute: int = ROBOT_MESSAGES_PER_MINUTE,
) -> int:
    """Send the pending alerts, at most what the robot allows now (`per_minute`: its rate
    limit, `wecom.robot_messages_per_minute`); how many were posted."""
    pending = await asyncio.to_thread(in_session, engine, pending_alerts)
    if not pending:
        return 0
    recent = await asyncio.to_thread(in_session, engine, sent_since, now - RATE_WINDOW)
    budget = per_minute - recent
    posted = 0
    for index, alert in enumerate(pending):
        assert alert.id is not None  # read from the database
        bound = log.bind(alert=alert.kind, key=alert.key)
        if robot_key is None:
            bound.warning("alerts.not_sent", hint="set alerts.robot_key to receive alerts")
            await _finish(engine, alert.id, AlertStatus.FAILED, now, NO_ROBOT_KEY)
            continue
        if now - alert.created_at >= GIVE_UP_AFTER:
            bound.error("alerts.given_up", error=alert.error)
            why = f"not delivered within {GIVE_UP_AFTER // timedelta(hours=1)} h: {alert.error}"
            await _finish(engine, alert.id, AlertStatus.FAILED, now, why)
            continue
        if posted >= budget:  # the robot's minute is used up: not a failure, just later
            log.info("alerts.deferred", count=len(pending) - index, per_minute=per_minute)
            break
        try:
            await robots.send_markdown(robot_key, alert.text)
        except WeComError as exc:
            retry = isinstance(exc, WeComRetryableError) and not isinstance(exc, OutcomeUnknown)
            bound.error("alerts.failed", error=str(exc), retry=retry)
            if retry:
                await asyncio.to_thread(in_session, engine, delivery_failed, alert.id, str(exc))
                break  # the robot is busy or unreachable: later alerts wait their turn
            await _finish(engine, alert.id, AlertStatus.FAILED, now, str(exc))
            continue
        await _finish(engine, alert.id, AlertStatus.SENT, now)
        bound.info("alerts.sent")
        posted += 1
    return posted


async def _finish(
    engine: Engine, alert_id: int, status: AlertStatus, now: datetime, error: str = ""
) -> None:
    await asyncio.to_thread(in_session, engine, finish_alert, alert_id, status, now, error)
