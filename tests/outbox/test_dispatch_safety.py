"""What keeps a send from going out twice or getting stuck when things overlap: a replica
that lost leadership mid-round, a batch still at WeCom when another replica reconciles it, a
lookup WeCom refuses, and two batches of the same message from one sender. Real simulator on
loopback, real SQLite, as in test_dispatch."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from botops.clock import FrozenClock
from botops.outbox.dispatcher import HELD, Dispatcher
from botops.outbox.queue import claim, mark_attempted
from botops.outbox.reconcile import GIVE_UP, SETTLE
from botops.planning.planner import Window
from botops.senders.base import Gate, Outgoing, Receipt, Sender
from botops.simulator import Fault, Simulator
from botops.store.db import session
from botops.store.models import SendState
from tests.helpers import local
from tests.outbox.support import ADD, LIST, World, group_spec, world
from tests.outbox.test_dispatch import DUE, POLICY, TARGETS, due_rows, planned, sent_once

pytestmark = pytest.mark.anyio


class Paced:
    """A sender that lets the test decide when its `stall`-th batch reaches WeCom."""

    def __init__(self, real: Sender, stall: int) -> None:
        self.channel = real.channel
        self._real, self._stall, self._count = real, stall, 0
        self.stalled, self.go = asyncio.Event(), asyncio.Event()

    async def prepare(self, outgoing: Outgoing) -> None:
        await self._real.prepare(outgoing)

    async def send(self, outgoing: Outgoing, gate: Gate | None = None) -> Receipt:
        self._count += 1
        if self._count == self._stall:
            self.stalled.set()
            await self.go.wait()
        return await self._real.send(outgoing, gate)


def replica(w: World, name: str, sender: Sender, still_leader: Callable[[], Awaitable[bool]]):
    return Dispatcher(
        w.engine,
        sender,
        w.client,
        w.clock,
        worker=name,
        library=lambda: w.library,
        policy=w.policy,
        still_leader=still_leader,
    )


def leading_until(asked: int) -> Callable[[], Awaitable[bool]]:
    """Leader for the first `asked - 1` questions, then no longer."""
    count = 0

    async def still_leader() -> bool:
        nonlocal count
        count += 1
        return count < asked

    return still_leader


async def always() -> bool:
    return True


async def test_a_replica_that_lost_leadership_hands_its_untried_batches_back(tmp_path):
    async with planned(tmp_path) as w:
        a = replica(w, "replica-a", w.mass_sender(), leading_until(2))
        b = replica(w, "replica-b", w.mass_sender(), always)

        with capture_logs() as logs:
            first = await a.dispatch()  # one batch sent, then the lock is gone
        assert len(w.sim_tasks()) == 1
        untried = [r for r in due_rows(w).values() if r.state == SendState.PLANNED]
        assert len(untried) == len(TARGETS) - len(first.submitted) > 0
        assert {r.error for r in untried} == {"leadership lost"}
        assert [e for e in logs if e["event"] == "send.stopped"] == [
            {
                "event": "send.stopped",
                "reason": "leadership lost",
                "batches": 1,
                "log_level": "warning",
            }
        ]

        second = await b.dispatch()  # the new leader: nothing to reconcile, the rest goes

        assert second.reconciled.released == []
        assert sorted(second.submitted) == sorted(r.key for r in untried)
        sent_once(w)


async def test_a_batch_still_at_wecom_is_not_resent_by_the_next_leader(tmp_path):
    """The old leader claimed every batch at 09:00 and reaches its second one minutes later
    (a long round); while that call is at WeCom, it loses the lock and the new leader
    reconciles. The settle time counts from the call, not from the claim: the new leader
    waits, and the old leader's task is the only one."""
    async with planned(tmp_path) as w:
        paced = Paced(w.mass_sender(), stall=2)

        async def slow_round() -> bool:  # asked before each batch; the second comes late
            w.clock.advance(timedelta(minutes=3))
            return True

        a = replica(w, "replica-a", paced, slow_round)
        b = replica(w, "replica-b", w.mass_sender(), always)
        old = asyncio.create_task(a.dispatch())
        await paced.stalled.wait()

        w.clock.advance(timedelta(seconds=30))
        new = await b.dispatch()
        in_flight = {r.batch for r in due_rows(w).values() if r.state == SendState.CLAIMED}
        assert new.reconciled.waiting == list(in_flight)
        assert (new.reconciled.released, new.submitted) == ([], {})

        paced.go.set()
        await old
        w.clock.advance(SETTLE)
        assert (await b.dispatch()).submitted == {}
        sent_once(w)


