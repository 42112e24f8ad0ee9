"""The points ledger: append-only rows in `ledger` (botops.store.models.LedgerEntry).

Nothing here updates or deletes a row. Points are sums, streaks are computed from the days
checked in, and a correction is one more row (`adjust`). Recording is insert-or-ignore on the
table's partial unique indexes, so a redelivered message, or two replicas handling the same
one, can never count twice.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from botops.checkins.rules import MemberHistory, current_streak
from botops.playbook.context import CheckinSnapshot, LeaderRow
from botops.store.db import dialect_insert
from botops.store.models import GroupMember, LedgerEntry, LedgerReason

DAY_REASONS = (LedgerReason.CHECKIN, LedgerReason.MAKEUP)  # rows that count a day
_COLUMNS = tuple(c.name for c in LedgerEntry.__table__.columns if c.name != "id")  # type: ignore[attr-defined]


def record(session: Session, entries: Iterable[LedgerEntry]) -> list[LedgerEntry]:
    """Insert each entry unless one with its (playbook, source_msgid, reason) — or, for a
    check-in or make-up, its (playbook, chat, member, day); for a streak bonus, its
    (playbook, chat, member, milestone) — is there already. Returns the entries actually
    inserted."""
    insert = dialect_insert(session)
    inserted = []
    for entry in entries:
        values = {name: getattr(entry, name) for name in _COLUMNS}
        statement = (
            insert(LedgerEntry)
            .values(values)
            .on_conflict_do_nothing()
            .returning(col(LedgerEntry.id))  # rowcount is -1 here on PostgreSQL (psycopg)
        )
        row = session.exec(statement).first()
        if row is not None:
            entry.id = row[0]
            inserted.append(entry)
    return inserted


def msgid_scored(session: Session, playbook: str, msgid: str) -> bool:
    """Whether any row of `playbook` comes from message `msgid` (whoever sent it)."""
    query = select(LedgerEntry.id).where(
        LedgerEntry.playbook == playbook, LedgerEntry.source_msgid == msgid
    )
    return session.exec(query.limit(1)).first() is not None


def history(session: Session, member: str, chat: str, playbook: str) -> MemberHistory:
    """What the ledger knows about `member` in `chat` under `playbook`."""
    query = select(
        col(LedgerEntry.local_day), col(LedgerEntry.reason), col(LedgerEntry.source_msgid)
    ).where(
        LedgerEntry.playbook == playbook,
        LedgerEntry.chat_id == chat,
        LedgerEntry.member_id == member,
    )
    days: set[date] = set()
    msgids: set[str] = set()
    makeups = 0
    for day, reason, msgid in session.exec(query):
        if reason in DAY_REASONS:
            days.add(day)
        makeups += reason == LedgerReason.MAKEUP
        if msgid:
            msgids.add(msgid)
    return MemberHistory(frozenset(days), makeups, frozenset(msgids))


def adjust(
    session: Session,
    member: str,
    points: int,
    reason_text: str,
    now: datetime,
    *,
    chat_id: str,
    playbook: str,
    tz: ZoneInfo,
) -> LedgerEntry:
    """A manual correction: a new ADJUSTMENT row (points may be negative), dated today in
    the playbook's timezone. Existing rows are never edited."""
    if points == 0:
        raise ValueError("an adjustment of 0 points changes nothing")
    if not reason_text.strip():
        raise ValueError("an adjustment needs a reason")
    entry = LedgerEntry(
        member_id=member,
        chat_id=chat_id,
        playbook=playbook,
        local_day=now.astimezone(tz).date(),
        points=points,
        reason=LedgerReason.ADJUSTMENT,
        created_at=now,
        note=reason_text.strip(),
    )
    session.add(entry)
    session.flush()
    return entry


