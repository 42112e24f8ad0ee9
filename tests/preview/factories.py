"""Hand-built planned sends for the preview tests (no planner involved)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from botops.planning.planner import Plan, Window
from botops.planning.sends import PlannedSend, Status
from botops.playbook.model import Attachment, Link, MediaRef

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A December 2026 Shanghai wall-clock time, as UTC (what the planner produces)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def make_send(**overrides: Any) -> PlannedSend:
    at = overrides.pop("at", local(1, 8))
    values: dict[str, Any] = {
        "key": "",
        "playbook": "camp",
        "step": "welcome",
        "target": "wrOgQhDgAAAAgroup0000000001",
        "target_kind": "group",
        "target_name": "减脂打卡1群",
        "sender": "zhangsan",
        "segment": "default",
        "day": 1,
        "occurrence": None,
        "planned_at": at,
        "at": at,
        "expires_at": at + timedelta(hours=12),
        "status": Status.PLANNED,
        "reason": "",
        "text": "大家早上好！\n今天是第1天。",
        "attachments": (),
        "priority": 50,
        "playbook_digest": "d1g35t",
        "batch": None,
    }
    values.update(overrides)
    send = PlannedSend(**values)
    if not send.key:
        send = send._replace(key=f"{send.playbook}:{send.step}:{send.target}:{send.at:%Y%m%d%H%M}")
    return send


POSTER = Attachment(image=MediaRef(file="media/poster.png"))
SIGNUP = Attachment(link=Link(title="报名入口", url="https://example.com/signup"))
GROUPS = [
    ("wrOgQhDgAAAAgroup0000000001", "减脂打卡1群"),
    ("wrOgQhDgAAAAgroup0000000002", "减脂打卡2群"),
    ("wrOgQhDgAAAAgroup0000000003", "Fitness Camp 3"),
]


def sample_plan() -> Plan:
    """Two local days; every status; one batch of 3 groups; CJK text; one customer."""
    window = Window(local(1, 0), local(3, 0))
    batch = [
        make_send(
            target=chat_id,
            target_name=name,
            batch="b-welcome",
            attachments=(POSTER, SIGNUP),
        )
        for chat_id, name in GROUPS
    ]
    shifted = make_send(
        step="evening",
        target=GROUPS[0][0],
        target_name=GROUPS[0][1],
        planned_at=local(1, 22, 30),
        at=local(2, 8),
        status=Status.SHIFTED,
        reason="quiet hours: shifted from 22:30 to 08:00",
        text="晚安提醒",
        batch="b-evening",
    )
    deferred = make_send(
        step="promo",
        target=GROUPS[1][0],
        target_name=GROUPS[1][1],
        planned_at=local(1, 10),
        at=local(2, 10),
        status=Status.DEFERRED,
        reason="receive cap 1/day reached: deferred",
        text="限时优惠",
        batch="b-promo",
    )
    capped = make_send(
        step="promo",
        target=GROUPS[2][0],
        target_name=GROUPS[2][1],
        at=local(1, 10),
        status=Status.CAPPED,
        reason="receive cap 1/day reached: dropped",
        text="Limited offer <b>today</b>",
    )
    skipped = make_send(
        step="night",
        target=GROUPS[0][0],
        target_name=GROUPS[0][1],
        at=local(2, 23),
        status=Status.SKIPPED,
        reason="quiet hours 22:00-08:00",
        text="深夜消息",
    )
    customer = make_send(
        playbook="vip",
        step="hello",
        target="wmCustomerExternalUserid0001",
        target_kind="customer",
        target_name="王小明",
        sender="lisi",
        segment="vip",
        at=local(2, 9),
        text="您好，王先生",
        batch="b-vip",
    )
    return Plan(window, [*batch, capped, shifted, deferred, customer, skipped])
