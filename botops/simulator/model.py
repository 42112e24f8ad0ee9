"""The simulator's in-memory world: corp, staff, customers, groups, tags, tasks, media, robots."""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botops.simulator.config import SimConfig

STAFF = 1
EXTERNAL = 2


class ApiError(Exception):
    """A WeCom error answer: HTTP 200 with this errcode/errmsg."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass(slots=True)
class Member:
    userid: str
    type: int  # STAFF / EXTERNAL
    join_time: int
    join_scene: int
    name: str
    invitor: str | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "userid": self.userid,
            "type": self.type,
            "join_time": self.join_time,
            "join_scene": self.join_scene,
            "group_nickname": "",
            "name": self.name,
        }
        if self.invitor:
            data["invitor"] = {"userid": self.invitor}
        return data


@dataclass(slots=True)
class Group:
    chat_id: str
    name: str
    owner: str
    create_time: int
    members: list[Member]
    tags: list[str] = field(default_factory=list)  # botops-side labels, mirrored as corp tags
    notice: str = ""
    status: int = 0  # groupchat/list status: 0 normal

    @property
    def member_version(self) -> str:
        # WeCom's member_version changes whenever membership does; a digest of it does too.
        ids = ",".join(sorted(m.userid for m in self.members))
        return hashlib.md5(ids.encode(), usedforsecurity=False).hexdigest()


@dataclass(slots=True)
class External:
    external_userid: str
    name: str
    follow_users: set[str] = field(default_factory=set)  # staff who have them as a contact
    tag_ids: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Tag:
    id: str
    name: str
    create_time: int
    order: int


@dataclass(slots=True)
class TagGroup:
    group_id: str
    group_name: str
    create_time: int
    tags: list[Tag] = field(default_factory=list)


@dataclass(slots=True)
class Target:
    """One recipient of a task: a chat_id (group send) or an external_userid (single send)."""

    target_id: str
    userid: str  # the sender who has to confirm for it
    status: int = 0  # get_groupmsg_send_result status
    send_time: int | None = None


@dataclass(slots=True)
class SenderTask:
    userid: str
    status: int = 0  # get_groupmsg_task status: 0 unsent, 2 sent
    send_time: int | None = None


@dataclass(slots=True)
class MassTask:
    msgid: str
    chat_type: str
    creator: str
    create_time: int
    text: dict[str, str] | None
    attachments: list[dict[str, Any]]
    targets: list[Target]
    senders: dict[str, SenderTask]
    create_type: int = 0  # created by the corp through the API
    reminders: list[int] = field(default_factory=list)
    cancelled: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "msgid": self.msgid,
            "chat_type": self.chat_type,
            "creator": self.creator,
            "create_time": self.create_time,
            "text": self.text,
            "attachments": self.attachments,
            "cancelled": self.cancelled,
            "reminders": list(self.reminders),
            "senders": [
                {"userid": s.userid, "status": s.status, "send_time": s.send_time}
                for s in self.senders.values()
            ],
            "targets": [
                {
                    "target": t.target_id,
                    "userid": t.userid,
                    "status": t.status,
                    "send_time": t.send_time,
                }
                for t in self.targets
            ],
        }


@dataclass(slots=True)
class Media:
    media_id: str
    type: str
    filename: str
    sha256: str
    size: int
    created_at: int
    owner: str  # "corp" or a robot fingerprint


@dataclass(slots=True)
class AiBotReply:
    response_code: str
    at: int
    msgtype: str
    body: dict[str, Any]


@dataclass(slots=True)
class RobotMessage:
    robot: str  # fingerprint of the key; the key itself is a secret
    at: int
    msgtype: str
    body: dict[str, Any]


@dataclass(slots=True)
class RecordedRequest:
    at: int
    method: str
    api: str
    query: dict[str, str]  # credentials masked
    body: Any


@dataclass(slots=True)
class TokenInfo:
    expires_at: datetime
    revoked_errcode: int | None = None  # set when revoked early: answer this instead


@dataclass(slots=True)
class SimState:
    config: SimConfig
    staff: set[str] = field(default_factory=set)
    groups: dict[str, Group] = field(default_factory=dict)
    externals: dict[str, External] = field(default_factory=dict)
    tag_groups: list[TagGroup] = field(default_factory=list)
    tasks: dict[str, MassTask] = field(default_factory=dict)
    media: dict[str, Media] = field(default_factory=dict)
    robot_keys: set[str] = field(default_factory=set)
    robot_messages: list[RobotMessage] = field(default_factory=list)
    aibot_replies: list[AiBotReply] = field(default_factory=list)
    robot_sends: dict[str, deque[datetime]] = field(default_factory=dict)
    tokens: dict[str, TokenInfo] = field(default_factory=dict)
    deliveries: dict[str, list[datetime]] = field(default_factory=dict)  # target -> send times
    requests: list[RecordedRequest] = field(default_factory=list)
    counter: int = 0

    def next_id(self, prefix: str) -> str:
        """Deterministic ids, so two runs over the same seed answer the same."""
        self.counter += 1
        return f"{prefix}{self.counter:08d}"
