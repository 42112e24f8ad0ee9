"""botops.store.alerts: alerts recorded once per key, the sync's broken/recovered record,
pending alerts finished once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import col, select

from botops.store.alerts import (
    PLAYBOOKS_REJECTED,
    SYNC_BROKEN,
    SYNC_RECOVERED,
    delivery_failed,
    finish_alert,
    pending_alerts,
    record_alert,
    record_sync_outcome,
    sync_broken,
)
from botops.store.db import session
from botops.store.models import Alert, AlertStatus
from tests.helpers import local

NOW = local("2026-03-10 09:00")


def kinds(engine: Engine) -> list[str]:
    with session(engine) as s:
        return [a.kind for a in s.exec(select(Alert).order_by(col(Alert.id)))]


def test_an_alert_is_recorded_once_per_key(engine: Engine) -> None:
    with session(engine) as s:
        assert record_alert(s, "k1", PLAYBOOKS_REJECTED, "第一条", NOW)
        assert not record_alert(s, "k1", PLAYBOOKS_REJECTED, "again", NOW)
    with session(engine) as s:
        [alert] = pending_alerts(s)
    assert (alert.key, alert.text, alert.status, alert.attempts) == (
        "k1",
        "第一条",
        AlertStatus.PENDING,
        0,
    )
    assert alert.created_at == NOW


def test_the_sync_alerts_follow_the_sync_broken_and_recovered(engine: Engine) -> None:
    def outcome(ok: bool, broken: bool) -> bool:
        with session(engine) as s:
            return record_sync_outcome(s, ok, broken, "text", NOW)

    def broken_now() -> bool:
        with session(engine) as s:
            return sync_broken(s)

    assert not outcome(ok=True, broken=False)  # fine from the start: nothing to say
    assert not outcome(ok=False, broken=False)  # a busy WeCom: incomplete, not broken
    assert not broken_now()
    assert outcome(ok=False, broken=True)
    assert broken_now()
    assert not outcome(ok=False, broken=True)  # still broken: said already
    assert not outcome(ok=False, broken=False)  # incomplete is not recovered
    assert outcome(ok=True, broken=False)
    assert not broken_now()
    assert not outcome(ok=True, broken=False)
    assert outcome(ok=False, broken=True)  # broken again: a new alert
    assert kinds(engine) == [SYNC_BROKEN, SYNC_RECOVERED, SYNC_BROKEN]


def test_two_replicas_seeing_one_failure_record_one_alert(engine: Engine) -> None:
    """Each sync alert's key names the alert it follows: the second is a no-op."""
    with session(engine) as first, session(engine) as second:
        assert record_sync_outcome(first, False, True, "text", NOW)
        first.commit()
        # `second` decided from the same history (no alert yet), as a replica would have
        assert not record_alert(second, f"{SYNC_BROKEN}:after:start", SYNC_BROKEN, "x", NOW)
    assert kinds(engine) == [SYNC_BROKEN]


def test_pending_alerts_come_oldest_first_and_finish_once(engine: Engine) -> None:
    with session(engine) as s:
        for key in ("a", "b", "c"):
            record_alert(s, key, PLAYBOOKS_REJECTED, key, NOW)
    with session(engine) as s:
        a, b, c = (alert.id for alert in pending_alerts(s))
        delivery_failed(s, a, "WeCom -1: system busy")
        finish_alert(s, b, AlertStatus.SENT, NOW + timedelta(minutes=1))
        finish_alert(s, c, AlertStatus.FAILED, NOW, "WeCom 93000: invalid webhook url")
        finish_alert(s, c, AlertStatus.SENT, NOW)  # finished already: no change
        delivery_failed(s, b, "late")  # finished already: no change
    with session(engine) as s:
        rows = {alert.key: alert for alert in s.exec(select(Alert))}
        assert [alert.key for alert in pending_alerts(s)] == ["a"]
    assert (rows["a"].attempts, rows["a"].error) == (1, "WeCom -1: system busy")
    assert (rows["b"].status, rows["b"].error, rows["b"].attempts) == (AlertStatus.SENT, "", 0)
    assert rows["b"].finished_at == NOW + timedelta(minutes=1)
    assert (rows["c"].status, rows["c"].error) == (
        AlertStatus.FAILED,
        "WeCom 93000: invalid webhook url",
    )