async def test_a_claim_the_new_leader_took_back_before_the_attempt_is_not_sent_again(tmp_path):
    """The old leader asked still_leader() (yes), then stalled (its event loop blocked in a
    database call during a partition) while the new leader ran a whole round: it took the
    untried claim back and sent it. The old one's attempt then matches nothing: it must
    not call WeCom."""
    async with planned(tmp_path) as w:
        b = replica(w, "replica-b", w.mass_sender(), always)
        asked = 0

        async def checked_then_stalled() -> bool:
            nonlocal asked
            asked += 1
            if asked == 1:
                w.clock.advance(timedelta(seconds=20))
                await b.dispatch()  # the new leader's round, while this one stalls
                return True  # the answer it had before it stalled
            return False

        a = replica(w, "replica-a", w.mass_sender(), checked_then_stalled)
        with capture_logs() as logs:
            old = await a.dispatch()

        assert old.submitted == {}
        assert "send.claim_lost" in [e["event"] for e in logs]
        sent_once(w)


async def test_a_leader_stalled_past_the_window_starts_no_task(tmp_path):
    """The old leader recorded its attempt, then stalled longer than the settle time before
    calling WeCom; the new leader looked the batch up, found no task and sent it. When the
    old one wakes up, the window to start has closed: it creates nothing."""
    async with planned(tmp_path) as w:
        paced = Paced(w.mass_sender(), stall=1)
        a = replica(w, "replica-a", paced, leading_until(2))
        b = replica(w, "replica-b", w.mass_sender(), always)
        old = asyncio.create_task(a.dispatch())
        await paced.stalled.wait()

        w.clock.advance(SETTLE + timedelta(seconds=1))
        new = await b.dispatch()  # the stalled batch: no task in WeCom; the other: untried
        assert len(new.reconciled.released) == 2
        paced.go.set()
        report = await old

        assert report.submitted == {}
        sent_once(w)


async def test_a_create_still_running_at_the_windows_end_is_reconciled_not_resent(tmp_path):
    """WeCom (or the link to it) is slow: the create call has not finished half a settle
    time after the attempt. It is abandoned as outcome unknown and reconciled once the
    settle time has passed, never simply sent again."""
    async with planned(tmp_path) as w:
        settle = timedelta(seconds=0.6)  # the window: 0.3 s of the event loop's time
        w.sim.faults.add(Fault("latency", api=ADD, seconds=1.0, times=1))
        dispatcher = Dispatcher(
            w.engine,
            w.mass_sender(),
            w.client,
            w.clock,
            worker="replica-a",
            library=lambda: w.library,
            policy=w.policy,
            settle=settle,
        )
        first = await dispatcher.dispatch()
        assert len(first.unknown) == 1
        [slow] = first.unknown
        assert {r.state for r in due_rows(w).values() if r.batch == slow} == {SendState.CLAIMED}

        await asyncio.sleep(1.0)  # WeCom finishes the slow create meanwhile
        w.clock.advance(settle)
        second = await dispatcher.dispatch()
        assert slow in second.reconciled.recovered
        sent_once(w)


async def test_a_lookup_wecom_refuses_holds_up_only_its_own_batch(tmp_path):
    """A batch's outcome is unknown and WeCom then refuses to list the sender's mass sends
    (the staff member left): the next day's sends still go, and a day after the stuck
    batch expired it is given up on as missed, its outcome unknown."""
    async with planned(tmp_path) as w:
        w.sim.faults.add(Fault("lost_ack", api=ADD))
        await w.dispatcher.dispatch()
        [stuck] = {r.batch for r in due_rows(w).values() if r.state == SendState.CLAIMED}
        w.sim.faults.add(
            Fault("errcode", api=LIST, errcode=60111, errmsg="invalid userid", times=99)
        )

        w.clock.set(local("2026-03-03 09:00"))
        w.plan(Window(local("2026-03-03 00:00"), local("2026-03-04 00:00")))
        with capture_logs() as logs:
            report = await w.dispatcher.dispatch()

        assert report.reconciled.waiting == [stuck]
        assert len(report.submitted) == len(TARGETS)  # 03-03's sends
        assert [e["batch"] for e in logs if e["event"] == "outbox.reconcile_failed"] == [stuck]
        assert {r.state for r in w.rows().values() if r.batch == stuck} == {SendState.CLAIMED}

        w.clock.set(DUE + timedelta(hours=2) + GIVE_UP)  # expired at 11:00, a day ago
        late = await w.dispatcher.dispatch()

        assert late.reconciled.missed == [stuck]
        for row in (r for r in w.rows().values() if r.batch == stuck):
            assert row.state == SendState.MISSED
            assert row.error.startswith("outcome unknown: WeCom could not say whether it was sent")


