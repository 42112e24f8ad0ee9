"""Dispatcher + WeComMassSender + OutboxRecorder against the real simulator over loopback:
one task per batch, rejections, retries, lost answers and dead dispatchers reconciled with
get_groupmsg_list_v2, and what tracking carries back to the outbox."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from botops.clock import FrozenClock
from botops.errors import WeComConfigError
from botops.outbox.dispatcher import DISOWNED, Dispatcher
from botops.outbox.outcomes import apply_outcomes
from botops.outbox.queue import claim, mark_attempted, outgoing_for
from botops.outbox.reconcile import SETTLE
from botops.planning.planner import Window
from botops.planning.policy import SendPolicy
from botops.senders.base import Outgoing
from botops.simulator import Fault, ReceiveCap, SimConfig, Simulator
from botops.store.db import session
from botops.store.models import OutboxRow, SendState
from botops.store.tasks import open_tasks, withdraw
from botops.wecom.models import SEND_ALREADY_RECEIVED
from tests.helpers import local
from tests.outbox.support import ADD, LIST, RETRY_ATTEMPTS, World, group_spec, world

pytestmark = pytest.mark.anyio

PLAYBOOK = {
    "camp.yaml": """\
        id: camp
        name: 打卡营
        anchor: 2026-03-01
        audience: {tags: {any: [打卡]}}
        steps:
          - id: morning
            schedule: {days: {from: 1, to: 30}, time: '09:00'}
            text: "早安 第{{ day }}天"
            expires_after: 2h
        """
}
SEED = [
    group_spec("wrA1", "zhangsan"),
    group_spec("wrA2", "zhangsan"),
    group_spec("wrB1", "lisi"),
    group_spec("wrC1", "wangwu"),  # not tagged: no playbook selects it
]
TAGS = {"wrA1": ["打卡"], "wrA2": ["打卡"], "wrB1": ["打卡"]}
POLICY = SendPolicy.model_validate(
    {"quiet_hours": None, "receive_cap": {"period": "day", "limit": 5}}
)
DUE = local("2026-03-02 09:00")
TARGETS = {"wrA1": "zhangsan", "wrA2": "zhangsan", "wrB1": "lisi"}


@asynccontextmanager
async def planned(tmp_path: Path, config: SimConfig | None = None) -> AsyncIterator[World]:
    """Groups synced and tagged, 03-02's sends in the outbox, the clock at their time."""
    clock = FrozenClock(local("2026-03-02 08:00"))
    sim = Simulator.from_groups(SEED, config=config, clock=clock)
    async with world(tmp_path, sim, clock, PLAYBOOK, TAGS, POLICY) as w:
        w.plan(Window(local("2026-03-02 00:00"), local("2026-03-04 00:00")))
        clock.set(DUE)
        yield w


def due_rows(w: World) -> dict[str, OutboxRow]:
    return {k: r for k, r in w.rows().items() if r.due_at == DUE}


def batches(w: World) -> dict[str, list[OutboxRow]]:
    grouped: dict[str, list[OutboxRow]] = {}
    for row in due_rows(w).values():
        grouped.setdefault(row.batch, []).append(row)
    return grouped


def sent_once(w: World) -> None:
    """Every due send is in exactly one WeCom task, recorded as such, and nothing else is."""
    sim_tasks = w.sim_tasks()
    targets = Counter(t.target_id for task in sim_tasks for t in task.targets)
    assert targets == Counter(dict.fromkeys(TARGETS, 1))
    recorded = w.recorded()
    assert set(recorded) == {t.msgid for t in sim_tasks}
    rows = due_rows(w)
    for task in sim_tasks:
        ours, keys = recorded[task.msgid]
        assert ours.sender == task.creator
        assert task.text == {"content": ours.text}
        assert set(keys) == {t.target_id for t in task.targets}
        for target, key in keys.items():
            row = rows[key]
            assert (row.target_id, row.msgid, row.batch) == (target, task.msgid, ours.batch)
            assert row.state == SendState.SUBMITTED


