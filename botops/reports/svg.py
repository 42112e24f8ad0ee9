"""Small inline SVG charts for the HTML report: no JavaScript, no external resources.

Every chart is plain markup sized by a viewBox (it scales with the page) and carries a
<title> per mark, so hovering a bar shows its figures. Callers pass numbers and already
plain labels; any text that reaches the markup is escaped here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from botops.reports.activity import DayActivity
from botops.reports.report import DayRate, percent

MESSAGES_COLOR = "#0969da"
CHECKINS_COLOR = "#1a7f37"
GRID_COLOR = "#d0d7de"
MUTED = "#656d76"


@dataclass(frozen=True, slots=True)
class Frame:
    """The drawing area inside a chart's margins."""

    width: int
    height: int
    left: int = 40
    right: int = 12
    top: int = 14
    bottom: int = 26

    @property
    def inner_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def inner_height(self) -> float:
        return self.height - self.top - self.bottom

    def y(self, value: float, top: float) -> float:
        return self.top + self.inner_height * (1 - (value / top if top else 0))


def axis(value: float) -> tuple[float, int]:
    """A round axis maximum at or above `value` and its number of steps (4 or 5), each step
    a round whole number (1, 2, 2.5, 5 × 10^n; counts are whole): the lowest such maximum."""
    best: tuple[float, int] | None = None
    for ticks in (4, 5):
        wanted = max(value / ticks, 1)
        step = 1.0
        while step * 10 < wanted:
            step *= 10
        factors = (1, 2, 2.5, 5, 10) if step >= 10 else (1, 2, 5, 10)
        top = ticks * step * next(f for f in factors if wanted <= f * step)
        if best is None or top < best[0]:
            best = (top, ticks)
    assert best is not None
    return best


def daily_chart(days: Sequence[DayActivity], *, width: int = 760, height: int = 240) -> str:
    """Messages and check-ins per day, as pairs of bars on one scale."""
    frame = Frame(width, height)
    top, ticks = axis(max((max(d.messages, d.checkins) for d in days), default=0))
    slot = frame.inner_width / max(len(days), 1)
    bar = max(min(slot * 0.36, 18), 1.5)
    label_every = max(1, round(len(days) / 12))
    parts = [_open(frame, "每日消息与打卡"), *_grid(frame, top, ticks, lambda v: f"{v:g}")]
    for i, day in enumerate(days):
        x = frame.left + slot * i + slot / 2
        tip = f"{day.day:%m-%d}：消息 {day.messages}，发言 {day.speakers} 人，打卡 {day.checkins}"
        tip += f"，入群 {day.joined}，退群 {day.left}"
        parts.append(_bar(x - bar, bar, frame.y(day.messages, top), frame, MESSAGES_COLOR, tip))
        parts.append(_bar(x, bar, frame.y(day.checkins, top), frame, CHECKINS_COLOR, tip))
        if i % label_every == 0:
            parts.append(_x_label(x, frame, f"{day.day.month}/{day.day.day}"))
    parts.append("</svg>")
    return "".join(parts)


def rate_chart(days: Sequence[DayRate], *, width: int = 760, height: int = 200) -> str:
    """Check-in rate per playbook day (0-100 %)."""
    frame = Frame(width, height)
    slot = frame.inner_width / max(len(days), 1)
    bar = max(min(slot * 0.7, 22), 1.0)
    label_every = max(1, round(len(days) / 15))
    parts = [_open(frame, "每天打卡率"), *_grid(frame, 1.0, 4, lambda v: f"{v:.0%}")]
    for i, day in enumerate(days):
        x = frame.left + slot * i + slot / 2
        tip = f"第 {day.day} 天：{day.checked}/{day.members} 人打卡（{percent(day.rate)}），{day.groups} 个群"
        parts.append(_bar(x - bar / 2, bar, frame.y(day.rate, 1.0), frame, CHECKINS_COLOR, tip))
        if i % label_every == 0:
            parts.append(_x_label(x, frame, str(day.day)))
    parts.append("</svg>")
    return "".join(parts)


def sparkline(values: Sequence[int], *, width: int = 120, height: int = 28) -> str:
    """A group's daily messages, small enough for a table cell."""
    if not values:
        return ""
    top = max(max(values), 1)
    slot = width / len(values)
    bars = "".join(
        f'<rect x="{slot * i + slot * 0.15:.1f}" y="{height - 2 - (height - 4) * v / top:.1f}" '
        f'width="{max(slot * 0.7, 1):.1f}" height="{max((height - 4) * v / top, 0.5 if v else 0):.1f}" '
        f'fill="{MESSAGES_COLOR if v else GRID_COLOR}"/>'
        for i, v in enumerate(values)
    )
    baseline = (
        f'<line x1="0" y1="{height - 1.5}" x2="{width}" y2="{height - 1.5}" stroke="{GRID_COLOR}"/>'
    )
    return (
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="每日消息">{baseline}{bars}</svg>'
    )


def stacked_bar(
    parts: Sequence[tuple[str, int, str]], *, width: int = 260, height: int = 16
) -> str:
    """One horizontal bar split by (label, count, colour); empty parts are left out."""
    total = sum(n for _, n, _ in parts)
    if not total:
        return f'<svg class="stack" viewBox="0 0 {width} {height}" width="{width}" height="{height}"></svg>'
    x = 0.0
    rects = []
    for label, n, color in parts:
        if not n:
            continue
        w = width * n / total
        rects.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{color}">'
            f"<title>{escape(label)} {n}（{percent(n / total)}）</title></rect>"
        )
        x += w
    return (
        f'<svg class="stack" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="发送结果">{"".join(rects)}</svg>'
    )


def _open(frame: Frame, label: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {frame.width} {frame.height}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMinYMin meet">'
    )


def _grid(frame: Frame, top: float, ticks: int, fmt: Callable[[float], str]) -> list[str]:
    lines = []
    for step in range(ticks + 1):
        value = top * step / ticks
        y = frame.y(value, top)
        lines.append(
            f'<line x1="{frame.left}" y1="{y:.1f}" x2="{frame.width - frame.right}" y2="{y:.1f}" '
            f'stroke="{GRID_COLOR}" stroke-width="{1 if step == 0 else 0.5}"/>'
            f'<text x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{MUTED}">{escape(fmt(value))}</text>'
        )
    return lines


def _bar(x: float, w: float, y: float, frame: Frame, color: str, tip: str) -> str:
    h = frame.top + frame.inner_height - y
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{max(h, 0):.1f}" fill="{color}" '
        f'rx="1.5"><title>{escape(tip)}</title></rect>'
    )


def _x_label(x: float, frame: Frame, text: str) -> str:
    return (
        f'<text x="{x:.1f}" y="{frame.height - 8}" text-anchor="middle" font-size="11" '
        f'fill="{MUTED}">{escape(text)}</text>'
    )
