"""The corp-wide send policy: timezone, quiet hours, WeCom's receive cap, default expiry.

It lives in the config (`policy:`), because the receive cap is a setting of the corp's WeCom
admin console that counts every mass message a group gets, whichever playbook sent it.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema

from botops.playbook.model import DEFAULT_TIMEZONE, QuietHours, Strict, validate_timezone
from botops.playbook.types import Expiry, parse_local_time

CapPeriod = Literal["day", "week", "month"]


def _parse_limit(value: Any) -> Any:
    if isinstance(value, str) and value.isdigit():  # from an environment variable
        value = int(value)
    if value == "days_in_month" or (isinstance(value, int) and value >= 1):
        return value
    raise ValueError(f"limit must be a positive number or 'days_in_month', got {value!r}")


class ReceiveCap(Strict):
    """How many mass messages one group (or customer) may receive per period (wecom-api.md §2).

    WeCom's default is as many per month as the month has days; admins may switch to 7 per
    week or 1 per day.
    """

    period: CapPeriod = "month"
    limit: Annotated[
        int | Literal["days_in_month"],
        BeforeValidator(_parse_limit),
        WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1}, {"const": "days_in_month"}]}),
    ] = "days_in_month"

    def period_start(self, day: date) -> date:
        if self.period == "day":
            return day
        if self.period == "week":
            return day - timedelta(days=day.weekday())
        return day.replace(day=1)

    def next_period_start(self, day: date) -> date:
        start = self.period_start(day)
        if self.period == "day":
            return start + timedelta(days=1)
        if self.period == "week":
            return start + timedelta(days=7)
        return (start + timedelta(days=32)).replace(day=1)

    def limit_for(self, period_start: date) -> int:
        if self.limit == "days_in_month":
            return calendar.monthrange(period_start.year, period_start.month)[1]
        return self.limit

    def describe(self) -> str:
        return f"{self.limit}/{self.period}"


def _default_quiet_hours() -> QuietHours:
    return QuietHours(
        start=parse_local_time("22:00"), end=parse_local_time("07:00"), action="shift"
    )


class PolicySettings(Strict):
    """The `policy:` section of the config."""

    quiet_hours: QuietHours | None = Field(
        default_factory=_default_quiet_hours, description="no sends in this local time range"
    )
    receive_cap: ReceiveCap = Field(default_factory=ReceiveCap)
    # A step's own type: the default is bounded like a step's (EXPIRY_MAX), not cut later.
    expires_after: Expiry = Field(
        timedelta(hours=6), description="default for steps without expires_after"
    )


class SendPolicy(PolicySettings):
    """What the planner needs: the policy plus the timezone its periods are counted in."""

    timezone: Annotated[str, BeforeValidator(validate_timezone)] = Field(
        DEFAULT_TIMEZONE, description="default timezone of playbooks and of the receive-cap periods"
    )
