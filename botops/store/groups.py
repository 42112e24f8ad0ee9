"""Customer groups in the store: what `botops sync` writes and what the planner reads.

Plain functions over a `Session`; the caller owns the transaction (`store.db.session`), so
a sync can commit each group on its own and an interrupted sync keeps what it did. Every
write is an upsert keyed by WeCom's ids: running the same sync twice changes nothing.

    upsert_group        one `groupchat/get` answer -> groups row (+ roster if member_version moved)
    unlisted_groups     active groups a complete listing did not show (to check before dismissing)
    mark_dismissed      groups a complete sync no longer lists (and not written since)
    replace_corp_tags   the corp tag list (get_corp_tag_list) -> corp_tags
    add/remove_group_tags, list_groups, targets, dismissed_target

`member_count` is every member WeCom lists for the group (customers *and* staff), the
number the WeCom client shows in the group's title.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import func, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, or_, select

from botops.errors import BotopsError
from botops.planning.targets import Target
from botops.store.models import (
    Enrolment,
    GroupMember,
    GroupRecord,
    GroupStatus,
    GroupTag,
)
from botops.wecom.models import GroupChat
from botops.wecom.models import GroupMember as WeComMember

# The group fields a sync reports when they change (member changes are reported apart).
TRACKED_FIELDS = ("name", "owner", "notice")
STAFF_MEMBER = 1  # group_members.member_type of staff (企业成员); 2 is an external customer


class UnknownGroupError(BotopsError):
    def __init__(self, chat_id: str) -> None:
        super().__init__(f"no group {chat_id!r} in the store (run `botops sync` first?)")
        self.chat_id = chat_id


class InvalidTagError(BotopsError):
    """A group tag that is empty or holds control characters."""


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class GroupChange:
    """What one upsert did to one group."""

    chat_id: str
    name: str
    new: bool = False
    fields: tuple[FieldChange, ...] = ()
    joined: tuple[str, ...] = ()  # userids now in the group who were not before
    left: tuple[str, ...] = ()  # userids no longer in the group (their rows keep `left_at`)

    @property
    def changed(self) -> bool:
        return self.new or bool(self.fields or self.joined or self.left)


@dataclass(frozen=True, slots=True)
class StoredGroup:
    chat_id: str
    name: str
    owner: str
    notice: str
    status: GroupStatus
    wecom_status: int
    member_count: int
    created_at: datetime | None
    synced_at: datetime | None
    dismissed_at: datetime | None
    tags: tuple[str, ...]


# --- groups and rosters ----------------------------------------------------------------------


def upsert_group(
    session: Session, chat: GroupChat, now: datetime, *, wecom_status: int | None = None
) -> GroupChange:
    """Store one `groupchat/get` answer; rewrite the roster only when `member_version` moved
    (WeCom bumps it on every membership change, so an equal version means nothing to do)."""
    chat_id = chat["chat_id"]
    members = chat.get("member_list") or []
    row = session.get(GroupRecord, chat_id)
    new = row is None
    if row is None:
        row = GroupRecord(chat_id=chat_id)
    fields = [] if new else _field_changes(row, chat)
    if row.status != GroupStatus.ACTIVE:
        # Listed and fetched again after we had marked it dismissed: it is back.
        fields.append(FieldChange("status", str(row.status), str(GroupStatus.ACTIVE)))
        row.status, row.dismissed_at = GroupStatus.ACTIVE, None
    row.name = chat.get("name", "")
    row.owner = chat.get("owner", "")
    row.notice = chat.get("notice", "")
    if "create_time" in chat:
        row.created_at = from_timestamp(chat["create_time"])
    if wecom_status is not None:
        row.wecom_status = wecom_status
    row.member_count = len(members)
    row.synced_at = now
    joined: tuple[str, ...] = ()
    left: tuple[str, ...] = ()
    version = chat.get("member_version", "")
    if new or not version or version != row.member_version:
        session.add(row)
        session.flush()  # the roster rows reference the group row
        joined, left = _replace_roster(session, chat_id, members, now)
    row.member_version = version
    session.add(row)
    return GroupChange(chat_id, row.name, new, tuple(fields), joined, left)


def written_since(session: Session, chat_id: str, asked: datetime) -> GroupRecord | None:
    """The group's row if it was written after `asked` (refreshed from WeCom, or dismissed
    at or after that instant: WeCom never brings a dismissed group back), else None. A
    `groupchat/get` answer asked for at `asked` is older than such a row and must neither
    overwrite it nor revive it. On PostgreSQL the row stays locked until the caller commits,
    so nothing slips in before the caller's upsert; SQLite has no row locks, and there the
    gap is the few statements up to the upsert's write."""
    row = session.get(GroupRecord, chat_id, with_for_update=True)
    if row is None:
        return None
    refreshed = row.synced_at is not None and row.synced_at > asked
    dismissed = row.dismissed_at is not None and row.dismissed_at >= asked
    return row if refreshed or dismissed else None


