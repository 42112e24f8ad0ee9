"""What the planner produces: planned sends and their statuses."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from botops.planning.targets import TargetKind
from botops.playbook.model import Attachment


class Status(StrEnum):
    PLANNED = "planned"
    SHIFTED = "shifted"  # moved out of quiet hours
    DEFERRED = "deferred"  # moved to the next cap period
    CAPPED = "capped"  # dropped: the receive cap was reached
    SKIPPED = "skipped"  # not sent, see reason


SENDABLE = frozenset({Status.PLANNED, Status.SHIFTED, Status.DEFERRED})


def send_key(playbook: str, step: str, target: str, occurrence: str) -> str:
    """The idempotency key: one send per playbook, step, target and scheduled occurrence."""
    return f"{playbook}:{step}:{target}:{occurrence}"


class PlannedSend(NamedTuple):
    """One planned send. A NamedTuple: immutable, and cheap to build by the ten thousand."""

    key: str
    playbook: str
    step: str
    target: str
    target_kind: TargetKind
    target_name: str
    sender: str
    segment: str
    day: int
    occurrence: int | None
    planned_at: datetime  # as scheduled (UTC)
    at: datetime  # when it goes out after quiet hours and caps (UTC)
    expires_at: datetime
    status: Status
    reason: str
    text: str
    attachments: tuple[Attachment, ...]
    priority: int
    playbook_digest: str
    batch: str | None = None  # sends sharing a batch are one WeCom task

    @property
    def sendable(self) -> bool:
        return self.status in SENDABLE


def attachment_payload(attachment: Attachment) -> dict[str, Any]:
    """An attachment in add_msg_template's shape (media still as file/url until upload)."""
    kind = attachment.kind
    return {
        "msgtype": kind,
        kind: getattr(attachment, kind).model_dump(exclude_none=True, exclude_defaults=True),
    }
