"""TaskTracker against the simulator: confirmation, results, reminders, expiry, cancel retry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from botops.senders.wecom_mass import WeComMassSender
from botops.simulator import Fault, ReceiveCap, SimConfig
from botops.store.db import session
from botops.store.models import MassTask, TargetStatus, TaskStatus
from botops.store.tasks import StoreTaskRecorder, reminder_times, task_targets, withdraw
from botops.tracking import TaskTracker, TrackingPolicy
from botops.wecom.media import MediaCache
from tests.senders.support import outgoing

pytestmark = pytest.mark.anyio
REMIND = "externalcontact/remind_groupmsg_send"
CANCEL = "externalcontact/cancel_groupmsg_send"
RESULT = "externalcontact/get_groupmsg_send_result"


async def create(client, clock, engine, targets, **kwargs):
    """A mass send through the real sender, recorded in the store; returns its msgid."""
    media = MediaCache(client.upload_media, clock, namespace="ww")
    sender = WeComMassSender(client, media, record=StoreTaskRecorder(engine, clock))
    receipt = await sender.send(outgoing(targets, **kwargs))
    (task,) = receipt.tasks
    return task.msgid


def stored(engine, msgid):
    with session(engine) as s:
        task = s.get(MassTask, msgid)
        targets = {t.target_id: t for t in task_targets(s, msgid)}
        reminders = reminder_times(s, msgid)
    return task, targets, reminders


async def test_reminders_at_the_configured_delays_while_unconfirmed(
    make_client, sim, clock, engine
):
    async with make_client() as client:
        msgid = await create(
            client, clock, engine, ["wr00000"], expires_at=clock.now() + timedelta(days=1)
        )
        tracker = TaskTracker(client, engine, clock, TrackingPolicy())
        created = clock.now()
        reminded_at = []
        for minutes in (5, 29, 30, 45, 119, 120, 180, 360, 600, 1400):
            clock.set(created + timedelta(minutes=minutes))
            report = await tracker.poll()
            assert report.errors == []
            if report.reminded:
                reminded_at.append(minutes)
    assert reminded_at == [30, 120, 360]
    (task,) = sim.tasks()
    assert len(task.reminders) == 3
    _, _, reminders = stored(engine, msgid)
    assert [r - created for r in reminders] == [
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=6),
    ]


async def test_missed_reminder_times_earn_one_reminder_not_a_burst(make_client, sim, clock, engine):
    async with make_client() as client:
        await create(client, clock, engine, ["wr00000"])
        tracker = TaskTracker(client, engine, clock)
        clock.advance(timedelta(hours=7))  # 30m, 2h and 6h all passed while botops was down
        assert len((await tracker.poll()).reminded) == 1
        clock.advance(timedelta(minutes=5))
        assert (await tracker.poll()).reminded == []


async def test_never_a_fourth_reminder_within_24_hours(make_client, sim, clock, engine):
    policy = TrackingPolicy(
        remind_after=tuple(timedelta(minutes=m) for m in (10, 20, 30, 40, 50, 25 * 60))
    )
    async with make_client() as client:
        msgid = await create(client, clock, engine, ["wr00000"])
        tracker = TaskTracker(client, engine, clock, policy)
        created = clock.now()
        for minutes in range(0, 27 * 60, 5):
            clock.set(created + timedelta(minutes=minutes))
            report = await tracker.poll()
            assert report.errors == []  # WeCom never had to refuse one
    _, _, reminders = stored(engine, msgid)
    offsets = [(r - created) // timedelta(minutes=1) for r in reminders]
    assert offsets == [10, 20, 30, 24 * 60 + 10, 25 * 60]  # the 40m one waits for a slot
    for at in reminders:
        assert sum(at <= r < at + timedelta(hours=24) for r in reminders) <= 3


async def test_confirmation_marks_targets_sent_and_stops_reminders(make_client, sim, clock, engine):
    async with make_client() as client:
        msgid = await create(client, clock, engine, ["wr00000", "wr00001"])
        tracker = TaskTracker(client, engine, clock)
        clock.advance(timedelta(minutes=20))
        assert (await tracker.poll()).confirmed == []
        sim.confirm(msgid)  # zhangsan taps "send" in the WeCom client
        confirmed_at = clock.now()
        clock.advance(timedelta(minutes=15))
        report = await tracker.poll()
        clock.advance(timedelta(hours=3))
        later = await tracker.poll()
    assert report.confirmed == [msgid]
    assert report.updated_targets == 2
    assert report.finished == {msgid: TaskStatus.SENT}
    assert report.reminded == []
    assert later.polled == 0  # finished tasks are not polled again
    task, targets, reminders = stored(engine, msgid)
    assert (task.status, task.sender_confirmed_at, task.finished_at) == (
        TaskStatus.SENT,
        confirmed_at,
        clock.now() - timedelta(hours=3),
    )
    assert {t.status for t in targets.values()} == {TargetStatus.SENT}
    assert {t.sent_at for t in targets.values()} == {confirmed_at}
    assert reminders == []


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(receive_cap=ReceiveCap("day", 1))


async def test_a_receive_capped_group_is_already_received(make_client, sim, clock, engine):
    async with make_client() as client:
        first = await create(client, clock, engine, ["wr00000"])
        second = await create(client, clock, engine, ["wr00000", "wr00001"], batch="b2")
        sim.confirm(first)
        sim.confirm(second)
        report = await TaskTracker(client, engine, clock).poll()
    assert report.finished == {first: TaskStatus.SENT, second: TaskStatus.PARTIAL}
    _, targets, _ = stored(engine, second)
    assert targets["wr00000"].status == TargetStatus.ALREADY_RECEIVED
    assert targets["wr00001"].status == TargetStatus.SENT


async def test_customers_who_are_not_friends(make_client, sim, clock, engine):
    mine = next(e for e, c in sim.state.externals.items() if c.follow_users == {"zhangsan"})
    other = next(e for e, c in sim.state.externals.items() if c.follow_users == {"lisi"})
    async with make_client() as client:
        msgid = await create(client, clock, engine, [mine, other], chat_type="single")
        sim.confirm(msgid)
        report = await TaskTracker(client, engine, clock).poll()
    assert report.finished == {msgid: TaskStatus.PARTIAL}
    _, targets, _ = stored(engine, msgid)
    assert (targets[mine].status, targets[other].status) == (
        TargetStatus.SENT,
        TargetStatus.NOT_FRIEND,
    )


async def test_expiry_cancels_and_expires_the_waiting_targets(make_client, sim, clock, engine):
    async with make_client() as client:
        msgid = await create(
            client, clock, engine, ["wr00000"], expires_at=clock.now() + timedelta(hours=1)
        )
        tracker = TaskTracker(client, engine, clock)
        clock.advance(timedelta(minutes=59))
        assert (await tracker.poll()).cancelled == []
        clock.advance(timedelta(hours=1, minutes=1))  # past expiry, and past the 2h reminder
        report = await tracker.poll()
    assert report.cancelled == [msgid]
    assert report.finished == {msgid: TaskStatus.EXPIRED}
    assert sim.count(CANCEL) == 1
    assert sim.tasks()[0].cancelled
    task, targets, reminders = stored(engine, msgid)
    assert task.status == TaskStatus.EXPIRED
    assert targets["wr00000"].status == TargetStatus.EXPIRED
    assert [r - task.created_at for r in reminders] == [timedelta(minutes=59)]  # none at 2h


async def test_a_confirmation_just_before_the_cancel_is_recorded_as_sent(
    make_client, sim, clock, engine
):
    """The task expired, and staff tap "send" while the cancel is on its way: WeCom delivered
    it, so the group is sent, not expired (as the results read before the cancel said)."""
    async with make_client() as client:
        msgid = await create(
            client, clock, engine, ["wr00000"], expires_at=clock.now() + timedelta(hours=1)
        )
        tracker = TaskTracker(client, engine, clock)
        clock.advance(timedelta(hours=2))
        sim.faults.add(Fault("latency", api=CANCEL, seconds=0.3))  # the cancel is in transit
        polling = asyncio.create_task(tracker.poll())
        while sim.count(CANCEL) == 0:
            await asyncio.sleep(0.01)
        sim.confirm(msgid)
        report = await polling
    assert report.finished == {msgid: TaskStatus.SENT}
    task, targets, _ = stored(engine, msgid)
    assert task.status == TaskStatus.SENT
    assert targets["wr00000"].status == TargetStatus.SENT


async def test_a_failed_cancel_is_reported_and_retried_next_poll(make_client, sim, clock, engine):
    async with make_client() as client:
        msgid = await create(
            client, clock, engine, ["wr00000"], expires_at=clock.now() + timedelta(hours=1)
        )
        tracker = TaskTracker(client, engine, clock)
        clock.advance(timedelta(hours=2))
        sim.faults.add(Fault("errcode", api=CANCEL, errcode=-1, times=4))  # every retry too
        failed = await tracker.poll()
        task, _, _ = stored(engine, msgid)
        assert task.status == TaskStatus.WAITING
        assert "errcode -1" in task.error
        clock.advance(timedelta(minutes=5))
        retried = await tracker.poll()
    (error,) = failed.errors
    assert (error.msgid, error.action) == (msgid, "cancel")
    assert failed.cancelled == []
    assert retried.cancelled == [msgid]
    assert retried.errors == []
    task, targets, _ = stored(engine, msgid)
    assert (task.status, task.error) == (TaskStatus.EXPIRED, "")
    assert targets["wr00000"].status == TargetStatus.EXPIRED


async def test_a_withdrawn_task_is_cancelled_at_once_instead_of_reminded(
    make_client, sim, clock, engine
):
    async with make_client() as client:
        msgid = await create(
            client,
            clock,
            engine,
            ["wr00000", "wr00001"],
            expires_at=clock.now() + timedelta(days=1),
        )
        other = await create(
            client,
            clock,
            engine,
            ["wl00000"],
            sender="lisi",
            expires_at=clock.now() + timedelta(days=1),
        )
        tracker = TaskTracker(client, engine, clock, TrackingPolicy())
        clock.advance(timedelta(minutes=45))  # the 30-minute reminder is due for both
        with session(engine) as s:
            assert withdraw(s, [msgid], clock.now()) == [msgid]
        only = await tracker.poll(only=[msgid])
        rest = await tracker.poll()
    assert (only.polled, only.cancelled, only.reminded) == (1, [msgid], [])
    assert (rest.polled, rest.cancelled, rest.reminded) == (1, [], [other])
    ours = next(t for t in sim.tasks() if t.msgid == msgid)
    assert ours.cancelled
    assert ours.reminders == []
    task, targets, reminders = stored(engine, msgid)
    assert (task.status, task.withdrawn_at, reminders) == (TaskStatus.EXPIRED, task.finished_at, [])
    assert {t.status for t in targets.values()} == {TargetStatus.EXPIRED}


async def test_confirmation_is_written_before_results_are_fetched(make_client, sim, clock, engine):
    async with make_client() as client:
        msgid = await create(client, clock, engine, ["wr00000"])
        sim.confirm(msgid)
        sim.faults.add(Fault("errcode", api=RESULT, errcode=40058, errmsg="invalid parameter"))
        tracker = TaskTracker(client, engine, clock)
        broken = await tracker.poll()
        task, targets, _ = stored(engine, msgid)
        assert task.sender_confirmed_at == clock.now()
        assert targets["wr00000"].status == TargetStatus.WAITING
        healed = await tracker.poll()
    assert [e.action for e in broken.errors] == ["poll"]
    assert healed.finished == {msgid: TaskStatus.SENT}


def test_policy_from_settings_and_reminder_rules():
    from botops.config import Settings

    policy = TrackingPolicy.from_settings(Settings().tracking)
    assert policy == TrackingPolicy()
    created = datetime(2026, 3, 2, tzinfo=UTC)
    due = policy.reminder_due
    assert not due(created, created + timedelta(minutes=29), None, [])
    assert due(created, created + timedelta(minutes=30), None, [])
    assert not due(
        created, created + timedelta(minutes=40), None, [created + timedelta(minutes=30)]
    )
    expiry = created + timedelta(hours=1)
    assert not due(created, expiry, expiry, [])  # never at or after expiry
    with pytest.raises(ValueError, match="ascending"):
        TrackingPolicy(remind_after=(timedelta(hours=2), timedelta(minutes=30)))
