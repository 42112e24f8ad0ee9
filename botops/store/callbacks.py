"""Stored callbacks (`callback_events`): written before WeCom gets its answer, handled after.

Storing is insert-or-ignore on the dedup key, so a redelivery changes nothing; handling marks
the row processed, or records the error and leaves it pending until its retry time (the
back-off is botops.webhook.process's); handled rows are pruned after `daemon.keep_callbacks`.

The callback endpoint stores through a `CallbackWriter` (one writer, group commit); the AI-bot
endpoint and tests store through `store_callback` inside their own session. Both run the same
statement, built once per dialect and executed with bound parameters: building
`insert(...).values(...)` per call makes SQLAlchemy coerce the values, compute a cache key over
them and compile afresh every time (3× the cost of the insert itself on SQLite).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Engine, Insert, delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, or_, select
from sqlmodel.sql.expression import SelectOfScalar

from botops.store.models import CallbackEvent
from botops.store.retention import PRUNE_CHUNK, delete_in_chunks

_TABLE: Any = CallbackEvent.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class NewCallback:
    """A verified, decoded callback to store."""

    dedup_key: str
    kind: str
    chat_id: str | None
    payload: str
    received_at: datetime

    def parameters(self) -> dict[str, Any]:
        return {
            "dedup_key": self.dedup_key,
            "kind": self.kind,
            "chat_id": self.chat_id,
            "payload": self.payload,
            "received_at": self.received_at,
            "processed_at": None,
            "error": "",
            "attempts": 0,
            "retry_at": None,
        }


@cache
def _insert_or_ignore(dialect: str) -> Insert:
    """`INSERT ... ON CONFLICT (dedup_key) DO NOTHING RETURNING id, dedup_key`, values bound at
    execution: a key comes back only when this statement created its row."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(_TABLE)
        .on_conflict_do_nothing(index_elements=[_TABLE.c.dedup_key])
        .returning(_TABLE.c.id, _TABLE.c.dedup_key)
    )


def _insert(connection: Connection, callbacks: Sequence[NewCallback]) -> list[int | None]:
    """Insert-or-ignore `callbacks` in one statement (SQLAlchemy sends a multi-row VALUES);
    per callback, its new row's id or None. Of several callbacks with one key (concurrent
    deliveries in one batch) only the first gets the id."""
    statement = _insert_or_ignore(connection.dialect.name)
    rows = connection.execute(statement, [c.parameters() for c in callbacks])
    new: dict[str, int] = {key: row_id for row_id, key in rows}
    return [new.pop(c.dedup_key, None) for c in callbacks]


def store_callback(
    session: Session, *, dedup_key: str, kind: str, chat_id: str | None, payload: str, now: datetime
) -> int | None:
    """The new row's id, or None when this dedup key is stored already (a redelivery)."""
    return _insert(session.connection(), [NewCallback(dedup_key, kind, chat_id, payload, now)])[0]


def pending_callbacks(limit: int, now: datetime) -> SelectOfScalar[CallbackEvent]:
    """The oldest `limit` callbacks to handle now: not yet handled, not waiting to retry, and
    not of a group with a callback waiting to retry (its later ones wait, to keep its order).

    Waiting groups are left out here rather than skipped after the read: 200 pending events
    of one group that keeps failing must not fill every batch and hide the other groups'.
    Both scans go through the partial index that holds only pending rows
    (ix_callback_events_pending), however many have been handled before. The waiting groups
    are an uncorrelated `NOT IN`, read once per query (a hashed subplan on PostgreSQL, a
    temporary index on SQLite); SQLite would rerun a correlated `NOT EXISTS` for every
    candidate row (0.5 s instead of 5 ms at 20,000 pending)."""
    waiting = aliased(CallbackEvent)
    waiting_groups = select(waiting.chat_id).where(
        col(waiting.processed_at).is_(None),
        col(waiting.retry_at) > now,
        col(waiting.chat_id).is_not(None),  # NOT IN over a NULL would match nothing
    )
    chat_id = col(CallbackEvent.chat_id)
    return (
        select(CallbackEvent)
        .where(
            col(CallbackEvent.processed_at).is_(None),
            or_(col(CallbackEvent.retry_at).is_(None), col(CallbackEvent.retry_at) <= now),
            or_(chat_id.is_(None), chat_id.not_in(waiting_groups)),
        )
        .order_by(col(CallbackEvent.id))
        .limit(limit)
    )


