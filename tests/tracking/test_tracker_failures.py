"""TaskTracker when WeCom keeps failing: expired and withdrawn tasks are still cancelled and
end, and reminders whose fate is unclear or refused are not sent again every round."""

from __future__ import annotations

from datetime import timedelta

import pytest

from botops.config import load_settings
from botops.simulator import Fault
from botops.store.db import session
from botops.store.models import TargetStatus, TaskStatus
from botops.store.tasks import withdraw
from botops.tracking import TaskTracker, TrackingPolicy
from tests.tracking.test_tracker import CANCEL, REMIND, create, stored

pytestmark = pytest.mark.anyio
TASK = "externalcontact/get_groupmsg_task"
FOREVER = 10_000


async def test_an_expired_task_whose_status_read_fails_is_cancelled_and_ends_a_day_later(
    make_client, sim, clock, engine
):
    """The sender left the company (60111): reads fail for good. The task is cancelled at
    expiry all the same, and ends expired (the error kept) once give_up_after has passed."""
    async with make_client() as client:
        msgid = await create(
            client, clock, engine, ["wr00000"], expires_at=clock.now() + timedelta(hours=1)
        )
        sim.faults.add(
            Fault("errcode", api=TASK, errcode=60111, errmsg="invalid userid", times=FOREVER)
        )
        tracker = TaskTracker(client, engine, clock, TrackingPolicy())
        clock.advance(timedelta(hours=2))
        first = await tracker.poll()
        assert sim.tasks()[0].cancelled  # staff can no longer send it
        task, _, _ = stored(engine, msgid)
        assert (task.status, [e.action for e in first.errors]) == (TaskStatus.WAITING, ["poll"])
        assert "60111" in task.error
        clock.advance(timedelta(hours=22))  # 1 h short of a day past expiry: still retried
        assert (await tracker.poll()).finished == {}
        clock.advance(timedelta(hours=1))
        last = await tracker.poll()
        clock.advance(timedelta(minutes=5))
        after = await tracker.poll()
    assert last.finished == {msgid: TaskStatus.EXPIRED}
    assert after.polled == 0
    task, targets, _ = stored(engine, msgid)
    assert task.status == TaskStatus.EXPIRED
    assert "60111" in task.error  # why it ended without WeCom's account
    assert targets["wr00000"].status == TargetStatus.EXPIRED


async def test_a_withdrawal_cancels_while_the_status_read_is_rate_limited(
    make_client, sim, clock, engine
):
    async with make_client() as client:
        msgid = await create(
            client, clock, engine, ["wr00000"], expires_at=clock.now() + timedelta(hours=6)
        )
        tracker = TaskTracker(client, engine, clock)
        clock.advance(timedelta(minutes=10))
        with session(engine) as s:
            withdraw(s, [msgid], clock.now())
        sim.faults.add(Fault("errcode", api=TASK, errcode=45009, errmsg="freq", times=FOREVER))
        limited = await tracker.poll(only=[msgid])
        assert sim.tasks()[0].cancelled  # the wrong message is stopped at once
        sim.faults.clear()
        clock.advance(timedelta(minutes=1))
        healed = await tracker.poll(only=[msgid])
    assert [e.action for e in limited.errors] == ["poll"]
    assert limited.finished == {}
    assert healed.finished == {msgid: TaskStatus.EXPIRED}
    task, targets, _ = stored(engine, msgid)
    assert (task.status, task.error) == (TaskStatus.EXPIRED, "")
    assert targets["wr00000"].status == TargetStatus.EXPIRED


