"""MediaCache in isolation: by content, one upload at a time, re-upload before expiry."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from botops.clock import FrozenClock
from botops.wecom.media import InMemoryMediaStore, MediaCache, MediaRecord

pytestmark = pytest.mark.anyio


class Uploader:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes]] = []

    async def __call__(self, media_type: str, filename: str, data: bytes) -> str:
        self.calls.append((media_type, filename, data))
        await asyncio.sleep(0)
        return f"media-{len(self.calls)}"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))


async def test_same_bytes_upload_once_whatever_the_name(clock):
    upload = Uploader()
    cache = MediaCache(upload, clock, namespace="ww1")
    ids = await asyncio.gather(
        cache.media_id("image", "a.png", b"PNG1"),
        cache.media_id("image", "renamed.png", b"PNG1"),
        cache.media_id("image", "a.png", b"PNG1"),
    )
    assert ids == ["media-1"] * 3
    assert len(upload.calls) == 1
    assert await cache.media_id("image", "a.png", b"PNG2") == "media-2"
    assert await cache.media_id("file", "a.png", b"PNG1") == "media-3"  # type is part of the key


async def test_reuploads_a_safety_margin_before_three_days(clock):
    upload = Uploader()
    cache = MediaCache(upload, clock, namespace="ww1", safety_margin=timedelta(hours=12))
    assert await cache.media_id("image", "a.png", b"x") == "media-1"
    clock.advance(timedelta(days=2, hours=11, minutes=59))
    assert await cache.media_id("image", "a.png", b"x") == "media-1"
    clock.advance(timedelta(minutes=2))
    assert await cache.media_id("image", "a.png", b"x") == "media-2"


async def test_store_is_a_seam_records_survive_a_new_cache(clock):
    store, upload = InMemoryMediaStore(), Uploader()
    await MediaCache(upload, clock, namespace="ww1", store=store).media_id("image", "a", b"x")
    again = MediaCache(upload, clock, namespace="ww1", store=store)
    assert await again.media_id("image", "a", b"x") == "media-1"
    other_corp = MediaCache(upload, clock, namespace="ww2", store=store)
    assert await other_corp.media_id("image", "a", b"x") == "media-2"
    record = store.get("ww1", "image", hashlib.sha256(b"x").hexdigest())
    assert isinstance(record, MediaRecord)
    assert record.uploaded_at == clock.now()


def test_margin_must_be_shorter_than_validity(clock):
    with pytest.raises(ValueError, match="margin"):
        MediaCache(Uploader(), clock, namespace="x", safety_margin=timedelta(days=3))
