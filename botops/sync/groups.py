"""`sync_groups`: copy every customer group, its roster and the corp tag list into the store.

    get_corp_tag_list           -> corp_tags (one transaction)
    groupchat/list (all pages)  -> the set of live groups
    groupchat/get per group     -> one transaction per group, as soon as it arrives
    groupchat/get per unlisted  -> the same, for stored active groups the listing left out
    all of the above succeeded  -> groups WeCom refused (gone) are marked dismissed

Each group commits on its own so an interrupted sync keeps its work and a rerun continues
(upserts compare `member_version`, so what is already stored is left alone). Dismissing
needs proof that a group is gone: a listing that completed, every listed group fetched, *and*
every stored group the listing left out asked for. Not being listed is not proof on its own:
the pages of a listing that changes while it is read can skip a live group (one dismissed on
an earlier page shifts the rest back under an offset cursor), so a group groupchat/get still
returns is kept, and one it refuses (90501 "not a customer group", or any other rejection:
botops cannot reach it) is dismissed. Anything less (an error, Ctrl-C) dismisses nothing — a
stale "active" is harmless, a wrong "dismissed" would stop a playbook.

WeCom's frequency limit (45009) ends the sync at once: the block lasts the rest of the
exceeded window (a minute, an hour), so every further call would only meet 45009 again and
count against the limit. The next sync (`daemon.sync_every`) picks up where this one stopped.

Callbacks are handled while a sync runs, so the store can hold newer news than the sync:
- a group not listed is dismissed only if its row was last written from WeCom before the
  listing was asked for; one written since (its `create` callback handled mid-sync) is
  newer than the listing and stays, for the next sync to judge;
- a group's `groupchat/get` answer is not stored over a row written (refreshed, or
  dismissed by a callback) after that call was made: the row is newer than the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from botops.clock import Clock
from botops.errors import WeComConfigError, WeComError, WeComRejectedError
from botops.store.corp_tags import replace_corp_tags
from botops.store.db import session
from botops.store.groups import (
    GroupChange,
    mark_dismissed,
    unlisted_groups,
    upsert_group,
    written_since,
)
from botops.sync.report import SyncError, SyncReport
from botops.wecom.models import CorpTagGroup, GroupChat, GroupChatRef
from botops.wecom.responses import FrequencyLimited

log = structlog.get_logger()

# groupchat/get for a group dismissed after groupchat/list listed it: "not a customer group".
GROUP_GONE = 90501

Progress = Callable[[int, int], None]  # (groups done, groups listed)


class GroupSource(Protocol):
    """What a sync needs from WeCom (`WeComClient` provides it)."""

    async def list_group_chats(self, status_filter: int = 0) -> list[GroupChatRef]: ...

    async def get_group_chat(self, chat_id: str) -> GroupChat: ...

    async def get_corp_tags(self) -> list[CorpTagGroup]: ...


async def sync_groups(
    client: GroupSource,
    engine: Engine,
    clock: Clock,
    *,
    progress: Progress | None = None,
    concurrency: int = 8,
    report: SyncReport | None = None,
) -> SyncReport:
    """Sync groups and corp tags; errors are collected in the report, never raised.

    Pass `report` to keep what was done even when the task is cancelled (Ctrl-C): it is
    filled in as groups are written and marked `interrupted` on cancellation.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    report = report if report is not None else SyncReport()
    try:
        await _sync_corp_tags(client, engine, report)
        if report.aborted:
            return report
        listed_at = clock.now()  # rows written from WeCom since are newer than the listing
        try:
            refs = await client.list_group_chats(status_filter=0)
        except FrequencyLimited as exc:
            _stop_at_frequency_limit(report, SyncError("list", None, str(exc)))
            return report
        except WeComError as exc:
            report.errors.append(SyncError("list", None, str(exc)))
            return report
        # Pages of a list that changes while we read it can repeat an id.
        unique = list({ref["chat_id"]: ref for ref in refs}.values())
        report.listed, report.listing_complete = len(unique), True
        await _fetch_all(client, engine, clock, unique, report, progress, concurrency)
        if report.fetched + len(report.vanished) == report.listed:
            # Groups the listing left out are asked for one by one: gone, or only skipped.
            with session(engine) as s:
                report.unlisted = unlisted_groups(s, (r["chat_id"] for r in unique), listed_at)
            if report.unlisted:
                log.info("sync.groups.unlisted", count=len(report.unlisted))
                unlisted = [{"chat_id": chat_id} for chat_id in report.unlisted]
                await _fetch_all(
                    client, engine, clock, unlisted, report, None, concurrency, listed=False
                )
        if report.fetched + len(report.vanished) == report.listed + len(report.unlisted):
            checked = {r["chat_id"] for r in unique} | set(report.unlisted)
            present = checked - set(report.vanished)
            with session(engine) as s:
                report.dismissed = mark_dismissed(
                    s, present, clock.now(), listed_at=listed_at, vanished=report.vanished
                )
            report.dismissals_checked = True
    except asyncio.CancelledError:
        report.interrupted = True
        raise
    finally:
        log.info(
            "sync.groups",
            listed=report.listed,
            fetched=report.fetched,
            new=len(report.new),
            changed=len(report.changed),
            dismissed=len(report.dismissed),
            errors=len(report.errors),
            interrupted=report.interrupted,
            rate_limited=report.rate_limited,
        )
    return report


