"""The daily digest for the ops robot (`alerts.robot_key`): a group sync that has stopped,
inactive groups, staff with unconfirmed mass-send tasks, failed sends of the last day; and the
alert when sends fail. Pure: plain inputs and `now` in, WeCom robot markdown out.

The robot webhook needs no corp secret, so the digest still arrives when the secret is wrong or
the server's IP is not trusted: exactly when the stopped sync needs reporting.

A robot markdown message holds at most 4,096 bytes of UTF-8. The digest always fits: each
line is clipped, and while the text is too long the longest list loses its last line, the
list ending in "…还有 N 个" instead — every section keeps its heading and its count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from botops.preview.table_view import clean

MARKDOWN_LIMIT = 4096  # bytes, UTF-8 (wecom-api.md §4)
LINE_CHARS = 90  # a longer item is clipped with an ellipsis
SHOWN_AT_MOST = 15  # items per section before any trimming for size
_WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


@dataclass(frozen=True, slots=True)
class FlaggedGroup:
    chat_id: str
    name: str
    reason: str
    flagged_at: datetime


@dataclass(frozen=True, slots=True)
class StaffBacklog:
    """One staff member's mass-send tasks still waiting for their confirmation."""

    sender: str
    tasks: int
    oldest: datetime  # when the oldest waiting task was created


@dataclass(frozen=True, slots=True)
class FailedSend:
    playbook: str
    step: str
    target_id: str
    target_name: str
    error: str
    at: datetime


@dataclass(frozen=True, slots=True)
class DigestInputs:
    flagged: Sequence[FlaggedGroup]
    backlog: Sequence[StaffBacklog]
    failed: Sequence[FailedSend]  # examples, newest first
    failed_count: int  # all failed sends of the last day (may exceed the examples)
    sync_stopped_at: datetime | None = None  # the last group sync, when it is long overdue


@dataclass(slots=True)
class _Section:
    title: str
    items: list[str]
    shown: int
    extra: int = 0  # hidden beyond `items` (e.g. failed sends not fetched as examples)

    def lines(self) -> list[str]:
        lines = [self.title, *(f"> {item}" for item in self.items[: self.shown])]
        hidden = len(self.items) - self.shown + self.extra
        if hidden:
            lines.append(f"> …还有 {hidden} 个")
        return lines


def build_digest(
    inputs: DigestInputs, now: datetime, tz: tzinfo, *, limit: int = MARKDOWN_LIMIT
) -> str:
    local = now.astimezone(tz)
    title = f"## botops 每日运营简报 {local.month}月{local.day}日 {_WEEKDAYS[local.weekday()]}"
    sections = _sections(inputs, now)
    if not sections:
        return f"{title}\n一切正常：没有不活跃的群、待确认的群发任务或发送失败。"
    while True:
        text = "\n".join([title, *(line for s in sections for line in ["", *s.lines()])])
        if len(text.encode("utf-8")) <= limit:
            return text
        longest = max(sections, key=lambda s: s.shown)
        if longest.shown == 0:  # only headings left: cannot happen with clipped lines
            return _clip_bytes(text, limit)
        longest.shown -= 1


def _sections(inputs: DigestInputs, now: datetime) -> list[_Section]:
    sections = []
    if inputs.sync_stopped_at is not None:
        title = (
            f'**客户群同步已中断** <font color="warning">上次成功在 '
            f"{_age(inputs.sync_stopped_at, now)}前</font>"
        )
        hint = "请检查企业微信 Secret 和服务器的可信 IP（/readyz 会给出原因）"
        sections.append(_Section(title, [hint], 1))
    if inputs.flagged:
        items = [
            f"{_clean(g.name) or g.chat_id}：{_clean(g.reason)}（{_age(g.flagged_at, now)}前标记）"
            for g in inputs.flagged
        ]
        title = f'**不活跃的群** <font color="warning">{len(items)} 个</font>'
        sections.append(_Section(title, _clip_all(items), min(len(items), SHOWN_AT_MOST)))
    if inputs.backlog:
        staff = sorted(inputs.backlog, key=lambda b: (b.oldest, b.sender))
        tasks = sum(b.tasks for b in staff)
        items = [
            f"{_clean(b.sender)}：{b.tasks} 个任务，最早的已等 {_age(b.oldest, now)}" for b in staff
        ]
        title = (
            f'**待员工确认的群发任务** <font color="warning">{tasks} 个</font>，{len(staff)} 位员工'
        )
        sections.append(_Section(title, _clip_all(items), min(len(items), SHOWN_AT_MOST)))
    if inputs.failed_count:
        title = f'**近 24 小时发送失败** <font color="warning">{inputs.failed_count} 条</font>'
        sections.append(_failed_section(title, inputs.failed, inputs.failed_count))
    return sections


def build_failed_sends_alert(failed: Sequence[FailedSend], count: int) -> str:
    """The alert when a dispatch round's sends failed (WeCom refused them: they will not be
    retried): `count` failures, `failed` some of them as examples."""
    section = _failed_section(
        f'**botops: 发送失败** <font color="warning">{count} 条</font>', failed, count
    )
    hint = "企业微信拒绝了这些消息，不会自动重试。详情见 `botops status`，每日简报会汇总。"
    return _clip_bytes("\n".join([*section.lines(), hint]), MARKDOWN_LIMIT)


def _failed_section(title: str, failed: Sequence[FailedSend], count: int) -> _Section:
    items = [
        f"{_clean(f.playbook)} / {_clean(f.step)} → {_clean(f.target_name) or f.target_id}："
        f"{_clean(f.error) or '未知错误'}"
        for f in failed
    ]
    extra = max(count - len(items), 0)
    return _Section(title, _clip_all(items), min(len(items), SHOWN_AT_MOST), extra)


def _age(since: datetime, now: datetime) -> str:
    elapsed = max(now - since, timedelta(0))
    if elapsed >= timedelta(days=1):
        return f"{elapsed.days} 天"
    if elapsed >= timedelta(hours=1):
        return f"{elapsed.seconds // 3600} 小时"
    return f"{elapsed.seconds // 60} 分钟"


def _clean(text: str) -> str:
    """One line: names and errors come from users and WeCom; a line break would end the
    quote block, a control character has no business in a chat message."""
    return " ".join(clean(text).split())


def _clip_all(items: Sequence[str]) -> list[str]:
    return [item if len(item) <= LINE_CHARS else item[: LINE_CHARS - 1] + "…" for item in items]


def _clip_bytes(text: str, limit: int) -> str:
    if len(text.encode("utf-8")) <= limit:
        return text
    data = text.encode("utf-8")[: limit - len("…".encode())]
    return data.decode("utf-8", errors="ignore") + "…"