async def test_a_due_batch_is_one_task_and_is_never_sent_again(tmp_path):
    async with planned(tmp_path) as w:
        groups = batches(w)
        assert sorted(len(rows) for rows in groups.values()) == [1, 2]

        report = await w.dispatcher.dispatch()

        sim_tasks = w.sim_tasks()
        assert sorted((t.creator, sorted(x.target_id for x in t.targets)) for t in sim_tasks) == [
            ("lisi", ["wrB1"]),
            ("zhangsan", ["wrA1", "wrA2"]),
        ]
        assert {t.create_time for t in sim_tasks} == {int(DUE.timestamp())}
        assert {t.text["content"] for t in sim_tasks if t.text} == {"早安 第2天"}
        sent_once(w)
        assert report.submitted == {k: r.msgid for k, r in due_rows(w).items()}
        assert report.failed == {}
        assert report.retried == []
        assert report.missed == []
        recorded = w.recorded()
        for batch, rows in groups.items():
            [(task, keys)] = [v for v in recorded.values() if v[0].batch == batch]
            assert (task.playbook, task.step, task.chat_type) == ("camp", "morning", "group")
            assert task.expires_at == DUE + timedelta(hours=2)
            assert keys == {r.target_id: r.key for r in rows}
        # Later rows are untouched.
        assert {r.state for r in w.rows().values() if r.due_at > DUE} == {SendState.PLANNED}

        calls = w.sim.count(ADD)
        again = await w.dispatcher.dispatch()
        w.clock.advance(timedelta(minutes=1))
        later = await w.dispatcher.dispatch()
        assert w.sim.count(ADD) == calls == 2
        for r in (again, later):
            assert (r.submitted, r.failed, r.retried, r.missed) == ({}, {}, [], [])
        sent_once(w)


async def test_every_send_gets_one_log_line_with_its_key_and_outcome(tmp_path):
    async with planned(tmp_path) as w:
        w.sim.faults.add(Fault("errcode", api=ADD, errcode=40008, errmsg="invalid message type"))
        with capture_logs() as logs:
            await w.dispatcher.dispatch()
    lines = {e["key"]: e for e in logs if e["event"] == "send"}
    rows = due_rows(w)
    assert set(lines) == set(rows)
    for key, row in rows.items():
        line = lines[key]
        assert (line["playbook"], line["step"], line["group"], line["attempt"]) == (
            "camp",
            "morning",
            row.target_id,
            1,
        )
        expected = "failed" if row.state is SendState.FAILED else f"submitted {row.msgid}"
        assert line["outcome"] == expected
    # the first batch was rejected, the other went through
    assert {e["outcome"].split()[0] for e in lines.values()} == {"failed", "submitted"}


async def test_a_permanent_rejection_fails_the_batch_with_the_errcode(tmp_path):
    async with planned(tmp_path) as w:
        w.sim.faults.add(Fault("errcode", api=ADD, errcode=40058, errmsg="invalid parameter"))

        report = await w.dispatcher.dispatch()

        rows = due_rows(w)
        failed = [r for r in rows.values() if r.state == SendState.FAILED]
        submitted = [r for r in rows.values() if r.state == SendState.SUBMITTED]
        assert len({r.batch for r in failed}) == len({r.batch for r in submitted}) == 1
        assert len(failed) + len(submitted) == 3
        for row in failed:
            assert "errcode 40058" in row.error
            assert row.msgid == ""
            assert report.failed[row.key] == row.error
        assert w.sim.count(ADD) == 2  # a rejection is not retried
        assert len(w.sim_tasks()) == 1

        w.clock.advance(timedelta(minutes=1))
        await w.dispatcher.dispatch()
        assert w.sim.count(ADD) == 2  # and not tried again next round
        assert {due_rows(w)[r.key].state for r in failed} == {SendState.FAILED}


