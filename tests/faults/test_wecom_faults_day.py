"""One simulated day of 30 groups and 13 sends each, while WeCom misbehaves in every way the
simulator can: tokens revoked (42001, 40014), bursts of -1 and 45009, HTTP 5xx, answers slower
than the client's timeout, dropped connections, tasks created whose answer is slow or lost,
a permanent rejection, and outages that outlast a send's expires_after.

The daemon's real wiring (botops.daemon.runtime) drives `Cycle.once()` on one FrozenClock
that steps from event to event (every `plan_every` while something is in flight); retry
back-off sleeps on fake time, the simulator confirms tasks 4 minutes after creation. Then:
every outbox row is final with the outcome its fault allows, every planned send is in the
outbox, no send is in two WeCom tasks, and every WeCom task is one botops recorded.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, and_, func, or_
from sqlmodel import col, select
from starlette.types import ASGIApp, Receive, Scope, Send

from botops.clock import FrozenClock
from botops.config import Settings
from botops.daemon.cycle import CycleReport
from botops.daemon.runtime import runtime
from botops.errors import WeComError
from botops.planning.planner import Window, plan
from botops.playbook.library import PlaybookLibrary, load_library
from botops.simulator import Fault, SimConfig, Simulator
from botops.simulator.server import running_simulator
from botops.simulator.testing import FakeTime
from botops.store.db import open_database, session
from botops.store.groups import add_group_tags, targets
from botops.store.models import MassTask, OutboxRow, SendState
from botops.sync.groups import sync_groups
from botops.wecom.client import WeComClient
from botops.wecom.models import SEND_SENT, SEND_UNSENT
from tests.helpers import local, write_tree
from tests.outbox.support import ADD, LIST, group_spec

pytestmark = pytest.mark.anyio

GROUPS, OWNERS = 30, 10  # group i is owned by staff(i % 10): a shared text is 10 tasks
TIMEOUT = 0.25  # wecom.timeout_seconds
SLOW = 0.5  # latency / slow_ack: WeCom answers after the client gave up
CONFIRM_AFTER = timedelta(minutes=4)
START = local("2026-12-01 07:00")
END = local("2026-12-02 00:00")
TASK = "externalcontact/get_groupmsg_task"
RESULT = "externalcontact/get_groupmsg_send_result"
SEED = [group_spec(f"wrFault{i:02d}", f"staff{i % OWNERS:02d}", []) for i in range(GROUPS)]
FINAL_OUTCOMES = {SendState.SENT, SendState.FAILED, SendState.MISSED, SendState.EXPIRED}

# (local time, expires_after, text per group?) — each step's text names its hour, so every
# (text, group) pair in WeCom belongs to exactly one planned send.
STEPS = {
    "08:00": ("1h", True),  # no fault: the baseline
    "09:00": ("1h", False),  # tokens revoked (42001) just before
    "10:00": ("1h", False),  # -1 burst on add_msg_template
    "11:00": ("1h", False),  # 45009 burst
    "12:00": ("1h", False),  # HTTP 503 (WeCom did nothing, the client cannot know)
    "13:00": ("1h", True),  # answers slower than the timeout (WeCom acts late)
    "14:00": ("1h", False),  # dropped connections, also while reconciling
    "15:00": ("1h", True),  # slow_ack and lost_ack: WeCom acted, the answer never came
    "16:00": ("1h", False),  # tracking APIs fail (5xx, drop, latency); tokens revoked (40014)
    "17:00": ("1h", False),  # a permanent rejection (40058) of one task
    "18:00": ("20m", False),  # -1 for 25 minutes: outlasts expires_after
    "19:00": ("8m", False),  # -1 for 5 minutes: created too late for staff to confirm in time
    "20:00": ("1h", True),  # no fault: everything recovered
}


def step_id(hhmm: str) -> str:
    return "s" + hhmm.replace(":", "")


def playbook() -> str:
    steps = "".join(
        f"  - id: {step_id(hhmm)}\n"
        f'    schedule: {{day: 1, time: "{hhmm}"}}\n'
        f'    text: "{hhmm} 演练消息{" {{ group.name }}" if per_group else ""}"\n'
        f"    expires_after: {expires}\n"
        for hhmm, (expires, per_group) in STEPS.items()
    )
    return (
        "id: fault-day\nname: 故障演练日\nanchor: 2026-12-01\nduration_days: 1\n"
        "audience:\n  chat_type: group\n  tags: {any: [演练]}\nsteps:\n" + steps
    )


@dataclass
class Scheduled:
    """What happens to WeCom at `at` (before that moment's cycle runs)."""

    at: datetime
    act: Callable[[Simulator], object]
    done: bool = False


@dataclass
class Day:
    sim: Simulator
    clock: FrozenClock
    engine: Engine
    faults: list[Fault] = field(default_factory=list)  # every fault queued, to check use
    tokens_fetched: dict[str, tuple[int, int]] = field(default_factory=dict)


def schedule(day: Day) -> list[Scheduled]:
    def queue(*faults: Fault) -> Callable[[Simulator], None]:
        def act(sim: Simulator) -> None:
            for fault in faults:
                day.faults.append(fault)
                sim.faults.add(fault)

        return act

    def revoke(errcode: int, label: str) -> Callable[[Simulator], None]:
        def act(sim: Simulator) -> None:
            day.tokens_fetched[label] = (sim.count("gettoken"), sim.revoke_tokens(errcode))

        return act

    def clear(sim: Simulator) -> None:
        sim.faults.clear()

    def at(hhmm: str) -> datetime:
        return local(f"2026-12-01 {hhmm}")

    return [
        Scheduled(at("09:00"), revoke(42001, "09:00")),
        Scheduled(at("10:00"), queue(Fault("errcode", api=ADD, errcode=-1, times=5))),
        Scheduled(at("11:00"), queue(Fault("errcode", api=ADD, errcode=45009, times=4))),
        Scheduled(at("12:00"), queue(Fault("http", api=ADD, status=503, times=3))),
        Scheduled(at("13:00"), queue(Fault("latency", api=ADD, seconds=SLOW, times=2))),
        Scheduled(
            at("14:00"),
            queue(Fault("drop", api=ADD, times=2), Fault("drop", api=LIST, times=1)),
        ),
        Scheduled(
            at("15:00"),
            queue(
                Fault("slow_ack", api=ADD, seconds=SLOW, times=2),
                Fault("lost_ack", api=ADD, times=2),
            ),
        ),
        Scheduled(
            at("16:00"),
            queue(
                Fault("http", api=TASK, status=502, times=3),
                Fault("drop", api=RESULT, times=2),
                Fault("latency", api=TASK, seconds=SLOW, times=1),
            ),
        ),
        Scheduled(at("16:05"), revoke(40014, "16:05")),
        Scheduled(at("17:00"), queue(Fault("errcode", api=ADD, errcode=40058, times=1))),
        Scheduled(at("18:00"), queue(Fault("errcode", api=ADD, errcode=-1, times=100_000))),
        Scheduled(at("18:25"), clear),
        Scheduled(at("19:00"), queue(Fault("errcode", api=ADD, errcode=-1, times=100_000))),
        Scheduled(at("19:05"), clear),  # created at 19:05, confirmed at 19:09, expires 19:08
        Scheduled(at("19:08"), lambda sim: None),  # a planning round at the expiry
    ]


def busy(engine: Engine, now: datetime) -> bool:
    """Something in flight: a send waiting to be retried, a claim to reconcile, or a task
    waiting for staff."""
    with session(engine) as s:
        waiting = s.exec(
            select(func.count())
            .select_from(OutboxRow)
            .where(
                or_(
                    col(OutboxRow.state).in_([SendState.CLAIMED, SendState.SUBMITTED]),
                    and_(col(OutboxRow.state) == SendState.PLANNED, col(OutboxRow.due_at) <= now),
                )
            )
        ).one()
    return waiting > 0


def next_moment(
    engine: Engine, now: datetime, settings: Settings, events: list[Scheduled]
) -> datetime:
    """The next planned send, the next scheduled fault, or — with something in flight — the
    next planning round; at most plan_ahead away."""
    candidates = [now + settings.daemon.plan_ahead]
    with session(engine) as s:
        due = s.exec(
            select(func.min(OutboxRow.due_at)).where(
                OutboxRow.state == SendState.PLANNED, OutboxRow.due_at > now
            )
        ).one()
    if due is not None:
        candidates.append(due)
    candidates += [e.at for e in events if e.at > now]
    if busy(engine, now):
        candidates.append(now + settings.daemon.plan_every)
    return min(candidates)


class TrackedSimulator(Simulator):
    """The simulator, counting the requests it is still working on (a `latency` fault
    answers, and acts, only after the client has given up)."""

    in_flight = 0

    @property
    def app(self) -> ASGIApp:
        inner = super().app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            self.in_flight += 1  # (uvicorn's one event loop: no lock needed)
            try:
                await inner(scope, receive, send)
            finally:
                self.in_flight -= 1

        return app

    def settle(self) -> None:
        """Wait until WeCom finished everything in flight before the next round: in
        production the next round is a minute away, far beyond the client's timeout."""
        deadline = time.monotonic() + 30
        while self.in_flight:
            assert time.monotonic() < deadline, "the simulator is stuck"
            time.sleep(0.01)


async def test_a_day_of_wecom_faults_ends_every_send_final_none_twice_none_lost(tmp_path: Path):
    clock = FrozenClock(START)
    sim = TrackedSimulator(SimConfig(confirm_after=CONFIRM_AFTER), clock=clock)
    sim.add_groups(SEED)
    write_tree(tmp_path, {"fault-day.yaml": playbook()})
    database = f"sqlite:///{tmp_path / 'botops.db'}"
    with running_simulator(sim) as base_url:
        settings = Settings.model_validate(
            {
                "database": {"url": database},
                "sops_dir": tmp_path / "sops",
                "templates_dir": tmp_path / "templates",
                "daemon": {"plan_every": "5m", "plan_ahead": "1h"},
                "wecom": {
                    "api_base": base_url,
                    "corp_id": sim.config.corp_id,
                    "secret": sim.config.secret,
                    "timeout_seconds": TIMEOUT,
                    "retry_attempts": 3,
                },
            }
        )
        library, problems = load_library([settings.sops_dir], settings.templates_dir)
        assert problems == []
        engine = open_database(database)
        day = Day(sim, clock, engine)
        events = schedule(day)
        try:
            async with WeComClient(base_url, sim.config.corp_id, sim.config.secret) as c:
                assert (await sync_groups(c, engine, clock)).ok
            with session(engine) as s:
                for group in SEED:
                    add_group_tags(s, group["chat_id"], ["演练"])
            reports: list[tuple[datetime, CycleReport | WeComError]] = []
            fake = FakeTime()  # retry back-off takes no time
            async with runtime(
                settings, clock, lambda: library, sleep=fake.sleep, monotonic=fake.monotonic
            ) as rt:
                while clock.now() < END:
                    for event in events:
                        if not event.done and event.at <= clock.now():
                            event.act(sim)
                            event.done = True
                    try:
                        reports.append((clock.now(), await rt.cycle.once()))
                    except WeComError as exc:  # as the daemon: logged, next round retries
                        reports.append((clock.now(), exc))
                    sim.settle()
                    clock.set(next_moment(engine, clock.now(), settings, events))
            check(day, events, settings, library, reports, fake)
        finally:
            engine.dispose()


def check(
    day: Day,
    events: list[Scheduled],
    settings: Settings,
    library: PlaybookLibrary,
    reports: list[tuple[datetime, CycleReport | WeComError]],
    fake: FakeTime,
) -> None:
    sim, engine = day.sim, day.engine
    assert all(e.done for e in events)
    assert len(reports) < 80, "stepped from event to event, not minute by minute"
    # The day really was faulty: every fault queued was met by a call (the open-ended -1
    # outages were cleared on schedule after many), and every revocation hit a live token
    # that was then replaced.
    assert sim.faults.pending() == []
    assert all(f.times == 0 or f.times < 100_000 - 10 for f in day.faults), day.faults
    for label, (fetched_before, revoked) in day.tokens_fetched.items():
        assert revoked >= 1, label
        assert sim.count("gettoken") > fetched_before, label
    assert fake.sleeps, "the client backed off (on fake time) during the bursts"

    with session(engine) as s:
        rows = {r.key: r for r in s.exec(select(OutboxRow))}
        recorded = set(s.exec(select(MassTask.msgid)))
        stored = targets(s)
    by_step: dict[str, list[OutboxRow]] = {}
    for row in rows.values():
        by_step.setdefault(row.step, []).append(row)

    # None lost: the outbox holds exactly the day's planned sends, every one final.
    whole = plan(library, stored, Window(START, END), settings.send_policy, checkins_at_send=True)
    planned = {s.key for s in whole.sends if s.sendable}
    assert len(planned) == GROUPS * len(STEPS)
    assert set(rows) == planned
    stuck = {k: (r.state, r.error) for k, r in rows.items() if r.state not in FINAL_OUTCOMES}
    assert stuck == {}

    # None twice: each (text, group) in at most one WeCom task; every WeCom task recorded by
    # botops (an unrecorded task is one staff could confirm behind botops' back).
    tasks = sim.tasks()
    assert {t.msgid for t in tasks} == recorded
    key_of = {(r.text, r.target_id): r.key for r in rows.values()}
    delivered: Counter[str] = Counter()
    target_status: dict[str, int] = {}
    cancelled: set[str] = set()
    for task in tasks:
        text = (task.text or {}).get("content", "")
        for target in task.targets:
            key = key_of[(text, target.target_id)]  # nothing WeCom holds was unplanned
            delivered[key] += 1
            target_status[key] = target.status
            if task.cancelled:
                cancelled.add(key)
    assert max(delivered.values()) == 1, [k for k, n in delivered.items() if n > 1]

    # Each fault's outcome, exactly.
    expected_failed = 0
    for hhmm in STEPS:
        sid = step_id(hhmm)
        step_rows = by_step[sid]
        assert len(step_rows) == GROUPS, sid
        states = Counter(r.state for r in step_rows)
        if sid == "s1700":  # one task refused for good: its sends failed, with WeCom's reason
            failed = [r for r in step_rows if r.state == SendState.FAILED]
            assert len({r.batch for r in failed}) == 1, failed
            assert len(failed) == GROUPS // OWNERS
            assert all("errcode 40058" in r.error for r in failed), failed
            assert states == Counter(
                {SendState.SENT: GROUPS - len(failed), SendState.FAILED: len(failed)}
            )
            assert not {r.key for r in failed} & set(delivered)
            expected_failed += len(failed)
        elif sid == "s1800":  # WeCom busy beyond expires_after: missed, never sent late
            assert states == Counter({SendState.MISSED: GROUPS}), sid
            assert all("expires_after" in r.error for r in step_rows)
            assert not {r.key for r in step_rows} & set(delivered)
        elif sid == "s1900":  # created too late: cancelled unconfirmed at expiry
            assert states == Counter({SendState.EXPIRED: GROUPS}), sid
            keys = {r.key for r in step_rows}
            assert keys <= cancelled
            assert {target_status[k] for k in keys} == {SEND_UNSENT}
            assert all(r.error for r in step_rows)
        else:  # every other fault is absorbed: sent once, confirmed by staff
            assert states == Counter({SendState.SENT: GROUPS}), (sid, states)
            assert {target_status[r.key] for r in step_rows} == {SEND_SENT}
    assert sum(r.state == SendState.FAILED for r in rows.values()) == expected_failed

    # How it got there: outcomes unknown were reconciled — adopted when WeCom had acted
    # (latency, slow_ack, lost_ack: 6 calls), released when it had not (503, drop: 5).
    cycles = [r for _, r in reports if isinstance(r, CycleReport)]
    recovered = sum(len(r.dispatched.reconciled.recovered) for r in cycles)
    released = sum(len(r.dispatched.reconciled.released) for r in cycles)
    assert recovered >= 6
    assert released >= 5
    assert any(r.tracking is not None and r.tracking.errors for r in cycles)
