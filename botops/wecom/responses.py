"""The one place that turns a WeCom answer into a result or a typed error (wecom-api.md §1).

    map_response(api, httpx.Response | httpx.TransportError) -> dict   or raises:

    WeComError
    ├── WeComConfigError      40001 bad secret, 48002 API not permitted, 60020 IP not allowed,
    │                         301002 token of another app, 40013 bad corp id, HTTP 404
    ├── WeComRetryableError   -1, 45033, 41063, HTTP 429/5xx, network errors
    │   ├── TokenExpired      40014 / 42001: refetch the token once and retry at once
    │   ├── FrequencyLimited  45009: retry in a later round, not within seconds
    │   └── OutcomeUnknown    5xx or a broken read: WeCom may have acted on the request
    └── WeComRejectedError    everything else (errcode, errmsg)

Every message is run through `redact()`: an httpx error or a proxy page may quote the URL,
and WeCom URLs carry `access_token=` / `key=`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from botops.errors import (
    WeComConfigError,
    WeComError,
    WeComRejectedError,
    WeComRetryableError,
)
from botops.wecom.redact import redact


class TokenExpired(WeComRetryableError):
    """The access token was rejected (40014 invalid / 42001 expired): refetch once, retry."""


class OutcomeUnknown(WeComRetryableError):
    """The request may have reached WeCom (server error, connection dropped mid-answer).

    Safe to retry for reads; for calls that create something (a mass-send task, a robot
    message) the caller must reconcile first, so the client does not retry those itself.
    """


class FrequencyLimited(WeComRetryableError):
    """45009: WeCom's frequency limit for this API (or IP) is spent. The block lasts the rest
    of the window that was exceeded — a minute, an hour (wecom-api.md §1) — so retrying within
    seconds only spends more calls: the client does not retry it, and callers stop calling
    (a sync ends its round; the outbox puts the batch back for a later round)."""


TOKEN_ERRCODES = frozenset({40014, 42001})
FREQUENCY_LIMIT = 45009
RETRYABLE_ERRCODES = frozenset({-1, 45033, 41063})
CONFIG_HINTS: dict[int, str] = {
    40001: "invalid corp secret: check the app secret in the WeCom admin console",
    40013: "invalid corp id: check wecom.corp_id",
    48002: "API not permitted: list the self-built app under 客户联系 → 可调用应用",
    60020: "this server's IP is not in the app's trusted IP list",
    301002: "the access token belongs to another app: corp id and secret do not match",
}
# Per-API meanings that differ from the global table. A 4th reminder within 24 h is refused
# with 41094 "群发提醒超过频率限制" (D-90313), or possibly 45009: either way the task's
# 3-reminders-per-24h quota is spent and retrying within seconds cannot help.
API_OVERRIDES: dict[tuple[str, int], type[WeComError]] = {
    ("externalcontact/remind_groupmsg_send", 45009): WeComRejectedError,
}
API_HINTS: dict[tuple[str, int], str] = {
    ("externalcontact/remind_groupmsg_send", 45009): "at most 3 reminders per task per 24 h",
    ("externalcontact/remind_groupmsg_send", 41094): "at most 3 reminders per task per 24 h",
}
# Connection never established: the request certainly did not reach WeCom.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def map_response(api: str, outcome: httpx.Response | httpx.TransportError) -> dict[str, Any]:
    """Return WeCom's JSON answer when errcode is 0, else raise the matching WeComError."""
    if isinstance(outcome, httpx.TransportError):
        # `from None`: the httpx exception carries the request, whose URL holds the token.
        raise _transport_error(api, outcome) from None
    status = outcome.status_code
    if status == 429:
        raise WeComRetryableError(api, None, "HTTP 429 too many requests")
    if status >= 500:
        raise OutcomeUnknown(api, None, f"HTTP {status} server error")
    if status == 404:
        raise WeComConfigError(api, None, "HTTP 404: check wecom.api_base")
    if status >= 400:
        raise WeComRejectedError(api, None, f"HTTP {status}")
    body = _json_body(api, outcome.content)
    errcode = body.get("errcode", 0)
    if not isinstance(errcode, int):
        raise OutcomeUnknown(api, None, "answer has a non-integer errcode")
    if errcode == 0:
        return body
    raise error_for(api, errcode, str(body.get("errmsg", "")))


def error_for(api: str, errcode: int, errmsg: str) -> WeComError:
    """The typed error for a non-zero errcode (also used by senders that see raw codes)."""
    errmsg = redact(errmsg)
    override = API_OVERRIDES.get((api, errcode))
    hint = API_HINTS.get((api, errcode)) or CONFIG_HINTS.get(errcode)
    if hint:
        errmsg = f"{errmsg} (hint: {hint})" if errmsg else f"hint: {hint}"
    if override is not None:
        return override(api, errcode, errmsg)
    if errcode in TOKEN_ERRCODES:
        return TokenExpired(api, errcode, errmsg)
    if errcode in CONFIG_HINTS:
        return WeComConfigError(api, errcode, errmsg)
    if errcode == FREQUENCY_LIMIT:
        return FrequencyLimited(api, errcode, errmsg)
    if errcode in RETRYABLE_ERRCODES:
        return WeComRetryableError(api, errcode, errmsg)
    return WeComRejectedError(api, errcode, errmsg)


def _json_body(api: str, content: bytes) -> dict[str, Any]:
    try:
        body = json.loads(content)
    except ValueError:
        # A 200 with a non-JSON body comes from a proxy or a truncated answer, not from WeCom.
        raise OutcomeUnknown(api, None, "answer is not JSON") from None
    if not isinstance(body, dict):
        raise OutcomeUnknown(api, None, "answer is not a JSON object")
    return body


def _transport_error(api: str, exc: httpx.TransportError) -> WeComError:
    detail = redact(str(exc)) or "no detail"
    name = type(exc).__name__
    if isinstance(exc, httpx.UnsupportedProtocol):
        return WeComConfigError(api, None, f"{name}: {detail}: check wecom.api_base")
    if isinstance(exc, _NOT_SENT):
        return WeComRetryableError(api, None, f"{name}: {detail}")
    return OutcomeUnknown(api, None, f"{name}: {detail}")
