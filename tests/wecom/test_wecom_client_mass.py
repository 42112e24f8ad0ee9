"""Mass send lifecycle: create, confirm, results, receive cap, remind, cancel, media."""

from __future__ import annotations

from datetime import timedelta

import pytest

from botops.errors import WeComRejectedError
from botops.simulator import ReceiveCap, SimConfig
from botops.wecom.media import MediaCache
from botops.wecom.models import SEND_ALREADY_RECEIVED, SEND_NOT_FRIEND, SEND_SENT

pytestmark = pytest.mark.anyio
REMIND = "externalcontact/remind_groupmsg_send"


@pytest.fixture
def sim_config() -> SimConfig:
    """This module's simulator: 1 mass message per group per day, staff confirm after 10 min."""
    return SimConfig(receive_cap=ReceiveCap("day", 1), confirm_after=timedelta(minutes=10))


async def send(client, chat_ids, *, sender="zhangsan", text="打卡提醒", **kwargs):
    return await client.add_msg_template(
        chat_type="group", sender=sender, chat_id_list=chat_ids, text=text, **kwargs
    )


async def test_groups_of_another_owner_land_in_fail_list(make_client, sim):
    async with make_client() as client:
        (task,) = await send(client, ["wr00000", "wl00000", "wr-unknown"])
    assert task.fail_list == ("wl00000", "wr-unknown")
    assert [t.target_id for t in sim.tasks()[0].targets] == ["wr00000"]


async def test_results_appear_only_after_the_owner_confirms(make_client, sim):
    async with make_client() as client:
        (task,) = await send(client, ["wr00000", "wr00001"])
        assert await client.get_groupmsg_send_result(task.msgid, "zhangsan") == []
        assert (await client.get_groupmsg_task(task.msgid))[0]["status"] == 0
        sim.confirm(task.msgid, "zhangsan")
        results = await client.get_groupmsg_send_result(task.msgid, "zhangsan")
        (sender,) = await client.get_groupmsg_task(task.msgid)
    assert {r["chat_id"]: r["status"] for r in results} == {"wr00000": 1, "wr00001": 1}
    assert sender["status"] == 2
    assert sender["send_time"] > 0


async def test_receive_cap_gives_status_3(make_client, sim, clock):
    async with make_client() as client:
        (first,) = await send(client, ["wr00000", "wr00001"])
        (second,) = await send(client, ["wr00000"], text="second today")
        clock.advance(timedelta(minutes=10))  # both auto-confirmed
        one = await client.get_groupmsg_send_result(first.msgid, "zhangsan")
        two = await client.get_groupmsg_send_result(second.msgid, "zhangsan")
        clock.advance(timedelta(days=1))
        (third,) = await send(client, ["wr00000"], text="tomorrow")
        clock.advance(timedelta(minutes=10))
        three = await client.get_groupmsg_send_result(third.msgid, "zhangsan")
    assert [r["status"] for r in one] == [SEND_SENT, SEND_SENT]
    assert [r["status"] for r in two] == [SEND_ALREADY_RECEIVED]
    assert [r["status"] for r in three] == [SEND_SENT]


async def test_single_send_by_tag_and_not_friend_status(make_client, sim):
    async with make_client() as client:
        (tag_group,) = await client.get_corp_tags()
        tag = next(t["id"] for t in tag_group["tag"] if t["name"] == "打卡挑战")
        (by_tag,) = await client.add_msg_template(
            chat_type="single", sender="zhangsan", tag_filter=[[tag]], text="hi"
        )
        lisi_customer = next(
            e.external_userid for e in sim.state.externals.values() if "lisi" in e.follow_users
        )
        (direct,) = await client.add_msg_template(
            chat_type="single", sender="zhangsan", external_userid=[lisi_customer], text="hi"
        )
        sim.confirm(by_tag.msgid)
        sim.confirm(direct.msgid)
        tagged = await client.get_groupmsg_send_result(by_tag.msgid, "zhangsan")
        stranger = await client.get_groupmsg_send_result(direct.msgid, "zhangsan")
    # zhangsan's even groups carry 打卡挑战: 3 groups x 2 customers.
    assert len(tagged) == 6
    assert all(r["status"] == SEND_SENT for r in tagged)
    assert all("external_userid" in r for r in tagged)
    assert [r["status"] for r in stranger] == [SEND_NOT_FRIEND]


async def test_three_reminders_per_day_the_fourth_is_rejected(make_client, sim, clock, fake_time):
    async with make_client() as client:
        (task,) = await send(client, ["wr00000"])
        for _ in range(3):
            await client.remind_groupmsg_send(task.msgid)
        with pytest.raises(WeComRejectedError) as caught:
            await client.remind_groupmsg_send(task.msgid)
        assert caught.value.errcode == sim.config.remind_limit_errcode
        assert sim.count(REMIND) == 4  # not retried
        assert fake_time.sleeps == []
        clock.advance(timedelta(hours=24, seconds=1))
        await client.remind_groupmsg_send(task.msgid)
    assert len(sim.tasks()[0].reminders) == 4


async def test_unknown_msgid_is_rejected(make_client):
    async with make_client() as client:
        with pytest.raises(WeComRejectedError) as caught:
            await client.remind_groupmsg_send("msg-nope")
    assert caught.value.errcode == 41047


async def test_cancel_stops_an_unconfirmed_task(make_client, sim, clock):
    async with make_client() as client:
        (task,) = await send(client, ["wr00000"])
        await client.cancel_groupmsg_send(task.msgid)
        clock.advance(timedelta(hours=1))  # past the auto-confirm delay: nothing is sent
        assert await client.get_groupmsg_send_result(task.msgid, "zhangsan") == []
        (sender,) = await client.get_groupmsg_task(task.msgid)
    assert sender["status"] == 0
    assert sim.tasks()[0].cancelled
    with pytest.raises(ValueError, match="cancelled"):
        sim.confirm(task.msgid)


async def test_media_cache_reuploads_before_wecom_forgets(make_client, sim, clock):
    async with make_client() as client:
        cache = MediaCache(client.upload_media, clock, namespace=sim.config.corp_id)
        poster = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
        first = await cache.media_id("image", "poster.png", poster)
        assert await cache.media_id("image", "poster.png", poster) == first
        image = [{"msgtype": "image", "image": {"media_id": first}}]
        await send(client, ["wr00000"], attachments=image)
        clock.advance(timedelta(days=3))
        with pytest.raises(WeComRejectedError) as stale:  # WeCom has forgotten it
            await send(client, ["wr00000"], attachments=image)
        assert stale.value.errcode == 40007
        fresh = await cache.media_id("image", "poster.png", poster)
        await send(
            client, ["wr00000"], attachments=[{"msgtype": "image", "image": {"media_id": fresh}}]
        )
    assert fresh != first
    assert sim.count("media/upload") == 2
    assert sim.state.media[fresh].sha256 == sim.state.media[first].sha256


async def test_too_many_attachments(make_client, sim):
    link = {"msgtype": "link", "link": {"title": "t", "url": "https://example.com"}}
    async with make_client() as client:
        with pytest.raises(WeComRejectedError) as caught:
            await send(client, ["wr00000"], attachments=[link] * 10)
    assert caught.value.errcode == 41064
