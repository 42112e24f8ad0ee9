"""Simulator settings: the WeCom rules that differ between sources are knobs here.

wecom-api.md says the receive cap changed over time (4/month, 1/day, days-in-month/month,
7/week) and does not document every errcode; each such choice is a field with the default
this project believes current.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from botops.wecom import limits

CapPeriod = Literal["day", "week", "month"]


@dataclass(frozen=True, slots=True)
class ReceiveCap:
    """How many mass messages one customer / customer group may receive per period.

    `limit=None` with `period="month"` means "as many as the month has days" (current WeCom).
    Periods are calendar periods in the simulator's timezone (ISO weeks for "week").
    """

    period: CapPeriod = "month"
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.limit is None and self.period != "month":
            raise ValueError("ReceiveCap needs a limit unless the period is 'month'")

    def allowed(self, local: datetime) -> int:
        if self.limit is not None:
            return self.limit
        return calendar.monthrange(local.year, local.month)[1]

    def period_key(self, local: datetime) -> tuple[int, int, int]:
        """Two times share a key iff they fall in the same cap period."""
        if self.period == "day":
            return local.year, local.month, local.day
        if self.period == "week":
            year, week, _ = local.isocalendar()
            return year, week, 0
        return local.year, local.month, 0


@dataclass(slots=True)
class SimConfig:
    corp_id: str = "wwsimulatorcorp01"
    secret: str = "sim-corp-secret-0123456789"
    token_ttl: timedelta = timedelta(seconds=limits.ACCESS_TOKEN_TTL_SECONDS)
    # None: tasks wait for POST /_sim/confirm; else staff "confirm" this long after creation.
    confirm_after: timedelta | None = None
    receive_cap: ReceiveCap = field(default_factory=ReceiveCap)
    timezone: str = "Asia/Shanghai"  # where calendar days/weeks/months of the cap are counted
    robot_keys: tuple[str, ...] = ("sim-robot-key-0001",)
    robot_per_minute: int = limits.ROBOT_MESSAGES_PER_MINUTE
    media_ttl: timedelta = timedelta(seconds=limits.MEDIA_VALID_SECONDS)
    reminders_per_day: int = limits.REMINDERS_PER_TASK_PER_DAY
    # The global error-code table (D-90313) lists 41094 "群发提醒超过频率限制"; the remind page
    # itself names no code, so it stays a knob (45009 is WeCom's generic frequency error).
    remind_limit_errcode: int = 41094
    # wecom-api.md §1: 40058 "bad parameter (too long, malformed)" is what over-long text gets.
    text_too_long_errcode: int = 40058
