"""TokenCache in isolation: one fetch for many callers, refresh margin, invalidation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from botops.clock import FrozenClock
from botops.wecom.tokens import TokenCache

pytestmark = pytest.mark.anyio


class Fetcher:
    def __init__(self, expires_in: int = 7200) -> None:
        self.calls = 0
        self.expires_in = expires_in

    async def __call__(self) -> tuple[str, int]:
        self.calls += 1
        await asyncio.sleep(0)  # let the other callers pile up behind the lock
        return f"token-{self.calls}", self.expires_in


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))


async def test_concurrent_callers_share_one_fetch(clock):
    cache, fetch = TokenCache(clock), Fetcher()
    tokens = await asyncio.gather(*(cache.get("ww1", "s", fetch) for _ in range(50)))
    assert set(tokens) == {"token-1"}
    assert fetch.calls == 1


async def test_refreshes_a_margin_before_expiry(clock):
    cache, fetch = TokenCache(clock, refresh_margin=timedelta(minutes=5)), Fetcher()
    assert await cache.get("ww1", "s", fetch) == "token-1"
    clock.advance(timedelta(seconds=7200 - 301))
    assert await cache.get("ww1", "s", fetch) == "token-1"
    clock.advance(timedelta(seconds=2))
    assert await cache.get("ww1", "s", fetch) == "token-2"


async def test_margin_is_capped_at_half_a_short_lifetime(clock):
    cache, fetch = TokenCache(clock, refresh_margin=timedelta(minutes=5)), Fetcher(expires_in=60)
    await cache.get("ww1", "s", fetch)
    clock.advance(timedelta(seconds=29))
    await cache.get("ww1", "s", fetch)
    assert fetch.calls == 1


async def test_entries_are_per_corp_and_secret(clock):
    cache, fetch = TokenCache(clock), Fetcher()
    await cache.get("ww1", "s1", fetch)
    await cache.get("ww1", "s2", fetch)
    await cache.get("ww2", "s1", fetch)
    await cache.get("ww1", "s1", fetch)
    assert fetch.calls == 3


async def test_invalidate_only_drops_the_stale_token(clock):
    cache, fetch = TokenCache(clock), Fetcher()
    stale = await cache.get("ww1", "s", fetch)
    assert cache.invalidate("ww1", "s", stale)
    fresh = await cache.get("ww1", "s", fetch)
    # A second request that failed with the old token must not throw the new one away.
    assert not cache.invalidate("ww1", "s", stale)
    assert await cache.get("ww1", "s", fetch) == fresh == "token-2"
    assert cache.invalidate("ww1", "s")
    assert not cache.invalidate("ww1", "s")
