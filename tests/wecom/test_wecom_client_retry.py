"""Retries: only retryable errors, bounded, with recorded jittered exponential back-off."""

from __future__ import annotations

import pytest

from botops.errors import WeComRejectedError, WeComRetryableError
from botops.simulator import Fault
from botops.wecom.responses import FrequencyLimited, OutcomeUnknown
from botops.wecom.retry import RetryPolicy

pytestmark = pytest.mark.anyio
GET = "externalcontact/groupchat/get"
ADD = "externalcontact/add_msg_template"


def assert_backoff(sleeps: list[float], policy: RetryPolicy) -> None:
    for retry, wait in enumerate(sleeps):
        base = min(policy.base_seconds * 2**retry, policy.max_seconds)
        assert base <= wait <= base + policy.jitter_seconds


@pytest.mark.parametrize("errcode", [-1, 45033])
async def test_busy_and_rate_limited_answers_are_retried(make_client, sim, fake_time, errcode):
    sim.faults.add(Fault("errcode", times=2, api=GET, errcode=errcode))
    policy = RetryPolicy(attempts=4, base_seconds=0.5, max_seconds=8, jitter_seconds=0.5)
    async with make_client(retry=policy) as client:
        chat = await client.get_group_chat("wr00000")
    assert chat["chat_id"] == "wr00000"
    assert sim.count(GET) == 3
    assert len(fake_time.sleeps) == 2
    assert_backoff(fake_time.sleeps, policy)


async def test_the_frequency_limit_is_not_retried(make_client, sim, fake_time):
    # 45009 blocks the rest of the exceeded window (a minute, an hour): a back-off of
    # seconds only spends more calls, so the caller hears of it at once.
    sim.faults.add(Fault("errcode", times=10, api=GET, errcode=45009, errmsg="freq out of limit"))
    async with make_client(retry=RetryPolicy(attempts=4)) as client:
        with pytest.raises(FrequencyLimited) as caught:
            await client.get_group_chat("wr00000")
    assert isinstance(caught.value, WeComRetryableError)  # the outbox tries again later
    assert caught.value.errcode == 45009
    assert sim.count(GET) == 1
    assert fake_time.sleeps == []


async def test_the_frequency_limit_on_task_creation_is_not_retried(make_client, sim, fake_time):
    sim.faults.add(Fault("errcode", times=10, api=ADD, errcode=45009))
    async with make_client() as client:
        with pytest.raises(FrequencyLimited):
            await client.add_msg_template(
                chat_type="group", sender="zhangsan", chat_id_list=["wr00000"], text="hi"
            )
    assert sim.count(ADD) == 1
    assert sim.tasks() == []
    assert fake_time.sleeps == []


async def test_attempts_are_bounded(make_client, sim, fake_time):
    sim.faults.add(Fault("errcode", times=10, api=GET, errcode=-1))
    async with make_client(retry=RetryPolicy(attempts=4)) as client:
        with pytest.raises(WeComRetryableError) as caught:
            await client.get_group_chat("wr00000")
    assert caught.value.errcode == -1
    assert sim.count(GET) == 4
    assert len(fake_time.sleeps) == 3


async def test_back_off_is_capped(make_client, sim, fake_time):
    sim.faults.add(Fault("errcode", times=5, api=GET, errcode=-1))
    policy = RetryPolicy(attempts=6, base_seconds=1, max_seconds=3, jitter_seconds=0)
    async with make_client(retry=policy) as client:
        await client.get_group_chat("wr00000")
    assert fake_time.sleeps == [1, 2, 3, 3, 3]


async def test_permanent_rejection_is_not_retried(make_client, sim, fake_time):
    async with make_client() as client:
        with pytest.raises(WeComRejectedError) as caught:
            await client.add_msg_template(
                chat_type="group", sender="zhangsan", chat_id_list=["wr00000"], text="字" * 1334
            )  # 4,002 bytes of UTF-8
    assert caught.value.errcode == 40058
    assert sim.count(ADD) == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retried(make_client, sim, fake_time, status):
    sim.faults.add(Fault("http", api="externalcontact/groupchat/list", status=status))
    async with make_client() as client:
        chats = await client.list_group_chats()
    assert len(chats) == 10
    assert sim.count("externalcontact/groupchat/list") == 2
    assert len(fake_time.sleeps) == 1


async def test_dropped_connection_is_retried_for_reads(make_client, sim, fake_time):
    sim.faults.add(Fault("drop", times=2, api=GET))
    async with make_client() as client:
        chat = await client.get_group_chat("wr00000")
    assert chat["chat_id"] == "wr00000"
    assert sim.count(GET) == 3


async def test_dropped_connection_is_not_retried_when_it_could_duplicate_a_task(
    make_client, sim, fake_time
):
    sim.faults.add(Fault("drop", api=ADD))
    async with make_client() as client:
        with pytest.raises(OutcomeUnknown):
            await client.add_msg_template(
                chat_type="group", sender="zhangsan", chat_id_list=["wr00000"], text="hi"
            )
    assert sim.count(ADD) == 1
    assert fake_time.sleeps == []


async def test_busy_answer_is_retried_even_for_task_creation(make_client, sim):
    # -1 is WeCom saying it did nothing, so a resend cannot duplicate the task.
    sim.faults.add(Fault("errcode", api=ADD, errcode=-1))
    async with make_client() as client:
        tasks = await client.add_msg_template(
            chat_type="group", sender="zhangsan", chat_id_list=["wr00000"], text="hi"
        )
    assert len(tasks) == 1
    assert sim.count(ADD) == 2
    assert len(sim.tasks()) == 1


async def test_timeouts_are_retried(make_client, sim, fake_time):
    sim.faults.add(Fault("latency", api=GET, seconds=0.6))
    async with make_client(timeout=0.2) as client:
        chat = await client.get_group_chat("wr00000")
    assert chat["chat_id"] == "wr00000"
    assert sim.count(GET) == 2
    assert len(fake_time.sleeps) == 1


async def test_unreachable_server_is_retryable(make_client, fake_time):
    async with make_client(api_base="http://127.0.0.1:9", retry=RetryPolicy(attempts=2)) as client:
        with pytest.raises(WeComRetryableError) as caught:
            await client.get_token()
    assert not isinstance(caught.value, OutcomeUnknown)  # the request never left
    assert len(fake_time.sleeps) == 1