def _field_changes(row: GroupRecord, chat: GroupChat) -> list[FieldChange]:
    changes = []
    for name in TRACKED_FIELDS:
        old, current = getattr(row, name), str(chat.get(name, ""))
        if old != current:
            changes.append(FieldChange(name, old, current))
    return changes


def _replace_roster(
    session: Session, chat_id: str, members: Sequence[WeComMember], now: datetime
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    stored = {
        m.userid: m
        for m in session.exec(select(GroupMember).where(GroupMember.chat_id == chat_id)).all()
    }
    joined: list[str] = []
    present: set[str] = set()
    for member in members:
        userid = member["userid"]
        present.add(userid)
        row = stored.get(userid)
        if row is None or row.left_at is not None:
            joined.append(userid)
        row = row or GroupMember(chat_id=chat_id, userid=userid)
        _fill_member(row, member)
        session.add(row)
    left = []
    for userid, row in stored.items():
        if userid not in present and row.left_at is None:
            # groupchat/get does not say when someone left; the sync that noticed is the
            # closest bound we have (callbacks, when wired, record the exact time).
            row.left_at = now
            session.add(row)
            left.append(userid)
    return tuple(joined), tuple(sorted(left))


def _fill_member(row: GroupMember, member: WeComMember) -> None:
    row.member_type = member.get("type", 2)
    row.name = member.get("name", row.name)  # absent unless need_name=1
    row.group_nickname = member.get("group_nickname", "")
    row.unionid = member.get("unionid", "")
    invitor = member.get("invitor")
    row.invitor = invitor["userid"] if invitor else ""
    row.join_time = from_timestamp(member["join_time"]) if "join_time" in member else None
    row.join_scene = member.get("join_scene")
    row.left_at = None
    row.quit_scene = None


def mark_dismissed(
    session: Session,
    listed: Iterable[str],
    now: datetime,
    *,
    listed_at: datetime | None = None,
    vanished: Iterable[str] = (),
) -> list[StoredGroup]:
    """Mark active groups that a complete listing did not show (`listed`) as dismissed.

    `listed_at` is when that listing was asked for. A row written from WeCom at or after it
    (say by a `create` callback handled while the sync ran) is newer than the listing, which
    could not show it: it stays active, for the next sync to judge. Without `listed_at` every
    active group not in `listed` is dismissed. `vanished` groups (listed, then answered
    "not a customer group" by groupchat/get) are proven gone, whenever their row was written.

    Each group is dismissed by one conditional UPDATE, so a row a callback rewrites after
    the read here is judged as it is then, not as it was read."""
    keep, proven = set(listed), set(vanished)
    rows = session.exec(select(GroupRecord).where(GroupRecord.status == GroupStatus.ACTIVE)).all()
    candidates = [
        row
        for row in rows
        if row.chat_id in proven or (row.chat_id not in keep and _older(row.synced_at, listed_at))
    ]
    gone = []
    for row in sorted(candidates, key=lambda r: r.chat_id):
        cutoff = None if row.chat_id in proven else listed_at
        if _dismiss_if_older(session, row.chat_id, now, cutoff):
            session.refresh(row)
            gone.append(row)
    tags = _tags_by_group(session)
    return [_stored(row, tags.get(row.chat_id, ())) for row in gone]


def unlisted_groups(session: Session, listed: Iterable[str], listed_at: datetime) -> list[str]:
    """Active groups a complete listing asked for at `listed_at` did not show, written before
    it: the groups `mark_dismissed` would dismiss, for a sync to ask `groupchat/get` about
    first (a listing read while groups change can skip a live one)."""
    keep = set(listed)
    query = select(GroupRecord.chat_id, GroupRecord.synced_at).where(
        GroupRecord.status == GroupStatus.ACTIVE
    )
    return sorted(
        chat_id
        for chat_id, synced_at in session.exec(query)
        if chat_id not in keep and _older(synced_at, listed_at)
    )


def _older(synced_at: datetime | None, listed_at: datetime | None) -> bool:
    return listed_at is None or synced_at is None or synced_at < listed_at


def _dismiss_if_older(
    session: Session, chat_id: str, now: datetime, listed_at: datetime | None
) -> bool:
    """Dismiss one active group, only if its row still predates `listed_at` (when given)."""
    still = [col(GroupRecord.chat_id) == chat_id, col(GroupRecord.status) == GroupStatus.ACTIVE]
    if listed_at is not None:
        synced_at = col(GroupRecord.synced_at)
        still.append(or_(synced_at.is_(None), synced_at < listed_at))
    result = session.execute(
        update(GroupRecord)
        .where(*still)
        .values(status=GroupStatus.DISMISSED, dismissed_at=now)
        .execution_options(synchronize_session=False)  # the caller refreshes what changed
    )
    return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


def last_synced(session: Session) -> datetime | None:
    """When a group was last fetched from WeCom (by a sync or a callback): a sync that keeps
    failing shows as this growing old. None before the first sync."""
    return session.exec(select(func.max(GroupRecord.synced_at))).one()


def group_member_ids(session: Session, chat_id: str, *, current: bool = True) -> list[str]:
    """Userids in the group now (or, with current=False, everyone ever seen in it)."""
    query = select(GroupMember.userid).where(GroupMember.chat_id == chat_id)
    if current:
        query = query.where(col(GroupMember.left_at).is_(None))
    return sorted(session.exec(query).all())


def from_timestamp(seconds: int | float | str) -> datetime:
    """WeCom's Unix-second timestamps as aware UTC datetimes."""
    return datetime.fromtimestamp(int(seconds), UTC)


# --- botops-side group tags --------------------------------------------------------------------


def normalize_tag(text: str) -> str:
    """Tags are free text (打卡挑战); trimmed, NFC-normalized (the same word typed on two
    keyboards is one tag), never empty and never holding control characters."""
    tag = unicodedata.normalize("NFC", text).strip()
    if not tag:
        raise InvalidTagError("a tag must not be empty")
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in tag):
        raise InvalidTagError(f"tag {tag!r} holds a control character or line break")
    return tag


