"""Seeding: turn group dicts (`{chat_id, name, owner, tags, created_at, member_count}`) into
staff, customers, groups and corp tags.

Members are synthesized deterministically from the chat id, so the same seed always yields
the same external userids and member_version: `member_count` customers plus the owner. Each
customer is a contact of the group owner and carries the group's tags as corp tags, which
gives `tag_filter` in single-chat mass sends something real to select.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botops.planning.targets import load_targets
from botops.simulator.model import EXTERNAL, STAFF, External, Group, Member, SimState, Tag, TagGroup

TAG_GROUP_NAME = "botops"


def _timestamp(value: Any, default: datetime) -> int:
    if value is None:
        return int(default.timestamp())
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(moment.timestamp())
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        return _timestamp(datetime.fromisoformat(value), default)
    # YAML dates (datetime.date) and the like
    return _timestamp(datetime.fromisoformat(str(value)), default)


def external_userid(chat_id: str, index: int) -> str:
    digest = hashlib.sha256(f"{chat_id}:{index}".encode()).hexdigest()
    return f"wm{digest[:24]}AAAA"


def ensure_tag(state: SimState, name: str, at: int) -> Tag:
    """The corp tag called `name` in the botops tag group, created on first use."""
    if not state.tag_groups:
        group_id = "et" + hashlib.sha256(TAG_GROUP_NAME.encode()).hexdigest()[:20]
        state.tag_groups.append(TagGroup(group_id, TAG_GROUP_NAME, at))
    group = state.tag_groups[0]
    for tag in group.tags:
        if tag.name == name:
            return tag
    tag_id = "et" + hashlib.sha256(f"tag:{name}".encode()).hexdigest()[:20]
    tag = Tag(tag_id, name, at, order=len(group.tags))
    group.tags.append(tag)
    return tag


def add_group(state: SimState, spec: Mapping[str, Any], now: datetime) -> Group:
    for key in ("chat_id", "name", "owner"):
        if not spec.get(key):
            raise ValueError(f"group {dict(spec)!r} needs {key!r}")
    chat_id, owner = str(spec["chat_id"]), str(spec["owner"])
    if chat_id in state.groups:
        raise ValueError(f"duplicate chat_id {chat_id!r}")
    created = _timestamp(spec.get("created_at"), now)
    tags = [str(t) for t in spec.get("tags") or []]
    tag_ids = {ensure_tag(state, name, created).id for name in tags}
    members = [Member(owner, STAFF, created, join_scene=1, name=owner)]
    for index in range(int(spec.get("member_count") or 0)):
        userid = external_userid(chat_id, index)
        members.append(
            Member(
                userid,
                EXTERNAL,
                created + index + 1,
                join_scene=1 + index % 3,
                name=f"客户{index + 1}",
                invitor=owner,
            )
        )
        contact = state.externals.setdefault(userid, External(userid, f"客户{index + 1}"))
        contact.follow_users.add(owner)
        contact.tag_ids |= tag_ids
    group = Group(
        chat_id,
        str(spec["name"]),
        owner,
        created,
        members,
        tags,
        notice=str(spec.get("notice") or ""),
    )
    state.staff.add(owner)
    state.groups[chat_id] = group
    return group


def seed_groups(state: SimState, specs: Iterable[Mapping[str, Any]], now: datetime) -> None:
    for spec in specs:
        add_group(state, spec, now)


DEFAULT_GROUPS_FILE = Path("examples/groups.yaml")
DEMO_GROUPS: tuple[dict[str, Any], ...] = (
    {
        "chat_id": "wrSimDemoGroupAAAAAAAAAAAAAAAA",
        "name": "演示打卡群",
        "owner": "zhangsan",
        "tags": ["打卡挑战"],
        "member_count": 12,
    },
    {
        "chat_id": "wrSimDemoGroupBBBBBBBBBBBBBBBB",
        "name": "演示讲座群",
        "owner": "lisi",
        "tags": ["讲座"],
        "member_count": 8,
    },
)


def seed_groups_from(path: Path | None) -> list[dict[str, Any]]:
    """Groups to seed a simulator with: from a groups file (the format of
    `botops preview --groups`), else examples/groups.yaml if present, else a small demo set."""
    if path is None and DEFAULT_GROUPS_FILE.is_file():
        path = DEFAULT_GROUPS_FILE
    if path is None:
        return [dict(group) for group in DEMO_GROUPS]
    return [
        {
            "chat_id": target.id,
            "name": target.name,
            "owner": target.owner,
            "tags": sorted(target.tags),
            "created_at": target.created_at.isoformat() if target.created_at else None,
            "member_count": target.member_count,
        }
        for target in load_targets(path)
        if target.kind == "group"
    ]
