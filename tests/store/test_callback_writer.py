"""The group-commit callback writer on SQLite and PostgreSQL: one transaction per batch, and
of several deliveries of one key exactly one is told it created the row."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from botops.store.callbacks import (
    CallbackWriter,
    NewCallback,
    finish_callback,
    pending_callbacks,
    prune_callbacks,
    store_callback,
)
from botops.store.db import open_database, session
from botops.store.models import CallbackEvent

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def callback(key: str) -> NewCallback:
    return NewCallback(key, "UnknownEvent", None, "<xml/>", NOW)


def stored(engine: Engine) -> dict[str, int | None]:
    with session(engine) as s:
        return {row.dedup_key: row.id for row in s.exec(select(CallbackEvent)).all()}


@pytest.mark.anyio
async def test_a_batch_with_one_key_twice_gives_the_new_row_to_one_of_them(
    engine: Engine,
) -> None:
    writer = CallbackWriter(engine)
    # gathered before the writer runs: one batch, one transaction
    outcomes = await asyncio.gather(
        *(writer.store(callback(key)) for key in ["a", "b", "a", "c", "a", "b"])
    )
    rows = stored(engine)
    assert sorted(rows) == ["a", "b", "c"]
    assert outcomes == [rows["a"], rows["b"], None, rows["c"], None, None]
    # a later redelivery, alone in its batch
    assert await writer.store(callback("b")) is None
    assert await writer.store(callback("d")) is not None
    assert len(stored(engine)) == 4


def test_pending_callbacks_are_read_through_their_index_not_a_table_scan(tmp_path: Path) -> None:
    # Handling runs after every stored callback; a scan would walk every row ever handled.
    engine = open_database(f"sqlite:///{tmp_path / 'botops.db'}")
    query = pending_callbacks(100, NOW).compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as connection:
        plan = [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}")]
    engine.dispose()
    # The groups waiting to retry too: read once (a list, not a correlated subquery per row).
    assert plan == [
        "SCAN callback_events USING INDEX ix_callback_events_pending",
        "LIST SUBQUERY 1",
        "SCAN callback_events_1 USING INDEX ix_callback_events_pending",
    ]


@pytest.mark.anyio
async def test_pending_callbacks_are_the_unhandled_ones_oldest_first(engine: Engine) -> None:
    writer = CallbackWriter(engine)
    ids = [await writer.store(callback(key)) for key in "abcd"]
    with session(engine) as s:
        for row_id in ids[:2]:
            assert row_id is not None
            finish_callback(s, row_id, NOW)
        s.commit()
        assert [row.dedup_key for row in s.exec(pending_callbacks(1, NOW)).all()] == ["c"]
        assert [row.dedup_key for row in s.exec(pending_callbacks(5, NOW)).all()] == ["c", "d"]


def test_pruning_deletes_only_handled_callbacks_older_than_the_cut(engine: Engine) -> None:
    rows = {  # key: (days before NOW it arrived, handled?)
        "old-handled-1": (40, True),
        "old-handled-2": (35, True),
        "old-handled-3": (31, True),
        "old-pending": (45, False),
        "new-handled": (3, True),
        "new-pending": (1, False),
    }
    with session(engine) as s:
        for key, (days, handled) in rows.items():
            at = NOW - timedelta(days=days)
            row_id = store_callback(
                s, dedup_key=key, kind="UnknownEvent", chat_id=None, payload="<xml/>", now=at
            )
            assert row_id is not None
            if handled:
                finish_callback(s, row_id, at)
        s.commit()
    # a chunk smaller than the backlog: several transactions, all of it deleted
    assert prune_callbacks(engine, NOW - timedelta(days=30), chunk=2) == 3
    assert sorted(stored(engine)) == ["new-handled", "new-pending", "old-pending"]
    assert prune_callbacks(engine, NOW - timedelta(days=30), chunk=2) == 0
    # a redelivery of a pruned key is stored again; of a kept one, not
    with session(engine) as s:
        again = store_callback(
            s, dedup_key="old-handled-1", kind="UnknownEvent", chat_id=None, payload="", now=NOW
        )
        assert again is not None
        assert (
            store_callback(
                s, dedup_key="new-handled", kind="UnknownEvent", chat_id=None, payload="", now=NOW
            )
            is None
        )
