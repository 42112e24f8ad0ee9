"""One HTTP exchange with WeCom: send, then hand the outcome to `map_response`.

Shared by `WeComClient` and `RobotClient` so both talk HTTP the same way: JSON bodies encoded
as UTF-8 without `\\u` escapes (WeCom counts limits in UTF-8 bytes of what it receives), the
API name as the path under `/cgi-bin/`, and every outcome — even a dropped connection — mapped
in one place. `HttpApiClient` makes each an async context manager around its httpx client.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import httpx

from botops.errors import WeComError
from botops.metrics import WECOM_CALLS
from botops.wecom.redact import install_stdlib_redaction
from botops.wecom.responses import map_response

PRODUCTION_API_BASE = "https://qyapi.weixin.qq.com"
DEFAULT_TIMEOUT_SECONDS = 10.0

# (filename, bytes) for a multipart upload field named "media", as WeCom expects.
Upload = tuple[str, bytes]


class HttpApiClient:
    """An async context manager around one httpx client (`_http`): leaving it closes that."""

    _http: httpx.AsyncClient

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()


def new_http_client(
    api_base: str, *, transport: httpx.AsyncBaseTransport | None, timeout: float
) -> httpx.AsyncClient:
    install_stdlib_redaction()  # httpx logs full request URLs at INFO
    return httpx.AsyncClient(
        base_url=api_base.rstrip("/"),
        transport=transport,
        timeout=httpx.Timeout(timeout),
        headers={"User-Agent": "botops"},
    )


async def request_json(
    http: httpx.AsyncClient,
    api: str,
    *,
    method: str = "POST",
    params: Mapping[str, str] | None = None,
    body: Mapping[str, Any] | None = None,
    upload: Upload | None = None,
) -> dict[str, Any]:
    """Call `/cgi-bin/{api}` and return the answer, or raise the WeComError `map_response` picks."""
    content: bytes | None = None
    headers: dict[str, str] = {}
    files = None
    if body is not None:
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers["Content-Type"] = "application/json; charset=utf-8"
    if upload is not None:
        files = {"media": upload}
    try:
        response = await http.request(
            method, f"/cgi-bin/{api}", params=params, content=content, headers=headers, files=files
        )
    except httpx.TransportError as exc:
        WECOM_CALLS.labels(api, "network").inc()
        return map_response(api, exc)
    try:
        answer = map_response(api, response)
    except WeComError as exc:
        outcome = f"http_{response.status_code}" if response.status_code >= 400 else exc.errcode
        WECOM_CALLS.labels(api, str(outcome)).inc()
        raise
    WECOM_CALLS.labels(api, "0").inc()
    return answer
