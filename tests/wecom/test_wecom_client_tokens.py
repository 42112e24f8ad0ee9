"""Access tokens end to end, against the simulator over loopback HTTP."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from botops.clock import FrozenClock
from botops.errors import WeComConfigError
from botops.wecom.tokens import TokenCache

pytestmark = pytest.mark.anyio


async def test_fifty_concurrent_calls_fetch_one_token(make_client, sim):
    async with make_client() as client:
        chats = await asyncio.gather(*(client.get_group_chat("wr00000") for _ in range(50)))
    assert {c["chat_id"] for c in chats} == {"wr00000"}
    assert sim.count("gettoken") == 1
    assert sim.count("externalcontact/groupchat/get") == 50


async def test_token_is_refetched_when_the_clock_nears_expiry(make_client, sim, clock):
    async with make_client(token_refresh_margin=timedelta(minutes=5)) as client:
        first = await client.get_token()
        clock.advance(timedelta(seconds=7200 - 400))
        assert await client.get_token() == first
        clock.advance(timedelta(seconds=200))  # inside the 5-minute margin
        second = await client.get_token()
        await client.get_group_chat("wr00000")  # and the new token works
    assert second != first
    assert sim.count("gettoken") == 2


async def test_token_revoked_early_is_refetched_once_without_back_off(make_client, sim, fake_time):
    async with make_client() as client:
        await client.get_group_chat("wr00000")
        assert sim.revoke_tokens() == 1  # fault injection: WeCom drops the token early
        chat = await client.get_group_chat("wr00001")
    assert chat["chat_id"] == "wr00001"
    assert [r.api for r in sim.requests()] == [
        "gettoken",
        "externalcontact/groupchat/get",
        "externalcontact/groupchat/get",  # answered 42001
        "gettoken",
        "externalcontact/groupchat/get",
    ]
    assert fake_time.sleeps == []


async def test_expiry_seen_only_by_the_server_is_recovered(make_client, sim, clock):
    # The client's clock lags (its own FrozenClock): it still trusts the token, WeCom's 42001
    # is what tells it otherwise.
    lagging = FrozenClock(clock.now())
    async with make_client(clock=lagging) as client:
        await client.get_group_chat("wr00000")
        clock.advance(timedelta(hours=3))
        await client.get_group_chat("wr00000")
    assert sim.count("gettoken") == 2


async def test_concurrent_42001s_cause_one_refetch(make_client, sim):
    async with make_client() as client:
        await client.get_group_chat("wr00000")
        sim.revoke_tokens()
        await asyncio.gather(*(client.get_group_chat("wr00000") for _ in range(10)))
    assert sim.count("gettoken") == 2


async def test_bad_secret_is_a_config_error_without_retry(make_client, sim, fake_time):
    async with make_client(secret="wrong-secret-value") as client:
        with pytest.raises(WeComConfigError) as caught:
            await client.get_group_chat("wr00000")
    assert caught.value.errcode == 40001
    assert "hint" in str(caught.value)
    assert "wrong-secret-value" not in str(caught.value)
    assert sim.count("gettoken") == 1
    assert sim.count("externalcontact/groupchat/get") == 0
    assert fake_time.sleeps == []


async def test_bad_corp_id_is_a_config_error(make_client, sim):
    async with make_client(corp_id="ww-not-mine") as client:
        with pytest.raises(WeComConfigError) as caught:
            await client.get_token()
    assert caught.value.errcode == 40013


async def test_a_shared_cache_serves_two_clients(make_client, sim, clock):
    cache = TokenCache(clock)
    async with make_client(tokens=cache) as one, make_client(tokens=cache) as two:
        await one.get_group_chat("wr00000")
        await two.get_group_chat("wr00000")
    assert sim.count("gettoken") == 1
