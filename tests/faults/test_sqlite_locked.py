"""SQLite locked by another connection for longer than the busy timeout, right while the
daemon's dispatch round waits for WeCom to answer a mass send it has already created.

The round cannot record the task, nor hand its claims back: it fails with SQLite's own
"database is locked". Once the lock is gone, the next round of the same process must adopt
the task WeCom created and send the rest — every group once, none lost.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from botops.clock import FrozenClock
from botops.config import Settings
from botops.daemon.runtime import runtime
from botops.outbox.reconcile import SETTLE
from botops.playbook.library import load_library
from botops.simulator import Fault, SimConfig, Simulator
from botops.simulator.server import running_simulator
from botops.simulator.testing import FakeTime
from botops.store.db import open_database, session
from botops.store.groups import add_group_tags
from botops.store.models import MassTask, OutboxRow, SendState
from botops.sync.groups import sync_groups
from botops.wecom.client import WeComClient
from tests.helpers import local, write_tree
from tests.outbox.support import ADD, group_spec

pytestmark = pytest.mark.anyio

GROUPS = 6  # one owner each: six WeCom tasks, one after the other
BUSY_TIMEOUT = 0.3  # seconds, from the URL (?timeout=)
NOW = local("2026-12-01 08:00")
SEED = [group_spec(f"wrLock{i}", f"staff{i}", []) for i in range(GROUPS)]
PLAYBOOK = """\
id: locked
name: 锁库演练
anchor: 2026-12-01
audience: {tags: {any: [锁库]}}
steps:
  - id: morning
    schedule: {day: 1, time: "08:00"}
    text: 早上好，今天的任务已发布
    expires_after: 2h
"""


class Locker(threading.Thread):
    """Another process's writer: as soon as WeCom holds the first task, take SQLite's write
    lock (BEGIN EXCLUSIVE) and keep it until told to let go."""

    def __init__(self, database: Path, sim: Simulator) -> None:
        super().__init__(name="sqlite-locker", daemon=True)
        self.database, self.sim = database, sim
        self.locked, self.release = threading.Event(), threading.Event()

    def run(self) -> None:
        while not self.sim.tasks():
            if self.release.wait(0.002):
                return
        conn = sqlite3.connect(self.database, timeout=10, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            self.locked.set()
            self.release.wait(30)
            conn.execute("ROLLBACK")
        finally:
            conn.close()


async def test_a_locked_database_mid_send_fails_clearly_and_the_next_round_loses_nothing(
    tmp_path: Path,
) -> None:
    clock = FrozenClock(NOW)
    sim = Simulator.from_groups(
        SEED, config=SimConfig(confirm_after=timedelta(minutes=2)), clock=clock
    )
    write_tree(tmp_path, {"locked.yaml": PLAYBOOK})
    database = tmp_path / "botops.db"
    url = f"sqlite:///{database}?timeout={BUSY_TIMEOUT}"
    with running_simulator(sim) as base_url:
        settings = Settings.model_validate(
            {
                "database": {"url": url},
                "sops_dir": tmp_path / "sops",
                "templates_dir": tmp_path / "templates",
                "wecom": {
                    "api_base": base_url,
                    "corp_id": sim.config.corp_id,
                    "secret": sim.config.secret,
                },
            }
        )
        library, problems = load_library([settings.sops_dir], settings.templates_dir)
        assert problems == []
        engine = open_database(url)
        try:
            async with WeComClient(base_url, sim.config.corp_id, sim.config.secret) as c:
                assert (await sync_groups(c, engine, clock)).ok
            with session(engine) as s:
                for group in SEED:
                    add_group_tags(s, group["chat_id"], ["锁库"])
            # WeCom creates the first task at once but answers 0.5 s later.
            sim.faults.add(Fault("slow_ack", api=ADD, seconds=0.5))
            locker = Locker(database, sim)
            fake = FakeTime()
            async with runtime(
                settings, clock, lambda: library, sleep=fake.sleep, monotonic=fake.monotonic
            ) as rt:
                locker.start()
                try:
                    with pytest.raises(OperationalError, match="database is locked"):
                        await rt.cycle.once()
                finally:
                    locked = locker.locked.is_set()
                    locker.release.set()
                    locker.join(timeout=10)
                assert locked, "the lock was taken while WeCom held the task"

                # The moment after: WeCom has one task botops could not record; the round
                # left every due send claimed.
                [created] = sim.tasks()
                assert rows_by_state(engine) == Counter({SendState.CLAIMED: GROUPS})
                with session(engine) as s:
                    assert list(s.exec(select(MassTask))) == []

                # The lock is gone: the next rounds of the same process finish the job (the
                # untried batches once their claims are older than reconcile's SETTLE).
                for _ in range(3):
                    clock.advance(SETTLE)
                    await rt.cycle.once()
        finally:
            engine.dispose()

        tasks = sim.tasks()
        assert Counter(t.target_id for task in tasks for t in task.targets) == Counter(
            {g["chat_id"]: 1 for g in SEED}
        )
        assert created.msgid in {t.msgid for t in tasks}
        with sqlite3.connect(database) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        engine = open_database(url)
        try:
            with session(engine) as s:
                recorded = set(s.exec(select(MassTask.msgid)))
                rows = list(s.exec(select(OutboxRow)))
        finally:
            engine.dispose()
        assert recorded == {t.msgid for t in tasks}
        assert {(r.target_id, r.state) for r in rows} == {
            (g["chat_id"], SendState.SENT) for g in SEED
        }


def rows_by_state(engine) -> Counter[SendState]:
    with session(engine) as s:
        return Counter(r.state for r in s.exec(select(OutboxRow)))