def leaderboard(
    session: Session,
    *,
    playbook: str | None = None,
    chat_id: str | None = None,
    top: int = 10,
    today: date | None = None,
    names: Mapping[str, str] | None = None,
) -> list[LeaderRow]:
    """The members ranked `top` or better (see `standings`): everyone tied at the cut-off is
    in, so there may be more than `top` rows. `streak` is the streak alive on `today` (see
    checkins.rules.current_streak); without `today`, the run ending at the member's last
    check-in. `names` (userid -> name) overrides the names the ledger knows."""
    rows = standings(session, playbook=playbook, chat_id=chat_id, today=today, names=names)
    return [_leader_row(r) for r in within_top(rows, top)]


@dataclass(frozen=True, slots=True)
class Standing:
    """One member's totals in a scope (`botops points`)."""

    member_id: str
    name: str
    points: int
    streak: int  # alive on `today`, as in `leaderboard`
    days: int  # distinct local days with a check-in or make-up
    rank: int  # 1 + how many members have more points, or as many and a longer streak


def within_top(rows: Sequence[Standing], top: int) -> list[Standing]:
    """The first `top` of ranked `rows` and everyone tied with the last of them: with
    competition ranks (1, 1, 3), exactly the rows ranked `top` or better."""
    return [r for r in rows if r.rank <= top]


def first_rows(rows: Sequence[Standing], limit: int) -> tuple[list[Standing], int]:
    """At most `limit` of ranked `rows`, and how many more are tied with the last of them.
    Unlike `within_top`, a tie never lengthens the list: early in a challenge every diligent
    member ties, and naming hundreds would overflow a WeCom message."""
    shown = list(rows[:limit])
    if not shown:
        return shown, 0
    tied = itertools.takewhile(lambda r: r.rank == shown[-1].rank, rows[limit:])
    return shown, sum(1 for _ in tied)


def standings(
    session: Session,
    *,
    playbook: str | None = None,
    chat_id: str | None = None,
    today: date | None = None,
    names: Mapping[str, str] | None = None,
    members: Collection[str] | None = None,
) -> list[Standing]:
    """Every member with rows in the scope (with `members`, only those, ranked among
    themselves), ranked by points, then streak; equal on both, members share a rank and the
    next rank skips (1, 1, 3: "competition" ranking, so a tie never depends on names).
    Listed in rank order, ties by name, then member id (namesakes keep a stable order). Days
    and streaks count each local day once, even across several groups or playbooks."""
    filters = _scope(playbook, chat_id)
    points = _points_by_member(session, filters)
    if members is not None:
        points = {m: p for m, p in points.items() if m in members}
    days = _days_by_member(session, filters)
    known = _names(session, list(points), chat_id)
    if names:
        known.update({m: n for m, n in names.items() if n})
    streaks = {m: _streak(days.get(m, set()), today) for m in points}
    order = sorted(points, key=lambda m: (-points[m], -streaks[m], known.get(m, m), m))
    rows: list[Standing] = []
    for position, m in enumerate(order, 1):
        tied = rows and (rows[-1].points, rows[-1].streak) == (points[m], streaks[m])
        rank = rows[-1].rank if tied else position
        rows.append(Standing(m, known.get(m, m), points[m], streaks[m], len(days.get(m, ())), rank))
    return rows


def member_scopes(session: Session, member: str) -> list[tuple[str, str]]:
    """The (chat_id, playbook) pairs `member` has ledger rows in, sorted."""
    query = (
        select(col(LedgerEntry.chat_id), col(LedgerEntry.playbook))
        .where(LedgerEntry.member_id == member)
        .distinct()
    )
    return sorted((chat, playbook) for chat, playbook in session.exec(query))


