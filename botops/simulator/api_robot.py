"""Group-robot webhook (wecom-api.md §4): `webhook/send?key=` and `webhook/upload_media`.

Robots are named by `fingerprint(key)` in recorded state: the key itself is a credential.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections import deque
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from botops.simulator.api_media import require_media, store_upload
from botops.simulator.calls import BAD_PARAM, ApiCall, ok
from botops.simulator.model import ApiError, RobotMessage, SimState
from botops.wecom import limits
from botops.wecom.limits import utf8_len
from botops.wecom.redact import fingerprint

RATE_WINDOW = timedelta(minutes=1)
TEXT_LIMITS = {
    "text": limits.ROBOT_TEXT_MAX_BYTES,
    "markdown": limits.ROBOT_MARKDOWN_MAX_BYTES,
    "markdown_v2": limits.ROBOT_MARKDOWN_MAX_BYTES,
}


def _robot(state: SimState, call: ApiCall) -> str:
    key = call.query.get("key", "")
    if key not in state.robot_keys:
        raise ApiError(93000, "invalid webhook url: robot removed or key wrong")
    return fingerprint(key)


def send(state: SimState, call: ApiCall) -> dict[str, Any]:
    robot = _robot(state, call)
    sent = state.robot_sends.setdefault(robot, deque())
    while sent and sent[0] <= call.now - RATE_WINDOW:
        sent.popleft()
    if len(sent) >= state.config.robot_per_minute:
        raise ApiError(45009, "api freq out of limit: 20 messages per minute per robot")
    msgtype = call.body.get("msgtype")
    payload = call.body.get(msgtype) if isinstance(msgtype, str) else None
    if msgtype not in (*TEXT_LIMITS, "image", "news", "file", "voice", "template_card"):
        raise ApiError(40008, "invalid message type")
    if not isinstance(payload, Mapping):
        raise ApiError(BAD_PARAM, f"missing {msgtype} body")
    _check(state, call, robot, str(msgtype), payload)
    sent.append(call.now)
    state.robot_messages.append(RobotMessage(robot, call.ts, str(msgtype), dict(call.body)))
    return ok()


def _check(
    state: SimState, call: ApiCall, robot: str, msgtype: str, payload: Mapping[str, Any]
) -> None:
    if msgtype in TEXT_LIMITS:
        content = payload.get("content")
        if not isinstance(content, str) or not content:
            raise ApiError(44004, "empty content")
        if utf8_len(content) > TEXT_LIMITS[msgtype]:
            raise ApiError(BAD_PARAM, f"{msgtype}.content exceeds {TEXT_LIMITS[msgtype]} bytes")
    elif msgtype == "image":
        _check_image(payload)
    elif msgtype == "news":
        articles = payload.get("articles")
        if (
            not isinstance(articles, list)
            or not 1 <= len(articles) <= limits.ROBOT_NEWS_MAX_ARTICLES
        ):
            raise ApiError(BAD_PARAM, "news needs 1-8 articles")
        for article in articles:
            if (
                not isinstance(article, Mapping)
                or not article.get("title")
                or not article.get("url")
            ):
                raise ApiError(BAD_PARAM, "each article needs title and url")
    elif msgtype in ("file", "voice"):
        media = require_media(state, call, payload.get("media_id"), owner=robot)
        if media.type != msgtype:
            raise ApiError(40007, f"media_id is not a {msgtype}")


def _check_image(payload: Mapping[str, Any]) -> None:
    try:
        data = base64.b64decode(str(payload.get("base64", "")), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(BAD_PARAM, "image.base64 is not base64") from None
    if not data or len(data) > limits.ROBOT_IMAGE_MAX_BYTES:
        raise ApiError(BAD_PARAM, "image must be 1 byte to 2 MB")
    if hashlib.md5(data, usedforsecurity=False).hexdigest() != payload.get("md5"):
        raise ApiError(BAD_PARAM, "image.md5 does not match the image")


def upload_media(state: SimState, call: ApiCall) -> dict[str, Any]:
    robot = _robot(state, call)
    media = store_upload(state, call, owner=robot, types=("file", "voice"))
    return ok(type=media.type, media_id=media.media_id, created_at=str(media.created_at))
