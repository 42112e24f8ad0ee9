"""Deleting old history: finished sends and mass-send tasks (`daemon.keep_sends`), and the
message log (`daemon.keep_messages`).

The outbox keeps every send's rendered text: a day at 10,000 groups (12,618 sends with the
example playbooks) added 10.8 MB to a SQLite file, ~4 GB a year before tasks.
Nothing but `botops report` reads a send once it is finished and past: planning looks back
six hours, tracking reads only tasks still waiting for staff, and reports reach back at most
366 days (the default keeps 400). Sends and tasks not yet finished are kept whatever their
age.

The message log has a row per group message (~270 bytes in SQLite: 54 MB a day at 10,000
groups of 20 messages a day). Reports and inactivity rules read it by day; a rule's window is
always kept, whatever `keep_messages` says. The points ledger is not touched: points,
leaderboards and streaks are its sums.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Delete, Engine, delete, func, insert, select

from botops.store.models import (
    FINISHED_SENDS,
    FINISHED_TASKS,
    GroupMessageRecord,
    MassTask,
    MessageLogStart,
    OutboxRow,
)

PRUNE_CHUNK = 5_000
"""Rows deleted per transaction, so the writers (the callback endpoint above all) never wait
long for SQLite's write lock."""

_OUTBOX: Any = OutboxRow.__table__  # type: ignore[attr-defined]
_TASKS: Any = MassTask.__table__  # type: ignore[attr-defined]
_MESSAGES: Any = GroupMessageRecord.__table__  # type: ignore[attr-defined]
_LOG_START: Any = MessageLogStart.__table__  # type: ignore[attr-defined]


def prune_sends(engine: Engine, before: datetime, *, chunk: int = PRUNE_CHUNK) -> int:
    """Delete finished sends due before `before`, and finished mass-send tasks created before
    it (their targets and reminders go with them: ON DELETE CASCADE); how many sends."""
    old_sends = (
        select(_OUTBOX.c.key)
        .where(_OUTBOX.c.due_at < before, _OUTBOX.c.state.in_(FINISHED_SENDS))
        .limit(chunk)
        .scalar_subquery()
    )
    old_tasks = (
        select(_TASKS.c.msgid)
        .where(_TASKS.c.created_at < before, _TASKS.c.status.in_(FINISHED_TASKS))
        .limit(chunk)
        .scalar_subquery()
    )
    deleted = delete_in_chunks(engine, delete(_OUTBOX).where(_OUTBOX.c.key.in_(old_sends)), chunk)
    delete_in_chunks(engine, delete(_TASKS).where(_TASKS.c.msgid.in_(old_tasks)), chunk)
    return deleted


def messages_kept_from(today: date, keep: timedelta, windows: Iterable[int]) -> date:
    """The first local day of the message log to keep: `keep` back from `today`, or the start
    of the longest inactivity window (`windows`: their lengths in days) if that is earlier."""
    return today - timedelta(days=max([keep.days, *windows]))


def prune_messages(engine: Engine, before: date, *, chunk: int = PRUNE_CHUNK) -> int:
    """Delete the message log's rows of local days before `before`; how many. The first day
    ever logged is recorded before its rows go (MessageLogStart), so that inactivity rules
    still know how long messages have been logged."""
    with engine.begin() as connection:
        first = connection.execute(select(func.min(_MESSAGES.c.local_day))).scalar()
        if first is None or first >= before:
            return 0
        if connection.execute(select(_LOG_START.c.first_day)).first() is None:
            connection.execute(insert(_LOG_START).values(first_day=first))
    old = (
        select(_MESSAGES.c.msgid).where(_MESSAGES.c.local_day < before).limit(chunk)
    ).scalar_subquery()
    return delete_in_chunks(engine, delete(_MESSAGES).where(_MESSAGES.c.msgid.in_(old)), chunk)


def delete_in_chunks(engine: Engine, statement: Delete, chunk: int) -> int:
    """Run `statement` (a DELETE of at most `chunk` rows) one transaction at a time until it
    deletes fewer than `chunk`; how many rows in all."""
    deleted = 0
    while True:
        with engine.begin() as connection:
            count: int = connection.execute(statement).rowcount
        deleted += count
        if count < chunk:
            return deleted
