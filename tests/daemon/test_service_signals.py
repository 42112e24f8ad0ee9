"""Stopping `botops run`: SIGTERM lets the WeCom call in flight finish and exits 0 within
daemon.shutdown_grace; a second daemon on the same SQLite database is refused."""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from botops.simulator import Fault
from botops.store.models import SendState
from tests.daemon.service_support import ADD, playbook, project_on, seed, utcnow, wait_until

pytestmark = pytest.mark.slow

GROUPS = 6  # one owner each: six WeCom tasks, sent one after the other
SLOW_ACK_SECONDS = 3.0
GRACE_SECONDS = 10


def test_sigterm_finishes_the_send_in_flight_and_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    groups = seed(GROUPS, "Term", GROUPS)
    with project_on(tmp_path, groups, f"sqlite:///{tmp_path / 'state' / 'botops.db'}") as project:
        sim = project.sim
        project.write(
            "sops/now.yaml",
            playbook("now", "现在", [("due", utcnow() - timedelta(minutes=1), 'text: "现在发"')]),
        )
        project.tag_groups(groups, "现在", monkeypatch, capsys)
        # WeCom creates the first task at once but answers only SLOW_ACK_SECONDS later.
        sim.faults.add(Fault("slow_ack", api=ADD, seconds=SLOW_ACK_SECONDS))

        # A create may run for half the settle time: long enough for this slow answer.
        daemon = project.daemon(
            "d",
            BOTOPS_DAEMON__SHUTDOWN_GRACE=f"{GRACE_SECONDS}s",
            BOTOPS_DAEMON__RECONCILE_AFTER=f"{int(SLOW_ACK_SECONDS * 3)}s",
        )
        [in_flight] = wait_until(sim.tasks, 30, "WeCom created the first task")
        daemon.signal(signal.SIGTERM)
        signalled = time.monotonic()
        code = daemon.wait(timeout=GRACE_SECONDS + 10)
        took = time.monotonic() - signalled
        log = daemon.log()

        assert code == 0, log[-3000:]
        assert took < GRACE_SECONDS, log[-3000:]
        assert took > SLOW_ACK_SECONDS / 2, "it did not wait for the call in flight"
        assert "daemon.stopped" in log
        assert "shutdown_grace_exceeded" not in log
        # The batch in flight finished: submitted, with WeCom's msgid. Nothing else was sent
        # after SIGTERM; the untried sends wait, planned, for the next start.
        assert [t.msgid for t in sim.tasks()] == [in_flight.msgid]
        assert sim.count(ADD) == 1
        rows = project.rows("due")
        [target] = [t.target_id for t in in_flight.targets]
        by_target = {r.target_id: r for r in rows}
        assert (by_target[target].state, by_target[target].msgid) == (
            SendState.SUBMITTED,
            in_flight.msgid,
        ), by_target[target]
        assert Counter(r.state for r in rows) == Counter(
            {SendState.SUBMITTED: 1, SendState.PLANNED: GROUPS - 1}
        ), [(r.target_id, r.state, r.claimed_by, r.error) for r in rows]

        # The next start sends the rest, each once.
        again = project.daemon("again")
        wait_until(lambda: len(sim.tasks()) == GROUPS, 30, "the rest sent after a restart")
        time.sleep(1.5)
        targets = Counter(t.target_id for task in sim.tasks() for t in task.targets)
        assert targets == Counter({g["chat_id"]: 1 for g in groups}), again.log()[-3000:]
        again.signal(signal.SIGTERM)
        assert again.wait(timeout=GRACE_SECONDS + 10) == 0


def test_a_second_daemon_on_one_sqlite_database_is_refused_with_the_holders_pid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    groups = seed(2, "Solo", 2)
    with project_on(tmp_path, groups, f"sqlite:///{tmp_path / 'state' / 'botops.db'}") as project:
        project.write(
            "sops/solo.yaml",
            playbook("solo", "单机", [("later", utcnow() + timedelta(hours=1), 'text: "稍后"')]),
        )
        first = project.daemon("first")
        first_worker = first.wait_ready()["worker"]
        assert first.wait_ready()["leader"] is True
        wait_until(lambda: project.heartbeats() == {first_worker: "leader"}, 15, "a heartbeat")

        second = project.daemon("second")
        assert second.wait(timeout=30) == 1
        err = second.log()
        assert f"pid {first.pid}" in err, err
        assert "SQLite supports one daemon" in err
        assert first.proc.poll() is None
        assert first.leader() is True

        # A clean stop releases the lock: the next daemon starts.
        first.signal(signal.SIGTERM)
        assert first.wait(timeout=GRACE_SECONDS + 20) == 0
        assert project.heartbeats() == {}  # a clean stop leaves; the refused one never beat
        third = project.daemon("third")
        assert third.wait_ready()["leader"] is True
        third.signal(signal.SIGTERM)
        assert third.wait(timeout=GRACE_SECONDS + 20) == 0
