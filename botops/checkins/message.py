"""The normalized group message every source produces, whatever its wire format."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Message:
    """One text message in a customer group.

    `msgid` is WeCom's id for the message: a redelivered callback carries the same one, which
    is what keeps the same message from ever scoring twice. `sent_at` must be aware."""

    msgid: str
    chat_id: str
    sender_id: str
    sender_name: str
    text: str
    sent_at: datetime
    source: str

    def __post_init__(self) -> None:
        if self.sent_at.tzinfo is None or self.sent_at.utcoffset() is None:
            raise ValueError("Message.sent_at must be a timezone-aware datetime")
        if not self.msgid:
            raise ValueError("Message.msgid must not be empty")
