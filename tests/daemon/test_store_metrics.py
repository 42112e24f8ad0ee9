"""The gauges `/metrics` reads from the database: sends by state and channel, stored callbacks
by state, alerts by status, tasks waiting for staff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from botops.daemon.store_metrics import StoreCollector
from botops.store.alerts import (
    NO_ROBOT_KEY,
    PLAYBOOKS_REJECTED,
    finish_alert,
    pending_alerts,
    record_alert,
)
from botops.store.callbacks import finish_callback, retry_callback, store_callback
from botops.store.db import open_database, session
from botops.store.models import AlertStatus, MassTask, OutboxRow, SendState, TaskStatus

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def test_stored_callbacks_are_counted_pending_retrying_and_given_up(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'botops.db'}")
    with session(engine) as s:
        ids = {
            key: store_callback(
                s, dedup_key=key, kind="UnknownEvent", chat_id=None, payload="<xml/>", now=NOW
            )
            for key in ("new-1", "new-2", "failed-once", "handled", "abandoned")
        }
        assert None not in ids.values()
        retry_callback(s, ids["failed-once"] or 0, "busy", 1, NOW + timedelta(minutes=1))
        finish_callback(s, ids["handled"] or 0, NOW)
        finish_callback(s, ids["abandoned"] or 0, NOW, "gave up after 12 attempts: busy")
        s.commit()
    [stored] = [m for m in StoreCollector(engine).collect() if m.name == "botops_stored_callbacks"]
    engine.dispose()
    assert {sample.labels["state"]: sample.value for sample in stored.samples} == {
        "pending": 2,
        "retrying": 1,
        "given_up": 1,
    }


def test_alerts_are_counted_by_status_every_status_shown(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'botops.db'}")
    with session(engine) as s:
        for key in ("a", "b", "c", "d", "e"):
            record_alert(s, key, PLAYBOOKS_REJECTED, key, NOW)
        [a, b, c, d, _] = [alert.id or 0 for alert in pending_alerts(s)]
        finish_alert(s, a, AlertStatus.FAILED, NOW, "WeCom 93000: invalid webhook url")
        finish_alert(s, b, AlertStatus.FAILED, NOW, "WeCom 93000: invalid webhook url")
        finish_alert(s, c, AlertStatus.FAILED, NOW, NO_ROBOT_KEY)  # logged: no key configured
        finish_alert(s, d, AlertStatus.SENT, NOW)
    [alerts] = [m for m in StoreCollector(engine).collect() if m.name == "botops_alerts"]
    engine.dispose()
    assert {sample.labels["status"]: sample.value for sample in alerts.samples} == {
        "pending": 1,
        "sent": 1,
        "failed": 2,
        "logged": 1,
    }


def test_tasks_waiting_for_staff_leave_out_those_confirmed_or_withdrawn(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'botops.db'}")
    with session(engine) as s:
        s.add(MassTask(msgid="m1", sender="zhangsan", created_at=NOW))
        s.add(MassTask(msgid="m2", sender="zhangsan", created_at=NOW))
        # Still waiting, but not for their sender: confirmed (sent to some groups), withdrawn.
        s.add(MassTask(msgid="m3", sender="lisi", created_at=NOW, sender_confirmed_at=NOW))
        s.add(MassTask(msgid="m4", sender="wangwu", created_at=NOW, withdrawn_at=NOW))
        s.add(MassTask(msgid="m5", sender="zhaoliu", created_at=NOW, status=TaskStatus.SENT))
    [waiting] = [
        m for m in StoreCollector(engine).collect() if m.name == "botops_tasks_waiting_for_staff"
    ]
    engine.dispose()
    assert {sample.labels["staff"]: sample.value for sample in waiting.samples} == {"zhangsan": 2}


def test_sends_show_every_state_and_channel_from_zero(tmp_path: Path) -> None:
    """A series that appears only with its first failed send is invisible to `increase()`
    and `delta()`: the first failures of a day would alert nothing."""
    engine = open_database(f"sqlite:///{tmp_path / 'botops.db'}")
    with session(engine) as s:
        s.add(
            OutboxRow(
                key="p:s:wr1:at",
                playbook="p",
                step="s",
                target_id="wr1",
                sender="zhangsan",
                planned_at=NOW,
                due_at=NOW,
                expires_at=NOW + timedelta(hours=6),
                updated_at=NOW,
            )
        )
    [sends] = [m for m in StoreCollector(engine).collect() if m.name == "botops_sends"]
    engine.dispose()
    values = {(x.labels["state"], x.labels["channel"]): x.value for x in sends.samples}
    assert values == {
        (str(state), channel): 1 if (state, channel) == (SendState.PLANNED, "group") else 0
        for state in SendState
        for channel in ("group", "customer")
    }