async def test_retryable_errors_past_the_retries_release_the_batch_for_a_later_round(tmp_path):
    async with planned(tmp_path) as w:
        w.sim.faults.add(Fault("errcode", api=ADD, errcode=-1, times=RETRY_ATTEMPTS))

        report = await w.dispatcher.dispatch()

        rows = due_rows(w)
        retried = [r for r in rows.values() if r.state == SendState.PLANNED]
        assert len({r.batch for r in retried}) == 1
        assert sorted(report.retried) == sorted(r.key for r in retried)
        for row in retried:
            assert (row.attempts, row.claimed_by, row.claimed_at) == (1, "", None)
            assert "errcode -1" in row.error
        assert w.sim.count(ADD) == RETRY_ATTEMPTS + 1
        assert len(w.sim_tasks()) == 1

        w.clock.advance(timedelta(minutes=1))
        later = await w.dispatcher.dispatch()

        assert sorted(later.submitted) == sorted(r.key for r in retried)
        assert w.sim.count(ADD) == RETRY_ATTEMPTS + 2
        sent_once(w)
        created = {t.msgid: t.create_time for t in w.sim_tasks()}
        assert created[later.submitted[retried[0].key]] == int(DUE.timestamp()) + 60


async def test_wecoms_frequency_limit_ends_the_round_and_the_rest_go_later(tmp_path):
    """45009 blocks the API for the rest of WeCom's window: asking again with the next
    batch (or a quick retry) only spends calls. Everything goes once in a later round."""
    async with planned(tmp_path) as w:
        w.sim.faults.add(Fault("errcode", api=ADD, errcode=45009, times=1))
        with capture_logs() as logs:
            report = await w.dispatcher.dispatch()

        assert w.sim.count(ADD) == 1
        assert report.submitted == {}
        rows = due_rows(w)
        assert {r.state for r in rows.values()} == {SendState.PLANNED}
        [stopped] = [e for e in logs if e["event"] == "send.stopped"]
        assert stopped["reason"] == "WeCom's frequency limit (45009)"

        w.clock.advance(timedelta(minutes=1))
        later = await w.dispatcher.dispatch()
        assert sorted(later.submitted) == sorted(rows)
        sent_once(w)


async def test_sends_already_due_wait_out_quiet_hours(tmp_path):
    """The plan keeps sends out of quiet hours, but one already due when it could not go
    (the daemon was down until 23:00, say) must not leave inside them: it waits until they
    end, or expires as missed."""
    async with planned(tmp_path) as w:
        quiet = SendPolicy.model_validate(
            {
                "quiet_hours": {"start": "08:30", "end": "09:30"},
                "receive_cap": {"period": "day", "limit": 5},
            }
        )
        dispatcher = Dispatcher(
            w.engine,
            w.mass_sender(),
            w.client,
            w.clock,
            worker="worker-quiet",
            library=lambda: w.library,
            policy=quiet,
        )
        held = await dispatcher.dispatch()  # 09:00, due, inside 08:30-09:30
        assert (held.submitted, w.sim.count(ADD)) == ({}, 0)
        assert {r.state for r in due_rows(w).values()} == {SendState.PLANNED}

        w.clock.set(local("2026-03-02 09:30"))
        later = await dispatcher.dispatch()
        assert sorted(later.submitted) == sorted(due_rows(w))
        sent_once(w)


async def test_a_lost_answer_is_reconciled_from_wecom_not_sent_again(tmp_path):
    async with planned(tmp_path) as w:
        w.sim.faults.add(Fault("lost_ack", api=ADD))

        report = await w.dispatcher.dispatch()

        rows = due_rows(w)
        unknown = [r for r in rows.values() if r.state == SendState.CLAIMED]
        assert len({r.batch for r in unknown}) == 1
        assert {r.claimed_by for r in unknown} == {DISOWNED}
        assert not set(report.submitted) & {r.key for r in unknown}
        assert len(w.sim_tasks()) == 2  # WeCom did create it
        [lost] = [t for t in w.sim_tasks() if t.creator == unknown[0].sender]

        w.clock.advance(timedelta(minutes=1))
        later = await w.dispatcher.dispatch()

        assert later.reconciled.recovered == {unknown[0].batch: lost.msgid}
        assert later.reconciled.released == []
        assert later.submitted == {}
        assert w.sim.count(LIST) == 1
        assert w.sim.count(ADD) == 2  # never a second task for that batch
        sent_once(w)
        assert {due_rows(w)[r.key].msgid for r in unknown} == {lost.msgid}


