"""Typed shapes of WeCom answers (wecom-api.md §2, §3), exactly as WeCom spells them.

TypedDicts, not classes: the client hands back WeCom's JSON unchanged, and these only tell
mypy and the reader which keys to expect. `total=False` where WeCom omits keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypedDict

ChatType = Literal["single", "group"]
MediaType = Literal["image", "voice", "video", "file"]

# get_groupmsg_send_result status values.
SEND_UNSENT = 0
SEND_SENT = 1
SEND_NOT_FRIEND = 2
SEND_ALREADY_RECEIVED = 3  # the target hit its receive cap
# get_groupmsg_task status values.
TASK_UNSENT = 0
TASK_SENT = 2


class GroupChatRef(TypedDict):
    chat_id: str
    status: int


class Invitor(TypedDict):
    userid: str


class GroupMember(TypedDict, total=False):
    userid: str
    type: int  # 1 staff, 2 external
    unionid: str
    join_time: int
    join_scene: int  # 1 invited, 2 link, 3 QR code
    invitor: Invitor
    group_nickname: str
    name: str


class AdminRef(TypedDict):
    userid: str


class GroupChat(TypedDict, total=False):
    chat_id: str
    name: str
    owner: str
    create_time: int
    notice: str
    member_list: list[GroupMember]
    admin_list: list[AdminRef]
    member_version: str


class CorpTag(TypedDict, total=False):
    id: str
    name: str
    create_time: int
    order: int


class CorpTagGroup(TypedDict, total=False):
    group_id: str
    group_name: str
    create_time: int
    order: int
    tag: list[CorpTag]


class GroupMsg(TypedDict, total=False):
    msgid: str
    creator: str
    create_time: str
    create_type: int  # 0 created by the corp (API/admin), 1 by a staff member
    text: dict[str, str]
    attachments: list[dict[str, Any]]


class GroupMsgTaskItem(TypedDict, total=False):
    userid: str
    status: int  # TASK_UNSENT / TASK_SENT
    send_time: int


class SendResultItem(TypedDict, total=False):
    external_userid: str
    chat_id: str
    userid: str
    status: int  # SEND_*
    send_time: int


@dataclass(frozen=True, slots=True)
class MassTask:
    """One task created by add_msg_template, with the targets that went into it.

    The client splits large target lists into several tasks; keeping each task's own targets
    lets the caller track and remind per task.
    """

    msgid: str
    targets: tuple[str, ...]
    fail_list: tuple[str, ...]
