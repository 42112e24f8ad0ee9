"""Two `botops run` replicas on one PostgreSQL database: one leads, every due send reaches
WeCom exactly once, and when the leader is SIGKILLed the other takes over and sends what
falls due next — still exactly once.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from botops.store.models import SendState
from tests.daemon.service_support import (
    ADD,
    Daemon,
    LeaderWatch,
    Project,
    deliveries,
    playbook,
    project_on,
    seed,
    utcnow,
    wait_until,
)
from tests.helpers import postgres_url, reset_postgres

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

GROUPS = 20
OWNERS = 10  # two groups per owner: one WeCom task holds two targets
FIRST, SECOND = "第一条：今晚八点直播", "第二条：直播马上开始"
SECOND_AFTER = timedelta(seconds=15)  # from the start: after the kill, well before the end
FAILOVER_LIMIT_SECONDS = 60


def test_one_leader_sends_once_and_a_standby_takes_over_after_kill_9(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = postgres_url()
    reset_postgres(url)
    groups = seed(GROUPS, "Live", OWNERS)
    chat_ids = {g["chat_id"] for g in groups}
    with project_on(tmp_path, groups, url) as project:
        start = utcnow()
        second_at = start + SECOND_AFTER
        project.write(
            "sops/live.yaml",
            playbook(
                "live",
                "直播",
                [
                    ("first", start - timedelta(minutes=1), f'text: "{FIRST}"'),
                    ("second", second_at, f'text: "{SECOND}"'),
                ],
            ),
        )
        project.tag_groups(groups, "直播", monkeypatch, capsys)

        replicas = [project.daemon("a"), project.daemon("b")]
        with LeaderWatch(replicas) as watch:
            scenario(project, replicas, second_at, chat_ids)
        # Sampled every 0.1 s from the start to the end: never two leaders at once.
        assert watch.overlaps() == [], watch.overlaps()[:5]


def scenario(
    project: Project, replicas: list[Daemon], second_at: datetime, chat_ids: set[str]
) -> None:
    sim = project.sim
    for replica in replicas:
        replica.wait_ready()

    # Exactly one leader, and it stays that way.
    def one_leader() -> bool:
        states = [r.leader() for r in replicas]
        return None not in states and states.count(True) == 1

    wait_until(one_leader, 20, "one replica reports leader: true")
    for _ in range(10):
        states = [r.leader() for r in replicas]
        assert sorted(states, key=str) == [False, True], (states, project.logs())
        time.sleep(0.2)
    [leader] = [r for r in replicas if r.leader()]
    [standby] = [r for r in replicas if r is not leader]
    leader_worker = leader.wait_ready()["worker"]
    standby_worker = standby.wait_ready()["worker"]
    # Each writes a heartbeat with its role, for `botops status` (every 5 s).
    both = {leader_worker: "leader", standby_worker: "standby"}
    wait_until(lambda: project.heartbeats() == both, 15, "both heartbeats with their roles")

    # Every due send reached WeCom, each once; nothing of the later step yet.
    wait_until(
        lambda: {t for (text, t) in deliveries(sim) if text == FIRST} == chat_ids,
        20,
        "the first step's sends reached WeCom",
    )
    time.sleep(1.5)  # more plan cycles of both replicas: nothing is sent again
    assert deliveries(sim) == Counter({(FIRST, c): 1 for c in chat_ids}), project.logs()
    assert len(sim.tasks()) == sim.count(ADD) == OWNERS
    first_rows = project.rows("first")
    task_of = {t.target_id: task.msgid for task in sim.tasks() for t in task.targets}
    assert {r.target_id: (r.state, r.msgid) for r in first_rows} == {
        c: (SendState.SUBMITTED, task_of[c]) for c in chat_ids
    }
    assert {r.claimed_by for r in first_rows} == {leader_worker}

    # kill -9 the leader before the second step falls due.
    killed_at = utcnow()
    assert killed_at < second_at - timedelta(seconds=2), (
        f"setup took too long: the kill at {killed_at} is not well before {second_at}"
    )
    leader.signal(signal.SIGKILL)
    killed = time.monotonic()
    assert leader.wait(timeout=10) == -signal.SIGKILL
    wait_until(lambda: standby.leader() is True, FAILOVER_LIMIT_SECONDS, "failover")
    failover = time.monotonic() - killed
    print(f"\nfailover after SIGKILL: {failover:.1f} s")
    assert standby.proc.poll() is None
    # The killed leader's row stays as it was (status shows it going silent).
    after = {leader_worker: "leader", standby_worker: "leader"}
    wait_until(lambda: project.heartbeats() == after, 15, "the new leader's heartbeat")

    # The new leader sends the second step when it falls due, each once; nothing twice.
    wait_until(
        lambda: {t for (text, t) in deliveries(sim) if text == SECOND} == chat_ids,
        SECOND_AFTER.total_seconds() + 20,
        "the second step's sends reached WeCom",
    )
    time.sleep(1.5)
    expected = {(text, c): 1 for text in (FIRST, SECOND) for c in chat_ids}
    assert deliveries(sim) == Counter(expected), project.logs()
    assert len(sim.tasks()) == sim.count(ADD) == 2 * OWNERS
    task_of = {
        (task.text or {})["content"] + t.target_id: task.msgid
        for task in sim.tasks()
        for t in task.targets
    }
    rows = project.outbox()
    assert len(rows) == 2 * GROUPS
    assert {r.key: (r.state, r.msgid) for r in rows} == {
        r.key: (SendState.SUBMITTED, task_of[r.text + r.target_id]) for r in rows
    }
    assert {r.claimed_by for r in rows if r.step == "second"} == {standby_worker}
    assert min(t.create_time for t in sim.tasks() if t.text == {"content": SECOND}) >= int(
        second_at.timestamp()
    )
    assert failover < FAILOVER_LIMIT_SECONDS
