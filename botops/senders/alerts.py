"""Sending the recorded alerts (botops.store.alerts) to the ops robot (`alerts.robot_key`).

Called by the leader every planning round. Alerts go out oldest first. One that WeCom says
was not posted (busy, rate limited, network) stays pending and stops the round, keeping the
order; the next round tries again, for up to GIVE_UP_AFTER. A rejection (a wrong key) or an
unknown outcome is not retried: like the digest, an alert posted twice is worse than one
reported only in the log. Without a robot key an alert is logged and given up.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Engine

from botops.errors import WeComError, WeComRetryableError
from botops.store.alerts import NO_ROBOT_KEY, delivery_failed, finish_alert, pending_alerts
from botops.store.db import in_session
from botops.store.models import AlertStatus
from botops.wecom.responses import OutcomeUnknown
from botops.wecom.robot import RobotClient

log = structlog.get_logger()

GIVE_UP_AFTER = timedelta(hours=24)
"""An alert not delivered by then is given up: a day late, it tells ops nothing the digest and
`botops status` do not."""


async def send_alerts(
    engine: Engine, robots: RobotClient, robot_key: str | None, now: datetime
) -> int:
    """Send the pending alerts; how many were posted."""
    pending = await asyncio.to_thread(in_session, engine, pending_alerts)
    posted = 0
    for alert in pending:
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
