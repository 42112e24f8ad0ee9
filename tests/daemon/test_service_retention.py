"""The daemon deletes old finished sends with its hourly sync (`daemon.keep_sends`)."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path

import pytest

from botops.store.db import open_database, session
from botops.store.models import OutboxRow, SendState
from tests.daemon.service_support import project_on, seed, utcnow, wait_until

pytestmark = pytest.mark.slow


def history(key: str, days_ago: int, state: SendState) -> OutboxRow:
    due = utcnow() - timedelta(days=days_ago)
    return OutboxRow(
        key=key,
        playbook="camp",
        step="morning",
        target_id="wrOld00",
        sender="staff0",
        planned_at=due,
        due_at=due,
        expires_at=due + timedelta(hours=6),
        state=state,
        updated_at=due,
    )


def test_the_start_sync_deletes_finished_sends_older_than_keep_sends(tmp_path: Path) -> None:
    with project_on(tmp_path, seed(1, "Old", 1), f"sqlite:///{tmp_path / 'botops.db'}") as project:
        engine = open_database(project.database_url)
        with session(engine) as s:
            s.add(history("sent-long-ago", 20, SendState.SENT))
            s.add(history("sent-last-week", 7, SendState.SENT))
        engine.dispose()
        daemon = project.daemon("d", BOTOPS_DAEMON__KEEP_SENDS="10d")
        wait_until(lambda: "daemon.sends_pruned" in daemon.log(), 30, "the prune logged")
        assert [row.key for row in project.outbox()] == ["sent-last-week"]
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
