"""Decode callback bodies: the encrypted envelope, then the decrypted event.

Like wechatpy's `parse_message`, events go through a registry keyed by (MsgType, Event,
ChangeType), most specific first, with `UnknownEvent` as the fallback: WeCom adds events and
change types over time, and a callback we cannot name must still be acknowledged (a 4xx would
only make WeCom retry). A *known* type missing a field it always carries is malformed, though:
that is a bug or a forgery, and says so by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TypedDict
from xml.etree.ElementTree import Element

from botops.webhook.aibot import AiBotMessage, parse_aibot_message
from botops.webhook.errors import MalformedCallback
from botops.webhook.events import (
    CallbackEvent,
    ExternalChatEvent,
    ExternalContactEvent,
    ExternalTagEvent,
    MsgAuditNotify,
    TextMessage,
    UnknownEvent,
)
from botops.webhook.safe import MAX_BODY_BYTES, load_json_object, load_xml

__all__ = [
    "AiBotMessage",
    "parse_aibot_message",
    "parse_envelope",
    "parse_event",
    "parse_json_envelope",
]


class _Base(TypedDict):
    to_user: str
    from_user: str
    create_time: datetime
    msg_type: str
    event: str
    change_type: str
    agent_id: str
    msg_id: str


_Parser = Callable[[Element, _Base], CallbackEvent]
_Key = tuple[str, str | None, str | None]
_REGISTRY: dict[_Key, _Parser] = {}


def _register(
    msg_type: str, event: str | None = None, change_types: Iterable[str | None] = (None,)
) -> Callable[[_Parser], _Parser]:
    def add(parser: _Parser) -> _Parser:
        for change_type in change_types:
            _REGISTRY[(msg_type, event, change_type)] = parser
        return parser

    return add


# --- field helpers -------------------------------------------------------------------------


def _text(root: Element, tag: str) -> str:
    """The stripped text of a direct child, '' when absent (ids never carry edge spaces)."""
    child = root.find(tag)
    return "" if child is None or child.text is None else child.text.strip()


def _required(root: Element, tag: str) -> str:
    value = _text(root, tag)
    if not value:
        raise MalformedCallback(f"callback has no {tag}")
    return value


def _int(root: Element, tag: str) -> int | None:
    value = _text(root, tag)
    if not value:
        return None
    if not (value.isascii() and value.removeprefix("-").isdigit()) or len(value) > 19:
        raise MalformedCallback(f"callback field {tag} is not an integer")
    return int(value)


def _create_time(root: Element) -> datetime:
    seconds = _int(root, "CreateTime")
    if seconds is None:
        raise MalformedCallback("callback has no CreateTime")
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, ValueError, OSError):
        raise MalformedCallback("callback field CreateTime is out of range") from None


def _members(root: Element) -> tuple[str, ...]:
    """MemChangeList as <Item> children (current docs) or one comma-separated text (older)."""
    node = root.find("MemChangeList")
    if node is None:
        return ()
    items = node.findall("Item")
    texts = [item.text or "" for item in items] if items else (node.text or "").split(",")
    return tuple(t.strip() for t in texts if t.strip())


MAX_DEPTH = 32
"""Elements nested deeper than this are refused: WeCom's events nest two or three deep."""
MAX_FIELDS_CHARS = 4 * MAX_BODY_BYTES
"""The flattened paths' total length: a few times the largest body, never gigabytes."""


def _flatten(root: Element) -> dict[str, str]:
    """Every leaf under `root` by its dotted path, in document order (see UnknownEvent).

    Walked with a stack of its own, not by recursion: a signed body nested thousands deep
    must be a MalformedCallback (400), not a RecursionError (500). The paths' total length
    is capped too, or a 1 MiB body of long tag names over many leaves would flatten into
    gigabytes; repeats are numbered from a counter, not by probing every earlier key."""
    out: dict[str, str] = {}
    seen: dict[str, int] = {}  # path -> how many leaves have had it
    size = 0
    stack: list[tuple[str, Iterator[Element]]] = [("", iter(root))]
    while stack:
        prefix, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            continue
        path = f"{prefix}{child.tag}"
        if len(child):
            if len(stack) >= MAX_DEPTH:
                raise MalformedCallback(f"callback nests elements more than {MAX_DEPTH} deep")
            stack.append((f"{path}.", iter(child)))
            continue
        index = seen.get(path, 0)
        key = f"{path}[{index}]" if index else path
        while key in out:  # never overwrite (XML names cannot hold '[': not expected to loop)
            index += 1
            key = f"{path}[{index}]"
        seen[path] = index + 1
        size += len(key)
        if size > MAX_FIELDS_CHARS:
            raise MalformedCallback("callback fields are too many or too long")
        out[key] = child.text or ""
    return out


