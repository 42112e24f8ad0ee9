"""The daemon deletes old finished sends with its hourly sync (`daemon.keep_sends`)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from botops.store.db import open_database, session
from botops.store.models import SendState
from tests.daemon.service_support import project_on, seed, utcnow, wait_until
from tests.store.test_retention import send

pytestmark = pytest.mark.slow


def test_the_start_sync_deletes_finished_sends_older_than_keep_sends(tmp_path: Path) -> None:
    with project_on(tmp_path, seed(1, "Old", 1), f"sqlite:///{tmp_path / 'botops.db'}") as project:
        engine = open_database(project.database_url)
        with session(engine) as s:
            s.add(send("sent-long-ago", 20, SendState.SENT, now=utcnow()))
            s.add(send("sent-last-week", 7, SendState.SENT, now=utcnow()))
        engine.dispose()
        daemon = project.daemon("d", BOTOPS_DAEMON__KEEP_SENDS="10d")
        wait_until(lambda: "daemon.sends_pruned" in daemon.log(), 30, "the prune logged")
        assert [row.key for row in project.outbox()] == ["sent-last-week"]
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
