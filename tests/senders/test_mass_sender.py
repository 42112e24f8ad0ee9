"""WeComMassSender against the simulator: tasks per 2,000 groups, recorded as created."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from botops.errors import WeComRejectedError
from botops.senders.base import FailedTarget
from botops.senders.wecom_mass import REFUSED, WeComMassSender
from botops.simulator import Fault
from botops.store.db import session
from botops.store.models import MassTask, MassTaskTarget, TaskStatus
from botops.store.tasks import StoreTaskRecorder, open_tasks, task_targets
from botops.wecom.media import MediaCache
from tests.senders.support import make_groups, outgoing

pytestmark = pytest.mark.anyio
ADD = "externalcontact/add_msg_template"


def sender_for(client, clock, engine=None):
    media = MediaCache(client.upload_media, clock, namespace="ww")
    record = StoreTaskRecorder(engine, clock) if engine is not None else None
    return WeComMassSender(client, media, record=record)


async def test_one_task_per_2000_groups_each_recorded_with_send_keys(
    make_client, sim, clock, engine
):
    sim.add_groups(make_groups(2500, prefix="wx", members=0))
    chat_ids = [f"wx{i:05d}" for i in range(2500)]
    async with make_client() as client:
        receipt = await sender_for(client, clock, engine).send(outgoing(chat_ids))
    assert [len(t.targets) for t in receipt.tasks] == [2000, 500]
    assert receipt.failed == ()
    assert [len(r.body["chat_id_list"]) for r in sim.requests(ADD)] == [2000, 500]
    with session(engine) as s:
        tasks = open_tasks(s)
        assert [t.msgid for t in tasks] == [t.msgid for t in receipt.tasks]
        assert tasks[0].created_at == clock.now()
        assert (tasks[0].sender, tasks[0].playbook, tasks[0].step, tasks[0].batch) == (
            "zhangsan",
            "checkin",
            "morning",
            "b1",
        )
        second = task_targets(s, receipt.tasks[1].msgid)
    assert len(second) == 500
    assert second[0].target_id == "wx02000"
    assert second[0].send_key == "checkin:morning:wx02000:2026-03-02"


async def test_a_task_is_recorded_before_the_next_is_created(make_client, sim, clock, engine):
    sim.add_groups(make_groups(2001, prefix="wx", members=0))

    class FailSecond:
        """Records the task, then makes WeCom reject the next create."""

        def __init__(self, recorder):
            self.recorder = recorder

        def __call__(self, out, task):
            self.recorder(out, task)
            sim.faults.add(Fault("errcode", api=ADD, errcode=40058, errmsg="invalid parameter"))

    async with make_client() as client:
        media = MediaCache(client.upload_media, clock, namespace="ww")
        mass = WeComMassSender(client, media, record=FailSecond(StoreTaskRecorder(engine, clock)))
        with pytest.raises(WeComRejectedError) as caught:
            await mass.send(outgoing([f"wx{i:05d}" for i in range(2001)]))
    assert caught.value.errcode == 40058
    with session(engine) as s:
        (task,) = s.exec(select(MassTask)).all()
        assert len(task_targets(s, task.msgid)) == 2000
    assert task.msgid == sim.tasks()[0].msgid


async def test_groups_wecom_refuses_are_failed_not_recorded(make_client, sim, clock, engine):
    async with make_client() as client:
        receipt = await sender_for(client, clock, engine).send(outgoing(["wr00000", "wl00000"]))
    (task,) = receipt.tasks
    assert task.targets == ("wr00000",)
    assert receipt.failed == (FailedTarget("wl00000", REFUSED),)
    with session(engine) as s:
        assert [t.target_id for t in s.exec(select(MassTaskTarget))] == ["wr00000"]


async def test_wecom_rejections_propagate_typed(make_client, clock, engine):
    async with make_client() as client:
        with pytest.raises(WeComRejectedError) as caught:
            await sender_for(client, clock, engine).send(outgoing(["wr00000"], sender="nobody"))
    assert caught.value.errcode == 60111
    with session(engine) as s:
        assert s.exec(select(MassTask)).all() == []


async def test_single_chat_sends_go_to_external_userids(make_client, sim, clock, engine):
    customers = sorted(e for e, c in sim.state.externals.items() if "zhangsan" in c.follow_users)
    async with make_client() as client:
        receipt = await sender_for(client, clock, engine).send(
            outgoing(customers[:3], chat_type="single")
        )
    (request,) = sim.requests(ADD)
    assert request.body["chat_type"] == "single"
    assert request.body["external_userid"] == customers[:3]
    with session(engine) as s:
        (task,) = open_tasks(s)
    assert (task.chat_type, task.status) == ("single", TaskStatus.WAITING)
    assert receipt.task_targets == customers[:3]


async def test_text_only_and_empty_messages(make_client, clock):
    async with make_client() as client:
        with pytest.raises(ValueError, match="text or attachments"):
            await sender_for(client, clock).send(outgoing(["wr00000"], text=""))
        with pytest.raises(ValueError, match="no targets"):
            await sender_for(client, clock).send(outgoing([]))


async def test_expiry_travels_with_the_task(make_client, clock, engine):
    expires = clock.now() + timedelta(hours=3)
    async with make_client() as client:
        await sender_for(client, clock, engine).send(outgoing(["wr00000"], expires_at=expires))
    with session(engine) as s:
        (task,) = open_tasks(s)
    assert task.expires_at == expires