async def test_a_dropped_connection_before_wecom_acted_is_released_and_sent_once(tmp_path):
    async with planned(tmp_path) as w:
        w.sim.faults.add(Fault("drop", api=ADD))

        await w.dispatcher.dispatch()
        assert len(w.sim_tasks()) == 1
        unknown = [r for r in due_rows(w).values() if r.state == SendState.CLAIMED]
        assert {r.claimed_by for r in unknown} == {DISOWNED}

        w.clock.advance(timedelta(minutes=1))  # WeCom may still be creating it: wait
        waiting = await w.dispatcher.dispatch()
        assert waiting.reconciled.waiting == [unknown[0].batch]
        assert waiting.submitted == {}

        w.clock.advance(SETTLE)
        later = await w.dispatcher.dispatch()

        assert later.reconciled.released == [unknown[0].batch]
        assert later.reconciled.recovered == {}
        assert sorted(later.submitted) == sorted(r.key for r in unknown)
        sent_once(w)
        assert {due_rows(w)[r.key].attempts for r in unknown} == {1}


async def test_a_task_wecom_finishes_creating_after_our_timeout_is_adopted_not_resent(tmp_path):
    """The client gave up (dropped connection) but WeCom completes the create later: the
    next round finds no task yet and waits; the round after finds it and records it."""
    async with planned(tmp_path) as w:
        w.sim.faults.add(Fault("drop", api=ADD))
        await w.dispatcher.dispatch()
        unknown = [r for r in due_rows(w).values() if r.state == SendState.CLAIMED]

        w.clock.advance(timedelta(minutes=1))
        assert (await w.dispatcher.dispatch()).reconciled.waiting == [unknown[0].batch]
        # WeCom's create completes now, a minute late (as the simulator would have done it)
        with session(w.engine) as s:
            late = outgoing_for([s.get(OutboxRow, r.key) for r in unknown])
        receipt = await w.mass_sender(recording=False).send(late)
        [task] = receipt.tasks

        w.clock.advance(SETTLE)
        later = await w.dispatcher.dispatch()

        assert later.reconciled.recovered == {unknown[0].batch: task.msgid}
        assert later.submitted == {}
        sent_once(w)


def claim_as_dead_worker(w: World, *, attempted: str = "all") -> list[OutboxRow]:
    """What a dispatcher that died left claimed; `attempted`: which of its batches it had
    handed to WeCom (all, none, or the one of this sender)."""
    with session(w.engine) as s:
        taken = claim(s, w.clock.now(), "dead")
        tried = [r.key for r in taken if attempted in ("all", r.sender)]
        mark_attempted(s, tried, w.clock.now(), "dead")
    return taken


async def test_a_dead_dispatchers_claims_without_a_task_are_released_and_sent_once(tmp_path):
    async with planned(tmp_path) as w:
        taken = claim_as_dead_worker(w)
        assert len(taken) == 3

        w.clock.advance(timedelta(minutes=3))  # the new process starts
        report = await w.dispatcher.dispatch()

        assert sorted(report.reconciled.released) == sorted(batches(w))
        assert report.reconciled.recovered == {}
        assert report.reconciled.missed == []
        assert sorted(report.submitted) == sorted(r.key for r in taken)
        assert w.sim.count(LIST) == 2  # one look per batch
        sent_once(w)
        for row in due_rows(w).values():
            assert row.attempts == 1
            assert row.claimed_by == "worker-1"

        w.clock.advance(timedelta(minutes=1))
        await w.dispatcher.dispatch()
        sent_once(w)


async def test_a_dead_dispatchers_claims_never_tried_go_back_at_once_without_a_lookup(tmp_path):
    """It died after claiming, before handing any batch to WeCom: nothing can exist there,
    so the next round sends them — no settle time, no get_groupmsg_list_v2."""
    async with planned(tmp_path) as w:
        taken = claim_as_dead_worker(w, attempted="none")

        report = await w.dispatcher.dispatch()

        assert sorted(report.reconciled.released) == sorted(batches(w))
        assert report.reconciled.waiting == []
        assert sorted(report.submitted) == sorted(r.key for r in taken)
        assert w.sim.count(LIST) == 0
        sent_once(w)


