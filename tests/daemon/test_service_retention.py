"""The daemon deletes old finished sends and logged messages with its hourly sync
(`daemon.keep_sends`, `daemon.keep_messages`)."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from botops.store.activity import first_message_day
from botops.store.db import open_database, session
from botops.store.models import GroupMessageRecord, SendState
from tests.daemon.service_support import playbook, project_on, seed, utcnow, wait_until
from tests.store.test_retention import message, send

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


def test_logged_messages_go_after_keep_messages_but_never_inside_a_rule_window(
    tmp_path: Path,
) -> None:
    with project_on(tmp_path, seed(1, "Old", 1), f"sqlite:///{tmp_path / 'botops.db'}") as project:
        rule = "inactivity: {days: 30, min_messages: 1}\n"
        later = utcnow() + timedelta(days=30)
        project.write("sops/camp.yaml", playbook("camp", "营", [("s", later, "text: 你好")]) + rule)
        engine = open_database(project.database_url)
        with session(engine) as s:
            for msgid, days_ago in (("40-days", 40), ("20-days", 20), ("5-days", 5)):
                s.add(message(msgid, days_ago, now=utcnow()))
        daemon = project.daemon("d", BOTOPS_DAEMON__KEEP_MESSAGES="10d")
        wait_until(lambda: "daemon.messages_pruned" in daemon.log(), 30, "the prune logged")
        with session(engine) as s:
            kept = sorted(s.exec(select(GroupMessageRecord.msgid)))
            since = first_message_day(s)
        engine.dispose()
        # 10d would delete the 20-day-old message too; the playbook's rule looks back 30 days.
        assert kept == ["20-days", "5-days"]
        assert since == (utcnow() - timedelta(days=40)).date()
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
