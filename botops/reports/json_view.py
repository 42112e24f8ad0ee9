"""The report as JSON, for scripts and dashboards. Keys in a fixed order; times carry the
report timezone's offset; days are ISO dates."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from botops.reports.activity import DayActivity
from botops.reports.report import GroupRow, Report


def render_json(report: Report) -> str:
    tz = ZoneInfo(report.timezone)
    totals = report.overview
    data = {
        "generated_at": _iso(report.generated_at, tz),
        "timezone": report.timezone,
        "first_day": report.days[0].isoformat(),
        "last_day": report.days[-1].isoformat(),
        "summary": {
            "groups": len(report.groups),
            "flagged": len(report.flagged),
            "messages": sum(d.messages for d in totals),
            "checkins": sum(d.checkins for d in totals),
            "joined": sum(d.joined for d in totals),
            "left": sum(d.left for d in totals),
            "outcomes": dict(report.outcome_totals),
        },
        "days": [day_object(d) for d in totals],
        "groups": [_group(g, tz) for g in report.groups],
        "checkin_rates": [
            {
                "playbook": r.playbook,
                "name": r.name,
                "days": [
                    {
                        "day": d.day,
                        "checked": d.checked,
                        "members": d.members,
                        "groups": d.groups,
                        "rate": round(d.rate, 4),
                    }
                    for d in r.days
                ],
            }
            for r in report.rates
        ],
        "leaderboards": [
            {
                "playbook": b.playbook,
                "name": b.name,
                "rows": [
                    {"rank": row.rank, "name": row.name, "points": row.points, "streak": row.streak}
                    for row in b.rows
                ],
                "more_tied": b.more_tied,
            }
            for b in report.leaderboards
        ],
        "outcomes": [
            {"playbook": o.playbook, "step": o.step, **dict(o.counts), "total": o.total}
            for o in report.outcomes
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=2)


def day_object(day: DayActivity) -> dict[str, Any]:
    return {
        "day": day.day.isoformat(),
        "messages": day.messages,
        "speakers": day.speakers,
        "checkins": day.checkins,
        "joined": day.joined,
        "left": day.left,
    }


def _group(row: GroupRow, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "chat_id": row.chat_id,
        "name": row.name,
        "owner": row.owner,
        "member_count": row.member_count,
        "status": str(row.verdict.state),
        "reason": row.verdict.reason,
        "rule": row.verdict.source,
        "flagged_since": None if row.flagged_since is None else _iso(row.flagged_since, tz),
        "messages": row.totals.messages,
        "speakers": row.speakers,
        "checkins": row.totals.checkins,
        "joined": row.totals.joined,
        "left": row.totals.left,
        "days": [day_object(d) for d in row.days],
    }


def _iso(instant: datetime, tz: ZoneInfo) -> str:
    return instant.astimezone(tz).isoformat(timespec="seconds")
