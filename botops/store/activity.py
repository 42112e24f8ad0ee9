"""Group activity in the store: the message log, and per-group daily figures built from it,
the ledger and the rosters (botops.reports.activity.DayActivity).

`record_message` is called by the check-in router (botops.checkins.route.score) for every
message of a known group (a dismissed one: sent before its dismissal; none dated in the
future), from every source, staff's included, scored or not; it is insert-or-ignore on the
msgid, so a redelivered message counts once. Local days are in the configured `timezone`,
except check-ins, which count on the ledger's local day (the playbook's timezone).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from botops.checkins.message import Message
from botops.reports.activity import DayActivity, days_between
from botops.store.db import dialect_insert
from botops.store.groups import STAFF_MEMBER
from botops.store.ledger import DAY_REASONS
from botops.store.models import GroupMember, GroupMessageRecord, LedgerEntry, MessageLogStart


def record_message(session: Session, message: Message, tz: ZoneInfo) -> bool:
    """Log `message` unless its msgid is logged already; whether it was new."""
    insert = dialect_insert(session)
    values = {
        "msgid": message.msgid,
        "chat_id": message.chat_id,
        "sender_id": message.sender_id,
        "sent_at": message.sent_at,
        "local_day": message.sent_at.astimezone(tz).date(),
        "source": message.source,
    }
    statement = (
        insert(GroupMessageRecord)
        .values(values)
        .on_conflict_do_nothing()
        .returning(col(GroupMessageRecord.msgid))  # rowcount is -1 on PostgreSQL (psycopg)
    )
    return session.exec(statement).first() is not None


def first_message_day(session: Session) -> date | None:
    """The first local day botops logged any group message on (None: never), also after
    pruning deleted that day (botops.store.retention.prune_messages)."""
    pruned = session.exec(select(MessageLogStart)).first()
    if pruned is not None:
        return pruned.first_day
    day: date | None = session.exec(select(func.min(GroupMessageRecord.local_day))).one()
    return day


def daily_activity(
    session: Session,
    first: date,
    last: date,
    tz: ZoneInfo,
    chat_ids: Collection[str] | None = None,
) -> dict[str, list[DayActivity]]:
    """Every group with any activity from `first` to `last` (local days, both included) ->
    one DayActivity per day of the range, silent days included. `chat_ids`: only these."""
    figures: dict[str, dict[date, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(int))
    )
    for chat, day, messages, speakers in session.exec(_messages(first, last, chat_ids)):
        figures[chat][day]["messages"] = messages
        figures[chat][day]["speakers"] = speakers
    for chat, day, checkins in session.exec(_checkins(first, last, chat_ids)):
        figures[chat][day]["checkins"] = checkins
    for field, column in (("joined", GroupMember.join_time), ("left", GroupMember.left_at)):
        for chat, at in session.exec(_roster_times(column, first, last, tz, chat_ids)):
            figures[chat][at.astimezone(tz).date()][field] += 1
    days = days_between(first, last)
    return {
        chat: [DayActivity(day, **by_day.get(day, {})) for day in days]
        for chat, by_day in sorted(figures.items())
    }


def speakers(
    session: Session, first: date, last: date, chat_ids: Collection[str] | None = None
) -> dict[str, int]:
    """Distinct customer senders per group over the whole range (a daily sum would count
    regulars once a day)."""
    query = (
        select(
            col(GroupMessageRecord.chat_id),
            func.count(func.distinct(GroupMessageRecord.sender_id)),
        )
        .where(col(GroupMessageRecord.local_day).between(first, last))
        .where(~_staff_sent().exists())
        .group_by(col(GroupMessageRecord.chat_id))
    )
    if chat_ids is not None:
        query = query.where(col(GroupMessageRecord.chat_id).in_(list(chat_ids)))
    return {chat: int(count) for chat, count in session.exec(query)}


def _staff_sent() -> Any:
    """The message's sender is staff in its group: staff posts (reminders, the mass sends
    themselves, when a forwarder passes them on) are not the customers' activity, or a group
    where only staff still talk would never be flagged silent."""
    return (
        select(GroupMember.userid)
        .where(col(GroupMember.chat_id) == col(GroupMessageRecord.chat_id))
        .where(col(GroupMember.userid) == col(GroupMessageRecord.sender_id))
        .where(col(GroupMember.member_type) == STAFF_MEMBER)
    )


def _messages(first: date, last: date, chat_ids: Collection[str] | None) -> Any:
    query = (
        select(
            col(GroupMessageRecord.chat_id),
            col(GroupMessageRecord.local_day),
            func.count(),
            func.count(func.distinct(GroupMessageRecord.sender_id)),
        )
        .where(col(GroupMessageRecord.local_day).between(first, last))
        .where(~_staff_sent().exists())
        .group_by(col(GroupMessageRecord.chat_id), col(GroupMessageRecord.local_day))
    )
    if chat_ids is not None:
        query = query.where(col(GroupMessageRecord.chat_id).in_(list(chat_ids)))
    return query


def _checkins(first: date, last: date, chat_ids: Collection[str] | None) -> Any:
    """Distinct members per group and day: a member in two check-in playbooks of one group
    is one check-in. Staff never check in: rows scored for them before the router refused
    staff count for no group's activity."""
    staff = (
        select(GroupMember.userid)
        .where(col(GroupMember.chat_id) == col(LedgerEntry.chat_id))
        .where(col(GroupMember.userid) == col(LedgerEntry.member_id))
        .where(col(GroupMember.member_type) == STAFF_MEMBER)
    )
    query = (
        select(
            col(LedgerEntry.chat_id),
            col(LedgerEntry.local_day),
            func.count(func.distinct(LedgerEntry.member_id)),
        )
        .where(col(LedgerEntry.reason).in_(DAY_REASONS))
        .where(col(LedgerEntry.local_day).between(first, last))
        .where(~staff.exists())
        .group_by(col(LedgerEntry.chat_id), col(LedgerEntry.local_day))
    )
    if chat_ids is not None:
        query = query.where(col(LedgerEntry.chat_id).in_(list(chat_ids)))
    return query


def _roster_times(
    column: Any, first: date, last: date, tz: ZoneInfo, chat_ids: Collection[str] | None
) -> Any:
    start = datetime.combine(first, time(), tz)
    end = datetime.combine(last + timedelta(days=1), time(), tz)
    query = select(col(GroupMember.chat_id), column).where(column >= start, column < end)
    if chat_ids is not None:
        query = query.where(col(GroupMember.chat_id).in_(list(chat_ids)))
    return query