def add_group_tags(session: Session, chat_id: str, tags: Iterable[str]) -> list[str]:
    """Tag a stored group; returns the tags it did not have yet."""
    wanted = _checked(session, chat_id, tags)
    have = set(_tags_by_group(session, chat_id).get(chat_id, ()))
    added = [t for t in wanted if t not in have]
    for tag in added:
        session.add(GroupTag(chat_id=chat_id, tag=tag))
    return added


def remove_group_tags(session: Session, chat_id: str, tags: Iterable[str]) -> list[str]:
    """Untag a stored group; returns the tags it actually had."""
    removed = []
    for tag in _checked(session, chat_id, tags):
        row = session.get(GroupTag, (chat_id, tag))
        if row is not None:
            session.delete(row)
            removed.append(tag)
    return removed


def _checked(session: Session, chat_id: str, tags: Iterable[str]) -> list[str]:
    if session.get(GroupRecord, chat_id) is None:
        raise UnknownGroupError(chat_id)
    return list(dict.fromkeys(normalize_tag(t) for t in tags))


def _tags_by_group(session: Session, chat_id: str | None = None) -> dict[str, tuple[str, ...]]:
    query = select(GroupTag.chat_id, GroupTag.tag)
    if chat_id is not None:
        query = query.where(GroupTag.chat_id == chat_id)
    grouped: dict[str, list[str]] = {}
    for group_id, tag in session.exec(query.order_by(col(GroupTag.chat_id), col(GroupTag.tag))):
        grouped.setdefault(group_id, []).append(tag)
    return {k: tuple(v) for k, v in grouped.items()}


# --- reading -----------------------------------------------------------------------------------


def list_groups(
    session: Session, *, tag: str | None = None, status: GroupStatus | None = GroupStatus.ACTIVE
) -> list[StoredGroup]:
    """Stored groups, oldest first; `status=None` for every status."""
    query = select(GroupRecord)
    if status is not None:
        query = query.where(GroupRecord.status == status)
    rows = session.exec(query.order_by(col(GroupRecord.created_at), col(GroupRecord.chat_id)))
    tags = _tags_by_group(session)
    wanted = None if tag is None else normalize_tag(tag)
    return [
        _stored(row, tags.get(row.chat_id, ()))
        for row in rows.all()
        if wanted is None or wanted in tags.get(row.chat_id, ())
    ]


