"""The dispatcher's world for tests: a real simulator on loopback, a real SQLite file, and
the pieces wired the way botops/daemon/runtime.py wires them, on one FrozenClock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select

from botops.clock import FrozenClock
from botops.outbox.dispatcher import Dispatcher, OutboxRecorder
from botops.outbox.queue import EnqueueReport, enqueue
from botops.planning.planner import Plan, Window, plan
from botops.planning.policy import SendPolicy
from botops.playbook.library import PlaybookLibrary, load_library
from botops.senders.wecom_mass import WeComMassSender
from botops.simulator import Simulator
from botops.simulator.model import MassTask as SimTask
from botops.simulator.server import running_simulator
from botops.simulator.testing import FakeTime
from botops.store.db import open_database, session
from botops.store.groups import add_group_tags, targets
from botops.store.media import DbMediaStore
from botops.store.models import MassTask, MassTaskTarget, OutboxRow
from botops.sync.groups import sync_groups
from botops.tracking.tracker import TaskTracker
from botops.wecom.client import WeComClient
from botops.wecom.media import MediaCache
from botops.wecom.retry import RetryPolicy
from tests.helpers import write_tree

ADD = "externalcontact/add_msg_template"
LIST = "externalcontact/get_groupmsg_list_v2"
RETRY_ATTEMPTS = 3


def group_spec(chat_id: str, owner: str, tags: Iterable[str] = ("打卡",)) -> dict[str, Any]:
    return {
        "chat_id": chat_id,
        "name": f"{chat_id}群",
        "owner": owner,
        "tags": list(tags),
        "created_at": datetime(2026, 1, 1).isoformat() + "+08:00",
        "member_count": 3,
    }


def load(root: Path, playbooks: dict[str, str]) -> PlaybookLibrary:
    write_tree(root, playbooks)
    library, problems = load_library([root / "sops"], root / "templates")
    assert not [p for p in problems if p.severity == "error"], problems
    return library


@dataclass
class World:
    sim: Simulator
    clock: FrozenClock
    engine: Engine
    client: WeComClient
    library: PlaybookLibrary
    policy: SendPolicy
    dispatcher: Dispatcher
    tracker: TaskTracker
    media: MediaCache

    def plan(self, window: Window) -> tuple[Plan, EnqueueReport]:
        """Plan `window` for the stored groups and write it to the outbox, as Cycle.plan."""
        now = self.clock.now()
        with session(self.engine) as s:
            result = plan(
                self.library, targets(s), window, self.policy, enrol_at=now, checkins_at_send=True
            )
            versions = {p.id: self.library.digest(p.id) for p in self.library.playbooks}
            return result, enqueue(s, result, versions, now)

    def rows(self) -> dict[str, OutboxRow]:
        with session(self.engine) as s:
            return {r.key: r for r in s.exec(select(OutboxRow)).all()}

    def recorded(self) -> dict[str, tuple[MassTask, dict[str, str]]]:
        """msgid -> (task, {target: send key}) as botops recorded them."""
        with session(self.engine) as s:
            tasks: dict[str, tuple[MassTask, dict[str, str]]] = {
                t.msgid: (t, {}) for t in s.exec(select(MassTask)).all()
            }
            for target in s.exec(select(MassTaskTarget)).all():
                tasks[target.msgid][1][target.target_id] = target.send_key
        return tasks

    def sim_tasks(self) -> list[SimTask]:
        return self.sim.tasks()

    def mass_sender(self, *, recording: bool = True) -> WeComMassSender:
        record = OutboxRecorder(self.engine, self.clock) if recording else None
        return WeComMassSender(self.client, self.media, record=record)


@asynccontextmanager
async def world(
    root: Path,
    sim: Simulator,
    clock: FrozenClock,
    playbooks: dict[str, str],
    tags: dict[str, list[str]],
    policy: SendPolicy,
    *,
    worker: str = "worker-1",
) -> AsyncIterator[World]:
    """Groups synced from the simulator into the store and tagged; the dispatcher as
    runtime.py builds it, its client's retries sleeping on fake time."""
    library = load(root, playbooks)
    engine = open_database(f"sqlite:///{root / 'state' / 'botops.db'}")
    fake_time = FakeTime()  # retry back-off takes no time and does not move the clock
    try:
        with running_simulator(sim) as base_url:
            async with WeComClient(
                base_url,
                sim.config.corp_id,
                sim.config.secret,
                clock=clock,
                sleep=fake_time.sleep,
                monotonic=fake_time.monotonic,
                retry=RetryPolicy(attempts=RETRY_ATTEMPTS, jitter_seconds=0),
                timeout=5.0,
            ) as client:
                report = await sync_groups(client, engine, clock)
                assert report.ok, report
                with session(engine) as s:
                    for chat_id, names in tags.items():
                        add_group_tags(s, chat_id, names)
                media = MediaCache(
                    client.upload_media,
                    clock,
                    namespace=sim.config.corp_id,
                    store=DbMediaStore(engine),
                )
                sender = WeComMassSender(client, media, record=OutboxRecorder(engine, clock))
                dispatcher = Dispatcher(
                    engine,
                    sender,
                    client,
                    clock,
                    worker=worker,
                    library=lambda: library,
                    policy=policy,
                )
                tracker = TaskTracker(client, engine, clock)
                yield World(sim, clock, engine, client, library, policy, dispatcher, tracker, media)
    finally:
        engine.dispose()
