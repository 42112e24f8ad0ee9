"""The AI bot (智能机器人) callback: decrypted JSON for a message that @-mentions the bot.

This is how botops sees what members say in a customer group (wecom-api.md §7): only
@-mentions reach the bot. Fields WeCom documents as always present are required, so a payload
missing them fails loudly here instead of as a KeyError deep in the check-in rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botops.webhook.errors import MalformedCallback
from botops.webhook.safe import load_json_object


@dataclass(frozen=True, slots=True, kw_only=True)
class AiBotMessage:
    """One message to the AI bot. `chat_id` is set for group chats, `text` for text messages.

    `response_url` lets us answer once within an hour; WeCom omits it on some callback kinds
    (stream refreshes), hence optional.
    """

    msg_id: str
    aibot_id: str
    chat_type: str
    from_userid: str
    msg_type: str
    chat_id: str | None = None
    text: str | None = None
    response_url: str | None = None

    @property
    def dedup_key(self) -> str:
        return f"aibot:{self.aibot_id}:{self.msg_id}"


def _optional(obj: dict[str, Any], key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedCallback(f"AI bot message field {path} is not a string")
    return value


def _need(obj: dict[str, Any], key: str, path: str) -> str:
    value = _optional(obj, key, path)
    if value is None:
        raise MalformedCallback(f"AI bot message has no {path}")
    return value


def _section(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise MalformedCallback(f"AI bot message has no {key} object")
    return value


def parse_aibot_message(json_bytes: bytes) -> AiBotMessage:
    """Decode the AI bot's decrypted JSON into an AiBotMessage, or raise MalformedCallback."""
    data = load_json_object(json_bytes)
    chat_type = _need(data, "chattype", "chattype")
    msg_type = _need(data, "msgtype", "msgtype")
    text = _need(_section(data, "text"), "content", "text.content") if msg_type == "text" else None
    chat_id = _optional(data, "chatid", "chatid")
    if chat_type == "group" and chat_id is None:
        raise MalformedCallback("AI bot group message has no chatid")
    return AiBotMessage(
        msg_id=_need(data, "msgid", "msgid"),
        aibot_id=_need(data, "aibotid", "aibotid"),
        chat_type=chat_type,
        from_userid=_need(_section(data, "from"), "userid", "from.userid"),
        msg_type=msg_type,
        chat_id=chat_id,
        text=text,
        response_url=_optional(data, "response_url", "response_url"),
    )