@pytest.mark.parametrize("withdrawn", [False, True])
async def test_a_cancel_rejected_for_good_ends_the_task_with_the_error(
    make_client, sim, clock, engine, withdrawn
):
    async with make_client() as client:
        msgid = await create(
            client, clock, engine, ["wr00000"], expires_at=clock.now() + timedelta(hours=1)
        )
        tracker = TaskTracker(client, engine, clock)
        clock.advance(timedelta(minutes=10) if withdrawn else timedelta(hours=2))
        if withdrawn:
            with session(engine) as s:
                withdraw(s, [msgid], clock.now())
        sim.faults.add(
            Fault("errcode", api=CANCEL, errcode=41047, errmsg="invalid msgid", times=FOREVER)
        )
        report = await tracker.poll()
        clock.advance(timedelta(minutes=1))
        later = await tracker.poll()
    assert report.finished == {msgid: TaskStatus.EXPIRED}
    assert report.cancelled == []  # WeCom did not cancel it
    assert [e.action for e in report.errors] == ["cancel"]
    assert later.polled == 0
    assert sim.count(CANCEL) == 1  # not tried again every round
    task, targets, _ = stored(engine, msgid)
    assert task.status == TaskStatus.EXPIRED
    assert "41047" in task.error
    assert targets["wr00000"].status == TargetStatus.EXPIRED


async def test_a_cancel_rejected_for_good_still_records_what_staff_sent(
    make_client, sim, clock, engine
):
    async with make_client() as client:
        msgid = await create(
            client, clock, engine, ["wr00000"], expires_at=clock.now() + timedelta(hours=1)
        )
        clock.advance(timedelta(hours=2))
        sim.confirm(msgid)
        sim.faults.add(Fault("errcode", api=CANCEL, errcode=41047, errmsg="invalid msgid"))
        report = await TaskTracker(client, engine, clock).poll()
    assert report.finished == {msgid: TaskStatus.SENT}
    _, targets, _ = stored(engine, msgid)
    assert targets["wr00000"].status == TargetStatus.SENT


async def test_a_cancel_failing_transiently_is_retried_until_given_up(
    make_client, sim, clock, engine
):
    policy = TrackingPolicy(give_up_after=timedelta(hours=3))
    async with make_client() as client:
        msgid = await create(
            client, clock, engine, ["wr00000"], expires_at=clock.now() + timedelta(hours=1)
        )
        tracker = TaskTracker(client, engine, clock, policy)
        sim.faults.add(Fault("errcode", api=CANCEL, errcode=-1, times=FOREVER))
        clock.advance(timedelta(hours=2))
        retried = await tracker.poll()
        clock.advance(timedelta(hours=2))
        ended = await tracker.poll()
    assert retried.finished == {}
    assert ended.finished == {msgid: TaskStatus.EXPIRED}
    assert ended.cancelled == []
    task, _, _ = stored(engine, msgid)
    assert task.status == TaskStatus.EXPIRED
    assert task.error.startswith("cancel: ")
    assert "errcode -1" in task.error


