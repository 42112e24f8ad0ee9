"""Building a store for the report tests through the real store functions: groups via
`upsert_group` (as a sync does), messages via the check-in router (as every source does)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from botops.checkins.message import Message
from botops.checkins.route import score
from botops.playbook.library import PlaybookLibrary, load_library
from botops.store.db import session
from botops.store.groups import add_group_tags, upsert_group
from tests.helpers import SHANGHAI, local, write_tree

TZ = "Asia/Shanghai"
NOW = local("2026-03-10 10:00")  # Day 10 of the playbook below
PLAYBOOK = """\
id: daily
name: 每日打卡
anchor: 2026-03-01
duration_days: 30
audience: {tags: {any: [打卡]}}
checkin:
  keywords: [打卡]
  points: 10
inactivity:
  days: 3
  min_checkins: 2
steps:
  - id: evening
    schedule: {days: {from: 1, to: 30}, time: '20:00'}
    text: "晚安"
"""

_ids = itertools.count(1)


def make_library(root: Path, playbooks: dict[str, str] | None = None) -> PlaybookLibrary:
    write_tree(root, playbooks or {"daily.yaml": PLAYBOOK})
    library, problems = load_library([root / "sops"], root / "templates")
    assert not [p for p in problems if p.severity == "error"], problems
    return library


def add_group(
    engine: Engine,
    chat_id: str,
    *,
    name: str = "",
    created: str = "2026-02-01 10:00",
    members: Sequence[str] = ("wm-a", "wm-b"),
    tags: Sequence[str] = (),
    joined: str = "2026-02-01 10:00",
    now: datetime = NOW,
) -> None:
    chat: Any = {
        "chat_id": chat_id,
        "name": name or chat_id,
        "owner": "zhangsan",
        "create_time": int(local(created).timestamp()),
        "member_list": [{"userid": "zhangsan", "type": 1, "join_time": 1}]
        + [
            {"userid": m, "type": 2, "join_time": int(local(joined).timestamp()), "name": m}
            for m in members
        ],
        "admin_list": [],
        "member_version": f"v{next(_ids)}",
    }
    with session(engine) as s:
        upsert_group(s, chat, now)
        if tags:
            add_group_tags(s, chat_id, tags)


def say(
    engine: Engine,
    library: PlaybookLibrary,
    chat_id: str,
    sender: str,
    at: str,
    text: str = "大家好",
    *,
    msgid: str | None = None,
) -> None:
    """One group message through the check-in router, as every message source sends it."""
    message = Message(
        msgid=msgid or f"msg-{next(_ids)}",
        chat_id=chat_id,
        sender_id=sender,
        sender_name=sender,
        text=text,
        sent_at=local(at, SHANGHAI),
        source="test",
    )
    with session(engine) as s:
        score(s, library, message, message.sent_at, TZ)
