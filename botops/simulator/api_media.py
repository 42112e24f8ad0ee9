"""Temporary media: upload (multipart field `media`) and validity checks (wecom-api.md §2).

A media_id is valid for `config.media_ttl` (3 days); using a stale or unknown one in a mass
send answers 40007, which is what makes a client-side media cache necessary.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

from botops.simulator.calls import BAD_PARAM, ApiCall, ok
from botops.simulator.model import ApiError, Media, SimState

CORP_MEDIA_TYPES = ("image", "voice", "video", "file")
MAX_MEDIA_BYTES = {"image": 10 << 20, "voice": 2 << 20, "video": 10 << 20, "file": 20 << 20}
_PARAM_RE = re.compile(r'(\w+)="([^"]*)"')


def parse_multipart(raw: bytes, content_type: str) -> dict[str, tuple[str, bytes]]:
    """`{field name: (filename, bytes)}` of a multipart/form-data body.

    A few lines of parsing instead of a dependency: the simulator only ever receives one
    file field from well-behaved clients.
    """
    kind, _, params = content_type.partition(";")
    boundary = ""
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary":
            boundary = value.strip('"')
    if kind.strip().lower() != "multipart/form-data" or not boundary:
        raise ApiError(BAD_PARAM, "expected a multipart/form-data upload")
    fields: dict[str, tuple[str, bytes]] = {}
    for chunk in raw.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):  # the closing delimiter
            break
        head, sep, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            continue
        params_found = dict(_PARAM_RE.findall(head.decode("utf-8", errors="replace")))
        if "name" in params_found:
            fields[params_found["name"]] = (
                params_found.get("filename", ""),
                data.removesuffix(b"\r\n"),
            )
    return fields


def store_upload(state: SimState, call: ApiCall, *, owner: str, types: tuple[str, ...]) -> Media:
    media_type = call.query.get("type", "")
    if media_type not in types:
        raise ApiError(40005, "invalid media type parameter")
    upload = parse_multipart(call.raw, call.content_type).get("media")
    if upload is None:
        raise ApiError(BAD_PARAM, "missing multipart field 'media'")
    filename, data = upload
    if not data or len(data) > MAX_MEDIA_BYTES[media_type]:
        raise ApiError(40006, "invalid file size")
    media = Media(
        media_id=state.next_id("3sim"),
        type=media_type,
        filename=filename,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        created_at=call.ts,
        owner=owner,
    )
    state.media[media.media_id] = media
    return media


def upload(state: SimState, call: ApiCall) -> dict[str, Any]:
    media = store_upload(state, call, owner="corp", types=CORP_MEDIA_TYPES)
    return ok(type=media.type, media_id=media.media_id, created_at=str(media.created_at))


def require_media(state: SimState, call: ApiCall, media_id: Any, *, owner: str) -> Media:
    """The media behind `media_id`, if it exists, belongs to `owner` and has not expired."""
    media = state.media.get(media_id) if isinstance(media_id, str) else None
    ttl: timedelta = state.config.media_ttl
    if media is None or media.owner != owner or call.ts >= media.created_at + ttl.total_seconds():
        raise ApiError(40007, "invalid media_id")
    return media
