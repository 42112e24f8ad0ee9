"""A withdrawal `botops withdraw` recorded but could not carry out (WeCom unreachable from
where it ran) is carried out by the running daemon at its next planning round; one WeCom
refuses does not stop the round."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path

import pytest

from botops.store.db import open_database, session
from botops.store.models import MassTask, SendState
from botops.store.tasks import withdraw
from tests.daemon.service_support import playbook, project_on, seed, utcnow, wait_until

pytestmark = pytest.mark.slow


def test_the_daemon_cancels_a_withdrawn_task_at_its_next_planning_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tracking every hour here: only the planning round (every second) can cancel it soon."""
    groups = seed(2, "Wd", 1)  # one owner: one task for both groups
    with project_on(tmp_path, groups, f"sqlite:///{tmp_path / 'state' / 'botops.db'}") as project:
        sim = project.sim
        due = utcnow() - timedelta(minutes=1)
        project.write("sops/wrong.yaml", playbook("wrong", "撤回", [("price", due, 'text: "9.9"')]))
        project.tag_groups(groups, "撤回", monkeypatch, capsys)
        daemon = project.daemon("d", BOTOPS_TRACKING__POLL_EVERY="1h")

        def submitted() -> bool:
            rows = project.rows("price")
            return len(rows) == 2 and all(r.state == SendState.SUBMITTED for r in rows)

        [task] = wait_until(sim.tasks, 30, "the mass-send task created")
        wait_until(submitted, 30, "both sends recorded as submitted")
        assert not task.cancelled

        # What `botops withdraw --yes` records before it calls WeCom.
        engine = open_database(project.database_url)
        try:
            with session(engine) as s:
                assert withdraw(s, [task.msgid], utcnow()) == [task.msgid]
        finally:
            engine.dispose()

        def cancelled() -> bool:
            rows = project.rows("price")
            return bool(rows) and all(r.state == SendState.CANCELLED for r in rows)

        wait_until(cancelled, 30, "both sends cancelled")
        assert [t.cancelled for t in sim.tasks()] == [True]
        assert all("withdrawn by ops" in r.error for r in project.rows("price"))
        assert "tracking.withdrawn" in daemon.log()
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0


def test_a_withdrawal_wecom_refuses_does_not_stop_planning_or_alerts(tmp_path: Path) -> None:
    """The secret is wrong: neither the withdrawn task nor the sync can reach WeCom. The
    planning round logs the withdrawal's failure and goes on; ops hear of the broken sync."""
    with project_on(tmp_path, seed(1, "Bad", 1), f"sqlite:///{tmp_path / 'botops.db'}") as project:
        project.sim.add_robot("ops-robot-key")
        engine = open_database(project.database_url)
        try:
            with session(engine) as s:
                now = utcnow()
                s.add(MassTask(msgid="m1", sender="staff00", created_at=now, expires_at=now))
            with session(engine) as s:
                assert withdraw(s, ["m1"], now) == ["m1"]
        finally:
            engine.dispose()
        daemon = project.daemon(
            "d",
            BOTOPS_WECOM__SECRET="not-the-secret",
            BOTOPS_ALERTS__ROBOT_KEY="ops-robot-key",
            BOTOPS_REPORTS__DIGEST_AT="null",
        )
        [alert] = wait_until(project.sim.robot_messages, 30, "the broken sync alerted")
        assert alert.body["markdown"]["content"].startswith("**botops: 企业微信同步失败**")
        log = daemon.log()
        assert "daemon.withdrawn_not_cancelled" in log
        assert "40001" in log
        assert "cycle.planned" in log  # planning went on
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