SAME_TEXT = {
    f"{name}.yaml": f"""\
        id: {name}
        name: {name}
        anchor: 2026-03-01
        audience: {{tags: {{any: [{tag}]}}}}
        steps:
          - id: morning
            schedule: {{days: {{from: 1, to: 30}}, time: '09:00'}}
            text: "早安，今天也要加油"
        """
    for name, tag in (("camp", "打卡"), ("reading", "晨读"))
}


@asynccontextmanager
async def same_message(tmp_path: Path) -> AsyncIterator[World]:
    """zhangsan owns two groups in two playbooks that send the same text at 09:00: two
    batches WeCom cannot tell apart (its list of mass sends names no targets). 03-02's
    sends in the outbox, the clock at their time."""
    clock = FrozenClock(local("2026-03-02 08:00"))
    seed = [group_spec("wrA1", "zhangsan"), group_spec("wrA2", "zhangsan")]
    sim = Simulator.from_groups(seed, clock=clock)
    tags = {"wrA1": ["打卡"], "wrA2": ["晨读"]}
    async with world(tmp_path, sim, clock, SAME_TEXT, tags, POLICY) as w:
        w.plan(Window(local("2026-03-02 00:00"), local("2026-03-03 00:00")))
        clock.set(DUE)
        yield w


def targets_once(w: World) -> dict[str, str]:
    """Each group is in exactly one WeCom task, recorded with that group: group -> msgid."""
    sent = Counter(t.target_id for task in w.sim_tasks() for t in task.targets)
    assert sent == Counter({"wrA1": 1, "wrA2": 1})
    recorded = {g: msgid for msgid, (_, keys) in w.recorded().items() for g in keys}
    assert recorded == {t.target_id: task.msgid for task in w.sim_tasks() for t in task.targets}
    return recorded


async def test_a_batch_waits_while_the_same_message_from_its_sender_is_unresolved(tmp_path):
    async with same_message(tmp_path) as w:
        w.sim.faults.add(Fault("lost_ack", api=ADD))  # WeCom creates the first, its answer lost

        first = await w.dispatcher.dispatch()

        assert w.sim.count(ADD) == 1  # the second batch was not tried
        held = [r for r in due_rows(w).values() if r.state == SendState.PLANNED]
        assert [r.error for r in held] == [HELD]
        assert first.retried == [held[0].key]

        w.clock.advance(SETTLE)
        later = await w.dispatcher.dispatch()

        assert len(later.reconciled.recovered) == 1
        assert later.submitted == {held[0].key: w.rows()[held[0].key].msgid}
        targets_once(w)


async def test_a_dead_dispatchers_untried_twin_does_not_take_the_task_of_the_one_it_tried(
    tmp_path,
):
    """It claimed both batches, WeCom created the first, and it died before recording it.
    Matching by text alone, whichever batch was looked up first took that task: its groups
    were recorded as sent and never were, the other's got the message twice."""
    async with same_message(tmp_path) as w:
        with session(w.engine) as s:
            taken = claim(s, DUE, "dead")
            # The batch it tried: the one a lookup in name order reaches last.
            tried = max(taken, key=lambda r: r.batch)
            mark_attempted(s, [tried.key], DUE, "dead")
        outgoing = Outgoing(
            batch=tried.batch,
            playbook=tried.playbook,
            step=tried.step,
            sender=tried.sender,
            chat_type="group",
            targets=((tried.target_id, tried.key),),
            text=tried.text,
        )
        await w.mass_sender(recording=False).send(outgoing)  # then the crash

        w.clock.advance(timedelta(minutes=3))
        report = await w.dispatcher.dispatch()

        assert list(report.reconciled.recovered) == [tried.batch]
        assert w.sim.count(LIST) == 1  # the untried batch needed no lookup
        assert targets_once(w)[tried.target_id] == w.rows()[tried.key].msgid
