"""The group-commit callback writer on SQLite and PostgreSQL: one transaction per batch, and
of several deliveries of one key exactly one is told it created the row."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from botops.store.callbacks import CallbackWriter, NewCallback
from botops.store.db import session
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
