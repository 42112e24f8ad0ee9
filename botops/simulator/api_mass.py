"""add_msg_template: validate like WeCom, then create a task waiting for confirmation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botops.simulator.api_media import require_media
from botops.simulator.calls import BAD_PARAM, ApiCall, ok, str_list
from botops.simulator.model import ApiError, MassTask, SenderTask, SimState, Target
from botops.wecom import limits
from botops.wecom.limits import utf8_len

ATTACHMENT_TYPES = ("image", "link", "miniprogram", "video", "file")


def add_msg_template(state: SimState, call: ApiCall) -> dict[str, Any]:
    chat_type = call.body.get("chat_type", "single")
    if chat_type not in ("single", "group"):
        raise ApiError(BAD_PARAM, "invalid chat_type")
    text, attachments = _content(state, call)
    sender = call.body.get("sender") or None
    if sender is not None and sender not in state.staff:
        raise ApiError(60111, "userid not found")
    if chat_type == "group":
        targets, fail_list = _group_targets(state, call, sender)
    else:
        targets, fail_list = _single_targets(state, call, sender)
    if not targets:
        raise ApiError(41048, "no customers or groups to send to")
    task = MassTask(
        msgid=state.next_id("msgGCAA"),
        chat_type=chat_type,
        creator=sender or "",
        create_time=call.ts,
        text={"content": text} if text else None,
        attachments=attachments,
        targets=targets,
        senders={t.userid: SenderTask(t.userid) for t in targets},
    )
    state.tasks[task.msgid] = task
    return ok(fail_list=fail_list, msgid=task.msgid)


def _content(state: SimState, call: ApiCall) -> tuple[str, list[dict[str, Any]]]:
    text = call.body.get("text") or {}
    content = text.get("content", "") if isinstance(text, Mapping) else None
    if not isinstance(content, str):
        raise ApiError(BAD_PARAM, "invalid text")
    if utf8_len(content) > limits.MASS_TEXT_MAX_BYTES:
        raise ApiError(state.config.text_too_long_errcode, "text.content exceeds 4000 bytes")
    attachments = call.body.get("attachments") or []
    if not isinstance(attachments, list):
        raise ApiError(BAD_PARAM, "invalid attachments")
    if len(attachments) > limits.MASS_MAX_ATTACHMENTS:
        raise ApiError(41064, "too many attachments: at most 9")
    for attachment in attachments:
        _check_attachment(state, call, attachment)
    if not content and not attachments:
        raise ApiError(44004, "empty content: text and attachments are both empty")
    return content, attachments


def _check_attachment(state: SimState, call: ApiCall, attachment: Any) -> None:
    msgtype = attachment.get("msgtype") if isinstance(attachment, Mapping) else None
    if msgtype not in ATTACHMENT_TYPES:
        raise ApiError(41065, "invalid attachment msgtype")
    payload = attachment.get(msgtype)
    if not isinstance(payload, Mapping):
        raise ApiError(BAD_PARAM, f"attachment {msgtype} has no body")
    if msgtype == "link":
        _check_len(payload, "title", limits.LINK_TITLE_MAX_BYTES, required=True)
        _check_len(payload, "desc", limits.LINK_DESC_MAX_BYTES)
        _check_len(payload, "picurl", limits.LINK_PICURL_MAX_BYTES)
        _check_len(payload, "url", limits.LINK_URL_MAX_BYTES, required=True)
    elif msgtype == "miniprogram":
        _check_len(payload, "title", limits.MINIPROGRAM_TITLE_MAX_BYTES, required=True)
        for name in ("appid", "page"):
            _check_len(payload, name, 1024, required=True)
        require_media(state, call, payload.get("pic_media_id"), owner="corp")
    elif msgtype == "image" and payload.get("pic_url") and "media_id" not in payload:
        return  # an image may be given by URL instead of media_id
    else:
        media = require_media(state, call, payload.get("media_id"), owner="corp")
        if media.type != msgtype:
            raise ApiError(40007, f"media_id is not a {msgtype}")


def _check_len(
    payload: Mapping[str, Any], name: str, max_bytes: int, *, required: bool = False
) -> None:
    value = payload.get(name)
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value) or utf8_len(value) > max_bytes:
        raise ApiError(BAD_PARAM, f"invalid {name}: required, at most {max_bytes} bytes")


def _group_targets(
    state: SimState, call: ApiCall, sender: str | None
) -> tuple[list[Target], list[str]]:
    if sender is None:
        raise ApiError(BAD_PARAM, "sender is required for chat_type group")
    chat_ids = list(dict.fromkeys(str_list(call, "chat_id_list")))
    if not chat_ids:
        raise ApiError(BAD_PARAM, "chat_id_list is empty")
    if len(chat_ids) > limits.MASS_MAX_CHAT_IDS:
        raise ApiError(BAD_PARAM, "chat_id_list exceeds 2000")
    targets: list[Target] = []
    fail_list: list[str] = []
    for chat_id in chat_ids:
        group = state.groups.get(chat_id)
        if group is None or group.owner != sender or group.status != 0:
            fail_list.append(chat_id)
        else:
            targets.append(Target(chat_id, sender))
    return targets, fail_list


def _single_targets(
    state: SimState, call: ApiCall, sender: str | None
) -> tuple[list[Target], list[str]]:
    requested = list(dict.fromkeys(str_list(call, "external_userid")))
    if len(requested) > limits.MASS_MAX_EXTERNAL_USERIDS:
        raise ApiError(BAD_PARAM, "external_userid exceeds 10000")
    if not requested and sender is None:
        raise ApiError(BAD_PARAM, "external_userid and sender cannot both be empty")
    tag_lists = _tag_filter(call)
    if requested:
        candidates = requested
    else:
        candidates = [
            e.external_userid for e in state.externals.values() if sender in e.follow_users
        ]
    targets: list[Target] = []
    fail_list: list[str] = []
    for userid in candidates:
        contact = state.externals.get(userid)
        if contact is None:
            fail_list.append(userid)
            continue
        # OR within one tag list, AND across lists.
        if not all(contact.tag_ids & tags for tags in tag_lists):
            continue
        # With a sender the send may still fail per target (status 2, not a contact).
        senders = [sender] if sender else sorted(contact.follow_users)
        if not senders:
            fail_list.append(userid)
        targets.extend(Target(userid, s) for s in senders)
    return targets, fail_list


def _tag_filter(call: ApiCall) -> list[set[str]]:
    tag_filter = call.body.get("tag_filter") or {}
    groups = tag_filter.get("group_list") if isinstance(tag_filter, Mapping) else None
    if not isinstance(groups, list):
        if tag_filter:
            raise ApiError(BAD_PARAM, "invalid tag_filter")
        return []
    lists = [set(g.get("tag_list") or []) for g in groups if isinstance(g, Mapping)]
    # "每组最多指定100个标签" (D-92135): the cap is per group, not in total.
    if any(len(t) > limits.TAG_FILTER_MAX_TAGS for t in lists):
        raise ApiError(BAD_PARAM, "a tag_filter group has more than 100 tags")
    return [t for t in lists if t]
