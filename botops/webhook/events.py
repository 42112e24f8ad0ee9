"""Typed, frozen callback events and the keys that deduplicate them.

WeCom retries a callback up to three times when we are slow (wecom-api.md §5), so the same
event can arrive more than once. `dedup_key` is the key to insert-or-ignore on:
- a message carries `MsgId`, which is unique on its own;
- an event has none, so the key covers FromUserName, CreateTime, MsgType, Event, ChangeType
  *and* the fields that say which thing changed and how (chat id, member list, versions, ...).
  Seconds are coarse: two groups can change in the same second, and must not merge.
The key is a sha256 over a JSON list, so it is fixed-length and has no separator ambiguity.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType


def _digest(parts: list[str]) -> str:
    encoded = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return "evt:" + hashlib.sha256(encoded.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackEvent:
    """What every decrypted callback has in common."""

    to_user: str
    from_user: str
    create_time: datetime
    msg_type: str
    event: str = ""
    change_type: str = ""
    agent_id: str = ""
    msg_id: str = ""

    def identity(self) -> tuple[str, ...]:
        """The fields that tell this event apart from another of the same type and second."""
        return ()

    @property
    def dedup_key(self) -> str:
        if self.msg_id:
            return f"msg:{self.msg_id}"
        head = [
            self.to_user,
            self.from_user,
            str(int(self.create_time.timestamp())),
            self.msg_type,
            self.event,
            self.change_type,
            self.agent_id,
        ]
        return _digest([type(self).__name__, *head, *self.identity()])


@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalChatEvent(CallbackEvent):
    """change_external_chat: a customer group was created, updated or dismissed.

    Treat it as a hint and re-fetch the group: callbacks can be lost or reordered.
    `join_scene` uses the callback's numbering (0 invited/link, 3 QR code), which differs
    from groupchat/get.
    """

    chat_id: str
    update_detail: str = ""
    join_scene: int | None = None
    quit_scene: int | None = None
    mem_change_cnt: int | None = None
    member_userids: tuple[str, ...] = ()
    last_mem_ver: str = ""
    cur_mem_ver: str = ""

    def identity(self) -> tuple[str, ...]:
        return (
            self.chat_id,
            self.update_detail,
            str(self.join_scene),
            str(self.quit_scene),
            str(self.mem_change_cnt),
            self.last_mem_ver,
            self.cur_mem_ver,
            *sorted(self.member_userids),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalContactEvent(CallbackEvent):
    """change_external_contact: a customer was added, edited, deleted, or a transfer failed."""

    user_id: str
    external_user_id: str = ""
    state: str = ""
    welcome_code: str = ""
    source: str = ""
    fail_reason: str = ""

    def identity(self) -> tuple[str, ...]:
        return (
            self.user_id,
            self.external_user_id,
            self.state,
            self.welcome_code,
            self.source,
            self.fail_reason,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalTagEvent(CallbackEvent):
    """change_external_tag: a customer tag or tag group was created/updated/deleted/shuffled.

    The XML field `Id` is `tag_id` here, so it does not shadow the builtin.
    """

    tag_id: str
    tag_type: str = ""
    strategy_id: str = ""

    def identity(self) -> tuple[str, ...]:
        return (self.tag_id, self.tag_type, self.strategy_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class MsgAuditNotify(CallbackEvent):
    """msgaudit_notify: new archived messages can be pulled. A hint; carries no content."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TextMessage(CallbackEvent):
    """A text message sent to the app (MsgType text); `msg_id` is always set."""

    content: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownEvent(CallbackEvent):
    """Any callback we have no type for. Kept, not refused, so new WeCom events never 4xx.

    `fields` maps each leaf element to its text; nested elements get dotted paths
    (`A.B`), and repeats a `[i]` suffix from the second one on.
    """

    fields: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))

    def identity(self) -> tuple[str, ...]:
        # Unknown meaning, so every field counts: a redelivery is byte-identical anyway.
        return tuple(f"{k}={v}" for k, v in sorted(self.fields.items()))
