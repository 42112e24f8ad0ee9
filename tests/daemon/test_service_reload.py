"""Editing playbooks under a running `botops run`: a valid edit applies in the next cycle,
an invalid one keeps the last good version running and alerts the ops robot once, a removed
step's future sends are cancelled."""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from botops.store.models import SendState
from tests.daemon.service_support import ADD, deliveries, playbook, project_on, seed, utcnow

pytestmark = pytest.mark.slow

GROUPS = 6
OWNERS = 3
RELOAD_SECONDS = 15  # plan_every is 1 s; a change is applied once it stood still for one


def test_live_edits_apply_reject_with_one_alert_and_cancel_removed_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    groups = seed(GROUPS, "Camp", OWNERS)
    chat_ids = {g["chat_id"] for g in groups}
    with project_on(tmp_path, groups, f"sqlite:///{tmp_path / 'state' / 'botops.db'}") as project:
        sim = project.sim
        start = utcnow()
        steps = [
            ("welcome", start - timedelta(minutes=1), "template: welcome.j2"),
            ("future", start + timedelta(hours=2), "template: future.j2"),
            ("doomed", start + timedelta(hours=3), 'text: "这一步会被删掉"'),
        ]
        project.write("sops/camp.yaml", playbook("camp", "训练营", steps))
        project.write("templates/welcome.j2", "欢迎加入训练营\n")
        project.write("templates/future.j2", "明天见（第一版）\n")
        project.tag_groups(groups, "训练营", monkeypatch, capsys)
        robot_key = sim.config.robot_keys[0]
        # alerts only: no daily digest to the same robot
        daemon = project.daemon(
            "d", BOTOPS_ALERTS__ROBOT_KEY=robot_key, BOTOPS_REPORTS__DIGEST_AT="null"
        )

        def rows(step: str) -> list[tuple[str, SendState, str, str]]:
            return sorted(
                (r.target_id, r.state, r.text, r.playbook_version) for r in project.rows(step)
            )

        def settled(check, what: str) -> None:
            deadline = time.monotonic() + RELOAD_SECONDS
            while not check():
                assert daemon.proc.poll() is None, daemon.log()[-3000:]
                if time.monotonic() > deadline:
                    pytest.fail(f"not within {RELOAD_SECONDS} s: {what}\n{daemon.log()[-3000:]}")
                time.sleep(0.1)

        settled(lambda: len(sim.tasks()) == OWNERS, "the welcome step sent")
        settled(lambda: len(project.outbox()) == 3 * GROUPS, "all three steps planned")
        sent = rows("welcome")
        [v1] = {version for *_, version in sent}
        assert {(state, text) for _, state, text, _ in sent} == {
            (SendState.SUBMITTED, "欢迎加入训练营")
        }
        assert {(s, t, v) for _, s, t, v in rows("future")} == {
            (SendState.PLANNED, "明天见（第一版）", v1)
        }

        # A valid edit of a future step's template: its planned rows take the new text and
        # version; the rows already sent keep theirs.
        project.write("templates/future.j2", "明天见（第二版）\n")
        settled(
            lambda: {t for _, _, t, _ in rows("future")} == {"明天见（第二版）"},
            "the edited template applied",
        )
        [v2] = {v for *_, v in rows("future")}
        assert v2 != v1
        assert {s for _, s, _, _ in rows("future")} == {SendState.PLANNED}
        assert rows("welcome") == sent
        assert "daemon.playbooks_reloaded" in daemon.log()
        assert sim.robot_messages() == []

        # An invalid edit (a template typo on line 2): the last good version keeps running,
        # and the ops robot hears about it once — not on every cycle, nor on a re-save.
        broken = "明天见（第三版）\n{{ group.name }\n"
        project.write("templates/future.j2", broken)
        settled(lambda: sim.robot_messages(), "the ops robot alerted")
        time.sleep(2)
        project.write("templates/future.j2", broken)  # saved again: same content, new mtime
        time.sleep(3)
        [alert] = sim.robot_messages()
        assert alert.msgtype == "markdown"
        content = alert.body["markdown"]["content"]
        assert "playbook change rejected" in content
        assert "future.j2:2:" in content, content
        assert {(t, v) for _, _, t, v in rows("future")} == {("明天见（第二版）", v2)}
        assert "daemon.playbooks_rejected" in daemon.log()

        # Fixed, and a step removed: its future rows are cancelled; nothing else changes.
        project.write("templates/future.j2", "明天见（第二版）\n")
        project.write("sops/camp.yaml", playbook("camp", "训练营", steps[:2]))
        settled(
            lambda: {s for _, s, _, _ in rows("doomed")} == {SendState.CANCELLED},
            "the removed step's rows cancelled",
        )
        assert len(rows("doomed")) == GROUPS
        assert {(s, t) for _, s, t, _ in rows("future")} == {
            (SendState.PLANNED, "明天见（第二版）")
        }
        assert rows("welcome") == sent
        assert len(sim.robot_messages()) == 1

        # WeCom saw the welcome step once per group, and nothing else.
        assert deliveries(sim) == Counter({("欢迎加入训练营", c): 1 for c in chat_ids})
        assert sim.count(ADD) == OWNERS
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=40) == 0
