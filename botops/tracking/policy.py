"""When to remind staff, as pure decisions over times (no clock, no database, no HTTP).

WeCom allows at most 3 `remind_groupmsg_send` per task in any 24 hours; a 4th is rejected
and the quota is WeCom's, not ours, so we count what we sent (from the reminders table) and
stay under it rather than learn about it from errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from botops.store.models import TargetStatus
from botops.wecom import limits
from botops.wecom.models import SEND_ALREADY_RECEIVED, SEND_NOT_FRIEND, SEND_SENT

if TYPE_CHECKING:
    from botops.config import TrackingSettings

DEFAULT_REMIND_AFTER = (timedelta(minutes=30), timedelta(hours=2), timedelta(hours=6))
# get_groupmsg_send_result status -> our target status (0, unsent, stays waiting).
SEND_STATUS = {
    SEND_SENT: TargetStatus.SENT,
    SEND_NOT_FRIEND: TargetStatus.NOT_FRIEND,
    SEND_ALREADY_RECEIVED: TargetStatus.ALREADY_RECEIVED,
}


@dataclass(frozen=True, slots=True)
class TrackingPolicy:
    remind_after: tuple[timedelta, ...] = DEFAULT_REMIND_AFTER  # after creation, ascending
    reminders_per_window: int = limits.REMINDERS_PER_TASK_PER_DAY
    reminder_window: timedelta = timedelta(hours=24)
    poll_every: timedelta = timedelta(minutes=5)
    # How long a task whose WeCom calls keep failing is retried before it ends expired with
    # the error: past expiry (or withdrawal) for an expired task whose cancel or status read
    # fails; since its reads began to fail for a task that never expires. Transient trouble
    # (a 45009 hourly block, an outage) heals within it; a departed sender (60111) never does.
    give_up_after: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if list(self.remind_after) != sorted(self.remind_after):
            raise ValueError("remind_after must be in ascending order")

    @classmethod
    def from_settings(cls, settings: TrackingSettings) -> TrackingPolicy:
        return cls(
            remind_after=tuple(settings.remind_after),
            poll_every=settings.poll_every,
            give_up_after=settings.give_up_after,
        )

    def reminder_due(
        self,
        created_at: datetime,
        now: datetime,
        expires_at: datetime | None,
        sent: Sequence[datetime],
    ) -> bool:
        """Whether to remind now: a reminder time has passed with no reminder since it,
        the send has not expired, and fewer than 3 reminders went out in the last 24 h.

        Several reminder times missed at once (botops was down) earn one reminder, not a
        burst of them.
        """
        if expires_at is not None and now >= expires_at:
            return False
        passed = [created_at + delay for delay in self.remind_after if created_at + delay <= now]
        if not passed:
            return False
        if sent and max(sent) >= passed[-1]:
            return False
        recent = [t for t in sent if t > now - self.reminder_window]
        return len(recent) < self.reminders_per_window

    def given_up(
        self, expires_at: datetime | None, now: datetime, failing_since: datetime | None = None
    ) -> bool:
        """Whether a task still failing in WeCom should end now, failing or not.

        A task with an expiry is judged by it alone (until then staff may send it, and at
        expiry it is cancelled anyway). One without is given up once its reads have failed
        since `failing_since` (None: the last read got through) for give_up_after, else a
        read that never heals (60111) would keep it waiting, and polled, forever.
        """
        if expires_at is not None:
            return now >= expires_at + self.give_up_after
        return failing_since is not None and now >= failing_since + self.give_up_after


def target_status(wecom_status: int | None) -> TargetStatus:
    return SEND_STATUS.get(wecom_status if wecom_status is not None else -1, TargetStatus.WAITING)
