"""`DbMediaStore`: the `media` table behind `botops.wecom.media.MediaCache`.

Uploaded media_ids outlive the process this way: a restart, or `botops send-test` run
after the daemon, reuses a still-valid upload instead of uploading the same bytes again.
"""

from __future__ import annotations

from sqlalchemy import Engine

from botops.store.db import session
from botops.store.models import MediaUpload
from botops.wecom.media import MediaRecord


class DbMediaStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, namespace: str, media_type: str, sha256: str) -> MediaRecord | None:
        with session(self._engine) as s:
            row = s.get(MediaUpload, (namespace, media_type, sha256))
            if row is None:
                return None
            return MediaRecord(
                row.namespace, row.media_type, row.sha256, row.media_id, row.uploaded_at
            )

    def put(self, record: MediaRecord) -> None:
        """Insert or replace (a re-upload replaces the stale media_id)."""
        with session(self._engine) as s:
            s.merge(
                MediaUpload(
                    namespace=record.namespace,
                    media_type=record.media_type,
                    sha256=record.sha256,
                    media_id=record.media_id,
                    uploaded_at=record.uploaded_at,
                )
            )