def prune_callbacks(engine: Engine, before: datetime, *, chunk: int = PRUNE_CHUNK) -> int:
    """Delete handled callbacks received before `before`; how many. Pending rows stay,
    whatever their age: they still have to be handled."""
    oldest = (
        select(_TABLE.c.id)
        .where(_TABLE.c.received_at < before, _TABLE.c.processed_at.is_not(None))
        .order_by(_TABLE.c.received_at)
        .limit(chunk)
        .scalar_subquery()
    )
    return delete_in_chunks(engine, delete(_TABLE).where(_TABLE.c.id.in_(oldest)), chunk)


def finish_callback(
    session: Session,
    row_id: int,
    processed_at: datetime,
    error: str = "",
    *,
    attempts: int | None = None,
) -> None:
    """Processed: handled (no `error`), or given up on (`error` says why) after `attempts`."""
    values: dict[str, object] = {"processed_at": processed_at, "error": error, "retry_at": None}
    if attempts is not None:
        values["attempts"] = attempts
    session.execute(update(CallbackEvent).where(col(CallbackEvent.id) == row_id).values(values))


def retry_callback(
    session: Session, row_id: int, error: str, attempts: int, retry_at: datetime
) -> None:
    """Failed `attempts` times so far: still pending, not to be tried again before `retry_at`."""
    session.execute(
        update(CallbackEvent)
        .where(col(CallbackEvent.id) == row_id)
        .values(error=error, attempts=attempts, retry_at=retry_at)
    )


Outcome = int | None | Exception
"""A stored row's id, None for a redelivery, or why storing failed."""


class CallbackWriter:
    """Stores callbacks from concurrent requests through one writer, committing them in
    batches ("group commit"); each caller gets its own row's outcome only after the commit.

    Why: SQLite takes one writer at a time. An insert per request on the default executor means
    several threads, each with its own connection, contending for the write lock; the losers
    sleep in SQLite's busy handler (steps of 1-100 ms) while the winner waits for the GIL, so
    p99 latency reaches hundreds of milliseconds. Here at most one batch is being written at
    any moment (on a worker thread, off the event loop); requests arriving meanwhile queue up
    and go together in the next transaction, so a commit is shared by everyone who waited for
    it. PostgreSQL gets the same: one connection, fewer commits.

    Guarantees, as for an insert per request: `store` returns only once the row is committed
    (the caller answers 200 after that, never before); the insert is insert-or-ignore on
    `dedup_key`, so of concurrent deliveries of one event — in one batch or not — exactly one
    gets the new row's id and the others None. If a batch fails, its rows are retried one
    transaction each, so one bad row fails only its own request.

    Nothing to start or stop: the writer task exists only while rows are waiting and ends when
    the queue is empty; a server that stops after its requests finish leaves nothing behind.
    Use it from one event loop at a time.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._waiting: list[tuple[NewCallback, asyncio.Future[int | None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def store(self, callback: NewCallback) -> int | None:
        """The new row's id once committed, or None when the dedup key is stored already."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int | None] = loop.create_future()
        self._waiting.append((callback, future))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write_all())
        elif self._writer.get_loop() is not loop:
            raise RuntimeError("a CallbackWriter serves one event loop at a time")
        return await future

    async def _write_all(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                outcomes = await asyncio.to_thread(self._commit, [c for c, _ in batch])
            except BaseException:  # cancelled (the loop is closing): nobody gets an answer
                for _, future in batch + self._waiting:
                    future.cancel()
                self._waiting = []
                raise
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # its request was cancelled meanwhile
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    def _commit(self, batch: Sequence[NewCallback]) -> list[Outcome]:
        try:
            with self._engine.begin() as connection:
                return list(_insert(connection, batch))
        except Exception as exc:  # handed to the callers, who answer 500
            if len(batch) == 1:
                return [exc]
        return [self._commit_one(callback) for callback in batch]

    def _commit_one(self, callback: NewCallback) -> Outcome:
        try:
            with self._engine.begin() as connection:
                return _insert(connection, [callback])[0]
        except Exception as exc:  # handed to its caller
            return exc
