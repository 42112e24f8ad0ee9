"""Deleting old send history (`daemon.keep_sends`): finished outbox rows and mass-send tasks.

The outbox keeps every send's rendered text: a day at 10,000 groups (12,618 sends with the
example playbooks) added 10.8 MB to a SQLite file, ~4 GB a year before tasks.
Nothing but `botops report` reads a send once it is finished and past: planning looks back
six hours, tracking reads only tasks still waiting for staff, and reports reach back at most
366 days (the default keeps 400). Sends and tasks not yet finished are kept whatever their
age. The points ledger and the message log are not touched: leaderboards, streaks and
inactivity rules read them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Delete, Engine, delete, select

from botops.store.models import FINISHED_SENDS, FINISHED_TASKS, MassTask, OutboxRow

PRUNE_CHUNK = 5_000
"""Rows deleted per transaction, so the writers (the callback endpoint above all) never wait
long for SQLite's write lock."""

_OUTBOX: Any = OutboxRow.__table__  # type: ignore[attr-defined]
_TASKS: Any = MassTask.__table__  # type: ignore[attr-defined]


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