def count_groups(session: Session) -> int:
    """How many groups the store holds, of every status."""
    return session.exec(select(func.count()).select_from(GroupRecord)).one()


def get_group(session: Session, chat_id: str) -> StoredGroup:
    row = session.get(GroupRecord, chat_id)
    if row is None:
        raise UnknownGroupError(chat_id)
    return _stored(row, _tags_by_group(session, chat_id).get(chat_id, ()))


def targets(
    session: Session, *, status: GroupStatus = GroupStatus.ACTIVE, chat_id: str | None = None
) -> list[Target]:
    """The active groups (or those of `status`; only `chat_id`, when given) as planner
    targets, with their botops tags and enrolments, oldest first.

    The daemon reads every group every planning round, so this reads plain columns rather
    than ORM entities (10,000 of those cost most of a second and tens of MB at the peak) and
    shares what groups have in common: one frozenset per distinct tag set, one string per
    owner and playbook id, one empty enrolment mapping (read-only) for groups with none."""
    shared: dict[object, Any] = {}

    def one(value: Any) -> Any:
        return shared.setdefault(value, value)

    enrolments = select(
        col(Enrolment.target_id), col(Enrolment.playbook_id), col(Enrolment.day_one)
    )
    tag_rows = select(GroupTag.chat_id, GroupTag.tag)
    if chat_id is not None:
        enrolments = enrolments.where(col(Enrolment.target_id) == chat_id)
        tag_rows = tag_rows.where(col(GroupTag.chat_id) == chat_id)
    enrolled: dict[str, dict[str, date]] = {}
    for target_id, playbook_id, day_one in session.exec(enrolments):
        enrolled.setdefault(target_id, {})[one(playbook_id)] = day_one
    tags: dict[str, frozenset[str]] = {}
    pending: list[str] = []
    group_id = ""
    for row_id, tag in session.exec(tag_rows.order_by(col(GroupTag.chat_id), col(GroupTag.tag))):
        if row_id != group_id:
            if pending:
                tags[group_id] = one(frozenset(pending))
            group_id, pending = row_id, []
        pending.append(tag)
    if pending:
        tags[group_id] = one(frozenset(pending))
    groups = sa_select(  # sqlmodel's select() takes at most four columns
        col(GroupRecord.chat_id),
        col(GroupRecord.name),
        col(GroupRecord.owner),
        col(GroupRecord.created_at),
        col(GroupRecord.member_count),
    ).where(col(GroupRecord.status) == status)
    if chat_id is not None:
        groups = groups.where(col(GroupRecord.chat_id) == chat_id)
    rows = session.execute(groups.order_by(col(GroupRecord.created_at), col(GroupRecord.chat_id)))
    return [
        Target(
            id=chat_id,
            name=name,
            owner=one(owner),
            tags=tags.get(chat_id, _NO_TAGS),
            created_at=created_at,
            member_count=member_count,
            kind="group",
            enrolled=enrolled.get(chat_id, _NOT_ENROLLED),
        )
        for chat_id, name, owner, created_at, member_count in rows
    ]


def dismissed_target(session: Session, chat_id: str) -> tuple[Target, datetime] | None:
    """A dismissed group as a planner target, with when botops marked it dismissed; None for
    a group that is active or not stored. Its messages sent before then are still its own."""
    row = session.get(GroupRecord, chat_id)
    if row is None or row.status != GroupStatus.DISMISSED or row.dismissed_at is None:
        return None
    found = targets(session, status=GroupStatus.DISMISSED, chat_id=chat_id)
    return (found[0], row.dismissed_at) if found else None


_NO_TAGS: frozenset[str] = frozenset()
_NOT_ENROLLED: Mapping[str, date] = MappingProxyType({})


def _stored(row: GroupRecord, tags: tuple[str, ...]) -> StoredGroup:
    return StoredGroup(
        chat_id=row.chat_id,
        name=row.name,
        owner=row.owner,
        notice=row.notice,
        status=GroupStatus(row.status),
        wecom_status=row.wecom_status,
        member_count=row.member_count,
        created_at=row.created_at,
        synced_at=row.synced_at,
        dismissed_at=row.dismissed_at,
        tags=tags,
    )
