"""Pure helpers for add_msg_template payloads (wecom-api.md §2): batching and body shape."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from botops.wecom.limits import MASS_MAX_CHAT_IDS, MASS_MAX_EXTERNAL_USERIDS
from botops.wecom.models import ChatType

T = TypeVar("T")


def batched(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """Consecutive chunks of at most `size` items, order kept."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def template_batches(
    chat_type: ChatType, chat_id_list: Sequence[str], external_userid: Sequence[str]
) -> list[list[str]]:
    """The target lists of the tasks one logical mass send becomes.

    Group sends split `chat_id_list` by 2,000 (WeCom's cap per task); single sends split
    `external_userid` by 10,000, or make one task when only `sender`/`tag_filter` select the
    customers (an empty target list).
    """
    if chat_type == "group":
        if not chat_id_list:
            raise ValueError("a group mass send needs chat_id_list")
        return list(batched(list(dict.fromkeys(chat_id_list)), MASS_MAX_CHAT_IDS))
    if chat_id_list:
        raise ValueError("chat_id_list is only valid with chat_type 'group'")
    ids = list(dict.fromkeys(external_userid))
    return list(batched(ids, MASS_MAX_EXTERNAL_USERIDS)) if ids else [[]]


def template_body(
    *,
    chat_type: ChatType,
    sender: str | None,
    targets: Sequence[str],
    tag_filter: Sequence[Sequence[str]],
    text: str | None,
    attachments: Sequence[Mapping[str, Any]],
    allow_select: bool | None,
) -> dict[str, Any]:
    """The JSON body of one add_msg_template call."""
    body: dict[str, Any] = {"chat_type": chat_type}
    if sender:
        body["sender"] = sender
    if chat_type == "group":
        body["chat_id_list"] = list(targets)
    else:
        if targets:
            body["external_userid"] = list(targets)
        if tag_filter:
            # OR within one tag list, AND across lists.
            body["tag_filter"] = {"group_list": [{"tag_list": list(tags)} for tags in tag_filter]}
        if allow_select is not None:
            body["allow_select"] = allow_select
    if text:
        body["text"] = {"content": text}
    if attachments:
        body["attachments"] = [dict(a) for a in attachments]
    return body


def check_template_request(
    chat_type: ChatType,
    sender: str | None,
    external_userid: Sequence[str],
    text: str | None,
    attachments: Sequence[Mapping[str, Any]],
) -> None:
    """Reject calls that are programming errors (WeCom's own limits are its to enforce)."""
    if chat_type == "group" and not sender:
        raise ValueError("a group mass send needs the sender (the group owner)")
    if chat_type == "single" and not sender and not external_userid:
        raise ValueError("a single mass send needs sender and/or external_userid")
    if not text and not attachments:
        raise ValueError("a mass send needs text or attachments")
