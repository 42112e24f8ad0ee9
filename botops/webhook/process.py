"""Handle stored callbacks (botops.webhook.app stores them; this acts on them), oldest first.

    change_external_chat create/update   a hint: re-fetch groupchat/get (callbacks can be lost
                                         or reordered) unless the stored member_version already
                                         matches a members-only change, then upsert the group
    change_external_chat dismiss         mark the group dismissed; cancel its PLANNED sends
    change_external_chat del_member      also: the callback's time and QuitScene become the
                                         members' exact quit time (a re-fetch cannot know it)
    change_external_tag                  re-fetch the complete corp tag list
    change_external_contact del_*        the customer is no longer the staff member's contact:
                                         cancel that staff member's PLANNED sends to them
    AI-bot message                       one whose handling failed in the request: scored now,
                                         answered through its response_url (within the hour)
    anything else                        processed: stored and logged, never an error

A failure is written to the row's `error` and the row stays pending, retried with back-off
(`daemon.callback_retry_after`, doubling, at most 1 h apart); later events of the same group
wait for it, to keep that group's order. After GIVE_UP_AFTER failures (about six hours) the
row is given up on: processed, its error kept (`botops status` shows it; the first in an
hour is alerted to the ops robot), and the group's later events go on — the hourly sync
re-reads every group, so what the lost event would have changed is repaired.

Any exception while handling a row is that row's failure, not the run's: a playbook's reply
template dividing by zero or an odd WeCom answer must not hold up every later callback. Only
the database failing to record a failure (it is down) ends the run, which raises: the next
run tries again, rather than this one trying every row against a dead database.

The daemon runs this on the leader only and one run at a time (`SingleFlight`, serialised
with its other leader jobs). Should two runs overlap anyway (an ex-leader finishing a slow
call while the new leader runs), handling stays idempotent (upserts, conditional updates),
and a groupchat/get answer is never stored over a group row written after it was asked for:
a group dismissed meanwhile stays dismissed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Engine, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from botops.clock import Clock
from botops.errors import BotopsError, WeComRejectedError
from botops.playbook.library import PlaybookLibrary
from botops.preview.table_view import clean, truncate
from botops.store.alerts import CALLBACK_GIVEN_UP, hourly_key, record_alert
from botops.store.callbacks import finish_callback, pending_callbacks, retry_callback
from botops.store.corp_tags import replace_corp_tags
from botops.store.db import database_error, session
from botops.store.groups import GroupChange, upsert_group, written_since
from botops.store.models import GroupMember, GroupRecord, GroupStatus, OutboxRow, SendState
from botops.sync.groups import GROUP_GONE
from botops.webhook.aibot import parse_aibot_message
from botops.webhook.aibot_app import KIND as AIBOT_KIND
from botops.webhook.aibot_checkin import check_in
from botops.webhook.decode import parse_event
from botops.webhook.events import ExternalChatEvent, ExternalContactEvent, ExternalTagEvent
from botops.wecom.client import WeComClient
from botops.wecom.models import GroupChat

log = structlog.get_logger()

BATCH = 200
MEMBER_ONLY = frozenset({"add_member", "del_member"})
CONTACT_GONE = frozenset({"del_external_contact", "del_follow_user"})


RESPONSE_URL_TTL = timedelta(hours=1)  # WeCom: a response_url is valid for an hour

RETRY_LONGEST = timedelta(hours=1)
GIVE_UP_AFTER = 12  # failures: by default 1+2+4+8+16+32 min, then hourly: about six hours


def retry_delay(failures: int, first: timedelta) -> timedelta | None:
    """How long to wait after the `failures`-th failed attempt, or None: give up."""
    if failures >= GIVE_UP_AFTER:
        return None
    delay: timedelta = first * 2 ** min(failures - 1, 16)  # the cap, before it overflows
    return min(delay, RETRY_LONGEST)


@dataclass(frozen=True, slots=True)
class _Pending:
    id: int
    kind: str
    chat_id: str | None
    payload: str
    received_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class Handlers:
    """What handling needs besides WeCom: the playbooks (check-ins), the default zone, and
    the first wait before a failed callback is retried (`daemon.callback_retry_after`)."""

    library: Callable[[], PlaybookLibrary]
    tz_default: str
    retry_after: timedelta


async def process_pending(
    engine: Engine, client: WeComClient, clock: Clock, handlers: Handlers
) -> int:
    """Handle the unprocessed stored callbacks in order; returns how many were processed.
    Raises only when the database cannot record the outcome (see the module's docstring)."""
    pending = await asyncio.to_thread(_pending, engine, clock.now())
    failed: set[str] = set()  # groups with an event that failed this run: the rest wait
    done = 0
    for row in pending:
        if row.chat_id is not None and row.chat_id in failed:
            continue
        try:
            if row.kind == AIBOT_KIND:
                await _handle_aibot(engine, client, clock, handlers, row)
                done += 1
                continue
            await _handle(engine, client, clock, row)
        except Exception as exc:  # whatever it is, it is this row's failure
            await asyncio.to_thread(_failed, engine, row, exc, clock.now(), handlers)
            if row.chat_id is not None:
                failed.add(row.chat_id)
            continue
        await asyncio.to_thread(_finish, engine, row.id, clock.now())
        done += 1
    return done


class SingleFlight:
    """Runs `work` one call at a time however often it is asked for, losing no request.

    A request while a run is under way sets a flag (not a queue): when the run ends, it goes
    round once more, so a callback stored during a run is handled straight after it rather
    than at the next planning round. The caller that started the run carries it (awaits it);
    the others return at once. One event loop only.
    """

    def __init__(self, work: Callable[[], Awaitable[object]]) -> None:
        self._work = work
        self._again = False
        self._running = False

    async def run(self) -> None:
        self._again = True
        if self._running:
            return
        self._running = True
        try:
            while self._again:
                self._again = False
                await self._work()
        finally:
            self._running = False


def _pending(engine: Engine, now: datetime) -> list[_Pending]:
    with session(engine) as s:
        return [
            _Pending(r.id or 0, r.kind, r.chat_id, r.payload, r.received_at, r.attempts)
            for r in s.exec(pending_callbacks(BATCH, now)).all()
        ]


def _describe(exc: Exception) -> str:
    """The error kept on the row: our own errors say what they are; the database's in its
    driver's words (without the SQL and its parameters); anything else is a bug, so named."""
    if isinstance(exc, BotopsError | OSError):  # WeComError, MalformedCallback, network
        return str(exc) or type(exc).__name__
    if isinstance(exc, SQLAlchemyError):
        return f"database: {database_error(exc)}"
    return f"{type(exc).__name__}: {exc}"


def _finish(engine: Engine, row_id: int, now: datetime) -> None:
    with session(engine) as s:
        finish_callback(s, row_id, now)


def _failed(
    engine: Engine, row: _Pending, exc: Exception, now: datetime, handlers: Handlers
) -> None:
    failures = row.attempts + 1
    delay = retry_delay(failures, handlers.retry_after)
    error = _describe(exc)
    # A bug (not our error, the network's or the database's) gets its traceback in the log.
    trace = None if isinstance(exc, BotopsError | OSError | SQLAlchemyError) else exc
    with session(engine) as s:
        if delay is None:
            log.error(
                "webhook.process_gave_up",
                id=row.id,
                kind=row.kind,
                attempts=failures,
                error=error,
                exc_info=trace,
            )
            given_up = f"gave up after {failures} attempts: {error}"
            finish_callback(s, row.id, now, given_up, attempts=failures)
            # Ops hear of the first in an hour (the rest are in `botops status`).
            key = hourly_key(CALLBACK_GIVEN_UP, now, handlers.tz_default)
            text = given_up_alert(row.kind, row.chat_id, failures, error)
            record_alert(s, key, CALLBACK_GIVEN_UP, text, now)
        else:
            log.error(
                "webhook.process_failed",
                id=row.id,
                kind=row.kind,
                attempts=failures,
                retry_at=(now + delay).isoformat(),
                error=error,
                exc_info=trace,
            )
            retry_callback(s, row.id, error, failures, now + delay)


def given_up_alert(kind: str, chat_id: str | None, failures: int, error: str) -> str:
    """Markdown for the ops robot when a stored callback is given up on."""
    where = f"（群 {chat_id}）" if chat_id else ""
    if kind == AIBOT_KIND:
        consequence = "这条打卡消息没有计分，可用 `botops points adjust` 补上。"
    else:
        consequence = "它带来的客户群变化会由每小时的同步补上。"
    return (
        "**botops: 回调处理失败，已放弃**\n"
        f"> {kind}{where}：{truncate(' '.join(clean(error).split()), 200)}\n"
        f"重试 {failures} 次仍失败。{consequence}这一小时内的其他失败见 `botops status`。"
    )


async def _handle(engine: Engine, client: WeComClient, clock: Clock, row: _Pending) -> None:
    event = parse_event(row.payload.encode("utf-8"))
    if isinstance(event, ExternalTagEvent):
        tags = await client.get_corp_tags()
        with session(engine) as s:
            changes = replace_corp_tags(s, tags)
        log.info("webhook.corp_tags_refreshed", tag_id=event.tag_id, changed=changes.changed)
        return
    if isinstance(event, ExternalContactEvent):
        cancelled = await asyncio.to_thread(_contact_changed, engine, event, clock.now())
        log.info("webhook.contact_changed", change=event.change_type, cancelled=cancelled)
        return
    if not isinstance(event, ExternalChatEvent):
        log.info("webhook.event_ignored", id=row.id, kind=row.kind, wecom_event=event.event)
        return
    if event.change_type == "dismiss":
        cancelled = await asyncio.to_thread(_dismiss, engine, event.chat_id, clock.now())
        log.info("webhook.group_dismissed", chat_id=event.chat_id, cancelled=cancelled)
        return
    if await asyncio.to_thread(_up_to_date, engine, event):
        log.info("webhook.group_current", chat_id=event.chat_id, change=event.change_type)
    else:
        asked = clock.now()
        try:
            chat = await client.get_group_chat(event.chat_id)
        except WeComRejectedError as exc:
            if exc.errcode != GROUP_GONE:
                raise
            # Dismissed (or never a customer group) by the time we asked: a later dismiss
            # callback may be lost, so act now rather than retry forever.
            cancelled = await asyncio.to_thread(_dismiss, engine, event.chat_id, clock.now())
            log.info("webhook.group_gone", chat_id=event.chat_id, cancelled=cancelled)
            return
        change = await asyncio.to_thread(
            _store_group, engine, event.chat_id, chat, asked, clock.now()
        )
        if change is None:
            log.info("webhook.group_newer_in_store", chat_id=event.chat_id)
        else:
            log.info("webhook.group_refreshed", chat_id=event.chat_id, new=change.new)
    if event.update_detail == "del_member":
        await asyncio.to_thread(_record_quits, engine, event)


def _store_group(
    engine: Engine, chat_id: str, chat: GroupChat, asked: datetime, now: datetime
) -> GroupChange | None:
    """Store a groupchat/get answer asked for at `asked`, unless the group's row was written
    since (by a sync, a dismissal): then the answer is older than the row (None)."""
    with session(engine) as s:
        if written_since(s, chat_id, asked) is not None:
            return None
        return upsert_group(s, chat, now)


def _record_quits(engine: Engine, event: ExternalChatEvent) -> None:
    """The roster (from groupchat/get) says who is gone, the callback says when and how.
    Only members the roster has as gone are touched, and only when the callback's time fits
    (after they joined, before the sync that noticed): a late del_member callback for someone
    who has since rejoined changes nothing."""
    with session(engine) as s:
        for userid in event.member_userids:
            member = s.get(GroupMember, (event.chat_id, userid))
            if member is None or member.left_at is None or event.create_time > member.left_at:
                continue
            if member.join_time is not None and event.create_time < member.join_time:
                continue
            member.left_at, member.quit_scene = event.create_time, event.quit_scene
            s.add(member)


def _contact_changed(engine: Engine, event: ExternalContactEvent, now: datetime) -> int:
    """A customer who deleted the staff member (or was deleted) cannot receive their mass
    sends: cancel them rather than have WeCom fail them. Other changes need nothing: customer
    targets come from the groups file, their tags from `botops groups`."""
    if event.change_type not in CONTACT_GONE or not event.external_user_id:
        return 0
    with session(engine) as s:
        result = s.execute(
            update(OutboxRow)
            .where(
                col(OutboxRow.target_id) == event.external_user_id,
                col(OutboxRow.target_kind) != "group",
                col(OutboxRow.sender) == event.user_id,
                col(OutboxRow.state) == SendState.PLANNED,
            )
            .values(
                state=SendState.CANCELLED,
                error=f"customer is no longer a contact ({event.change_type})",
                updated_at=now,
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def _handle_aibot(
    engine: Engine, client: WeComClient, clock: Clock, handlers: Handlers, row: _Pending
) -> None:
    """Score, mark processed (one transaction), then answer: the answer is best effort, a
    scored check-in is never undone because the member could not be told."""
    bot = parse_aibot_message(row.payload.encode("utf-8"))

    def score_it() -> str:
        with session(engine) as s:
            reply = check_in(
                s, handlers.library(), bot, row.received_at, clock.now(), handlers.tz_default
            )
            finish_callback(s, row.id, clock.now())
        return reply

    reply = await asyncio.to_thread(score_it)
    if not reply or bot.response_url is None:
        return
    if clock.now() - row.received_at >= RESPONSE_URL_TTL:
        log.warning("aibot.reply_too_late", msgid=bot.msg_id)
        return
    try:
        await client.aibot_respond(bot.response_url, reply)
    except BotopsError as exc:
        log.warning("aibot.reply_failed", msgid=bot.msg_id, error=str(exc))
    except Exception as exc:  # scored and processed already: never retried
        log.error("aibot.reply_failed", msgid=bot.msg_id, error=_describe(exc), exc_info=exc)


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
