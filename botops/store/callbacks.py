"""Stored callbacks (`callback_events`): written before WeCom gets its answer, handled after.

Storing is insert-or-ignore on the dedup key, so a redelivery changes nothing; handling marks
the row processed, or records the error and leaves it pending for the next round.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from botops.store.models import CallbackEvent


def store_callback(
    session: Session, *, dedup_key: str, kind: str, chat_id: str | None, payload: str, now: datetime
) -> int | None:
    """The new row's id, or None when this dedup key is stored already (a redelivery)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(CallbackEvent)
        .values(
            dedup_key=dedup_key,
            kind=kind,
            chat_id=chat_id,
            payload=payload,
            received_at=now,
            processed_at=None,
            error="",
        )
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(col(CallbackEvent.id))
    )
    row = session.execute(statement).first()
    return None if row is None else int(row[0])


def finish_callback(
    session: Session, row_id: int, processed_at: datetime | None, error: str = ""
) -> None:
    """Processed (`processed_at` set), or failed: `error` kept, still pending."""
    session.execute(
        update(CallbackEvent)
        .where(col(CallbackEvent.id) == row_id)
        .values(processed_at=processed_at, error=error)
    )