async def test_a_reminder_whose_answer_was_lost_counts_as_sent(make_client, sim, clock, engine):
    async with make_client() as client:
        msgid = await create(
            client, clock, engine, ["wr00000"], expires_at=clock.now() + timedelta(days=1)
        )
        tracker = TaskTracker(client, engine, clock)
        created = clock.now()
        sim.faults.add(Fault("lost_ack", api=REMIND))  # WeCom reminds; botops never hears
        lost = None
        for minutes in range(30, 125, 5):
            clock.set(created + timedelta(minutes=minutes))
            report = await tracker.poll()
            lost = lost or report.errors
    assert [e.action for e in lost or []] == ["remind"]
    (task,) = sim.tasks()
    offsets = [(t - int(created.timestamp())) // 60 for t in task.reminders]
    assert offsets == [30, 120]  # the 30-minute one once, and the 2-hour one on time
    _, _, reminders = stored(engine, msgid)
    assert [r - created for r in reminders] == [timedelta(minutes=30), timedelta(hours=2)]


async def test_a_reminder_refused_for_the_daily_quota_is_not_retried_every_round(
    make_client, sim, clock, engine
):
    """Someone reminded the sender 3 times by hand: WeCom refuses botops' reminders (45009)
    for 24 h. Each reminder time is tried once, not every round."""
    async with make_client() as client:
        msgid = await create(
            client, clock, engine, ["wr00000"], expires_at=clock.now() + timedelta(days=1)
        )
        created = clock.now()
        for _ in range(3):
            await client.remind_groupmsg_send(msgid)
        tracker = TaskTracker(client, engine, clock)
        refused = 0
        for minutes in range(0, 7 * 60, 5):
            clock.set(created + timedelta(minutes=minutes))
            refused += len((await tracker.poll()).errors)
    assert sim.count(REMIND) == 3 + 3  # the manual ones, then the 30 m, 2 h and 6 h tries
    assert refused == 3
    assert len(sim.tasks()[0].reminders) == 3


@pytest.mark.parametrize("cancel_fails", [False, True])
async def test_a_task_without_expiry_whose_reads_fail_for_good_ends_after_give_up_after(
    make_client, sim, clock, engine, cancel_fails
):
    """No expiry, and the sender left (60111): without give_up_after counted from the first
    failed read, the task would be polled, and shown waiting, forever."""
    async with make_client() as client:
        msgid = await create(client, clock, engine, ["wr00000"])  # no expires_at
        tracker = TaskTracker(client, engine, clock, TrackingPolicy())
        clock.advance(timedelta(minutes=5))
        assert (await tracker.poll()).errors == []  # reads got through until now
        sim.faults.add(
            Fault("errcode", api=TASK, errcode=60111, errmsg="invalid userid", times=FOREVER)
        )
        if cancel_fails:
            sim.faults.add(Fault("errcode", api=CANCEL, errcode=-1, times=FOREVER))
        clock.advance(timedelta(minutes=5))
        failing_since = clock.now()
        first = await tracker.poll()
        clock.set(failing_since + timedelta(hours=23, minutes=59))  # not yet a day of failing
        almost = await tracker.poll()
        task, _, _ = stored(engine, msgid)
        assert task.status == TaskStatus.WAITING
        assert sim.count(CANCEL) == 0  # nothing is given up before give_up_after
        clock.set(failing_since + timedelta(hours=24))
        last = await tracker.poll()
        clock.advance(timedelta(minutes=5))
        after = await tracker.poll()
    assert [e.action for e in first.errors] == ["poll"]
    assert (first.finished, almost.finished) == ({}, {})
    assert last.finished == {msgid: TaskStatus.EXPIRED}
    assert last.cancelled == ([] if cancel_fails else [msgid])
    assert sim.tasks()[0].cancelled is not cancel_fails  # staff can no longer send it
    assert after.polled == 0  # no longer polled every round
    task, targets, _ = stored(engine, msgid)
    assert (task.status, task.finished_at) == (
        TaskStatus.EXPIRED,
        clock.now() - timedelta(minutes=5),
    )
    assert "60111" in task.error  # why it ended without WeCom's account, as when expired
    assert ("cancel: " in task.error) is cancel_fails
    assert targets["wr00000"].status == TargetStatus.EXPIRED


async def test_a_task_without_expiry_outlives_transient_read_failures_and_is_confirmed_late(
    make_client, sim, clock, engine, tmp_path
):
    """Each transient failure (a 45009 block) starts its own count: one read that gets
    through in between resets it, so failures give_up_after apart never end the task, and
    staff confirming late is recorded as today."""
    config = tmp_path / "config.yaml"
    config.write_text("tracking:\n  give_up_after: 1h\n", encoding="utf-8")
    policy = TrackingPolicy.from_settings(load_settings(config, {}).tracking)
    async with make_client() as client:
        msgid = await create(client, clock, engine, ["wr00000"])  # no expires_at
        created = clock.now()
        tracker = TaskTracker(client, engine, clock, policy)
        rounds = []
        for minutes, fails in ((5, True), (10, False), (120, True), (150, False)):
            clock.set(created + timedelta(minutes=minutes))
            if fails:
                sim.faults.add(Fault("errcode", api=TASK, errcode=45009, errmsg="freq"))
            if minutes == 150:
                sim.confirm(msgid)  # long after the first failure, and 2h after the last read
            rounds.append(await tracker.poll())
    assert [[e.action for e in r.errors] for r in rounds] == [["poll"], [], ["poll"], []]
    assert [r.finished for r in rounds] == [{}, {}, {}, {msgid: TaskStatus.SENT}]
    assert sim.count(CANCEL) == 0
    task, targets, _ = stored(engine, msgid)
    assert (task.status, task.error) == (TaskStatus.SENT, "")
    assert targets["wr00000"].status == TargetStatus.SENT
