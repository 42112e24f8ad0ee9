"""media_id cache: upload each file once, re-upload before WeCom forgets it (wecom-api.md §2).

A temporary media_id is valid for 3 days. Entries are keyed by (namespace, media type, sha256
of the bytes), so renaming a file does not re-upload it and changing one byte does. An entry
is reused only while `uploaded_at + validity - safety_margin` is in the future: a task created
with a media_id minutes before it expires may still be waiting for the staff member's
confirmation when it does.

Storage sits behind `MediaStore`, so the database can back it later; `InMemoryMediaStore`
is the default.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from botops.clock import Clock
from botops.wecom.limits import MEDIA_VALID_SECONDS
from botops.wecom.models import MediaType

log = structlog.get_logger()

# (media type, filename, data) -> media_id; `WeComClient.upload_media` fits.
Uploader = Callable[[MediaType, str, bytes], Awaitable[str]]
DEFAULT_SAFETY_MARGIN = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class MediaRecord:
    namespace: str  # whose media_id it is: a corp id, or a robot's fingerprint
    media_type: str
    sha256: str
    media_id: str
    uploaded_at: datetime


class MediaStore(Protocol):
    def get(self, namespace: str, media_type: str, sha256: str) -> MediaRecord | None: ...

    def put(self, record: MediaRecord) -> None: ...


class InMemoryMediaStore:
    def __init__(self) -> None:
        self._records: dict[tuple[str, str, str], MediaRecord] = {}

    def get(self, namespace: str, media_type: str, sha256: str) -> MediaRecord | None:
        return self._records.get((namespace, media_type, sha256))

    def put(self, record: MediaRecord) -> None:
        self._records[(record.namespace, record.media_type, record.sha256)] = record


class MediaCache:
    def __init__(
        self,
        upload: Uploader,
        clock: Clock,
        *,
        namespace: str,
        store: MediaStore | None = None,
        validity: timedelta = timedelta(seconds=MEDIA_VALID_SECONDS),
        safety_margin: timedelta = DEFAULT_SAFETY_MARGIN,
    ) -> None:
        if safety_margin >= validity:
            raise ValueError("media safety margin must be shorter than its validity")
        self._upload = upload
        self._clock = clock
        self._namespace = namespace
        self._store: MediaStore = store or InMemoryMediaStore()
        self._usable_for = validity - safety_margin
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def media_id(self, media_type: MediaType, filename: str, data: bytes) -> str:
        """A media_id for these bytes that stays valid for at least the safety margin."""
        digest = hashlib.sha256(data).hexdigest()
        # One upload per content even when many sends ask for the same file at once.
        lock = self._locks.setdefault((media_type, digest), asyncio.Lock())
        async with lock:
            record = self._store.get(self._namespace, media_type, digest)
            if record is not None and self._usable(record):
                return record.media_id
            media_id = await self._upload(media_type, filename, data)
            self._store.put(
                MediaRecord(self._namespace, media_type, digest, media_id, self._clock.now())
            )
            log.info(
                "wecom.media.uploaded",
                media_type=media_type,
                sha256=digest[:12],
                reupload=record is not None,
            )
            return media_id

    def _usable(self, record: MediaRecord) -> bool:
        return self._clock.now() < record.uploaded_at + self._usable_for