# --- parsers, one per registered type ------------------------------------------------------


@_register("event", "change_external_chat", ("create", "update", "dismiss"))
def _external_chat(root: Element, base: _Base) -> CallbackEvent:
    return ExternalChatEvent(
        **base,
        chat_id=_required(root, "ChatId"),
        update_detail=_text(root, "UpdateDetail"),
        join_scene=_int(root, "JoinScene"),
        quit_scene=_int(root, "QuitScene"),
        mem_change_cnt=_int(root, "MemChangeCnt"),
        member_userids=_members(root),
        last_mem_ver=_text(root, "LastMemVer"),
        cur_mem_ver=_text(root, "CurMemVer"),
    )


_CONTACT_CHANGES = (
    "add_external_contact",
    "edit_external_contact",
    "add_half_external_contact",
    "del_external_contact",
    "del_follow_user",
    "transfer_fail",
)


@_register("event", "change_external_contact", _CONTACT_CHANGES)
def _external_contact(root: Element, base: _Base) -> CallbackEvent:
    return ExternalContactEvent(
        **base,
        user_id=_required(root, "UserID"),
        external_user_id=_text(root, "ExternalUserID"),
        state=_text(root, "State"),
        welcome_code=_text(root, "WelcomeCode"),
        source=_text(root, "Source"),
        fail_reason=_text(root, "FailReason"),
    )


@_register("event", "change_external_tag", ("create", "update", "delete", "shuffle"))
def _external_tag(root: Element, base: _Base) -> CallbackEvent:
    # A shuffle of all tags may come without an Id; the rest always name the tag.
    tag_id = _text(root, "Id") if base["change_type"] == "shuffle" else _required(root, "Id")
    return ExternalTagEvent(
        **base,
        tag_id=tag_id,
        tag_type=_text(root, "TagType"),
        strategy_id=_text(root, "StrategyId"),
    )


@_register("event", "msgaudit_notify")
def _msgaudit(root: Element, base: _Base) -> CallbackEvent:
    return MsgAuditNotify(**base)


@_register("text")
def _text_message(root: Element, base: _Base) -> CallbackEvent:
    if not base["msg_id"]:
        raise MalformedCallback("text message has no MsgId")
    child = root.find("Content")
    content = "" if child is None or child.text is None else child.text  # kept verbatim
    return TextMessage(**base, content=content)


def _unknown(root: Element, base: _Base) -> CallbackEvent:
    return UnknownEvent(**base, fields=_flatten(root))


# --- public API ----------------------------------------------------------------------------


def parse_envelope(xml_bytes: bytes) -> str:
    """The ciphertext in `<xml><Encrypt>...</Encrypt></xml>` of a POST callback."""
    return _required(load_xml(xml_bytes), "Encrypt")


def parse_json_envelope(json_bytes: bytes) -> str:
    """The ciphertext in an AI-bot `{"encrypt": ...}` body (`Encrypt` also accepted)."""
    data = load_json_object(json_bytes)
    value = data.get("encrypt", data.get("Encrypt"))
    if not isinstance(value, str) or not value:
        raise MalformedCallback("JSON callback has no encrypt field")
    return value


def parse_event(xml_bytes: bytes) -> CallbackEvent:
    """Decode a decrypted XML callback into its typed event (UnknownEvent if unregistered)."""
    root = load_xml(xml_bytes)
    base = _Base(
        to_user=_text(root, "ToUserName"),
        from_user=_text(root, "FromUserName"),
        create_time=_create_time(root),
        msg_type=_required(root, "MsgType"),
        event=_text(root, "Event"),
        change_type=_text(root, "ChangeType"),
        agent_id=_text(root, "AgentID"),
        msg_id=_text(root, "MsgId"),
    )
    mt, ev, ct = base["msg_type"], base["event"] or None, base["change_type"] or None
    for key in ((mt, ev, ct), (mt, ev, None), (mt, None, None)):
        parser = _REGISTRY.get(key)
        if parser is not None:
            return parser(root, base)
    return _unknown(root, base)
