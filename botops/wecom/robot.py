"""Group-robot webhook client (wecom-api.md §4): the channel for internal/ops groups.

A robot is addressed by its webhook key, which is a credential: anyone holding it can post
to the group. It is sent only as the `key=` query parameter; logs and the rate limiter name a
robot by `fingerprint(key)`, and error messages name the API only.

Robot messages go out at once (no confirmation), so a resend after an ambiguous failure would
post twice: sends retry only on answers that say nothing was sent (-1, ...; not 45009, whose
block outlasts any quick retry).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NotRequired, TypedDict

import httpx
import structlog

from botops.wecom.ratelimit import Monotonic, RateLimiter, RateLimits
from botops.wecom.redact import fingerprint
from botops.wecom.retry import RetryPolicy, Sleep, call_with_retry
from botops.wecom.transport import (
    DEFAULT_TIMEOUT_SECONDS,
    PRODUCTION_API_BASE,
    HttpApiClient,
    new_http_client,
    request_json,
)

log = structlog.get_logger()

SEND_API = "webhook/send"
UPLOAD_API = "webhook/upload_media"


class NewsArticle(TypedDict):
    title: str
    url: str
    description: NotRequired[str]
    picurl: NotRequired[str]


class RobotClient(HttpApiClient):
    def __init__(
        self,
        api_base: str = PRODUCTION_API_BASE,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        monotonic: Monotonic = time.monotonic,
        retry: RetryPolicy | None = None,
        rate_limits: RateLimits | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self._sleep = sleep
        self._retry = retry or RetryPolicy()
        per_robot = (rate_limits or RateLimits()).per_robot
        self._limiter = RateLimiter(per_robot, monotonic=monotonic, sleep=sleep)
        self._http = new_http_client(api_base, transport=transport, timeout=timeout)

    async def send_text(
        self,
        key: str,
        content: str,
        *,
        mentioned_list: Sequence[str] = (),
        mentioned_mobile_list: Sequence[str] = (),
    ) -> None:
        """Text (≤ 2,048 bytes); `mentioned_list` takes userids or "@all"."""
        text: dict[str, Any] = {"content": content}
        if mentioned_list:
            text["mentioned_list"] = list(mentioned_list)
        if mentioned_mobile_list:
            text["mentioned_mobile_list"] = list(mentioned_mobile_list)
        await self.send(key, {"msgtype": "text", "text": text})

    async def send_markdown(self, key: str, content: str) -> None:
        """Markdown (≤ 4,096 bytes)."""
        await self.send(key, {"msgtype": "markdown", "markdown": {"content": content}})

    async def send_image(self, key: str, data: bytes) -> None:
        """A JPG/PNG image (≤ 2 MB), sent inline as base64 with the md5 of the raw bytes."""
        image = {
            "base64": base64.b64encode(data).decode("ascii"),
            "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        }
        await self.send(key, {"msgtype": "image", "image": image})

    async def send_news(self, key: str, articles: Sequence[NewsArticle]) -> None:
        """1-8 link cards."""
        news = {"articles": [dict(a) for a in articles]}
        await self.send(key, {"msgtype": "news", "news": news})

    async def send_file(
        self, key: str, media_id: str, *, kind: Literal["file", "voice"] = "file"
    ) -> None:
        """A file or voice message uploaded with `upload_media` first."""
        await self.send(key, {"msgtype": kind, kind: {"media_id": media_id}})

    async def send(self, key: str, message: Mapping[str, Any]) -> None:
        """Post one message body as WeCom documents it (any msgtype)."""
        robot = fingerprint(key)

        async def attempt(number: int) -> None:
            # Every attempt counts against the robot's 20/min, so each one waits for a slot.
            waited = await self._limiter.acquire(robot)
            log.debug(
                "wecom.robot.send",
                robot=robot,
                msgtype=message.get("msgtype"),
                attempt=number,
                waited=waited,
            )
            await request_json(self._http, SEND_API, params={"key": key}, body=message)

        await call_with_retry(
            SEND_API, attempt, policy=self._retry, sleep=self._sleep, idempotent=False
        )

    async def upload_media(
        self, key: str, filename: str, data: bytes, *, kind: Literal["file", "voice"] = "file"
    ) -> str:
        """Upload a file for `send_file`; the media_id is valid for 3 days."""

        async def attempt(_number: int) -> str:
            params = {"key": key, "type": kind}
            answer = await request_json(
                self._http, UPLOAD_API, params=params, upload=(filename, data)
            )
            return str(answer["media_id"])

        return await call_with_retry(UPLOAD_API, attempt, policy=self._retry, sleep=self._sleep)