def _stop_at_frequency_limit(report: SyncReport, error: SyncError) -> None:
    """Record the first 45009 and stop: the calls still in flight when it came back meet the
    same block, and say nothing more."""
    if report.rate_limited:
        return
    report.rate_limited = True
    message = (
        f"{error.message} — WeCom's frequency limit was hit: the remaining groups were not "
        "fetched and none was marked dismissed; the sync runs again at its next time"
    )
    report.errors.append(SyncError(error.stage, error.chat_id, message))


async def _sync_corp_tags(client: GroupSource, engine: Engine, report: SyncReport) -> None:
    try:
        tag_groups = await client.get_corp_tags()
    except WeComError as exc:
        report.errors.append(SyncError("corp_tags", None, str(exc)))
        report.aborted = isinstance(exc, WeComConfigError)
        return
    with session(engine) as s:
        report.corp_tags = replace_corp_tags(s, tag_groups)


async def _fetch_all(
    client: GroupSource,
    engine: Engine,
    clock: Clock,
    refs: Sequence[Mapping[str, Any]],  # GroupChatRef, or {chat_id} when not `listed`
    report: SyncReport,
    progress: Progress | None,
    concurrency: int,
    *,
    listed: bool = True,
) -> None:
    """`concurrency` workers share one iterator: at most that many calls in flight, and no
    task per group (a corp can have tens of thousands)."""
    pending = iter(refs)
    done = 0
    if progress is not None:
        progress(0, len(refs))

    async def worker() -> None:
        nonlocal done
        for ref in pending:
            if report.aborted or report.rate_limited:
                return
            await _sync_one(client, engine, clock, ref, report, listed=listed)
            done += 1
            if progress is not None:
                progress(done, len(refs))

    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, len(refs))):
            group.create_task(worker())


async def _sync_one(
    client: GroupSource,
    engine: Engine,
    clock: Clock,
    ref: Mapping[str, Any],
    report: SyncReport,
    *,
    listed: bool,
) -> None:
    """Fetch and store one group. One not `listed` (a stored group the listing left out) is
    gone when WeCom refuses it for any reason, not only 90501: botops cannot reach it."""
    chat_id = ref["chat_id"]
    asked = clock.now()
    try:
        chat = await client.get_group_chat(chat_id)
    except FrequencyLimited as exc:
        _stop_at_frequency_limit(report, SyncError("fetch", chat_id, str(exc)))
        return
    except WeComRejectedError as exc:
        if exc.errcode == GROUP_GONE or not listed:  # gone (since the listing): dismissed
            report.vanished.append(chat_id)
        else:
            report.errors.append(SyncError("fetch", chat_id, str(exc)))
        return
    except WeComError as exc:  # the client already retried what was worth retrying
        report.errors.append(SyncError("fetch", chat_id, str(exc)))
        # Bad secret, API not permitted, IP not allowed: the same for every group.
        report.aborted = isinstance(exc, WeComConfigError)
        return
    # No await from here on: a cancellation lands before or after this group's transaction,
    # never inside it.
    try:
        try:
            change = _store(engine, clock, chat, ref, asked)
        except IntegrityError:
            # A new group that the callback handling inserted between our read and our
            # insert: read again, and its row (newer than our answer) wins.
            change = _store(engine, clock, chat, ref, asked)
    except Exception as exc:
        # A malformed answer or a database conflict for one group must not stop the others;
        # it is reported, and makes the sync (and `botops sync`) fail.
        log.warning("sync.group.store_failed", chat_id=chat_id, error=type(exc).__name__)
        report.errors.append(SyncError("store", chat_id, f"{type(exc).__name__}: {exc}"))
        return
    report.record(change)


def _store(
    engine: Engine, clock: Clock, chat: GroupChat, ref: Mapping[str, Any], asked: datetime
) -> GroupChange:
    with session(engine) as s:
        newer = written_since(s, chat["chat_id"], asked)
        if newer is None:
            return upsert_group(s, chat, clock.now(), wecom_status=ref.get("status"))
        log.info("sync.group.newer_in_store", chat_id=chat["chat_id"], status=str(newer.status))
        return GroupChange(chat["chat_id"], newer.name)  # this sync changed nothing
