"""What the table and HTML previews both report, computed once from a plan.

Pure: a plan and a display timezone in, typed values out. The views only lay these out.

The number ops care about most is the staff confirmation load: every WeCom mass-send task
(every distinct `batch`) is one confirmation a staff member must tap in their client, so a
plan that reaches 300 groups in 2 tasks is cheap, and one that needs 40 tasks is not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta, tzinfo
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from botops.planning.planner import Plan, Window
from botops.planning.sends import PlannedSend, Status
from botops.playbook.model import Attachment, MediaRef

NOT_SENT = frozenset({Status.CAPPED, Status.SKIPPED})
MOVED = frozenset({Status.SHIFTED, Status.DEFERRED})


@dataclass(frozen=True, slots=True)
class StaffDay:
    """One staff member's confirmation load on one local day (sendable sends only)."""

    day: date
    sender: str
    tasks: int  # distinct WeCom tasks, i.e. confirmations in the client
    groups: int  # distinct customer groups reached
    customers: int  # distinct individual customers reached
    sends: int


@dataclass(frozen=True, slots=True)
class Summary:
    days: tuple[date, ...]  # every local day of the window, plus any day a send falls on
    total: int
    by_status: dict[Status, int]  # every status, in declaration order, zeros included
    staff: tuple[StaffDay, ...]  # ordered by day, then sender
    not_sent: tuple[PlannedSend, ...]  # capped and skipped, in time order
    moved: tuple[PlannedSend, ...]  # shifted and deferred, in time order

    def staff_on(self, day: date, sender: str) -> StaffDay | None:
        return next((s for s in self.staff if s.day == day and s.sender == sender), None)

    @property
    def senders(self) -> tuple[str, ...]:
        return tuple(sorted({s.sender for s in self.staff}))

    @property
    def moment_format(self) -> str:
        """How the lists of sends not sent or moved show a time: month and day, with the year
        when the calendar spans more than one (a 12-31 would otherwise come round again)."""
        spans_years = bool(self.days) and self.days[0].year != self.days[-1].year
        return "%Y-%m-%d %H:%M" if spans_years else "%m-%d %H:%M"


def summarize(plan: Plan, tz: tzinfo) -> Summary:
    sends = plan.sends
    counts = dict.fromkeys(Status, 0)
    for send in sends:
        counts[send.status] += 1
    return Summary(
        days=calendar_days(plan.window, sends, tz),
        total=len(sends),
        by_status=counts,
        staff=_staff_load(sends, tz),
        not_sent=_in_time_order(s for s in sends if s.status in NOT_SENT),
        moved=_in_time_order(s for s in sends if s.status in MOVED),
    )


def local_day(send: PlannedSend, tz: tzinfo) -> date:
    """The display day of a send: when it goes out (or would have, for capped and skipped)."""
    return send.at.astimezone(tz).date()


def window_days(window: Window, tz: tzinfo) -> list[date]:
    """Local days the half-open window touches."""
    first = window.start.astimezone(tz).date()
    last = (window.end - timedelta(microseconds=1)).astimezone(tz).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def calendar_days(window: Window, sends: Iterable[PlannedSend], tz: tzinfo) -> tuple[date, ...]:
    # A capped send is kept by its planned time, so its `at` may fall outside the window;
    # adding its day keeps it visible instead of silently dropping it from a calendar.
    days = set(window_days(window, tz)) | {local_day(s, tz) for s in sends}
    return tuple(sorted(days))


def _staff_load(sends: Sequence[PlannedSend], tz: tzinfo) -> tuple[StaffDay, ...]:
    buckets: dict[tuple[date, str], list[PlannedSend]] = defaultdict(list)
    for send in sends:
        if send.sendable:
            buckets[(local_day(send, tz), send.sender)].append(send)
    return tuple(_staff_day(day, sender, buckets[(day, sender)]) for day, sender in sorted(buckets))


def _staff_day(day: date, sender: str, sends: list[PlannedSend]) -> StaffDay:
    # A sendable send without a batch is still its own task (the planner batches every
    # sendable send, but hand-built plans need not).
    tasks = {s.batch or f"send:{s.key}" for s in sends}
    groups = {s.target for s in sends if s.target_kind == "group"}
    customers = {s.target for s in sends if s.target_kind == "customer"}
    return StaffDay(day, sender, len(tasks), len(groups), len(customers), len(sends))


def _in_time_order(sends: Iterable[PlannedSend]) -> tuple[PlannedSend, ...]:
    return tuple(sorted(sends, key=lambda s: (s.at, s.target_name, s.target, s.playbook, s.step)))


# --- attachments, in words -----------------------------------------------------------------

ATTACHMENT_WORDS = {
    "image": "图片",
    "video": "视频",
    "file": "文件",
    "link": "链接",
    "miniprogram": "小程序",
}


def describe_attachment(attachment: Attachment) -> str:
    """A short human label such as "图片 poster.png" or "链接: 报名入口"."""
    kind = attachment.kind
    word = ATTACHMENT_WORDS[kind]
    if attachment.link is not None:
        return f"{word}: {attachment.link.title}"
    if attachment.miniprogram is not None:
        return f"{word}: {attachment.miniprogram.title}"
    media = getattr(attachment, kind)
    assert isinstance(media, MediaRef)  # image, video and file are the media kinds
    return f"{word} {media_name(media)}"


def media_name(media: MediaRef) -> str:
    if media.file is not None:
        return PurePosixPath(media.file).name
    if media.url is not None:
        return PurePosixPath(urlsplit(media.url).path).name or media.url
    return f"media_id {media.media_id}"