def snapshot(
    session: Session,
    chat_id: str,
    playbook: str,
    local_day: date,
    members: Mapping[str, str],
    *,
    top: int = 10,
) -> CheckinSnapshot:
    """The `checkin` figures templates read, for one group on `local_day`. `members` are the
    group's current members (userid -> display name), in the order `not_checked_in` lists
    them; counts, rates and ranks are over them, so someone who left does not count. The
    leaderboard is its first `top` rows by rank; members tied with the last row beyond them
    are only counted (`leaderboard_more`), so the message stays short whatever the tie."""
    filters = _scope(playbook, chat_id)
    days = _days_by_member(session, filters)
    checked = {m for m in members if local_day in days.get(m, set())}
    total = session.exec(select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(*filters))
    ranked = standings(
        session, playbook=playbook, chat_id=chat_id, today=local_day, names=members, members=members
    )
    shown, more = first_rows(ranked, top)
    return CheckinSnapshot(
        today_count=len(checked),
        today_rate=len(checked) / len(members) if members else 0.0,
        not_checked_in=[name for m, name in members.items() if m not in checked],
        leaderboard=[_leader_row(r) for r in shown],
        leaderboard_more=more,
        total_points=int(total.one()),
        best_streak=max(
            (current_streak(days.get(m, set()), local_day) for m in members), default=0
        ),
    )


def group_roster(session: Session, chat_id: str) -> dict[str, str]:
    """Current customer members of a group (userid -> group nickname or name), for
    `snapshot`; staff (member_type 1) do not check in."""
    query = (
        select(GroupMember)
        .where(GroupMember.chat_id == chat_id, col(GroupMember.left_at).is_(None))
        .where(GroupMember.member_type != 1)
        .order_by(col(GroupMember.join_time), col(GroupMember.userid))
    )
    return {m.userid: m.group_nickname or m.name or m.userid for m in session.exec(query)}


def _leader_row(row: Standing) -> LeaderRow:
    return LeaderRow(row.name, row.points, row.streak, row.rank)


def _scope(playbook: str | None, chat_id: str | None) -> list[Any]:
    filters: list[Any] = []
    if playbook is not None:
        filters.append(LedgerEntry.playbook == playbook)
    if chat_id is not None:
        filters.append(LedgerEntry.chat_id == chat_id)
    return filters


def _points_by_member(session: Session, filters: list[Any]) -> dict[str, int]:
    query = (
        select(LedgerEntry.member_id, func.sum(LedgerEntry.points))
        .where(*filters)
        .group_by(col(LedgerEntry.member_id))
    )
    return {member: int(total) for member, total in session.exec(query)}


def _days_by_member(session: Session, filters: list[Any]) -> dict[str, set[date]]:
    query = (
        select(col(LedgerEntry.member_id), col(LedgerEntry.local_day))
        .where(*filters)
        .where(col(LedgerEntry.reason).in_(DAY_REASONS))
    )
    days: dict[str, set[date]] = defaultdict(set)
    for member, day in session.exec(query):
        days[member].add(day)
    return days


def _streak(days: set[date], today: date | None) -> int:
    if not days:
        return 0
    return current_streak(days, max(days) if today is None else today)


def _names(session: Session, members: list[str], chat_id: str | None) -> dict[str, str]:
    """Display names: the roster's, else the latest name a message carried."""
    names: dict[str, str] = {}
    if not members:
        return names
    query = (
        select(LedgerEntry.member_id, LedgerEntry.member_name)
        .where(col(LedgerEntry.member_id).in_(members), LedgerEntry.member_name != "")
        .order_by(col(LedgerEntry.id))
    )
    names.update(dict(session.exec(query).all()))
    roster = select(GroupMember).where(col(GroupMember.userid).in_(members))
    if chat_id is not None:
        roster = roster.where(GroupMember.chat_id == chat_id)
    for row in session.exec(roster):
        if row.group_nickname or row.name:
            names[row.userid] = row.group_nickname or row.name
    return names


def member_points(session: Session, member: str, chat_id: str, playbook: str) -> int:
    """The member's points in one group under one playbook."""
    filters = [*_scope(playbook, chat_id), LedgerEntry.member_id == member]
    total = session.exec(select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(*filters))
    return int(total.one())
