"""What a simulated API handler receives and returns.

Handlers are plain functions `(state, call) -> answer dict`: no HTTP, no clock reads (the
time of the call is `call.now`), so each WeCom rule is a few lines that tests can read.
Raising `ApiError` produces WeCom's error answer.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from botops.simulator.model import ApiError, SimState

T = TypeVar("T")

# WeCom's generic "a parameter does not meet the API's requirements".
BAD_PARAM = 40058


@dataclass(frozen=True, slots=True)
class ApiCall:
    api: str
    now: datetime
    query: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] = field(default_factory=dict)
    raw: bytes = b""
    content_type: str = ""

    @property
    def ts(self) -> int:
        return int(self.now.timestamp())


Handler = Callable[[SimState, ApiCall], dict[str, Any]]


def ok(**fields: Any) -> dict[str, Any]:
    return {"errcode": 0, "errmsg": "ok", **fields}


def int_field(call: ApiCall, name: str, default: int | None = None) -> int:
    value = call.body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(BAD_PARAM, f"invalid {name}")
    return value


def str_field(call: ApiCall, name: str) -> str:
    value = call.body.get(name)
    if not isinstance(value, str) or not value:
        if name == "msgid":
            raise ApiError(41046, "missing msgid")
        raise ApiError(BAD_PARAM, f"missing or invalid {name}")
    return value


def str_list(call: ApiCall, name: str) -> list[str]:
    value = call.body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(BAD_PARAM, f"{name} must be a list of strings")
    return value


def page(
    items: Sequence[T], call: ApiCall, *, max_limit: int, default: int | None = None
) -> tuple[list[T], str]:
    """One page by `cursor`/`limit`, and the cursor of the next page ("" at the end).

    Without `default`, a limit outside 1..max_limit is refused (groupchat/list: "取值范围
    1 ~ 1000"). With it, a missing or too large limit means `default`, as the mass-send
    tracking APIs document ("超过最大值时取默认值").
    """
    limit = int_field(call, "limit", max_limit if default is None else default)
    if default is not None and limit > max_limit:
        limit = default
    if not 1 <= limit <= max_limit:
        raise ApiError(BAD_PARAM, f"limit must be 1..{max_limit}")
    start = _decode_cursor(str(call.body.get("cursor") or ""))
    end = start + limit
    return list(items[start:end]), (_encode_cursor(end) if end < len(items) else "")


# Cursors are opaque in WeCom; base64 keeps clients from treating them as numbers.
def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"sim:{offset}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    if not cursor:
        return 0
    try:
        prefix, _, offset = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if prefix != "sim":
            raise ValueError(cursor)
        return int(offset)
    except (ValueError, binascii.Error):
        raise ApiError(BAD_PARAM, "invalid cursor") from None