async def test_a_dead_dispatchers_claims_past_expiry_are_missed(tmp_path):
    async with planned(tmp_path) as w:
        taken = claim_as_dead_worker(w)

        w.clock.set(DUE + timedelta(hours=2))  # expires_after is 2h
        report = await w.dispatcher.dispatch()

        assert sorted(report.reconciled.missed) == sorted(batches(w))
        assert report.submitted == {}
        assert w.sim.count(ADD) == 0
        for row in taken:
            stored = due_rows(w)[row.key]
            assert stored.state == SendState.MISSED
            assert stored.error == "crashed while sending; expired before recovery"


async def test_a_dead_dispatchers_untried_claims_past_expiry_are_missed_without_a_lookup(
    tmp_path,
):
    async with planned(tmp_path) as w:
        taken = claim_as_dead_worker(w, attempted="none")

        w.clock.set(DUE + timedelta(hours=2))
        report = await w.dispatcher.dispatch()

        assert sorted(report.reconciled.missed) == sorted(batches(w))
        assert (w.sim.count(LIST), w.sim.count(ADD)) == (0, 0)
        assert {due_rows(w)[r.key].error for r in taken} == {"never tried; expired before recovery"}


async def test_a_task_a_dead_dispatcher_created_is_adopted(tmp_path):
    """The crash between WeCom's answer and the commit: WeCom has the task, we do not."""
    async with planned(tmp_path) as w:
        taken = claim_as_dead_worker(w, attempted="zhangsan")
        dead = [r for r in taken if r.sender == "zhangsan"]
        outgoing = Outgoing(
            batch=dead[0].batch,
            playbook="camp",
            step="morning",
            sender="zhangsan",
            chat_type="group",
            targets=tuple((r.target_id, r.key) for r in dead),
            text=dead[0].text,
        )
        receipt = await w.mass_sender(recording=False).send(outgoing)  # then the crash
        [created] = receipt.tasks

        w.clock.advance(timedelta(minutes=3))
        report = await w.dispatcher.dispatch()

        assert report.reconciled.recovered == {dead[0].batch: created.msgid}
        assert report.reconciled.released == [r.batch for r in taken if r.sender == "lisi"][:1]
        assert w.sim.count(ADD) == 2
        assert w.sim.count(LIST) == 1  # lisi's batch was never tried: nothing to look up
        sent_once(w)


async def test_a_config_error_leaves_no_batch_claimed_for_good(tmp_path):
    """WeCom refuses the app (48002): the round stops, and once the admin fixes it the
    sends still go — none is left claimed by a dispatcher that is alive and never looks."""
    async with planned(tmp_path) as w:
        w.sim.faults.add(Fault("errcode", api=ADD, errcode=48002, errmsg="api forbidden"))

        with pytest.raises(WeComConfigError):
            await w.dispatcher.dispatch()

        rows = due_rows(w)
        tried = [r for r in rows.values() if r.state == SendState.CLAIMED]
        untried = [r for r in rows.values() if r.state == SendState.PLANNED]
        assert {r.claimed_by for r in tried} == {DISOWNED}  # reconciled next round
        assert len({r.batch for r in tried}) == len({r.batch for r in untried}) == 1
        assert {r.attempts for r in untried} == {1}
        assert "48002" in tried[0].error
        assert "48002" in untried[0].error
        assert w.sim_tasks() == []

        w.clock.advance(SETTLE)
        report = await w.dispatcher.dispatch()

        assert report.reconciled.released == [tried[0].batch]
        assert sorted(report.submitted) == sorted(rows)
        sent_once(w)


# --- outcomes -------------------------------------------------------------------------------


async def track(w: World) -> dict[str, SendState]:
    report = await w.tracker.poll()
    assert report.errors == []
    with session(w.engine) as s:
        return apply_outcomes(s, w.clock.now())


async def test_confirmed_tasks_make_their_rows_sent(tmp_path):
    async with planned(tmp_path) as w:
        report = await w.dispatcher.dispatch()
        assert await track(w) == {}  # nobody confirmed yet

        w.clock.advance(timedelta(minutes=10))
        for msgid in set(report.submitted.values()):
            assert w.sim.confirm(msgid) == 1
        w.clock.advance(timedelta(minutes=5))
        outcomes = await track(w)

        assert outcomes == dict.fromkeys(report.submitted, SendState.SENT)
        assert {r.state for r in due_rows(w).values()} == {SendState.SENT}
        assert {r.error for r in due_rows(w).values()} == {""}
        assert await track(w) == {}


