"""The AI bot's `response_url` (wecom-api.md §7): `aibot/response?response_code=`.

WeCom hands a one-time `response_url` with each message to the bot; answering twice is
refused. The errcode for a used or unknown code is not documented; 40029 is our guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botops.simulator.calls import BAD_PARAM, ApiCall, ok
from botops.simulator.model import AiBotReply, ApiError, SimState
from botops.wecom import limits
from botops.wecom.limits import utf8_len

USED_CODE = 40029


def respond(state: SimState, call: ApiCall) -> dict[str, Any]:
    code = call.query.get("response_code", "")
    if not code or any(r.response_code == code for r in state.aibot_replies):
        raise ApiError(USED_CODE, "invalid response_code: unknown or already used")
    msgtype = call.body.get("msgtype")
    payload = call.body.get(msgtype) if isinstance(msgtype, str) else None
    if msgtype not in ("markdown", "template_card") or not isinstance(payload, Mapping):
        raise ApiError(40008, "invalid message type")
    content = payload.get("content", "") if msgtype == "markdown" else "card"
    if not isinstance(content, str) or not content:
        raise ApiError(44004, "empty content")
    if utf8_len(content) > limits.ROBOT_MARKDOWN_MAX_BYTES:
        raise ApiError(BAD_PARAM, f"content exceeds {limits.ROBOT_MARKDOWN_MAX_BYTES} bytes")
    state.aibot_replies.append(AiBotReply(code, call.ts, str(msgtype), dict(call.body)))
    return ok()
