"""Handle stored callbacks (botops.webhook.app stores them; this acts on them), oldest first.

    change_external_chat create/update   a hint: re-fetch groupchat/get (callbacks can be lost
                                         or reordered) unless the stored member_version already
                                         matches a members-only change, then upsert the group
    change_external_chat dismiss         mark the group dismissed; cancel its PLANNED sends
    anything else                        processed: stored and logged, never an error

A failure is written to the row's `error` and the row stays pending, so the next round
retries it; later events of the same group wait for it, to keep that group's order.
Handling is idempotent (upserts and conditional updates), so two runs racing is harmless.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import Engine, update
from sqlmodel import col, select

from botops.clock import Clock
from botops.errors import BotopsError
from botops.store.db import session
from botops.store.groups import upsert_group
from botops.store.models import CallbackEvent as StoredCallback
from botops.store.models import GroupRecord, GroupStatus, OutboxRow, SendState
from botops.webhook.decode import parse_event
from botops.webhook.events import ExternalChatEvent
from botops.wecom.client import WeComClient

log = structlog.get_logger()

BATCH = 200
MEMBER_ONLY = frozenset({"add_member", "del_member"})


@dataclass(frozen=True, slots=True)
class _Pending:
    id: int
    kind: str
    chat_id: str | None
    payload: str


async def process_pending(engine: Engine, client: WeComClient, clock: Clock) -> int:
    """Handle the unprocessed stored callbacks in order; returns how many were processed."""
    pending = await asyncio.to_thread(_pending, engine)
    blocked: set[str] = set()  # groups with an event that failed this round
    done = 0
    for row in pending:
        if row.chat_id is not None and row.chat_id in blocked:
            continue
        try:
            await _handle(engine, client, clock, row)
        except (BotopsError, OSError) as exc:  # WeComError, MalformedCallback, a database hiccup
            log.error("webhook.process_failed", id=row.id, kind=row.kind, error=str(exc))
            await asyncio.to_thread(_finish, engine, row.id, None, str(exc) or type(exc).__name__)
            if row.chat_id is not None:
                blocked.add(row.chat_id)
            continue
        await asyncio.to_thread(_finish, engine, row.id, clock.now(), "")
        done += 1
    return done


def _pending(engine: Engine) -> list[_Pending]:
    with session(engine) as s:
        rows = s.exec(
            select(StoredCallback)
            .where(col(StoredCallback.processed_at).is_(None))
            .order_by(col(StoredCallback.id))
            .limit(BATCH)
        ).all()
        return [_Pending(r.id or 0, r.kind, r.chat_id, r.payload) for r in rows]


def _finish(engine: Engine, row_id: int, processed_at: datetime | None, error: str) -> None:
    with session(engine) as s:
        s.execute(
            update(StoredCallback)
            .where(col(StoredCallback.id) == row_id)
            .values(processed_at=processed_at, error=error)
        )


async def _handle(engine: Engine, client: WeComClient, clock: Clock, row: _Pending) -> None:
    event = parse_event(row.payload.encode("utf-8"))
    if not isinstance(event, ExternalChatEvent):
        log.info("webhook.event_ignored", id=row.id, kind=row.kind, wecom_event=event.event)
        return
    if event.change_type == "dismiss":
        cancelled = await asyncio.to_thread(_dismiss, engine, event.chat_id, clock.now())
        log.info("webhook.group_dismissed", chat_id=event.chat_id, cancelled=cancelled)
        return
    if await asyncio.to_thread(_up_to_date, engine, event):
        log.info("webhook.group_current", chat_id=event.chat_id, change=event.change_type)
        return
    chat = await client.get_group_chat(event.chat_id)
    with session(engine) as s:
        change = upsert_group(s, chat, clock.now())
    log.info("webhook.group_refreshed", chat_id=event.chat_id, new=change.new)


def _up_to_date(engine: Engine, event: ExternalChatEvent) -> bool:
    """A members-only change whose version we already hold needs no groupchat/get."""
    if event.update_detail not in MEMBER_ONLY or not event.cur_mem_ver:
        return False
    with session(engine) as s:
        group = s.get(GroupRecord, event.chat_id)
        return group is not None and group.member_version == event.cur_mem_ver


def _dismiss(engine: Engine, chat_id: str, now: datetime) -> int:
    """Mark the group dismissed and cancel its PLANNED sends; returns how many were cancelled."""
    with session(engine) as s:
        group = s.get(GroupRecord, chat_id)
        if group is not None and group.status != GroupStatus.DISMISSED:
            group.status, group.dismissed_at = GroupStatus.DISMISSED, now
            s.add(group)
        result = s.execute(
            update(OutboxRow)
            .where(
                col(OutboxRow.target_id) == chat_id,
                col(OutboxRow.target_kind) == "group",
                col(OutboxRow.state) == SendState.PLANNED,
            )
            .values(state=SendState.CANCELLED, error="group dismissed", updated_at=now)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
