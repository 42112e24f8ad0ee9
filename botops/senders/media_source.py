"""The bytes behind an attachment's `MediaRef`: a file next to the playbook, or a URL.

Both are capped at WeCom's media/upload limits (library.MEDIA_RULES: 10 MB for images and
videos, 20 MB for files) so a huge file fails here with a clear message instead of as an
upload error; URL downloads stream and stop as soon as they pass the cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import httpx

from botops.playbook.library import MEDIA_RULES
from botops.playbook.model import MediaRef
from botops.senders.base import AttachmentError
from botops.wecom.redact import redact

DEFAULT_DOWNLOAD_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class MediaBytes:
    filename: str
    data: bytes


class MediaSource:
    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = DEFAULT_DOWNLOAD_TIMEOUT_SECONDS,
    ) -> None:
        self._transport = transport
        self._timeout = timeout

    async def load(self, ref: MediaRef, kind: str, base_dir: Path | None) -> MediaBytes:
        """The bytes of a `file:` or `url:` reference (a `media_id:` has none to load)."""
        max_bytes = MEDIA_RULES[kind][0]
        if ref.file is not None:
            return _read_file(ref.file, base_dir, kind, max_bytes)
        if ref.url is not None:
            return await self._download(ref.url, kind, max_bytes)
        raise AttachmentError(f"{kind} attachment has no file or url to load")

    async def _download(self, url: str, kind: str, max_bytes: int) -> MediaBytes:
        shown = redact(url)  # a URL may carry a signed token in its query
        try:
            async with (
                httpx.AsyncClient(
                    transport=self._transport,
                    timeout=httpx.Timeout(self._timeout),
                    follow_redirects=True,
                ) as http,
                http.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    raise AttachmentError(
                        f"{kind} {shown}: download answered HTTP {response.status_code}"
                    )
                declared = int(response.headers.get("content-length") or 0)
                if declared > max_bytes:
                    raise AttachmentError(_too_big(kind, shown, declared, max_bytes))
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data.extend(chunk)
                    if len(data) > max_bytes:
                        raise AttachmentError(_too_big(kind, shown, len(data), max_bytes))
        except httpx.HTTPError as exc:
            raise AttachmentError(
                f"{kind} {shown}: download failed ({type(exc).__name__})"
            ) from None
        if not data:
            raise AttachmentError(f"{kind} {shown}: downloaded file is empty")
        name = PurePosixPath(urlsplit(url).path).name or kind
        return MediaBytes(name, bytes(data))


def _read_file(name: str, base_dir: Path | None, kind: str, max_bytes: int) -> MediaBytes:
    path = (base_dir or Path.cwd()) / name
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise AttachmentError(_too_big(kind, str(path), size, max_bytes))
        data = path.read_bytes()
    except OSError as exc:
        raise AttachmentError(f"{kind} {path}: cannot read ({exc.strerror})") from None
    if not data:
        raise AttachmentError(f"{kind} {path}: file is empty")
    return MediaBytes(path.name, data)


def _too_big(kind: str, where: str, size: int, max_bytes: int) -> str:
    return f"{kind} {where} exceeds WeCom's limit of {max_bytes} bytes ({size} bytes)"
