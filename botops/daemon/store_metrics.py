"""Gauges read from the database when Prometheus scrapes `/metrics` (botops.metrics)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from botops.metrics import REGISTRY
from botops.store.alerts import NO_ROBOT_KEY
from botops.store.db import session
from botops.store.digest_inputs import waiting_for_sender
from botops.store.inactivity import open_flags
from botops.store.models import (
    Alert,
    AlertStatus,
    CallbackEvent,
    MassTask,
    OutboxRow,
    SendState,
)

LOGGED = "logged"
CHANNELS = ("group", "customer")


class StoreCollector(Collector):
    """Gauges read from the database when Prometheus scrapes."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        sends = GaugeMetricFamily(
            "botops_sends",
            "Outbox sends by state and channel (target kind)",
            labels=["state", "channel"],
        )
        waiting = GaugeMetricFamily(
            "botops_tasks_waiting_for_staff",
            "WeCom mass-send tasks created and not yet confirmed by their staff member",
            labels=["staff"],
        )
        with session(self._engine) as s:
            for (state, channel), count in _sends(s).items():
                sends.add_metric([state, channel], count)
            staff = s.exec(
                select(MassTask.sender, func.count())
                .where(*waiting_for_sender())  # as the digest and `botops status` count
                .group_by(col(MassTask.sender))
            )
            for sender, count in staff:
                waiting.add_metric([sender], count)
            flagged = GaugeMetricFamily(
                "botops_groups_flagged_inactive",
                "Active groups currently flagged inactive",
                value=len(open_flags(s)),
            )
            stored = GaugeMetricFamily(
                "botops_stored_callbacks",
                "Stored WeCom callbacks not handled (pending: not yet tried; retrying: failed, "
                "waiting for their retry time) and given up on after repeated failures",
                labels=["state"],
            )
            for state, count in _callbacks(s).items():
                stored.add_metric([state], count)
            alerts = GaugeMetricFamily(
                "botops_alerts",
                "Alerts to the ops robot by status (pending: waiting to be retried; failed: "
                "given up, e.g. a wrong alerts.robot_key; logged: only logged, no robot key set)",
                labels=["status"],
            )
            for status, count in _alerts(s).items():
                alerts.add_metric([status], count)
        yield sends
        yield waiting
        yield flagged
        yield stored
        yield alerts


def _alerts(s: Session) -> dict[str, int]:
    """By status; alerts finished for want of a robot key are `logged`, not `failed`: a
    choice of configuration must not look like a delivery failure on a dashboard."""
    counts = dict.fromkeys(map(str, AlertStatus), 0)
    for status, count in s.exec(select(Alert.status, func.count()).group_by(col(Alert.status))):
        counts[str(status)] = count
    only_logged = select(func.count()).where(
        Alert.status == AlertStatus.FAILED, Alert.error == NO_ROBOT_KEY
    )
    counts[LOGGED] = s.exec(only_logged).one()
    counts[str(AlertStatus.FAILED)] -= counts[LOGGED]
    return counts


def _callbacks(s: Session) -> dict[str, int]:
    """Each count reads a partial index (pending rows, failed rows): few, whatever the total."""
    unhandled = col(CallbackEvent.processed_at).is_(None)
    count = select(func.count()).select_from(CallbackEvent)
    return {
        "pending": s.exec(count.where(unhandled, CallbackEvent.attempts == 0)).one(),
        "retrying": s.exec(count.where(unhandled, CallbackEvent.attempts > 0)).one(),
        "given_up": s.exec(
            count.where(CallbackEvent.error != "", col(CallbackEvent.processed_at).is_not(None))
        ).one(),
    }


def _sends(s: Session) -> dict[tuple[str, str], int]:
    """By state and channel, every pair shown from 0: a series that appears only with its
    first failed send is invisible to `increase()`, and the first failures would alert nothing."""
    counts = {(str(state), channel): 0 for state in SendState for channel in CHANNELS}
    rows = s.exec(
        select(OutboxRow.state, OutboxRow.target_kind, func.count()).group_by(
            col(OutboxRow.state), col(OutboxRow.target_kind)
        )
    )
    for state, kind, count in rows:
        counts[str(state), _channel(kind)] += count
    return counts


def _channel(target_kind: str) -> str:
    return "group" if target_kind == "group" else "customer"


def watch_store(engine: Engine) -> StoreCollector:
    """Register the database gauges (the daemon calls this once at start)."""
    collector = StoreCollector(engine)
    REGISTRY.register(collector)
    return collector


def unwatch_store(collector: StoreCollector) -> None:
    REGISTRY.unregister(collector)
