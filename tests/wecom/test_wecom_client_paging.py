"""Paging and batching: every page is followed, large target lists become several tasks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from botops.simulator import Simulator
from tests.simulated_wecom import make_groups

pytestmark = pytest.mark.anyio
LIST = "externalcontact/groupchat/list"


async def test_groupchat_list_follows_every_page(make_client, sim):
    sim.add_groups(make_groups(240, prefix="wp"))
    async with make_client() as client:
        chats = await client.list_group_chats(limit=100)
    assert len(chats) == 250
    assert len({c["chat_id"] for c in chats}) == 250
    assert all(c["status"] == 0 for c in chats)
    assert sim.count(LIST) == 3
    cursors = [r.body["cursor"] for r in sim.requests(LIST)]
    assert cursors[0] == ""
    assert all(cursors[1:])


async def test_owner_filter_is_sent_100_owners_per_call(make_client, sim):
    owners = [f"staff{i:03d}" for i in range(150)]
    for owner in owners[:3] + owners[-2:]:
        sim.add_groups(make_groups(2, owner=owner, prefix=f"w{owner}"))
    async with make_client() as client:
        chats = await client.list_group_chats(owner_userids=owners)
    assert len(chats) == 10
    sent = [r.body["owner_filter"]["userid_list"] for r in sim.requests(LIST)]
    assert [len(batch) for batch in sent] == [100, 50]
    assert sent[0] + sent[1] == owners


async def test_limit_is_checked_before_calling(make_client, sim):
    async with make_client() as client:
        with pytest.raises(ValueError, match="limit"):
            await client.list_group_chats(limit=1001)
    assert sim.count(LIST) == 0


async def test_mass_send_of_4500_groups_becomes_three_tasks(make_client, serve, clock):
    sim = Simulator.from_groups(make_groups(4500, members=0), clock=clock)
    base_url = serve(sim)
    chat_ids = [f"wr{i:05d}" for i in range(4500)]
    async with make_client(api_base=base_url) as client:
        tasks = await client.add_msg_template(
            chat_type="group", sender="zhangsan", chat_id_list=chat_ids, text="今日打卡"
        )
    assert [len(t.targets) for t in tasks] == [2000, 2000, 500]
    assert [t for task in tasks for t in task.targets] == chat_ids
    assert len({t.msgid for t in tasks}) == 3
    assert all(t.fail_list == () for t in tasks)
    assert {t.msgid for t in sim.tasks()} == {t.msgid for t in tasks}
    assert [len(t.targets) for t in sim.tasks()] == [2000, 2000, 500]


async def test_task_and_result_apis_follow_every_page(make_client, sim, clock):
    sim.add_groups(make_groups(120, prefix="wq"))
    ids = [f"wq{i:05d}" for i in range(120)]
    async with make_client() as client:
        (task,) = await client.add_msg_template(
            chat_type="group", sender="zhangsan", chat_id_list=ids, text="hi"
        )
        sim.confirm(task.msgid)
        results = await client.get_groupmsg_send_result(task.msgid, "zhangsan", limit=50)
        assert sorted(r["chat_id"] for r in results) == ids
        assert sim.count("externalcontact/get_groupmsg_send_result") == 3

        # Single sends without a sender fan out to every customer's staff member.
        (single,) = await client.add_msg_template(
            chat_type="single", external_userid=_customers(sim), text="hello"
        )
        items = await client.get_groupmsg_task(single.msgid, limit=1)
        assert sorted(i["userid"] for i in items) == ["lisi", "zhangsan"]
        assert all(i["status"] == 0 for i in items)
        assert sim.count("externalcontact/get_groupmsg_task") == 2

        for _ in range(3):
            await client.add_msg_template(
                chat_type="group", sender="lisi", chat_id_list=["wl00000"], text="x"
            )
        start = clock.now() - timedelta(days=1)
        msgs = await client.get_groupmsg_list_v2("group", start, clock.now(), limit=2)
        assert len(msgs) == 4
        assert sim.count("externalcontact/get_groupmsg_list_v2") == 2
        mine = await client.get_groupmsg_list_v2("group", start, clock.now(), creator="lisi")
        assert len(mine) == 3
        assert all(m["create_type"] == 0 and m["text"] == {"content": "x"} for m in mine)


def _customers(sim: Simulator) -> list[str]:
    return sorted(sim.state.externals)
