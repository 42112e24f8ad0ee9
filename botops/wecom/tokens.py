"""Access-token cache, one entry per (corp id, secret) (wecom-api.md §1).

WeCom rate-limits gettoken itself, so concurrent callers must share ONE in-flight fetch: a
per-credential `asyncio.Lock` makes the first caller fetch while the others wait and then read
the fresh entry. Tokens are refreshed `refresh_margin` before they expire, because a request
that leaves with a token valid "for one more second" arrives with an expired one.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from botops.clock import Clock

log = structlog.get_logger()

# A fetch returns (access_token, expires_in seconds) as gettoken answers them.
TokenFetch = Callable[[], Awaitable[tuple[str, int]]]
DEFAULT_REFRESH_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class _Entry:
    token: str
    refresh_at: datetime
    expires_at: datetime


def _cache_key(corp_id: str, secret: str) -> tuple[str, str]:
    # Hash the secret so the cache never holds it as a plain dictionary key.
    return corp_id, hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TokenCache:
    """Share one instance between clients that use the same credentials."""

    def __init__(self, clock: Clock, *, refresh_margin: timedelta = DEFAULT_REFRESH_MARGIN):
        self._clock = clock
        self._margin = refresh_margin
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def get(self, corp_id: str, secret: str, fetch: TokenFetch) -> str:
        """A valid token, fetching (once, for all concurrent callers) when needed."""
        key = _cache_key(corp_id, secret)
        entry = self._fresh(key)
        if entry is not None:
            return entry.token
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self._fresh(key)  # another caller may have fetched while we waited
            if entry is None:
                entry = self._store(key, *await fetch())
                log.info("wecom.token.fetched", corp_id=corp_id, expires_at=str(entry.expires_at))
            return entry.token

    def invalidate(self, corp_id: str, secret: str, stale_token: str | None = None) -> bool:
        """Forget the cached token (after 40014/42001). Returns whether anything was dropped.

        With `stale_token`, only drop the entry if it still holds that token: when several
        requests fail with the same expired token, the first refetch must not be thrown away
        by the others.
        """
        key = _cache_key(corp_id, secret)
        entry = self._entries.get(key)
        if entry is None or (stale_token is not None and entry.token != stale_token):
            return False
        del self._entries[key]
        log.info("wecom.token.invalidated", corp_id=corp_id)
        return True

    def _fresh(self, key: tuple[str, str]) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and self._clock.now() < entry.refresh_at:
            return entry
        return None

    def _store(self, key: tuple[str, str], token: str, expires_in: int) -> _Entry:
        now = self._clock.now()
        lifetime = timedelta(seconds=expires_in)
        # Never spend more than half the lifetime as margin, or a short-lived token (a test
        # simulator's, say) would be refetched on every call.
        margin = min(self._margin, lifetime / 2)
        entry = _Entry(token=token, refresh_at=now + lifetime - margin, expires_at=now + lifetime)
        self._entries[key] = entry
        return entry
