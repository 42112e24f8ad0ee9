"""Customer groups and corp tags (wecom-api.md §3)."""

from __future__ import annotations

from typing import Any

from botops.simulator.calls import BAD_PARAM, ApiCall, int_field, ok, page, str_field
from botops.simulator.model import ApiError, SimState
from botops.wecom import limits


def groupchat_list(state: SimState, call: ApiCall) -> dict[str, Any]:
    status_filter = int_field(call, "status_filter", 0)
    owner_filter = call.body.get("owner_filter") or {}
    if not isinstance(owner_filter, dict):
        raise ApiError(BAD_PARAM, "invalid owner_filter")
    owners = owner_filter.get("userid_list") or []
    if not isinstance(owners, list):
        raise ApiError(BAD_PARAM, "invalid owner_filter")
    if len(owners) > limits.GROUPCHAT_LIST_MAX_OWNERS:
        raise ApiError(BAD_PARAM, "owner_filter.userid_list exceeds 100")
    groups = sorted(state.groups.values(), key=lambda g: (g.create_time, g.chat_id))
    selected = [
        g
        for g in groups
        if (not owners or g.owner in owners) and (status_filter == 0 or g.status == status_filter)
    ]
    items, next_cursor = page(selected, call, max_limit=limits.GROUPCHAT_LIST_MAX_LIMIT)
    chats = [{"chat_id": g.chat_id, "status": g.status} for g in items]
    return ok(group_chat_list=chats, next_cursor=next_cursor)


def groupchat_get(state: SimState, call: ApiCall) -> dict[str, Any]:
    chat_id = str_field(call, "chat_id")
    group = state.groups.get(chat_id)
    if group is None:
        raise ApiError(90501, "not a customer group chat")
    need_name = call.body.get("need_name") == 1
    members = []
    for member in group.members:
        data = member.as_json()
        if not need_name:
            data.pop("name")
        members.append(data)
    chat = {
        "chat_id": group.chat_id,
        "name": group.name,
        "owner": group.owner,
        "create_time": group.create_time,
        "notice": group.notice,
        "member_list": members,
        "admin_list": [],
        "member_version": group.member_version,
    }
    return ok(group_chat=chat)


def corp_tag_list(state: SimState, call: ApiCall) -> dict[str, Any]:
    tag_ids = set(call.body.get("tag_id") or [])
    group_ids = set(call.body.get("group_id") or [])
    answer = []
    for group in state.tag_groups:
        if group_ids and group.group_id not in group_ids:
            continue
        tags = [t for t in group.tags if not tag_ids or t.id in tag_ids]
        if tag_ids and not tags:
            continue
        answer.append(
            {
                "group_id": group.group_id,
                "group_name": group.group_name,
                "create_time": group.create_time,
                "order": 0,
                "tag": [
                    {"id": t.id, "name": t.name, "create_time": t.create_time, "order": t.order}
                    for t in tags
                ],
            }
        )
    return ok(tag_group=answer)
