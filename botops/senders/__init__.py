"""Senders: turn one WeCom task's worth of message (`Outgoing`) into WeCom calls.

    WeComMassSender   customer groups/customers: creates a mass-send TASK the sender
                      (staff) must confirm in the WeCom client; botops.tracking follows it
    RobotSender       internal/staff/test groups via group-robot webhooks: sent at once
    DryRunSender      records what would have been sent (preview, tests)

All three satisfy the `Sender` protocol and answer with a `Receipt`.
"""

from botops.senders.base import (
    AttachmentError,
    CreatedTask,
    FailedTarget,
    Outgoing,
    Receipt,
    Sender,
    TaskRecorder,
    outgoing_from_plan,
)

__all__ = [
    "AttachmentError",
    "CreatedTask",
    "FailedTarget",
    "Outgoing",
    "Receipt",
    "Sender",
    "TaskRecorder",
    "outgoing_from_plan",
]
