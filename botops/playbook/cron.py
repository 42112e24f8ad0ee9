"""Standard 5-field cron expressions, on top of APScheduler's CronTrigger.

APScheduler 3 numbers weekdays from Monday = 0, while cron numbers them from Sunday = 0 (and
7), so `CronTrigger.from_crontab("0 9 * * 0")` fires on Mondays. We parse the day-of-week field
with cron's meaning ourselves and hand APScheduler names, which it reads unambiguously.
Cron also ORs day-of-month and day-of-week when both are restricted, APScheduler ANDs them:
we refuse that combination rather than guess.
"""

from __future__ import annotations

from datetime import tzinfo

from apscheduler.triggers.cron import CronTrigger

_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _dow_number(token: str) -> int:
    token = token.strip().lower()
    if token in _NAMES:
        return _NAMES.index(token)
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token) % 7
    raise ValueError(f"bad day-of-week {token!r} (use 0-7 or sun..sat)")


def _cron_weekdays(field: str) -> list[int]:
    """Expand a cron day-of-week field into Sunday-based day numbers."""
    days: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"bad step in day-of-week {part!r}")
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            first_text, last_text = base.split("-", 1)
            first, last = _dow_number(first_text), _dow_number(last_text)
            if last_text.strip() == "7":
                last = 7  # "5-7" means fri..sun
            if last < first:
                raise ValueError(f"bad day-of-week range {base!r}")
        else:
            first = last = _dow_number(base)
            if step is not None:
                last = 6  # "1/2" means from Monday, every second day
        days.update(d % 7 for d in range(first, last + 1, step or 1))
    return sorted(days)


def parse_cron(expression: str, timezone: tzinfo) -> CronTrigger:
    """A CronTrigger for a standard cron expression; ValueError explains what is wrong."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"cron needs 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    minute, hour, day, month, dow = fields
    if day != "*" and dow != "*":
        raise ValueError(
            "restrict day-of-month or day-of-week, not both (cron would OR them; say what you mean"
            " with two steps)"
        )
    weekdays = None if dow == "*" else ",".join(_NAMES[d] for d in _cron_weekdays(dow))
    try:
        return CronTrigger(
            minute=minute, hour=hour, day=day, month=month, day_of_week=weekdays, timezone=timezone
        )
    except ValueError as exc:
        raise ValueError(f"bad cron expression {expression!r}: {exc}") from exc