async def test_a_receive_capped_group_fails_with_the_reason(tmp_path):
    config = SimConfig(receive_cap=ReceiveCap(period="day", limit=1))  # the admin chose 1/day
    async with planned(tmp_path, config) as w:
        # Staff sent wrA1 a mass message by hand this morning.
        [manual] = await w.client.add_msg_template(
            chat_type="group", sender="zhangsan", chat_id_list=["wrA1"], text="人工群发"
        )
        w.sim.confirm(manual.msgid)
        report = await w.dispatcher.dispatch()
        for msgid in set(report.submitted.values()):
            w.sim.confirm(msgid)
        w.clock.advance(timedelta(minutes=5))

        outcomes = await track(w)

        rows = {r.target_id: r for r in due_rows(w).values()}
        assert outcomes == {
            rows["wrA1"].key: SendState.FAILED,
            rows["wrA2"].key: SendState.SENT,
            rows["wrB1"].key: SendState.SENT,
        }
        assert rows["wrA1"].error == "WeCom: the receive cap was reached (status 3)"
        [ours] = [t for t in w.sim_tasks() if t.msgid == rows["wrA1"].msgid]
        assert {t.target_id: t.status for t in ours.targets}["wrA1"] == SEND_ALREADY_RECEIVED


async def test_unconfirmed_tasks_expire_and_their_rows_with_them(tmp_path):
    async with planned(tmp_path) as w:
        report = await w.dispatcher.dispatch()
        w.clock.advance(timedelta(hours=1))
        assert await track(w) == {}  # still waiting; reminded

        w.clock.set(DUE + timedelta(hours=2))
        outcomes = await track(w)

        assert outcomes == dict.fromkeys(report.submitted, SendState.EXPIRED)
        for row in due_rows(w).values():
            assert row.state == SendState.EXPIRED
            assert row.error == "not confirmed by staff before expires_after; cancelled"
        assert {t.cancelled for t in w.sim_tasks()} == {True}
        assert {len(t.reminders) for t in w.sim_tasks()} == {1}


async def test_withdrawn_tasks_cancel_what_staff_had_not_sent_and_stay_cancelled(tmp_path):
    async with planned(tmp_path) as w:
        report = await w.dispatcher.dispatch()
        rows = {r.target_id: r for r in due_rows(w).values()}
        assert w.sim.confirm(rows["wrB1"].msgid) == 1  # lisi sent his before ops noticed
        w.clock.advance(timedelta(minutes=10))
        with session(w.engine) as s:
            withdrawn = withdraw(
                s, [t.msgid for t in open_tasks(s, playbook="camp")], w.clock.now()
            )
        assert sorted(withdrawn) == sorted(set(report.submitted.values()))

        outcomes = await track(w)

        rows = {r.target_id: r for r in due_rows(w).values()}
        assert outcomes == {
            rows["wrA1"].key: SendState.CANCELLED,
            rows["wrA2"].key: SendState.CANCELLED,
            rows["wrB1"].key: SendState.SENT,
        }
        assert rows["wrA1"].error == "withdrawn by ops (botops withdraw) before staff sent it"
        cancelled = {t.msgid: t.cancelled for t in w.sim_tasks()}
        assert cancelled == {rows["wrA1"].msgid: True, rows["wrB1"].msgid: False}
        assert {len(t.reminders) for t in w.sim_tasks()} == {0}
        # Planning the window again neither revives the withdrawn sends nor touches tomorrow's.
        w.plan(Window(local("2026-03-02 00:00"), local("2026-03-04 00:00")))
        assert {r.target_id: r.state for r in due_rows(w).values()} == {
            "wrA1": SendState.CANCELLED,
            "wrA2": SendState.CANCELLED,
            "wrB1": SendState.SENT,
        }
        later = [r.state for r in w.rows().values() if r.due_at > DUE]
        assert later
        assert set(later) == {SendState.PLANNED}
        w.clock.advance(timedelta(hours=3))
        assert await track(w) == {}
