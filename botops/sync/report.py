"""`SyncReport`: what one sync saw and changed, as text for people and JSON for scripts.

Filled in as the sync goes (not built at the end), so a sync that is interrupted still
reports exactly the groups it wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botops.store.corp_tags import CorpTagChanges
from botops.store.groups import GroupChange, StoredGroup


@dataclass(frozen=True, slots=True)
class SyncError:
    stage: str  # "list" | "fetch" | "store" | "corp_tags"
    chat_id: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.chat_id or self.stage}: {self.message}"


@dataclass(slots=True)
class SyncReport:
    listed: int = 0  # groups groupchat/list returned
    fetched: int = 0  # groups fetched and stored
    new: list[GroupChange] = field(default_factory=list)
    changed: list[GroupChange] = field(default_factory=list)  # known groups with any change
    unchanged: int = 0
    dismissed: list[StoredGroup] = field(default_factory=list)
    members_joined: int = 0  # in groups known before this sync
    members_left: int = 0
    members_in_new_groups: int = 0
    corp_tags: CorpTagChanges = field(default_factory=CorpTagChanges)
    errors: list[SyncError] = field(default_factory=list)
    listing_complete: bool = False
    dismissals_checked: bool = False  # only a fully successful sync may dismiss groups
    interrupted: bool = False
    # Active in the store but not listed: asked for before any group is dismissed (pages
    # of a listing that changes while it is read can skip a live group).
    unlisted: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)  # refused by groupchat/get: gone
    aborted: bool = False  # stopped at a configuration error: every further call would fail
    # Stopped at WeCom's frequency limit (45009): blocked for the rest of the exceeded window
    # (a minute, an hour), so the remaining groups wait for the next sync.
    rate_limited: bool = False

    def record(self, change: GroupChange) -> None:
        self.fetched += 1
        if change.new:
            self.new.append(change)
            self.members_in_new_groups += len(change.joined)
        elif change.changed:
            self.changed.append(change)
            self.members_joined += len(change.joined)
            self.members_left += len(change.left)
        else:
            self.unchanged += 1

    @property
    def ok(self) -> bool:
        return not self.errors and not self.interrupted

    @property
    def renamed(self) -> list[GroupChange]:
        """Known groups whose name, owner, notice or status changed."""
        return [c for c in self.changed if c.fields]

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "interrupted": self.interrupted,
            "rate_limited": self.rate_limited,
            "listing_complete": self.listing_complete,
            "dismissals_checked": self.dismissals_checked,
            "groups": {
                "listed": self.listed,
                "unlisted": list(self.unlisted),
                "fetched": self.fetched,
                "new": [_change_json(c) for c in self.new],
                "changed": [_change_json(c) for c in self.changed],
                "unchanged": self.unchanged,
                "dismissed": [{"chat_id": g.chat_id, "name": g.name} for g in self.dismissed],
            },
            "members": {
                "joined": self.members_joined,
                "left": self.members_left,
                "in_new_groups": self.members_in_new_groups,
            },
            "corp_tags": {
                "added": list(self.corp_tags.added),
                "removed": list(self.corp_tags.removed),
                "renamed": [
                    {"tag_id": r.tag_id, "old": r.old, "new": r.new} for r in self.corp_tags.renamed
                ],
            },
            "errors": [
                {"stage": e.stage, "chat_id": e.chat_id, "message": e.message} for e in self.errors
            ],
        }


def _change_json(change: GroupChange) -> dict[str, Any]:
    return {
        "chat_id": change.chat_id,
        "name": change.name,
        "fields": [{"field": f.field, "old": f.old, "new": f.new} for f in change.fields],
        "joined": list(change.joined),
        "left": list(change.left),
    }


def render_text(report: SyncReport) -> str:
    """A short summary, then one line per changed or dismissed group and per error."""
    tags = report.corp_tags
    unlisted = f" (+{len(report.unlisted)} not listed, asked for)" if report.unlisted else ""
    lines = [
        f"groups: {report.listed} listed{unlisted}, {report.fetched} fetched — "
        f"{len(report.new)} new, "
        f"{len(report.changed)} changed, {report.unchanged} unchanged, "
        f"{len(report.dismissed)} dismissed",
        f"members: +{report.members_joined} joined, -{report.members_left} left "
        f"({report.members_in_new_groups} in new groups; counts include staff)",
        f"corp tags: {len(tags.added)} added, {len(tags.removed)} removed, "
        f"{len(tags.renamed)} renamed",
    ]
    for change in report.changed:
        lines.append(f"  changed  {change.chat_id} {change.name}: {_describe(change)}")
    for group in report.dismissed:
        lines.append(f"  dismissed {group.chat_id} {group.name}")
    for rename in tags.renamed:
        lines.append(f"  tag renamed {rename.tag_id}: {rename.old} → {rename.new}")
    for error in report.errors:
        lines.append(f"  error    {error}")
    lines.append(_verdict(report))
    return "\n".join(lines) + "\n"


def render_alert(report: SyncReport) -> str:
    """Markdown for the ops robot when a sync stops at a configuration error: nothing reaches
    WeCom until someone fixes it (the robot webhook itself needs no corp secret)."""
    first = report.errors[0].message if report.errors else "unknown error"
    return (
        "**botops: 企业微信同步失败**\n"
        f"> {first}\n"
        "客户群不再更新，群发也会失败。请检查 Secret、服务器的可信 IP 和应用的客户联系权限"
        "（/readyz 显示同样的原因）；修好后下一次同步会自动恢复。"
    )


SYNC_RECOVERED_ALERT = "**botops: 企业微信同步已恢复**\n客户群已重新同步，群发照常进行。"


def _describe(change: GroupChange) -> str:
    parts = [f"{f.field} {f.old!r} → {f.new!r}" for f in change.fields]
    if change.joined:
        parts.append(f"+{len(change.joined)} joined")
    if change.left:
        parts.append(f"-{len(change.left)} left")
    return "; ".join(parts)


def _verdict(report: SyncReport) -> str:
    if report.ok:
        return "ok"
    done = f"{report.fetched} of {report.listed + len(report.unlisted)} groups stored"
    why = "interrupted" if report.interrupted else f"{len(report.errors)} error(s)"
    skipped = "" if report.dismissals_checked else "; no group was marked dismissed"
    if report.aborted:  # a rerun fails the same way until someone changes the configuration
        return f"incomplete: {why}, {done}{skipped} — fix the configuration error above first"
    if report.rate_limited:  # a rerun within the window only meets 45009 again
        return (
            f"incomplete: {why}, {done}{skipped} — WeCom's frequency limit was hit; the next "
            "sync finishes it (by hand: `botops sync` again in an hour)"
        )
    return f"incomplete: {why}, {done}{skipped} — run `botops sync` again to finish"
