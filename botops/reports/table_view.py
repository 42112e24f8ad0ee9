"""The report as plain text for a terminal: one aligned table per section."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from botops.preview.table_view import clean, display_width, pad, truncate
from botops.reports.report import OUTCOMES, DayRate, Report, percent

OUTCOME_NAMES = {
    "sent": "sent",
    "submitted": "waiting for staff",
    "failed": "failed",
    "expired": "expired",
    "missed": "missed",
    "cancelled": "cancelled",
    "pending": "not yet due",
}
RATE_DAYS_SHOWN = 14  # the latest playbook days; JSON and HTML have them all
NAME_WIDTH = 24
REASON_WIDTH = 60


def render_table(report: Report) -> str:
    tz = ZoneInfo(report.timezone)
    lines = _header(report, tz)
    lines += ["", "Groups (flagged first)", *_groups(report)]
    for rates in report.rates:
        lines += ["", f"Check-in rate by day: {clean(rates.name)} ({rates.playbook})"]
        lines += _rates(rates.days)
    for board in report.leaderboards:
        lines += ["", f"Leaderboard: {clean(board.name)} ({board.playbook})"]
        rows = [[str(r.rank), clean(r.name), str(r.points), str(r.streak)] for r in board.rows]
        lines += columns(["rank", "name", "points", "streak"], rows, numeric={0, 2, 3})
        if board.more_tied:
            lines.append(f"… and {board.more_tied} more tied at rank {board.rows[-1].rank}")
    lines += ["", "Send outcomes (due in the period)"]
    if report.outcomes:
        heads = ["playbook / step", *(OUTCOME_NAMES[o] for o in OUTCOMES), "total"]
        rows = [
            [clean(f"{o.playbook} / {o.step}"), *(str(n) for _, n in o.counts), str(o.total)]
            for o in report.outcomes
        ]
        lines += columns(heads, rows, numeric=set(range(1, len(heads))))
    else:
        lines.append("no sends due in the period")
    return "\n".join(lines) + "\n"


def _header(report: Report, tz: ZoneInfo) -> list[str]:
    days = report.overview
    generated = report.generated_at.astimezone(tz)
    outcomes = " · ".join(f"{OUTCOME_NAMES[o]} {n}" for o, n in report.outcome_totals if n)
    return [
        f"botops report {report.days[0]} … {report.days[-1]} ({report.timezone}), "
        f"generated {generated:%Y-%m-%d %H:%M}",
        f"{len(report.groups)} group(s), {len(report.flagged)} flagged · "
        f"{sum(d.messages for d in days)} message(s) · {sum(d.checkins for d in days)} check-in(s)"
        f" · +{sum(d.joined for d in days)} / -{sum(d.left for d in days)} member(s)",
        f"Sends: {outcomes or 'none'}",
    ]


def _groups(report: Report) -> list[str]:
    if not report.groups:
        return ["no active groups in the store (run `botops sync`)"]
    heads = ["status", "group", "chat_id", "members", "messages", "speakers", "check-ins"]
    heads += ["joined", "left", "rule", "reason"]
    rows = [
        [
            {"flagged": "FLAGGED", "active": "ok", "not_judged": "-"}[str(g.verdict.state)],
            truncate(clean(g.name), NAME_WIDTH),
            g.chat_id,
            str(g.member_count),
            str(g.totals.messages),
            str(g.speakers),
            str(g.totals.checkins),
            str(g.totals.joined),
            str(g.totals.left),
            clean(g.verdict.source) or "-",
            truncate(clean(g.verdict.reason), REASON_WIDTH),
        ]
        for g in report.groups
    ]
    return columns(heads, rows, numeric=set(range(3, 9)))


def _rates(days: Sequence[DayRate]) -> list[str]:
    shown = days[-RATE_DAYS_SHOWN:]
    rows = [
        [f"day {d.day}", str(d.checked), str(d.members), percent(d.rate), str(d.groups)]
        for d in shown
    ]
    lines = columns(["day", "checked in", "members", "rate", "groups"], rows, numeric={1, 2, 3, 4})
    if len(days) > len(shown):
        lines.append(f"… {len(days) - len(shown)} earlier day(s): see --format json or html")
    return lines


def columns(heads: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: set[int]) -> list[str]:
    """Rows aligned under their heads (CJK-width aware); `numeric` columns right-aligned."""
    cells = [list(heads), *(list(r) for r in rows)]
    widths = [max(display_width(row[i]) for row in cells) for i in range(len(heads))]
    return [
        "  ".join(
            pad(cell, w, right=i in numeric)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]
