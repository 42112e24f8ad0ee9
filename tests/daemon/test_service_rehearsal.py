"""`botops run --now ISO` without `--once`: a rehearsal. The daemon runs from that moment at
real pace (on a simulator), and is refused against WeCom itself."""

from __future__ import annotations

import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest

from botops.cli import main
from botops.daemon.ticks import next_tick
from botops.store.models import SendState
from tests.daemon.service_support import ADD, playbook, project_on, seed, utcnow, wait_until

pytestmark = pytest.mark.slow


def test_a_rehearsal_runs_the_day_it_was_given_at_real_pace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    groups = seed(1, "Rehearse", 1)
    rehearsal = utcnow() + timedelta(days=30)
    with project_on(tmp_path, groups, f"sqlite:///{tmp_path / 'botops.db'}") as project:
        sim = project.sim
        project.write(
            "sops/launch.yaml",
            playbook(
                "launch",
                "彩排",
                [
                    # due now in real time: a month before the rehearsal, long expired there
                    ("today", utcnow() - timedelta(minutes=1), 'text: "今天"'),
                    # due a few seconds into the rehearsal
                    ("launch", rehearsal + timedelta(seconds=4), 'text: "开营啦"'),
                ],
            ),
        )
        project.tag_groups(groups, "彩排", monkeypatch, capsys)
        daemon = project.daemon("rehearsal", ["--now", rehearsal.isoformat()])
        [task] = wait_until(sim.tasks, 30, "the rehearsal's launch send reached the simulator")
        time.sleep(1.5)  # a few more rounds (plan_every 1s): nothing else goes out
        assert sim.count(ADD) == 1
        assert "开营啦" in str(task), task
        [launch] = project.rows("launch")
        assert launch.state == SendState.SUBMITTED
        assert launch.due_at == rehearsal + timedelta(seconds=4)
        assert project.rows("today") == []  # not even planned: a month before the window
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0, daemon.log()[-3000:]


def test_planning_rounds_fall_on_round_times_so_a_send_leaves_when_it_is_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rounds every 20 s, started 6 s before a round time that is the send's due time: counted
    from the start, the next round (and the send) would come 14 s late."""
    groups = seed(1, "Tick", 1)
    every = timedelta(seconds=20)
    due = next_tick(utcnow() + timedelta(days=30), every)
    with project_on(tmp_path, groups, f"sqlite:///{tmp_path / 'botops.db'}") as project:
        project.write(
            "sops/tick.yaml", playbook("tick", "准点", [("on-time", due, 'text: "准点"')])
        )
        project.tag_groups(groups, "准点", monkeypatch, capsys)
        daemon = project.daemon(
            "ticks",
            ["--now", (due - timedelta(seconds=6)).isoformat()],
            BOTOPS_DAEMON__PLAN_EVERY="20s",
        )
        # The task reaches the simulator before the row records it: wait for the row.
        [sent] = wait_until(
            lambda: [r for r in project.rows("on-time") if r.state == SendState.SUBMITTED],
            40,
            "the send due on a round time submitted",
        )
        assert project.sim.tasks()
        assert sent.updated_at - due < timedelta(seconds=5), (sent.updated_at, due)
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0, daemon.log()[-3000:]


def test_a_rehearsal_against_wecom_itself_is_refused_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOTOPS_WECOM__CORP_ID", "ww-real-corp")
    monkeypatch.setenv("BOTOPS_WECOM__SECRET", "real-secret")
    monkeypatch.setenv("BOTOPS_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(SystemExit) as refused:
        main(["run", "--now", "2026-12-08T07:55:00+08:00"])
    assert "rehearsal" in str(refused.value)
    assert "https://qyapi.weixin.qq.com" in str(refused.value)
    assert not (tmp_path / "data").exists()  # no database, no simulator, no server
