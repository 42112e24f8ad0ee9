"""A sync racing the callbacks handled while it runs, on SQLite and PostgreSQL.

The hourly sync lists the groups, then fetches them one by one; meanwhile the leader keeps
handling stored callbacks (`process_pending`). Whatever a callback wrote from WeCom after the
sync asked is newer than what the sync holds: a group created mid-sync is not dismissed for
missing from the listing, and a group dismissed (or refreshed) mid-sync is not overwritten
by the older `groupchat/get` answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from botops.clock import FrozenClock
from botops.playbook.library import PlaybookLibrary
from botops.simulator import Simulator
from botops.store.callbacks import store_callback
from botops.store.db import session
from botops.store.groups import get_group, group_member_ids, targets, upsert_group
from botops.store.models import GroupStatus
from botops.sync import SyncReport, sync_groups
from botops.webhook.process import Handlers, process_pending
from botops.wecom.client import WeComClient
from tests.helpers import BACKENDS, migrated_engine
from tests.sync.conftest import CHAT_IDS, customers, dismiss, join

pytestmark = pytest.mark.anyio
NO_PLAYBOOKS = Handlers(lambda: PlaybookLibrary([], {}, {}), "Asia/Shanghai", timedelta(minutes=1))
MID_SYNC = timedelta(minutes=1)  # how far into the sync the callback is handled


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request.param, tmp_path)


class Meanwhile:
    """The real client, except that `during()` runs once while the sync waits for the
    `groupchat/get` of `chat_id` — after WeCom answered it, before the sync stores it."""

    def __init__(
        self, client: WeComClient, chat_id: str, during: Callable[[], Awaitable[None]]
    ) -> None:
        self._client, self._chat_id, self._during = client, chat_id, during
        self.ran = False

    async def list_group_chats(self, status_filter: int = 0) -> Any:
        return await self._client.list_group_chats(status_filter)

    async def get_corp_tags(self) -> Any:
        return await self._client.get_corp_tags()

    async def get_group_chat(self, chat_id: str) -> Any:
        answer = await self._client.get_group_chat(chat_id)
        if chat_id == self._chat_id and not self.ran:
            self.ran = True
            await self._during()
        return answer


def chat_event(clock: FrozenClock, chat_id: str, change: str, **extra: str) -> str:
    fields = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in extra.items())
    return (
        "<xml><ToUserName><![CDATA[corp]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{int(clock.now().timestamp())}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_chat]]></Event>"
        f"<ChatId><![CDATA[{chat_id}]]></ChatId>"
        f"<ChangeType><![CDATA[{change}]]></ChangeType>{fields}</xml>"
    )


async def callback(
    engine: Engine, client: WeComClient, clock: FrozenClock, chat_id: str, change: str, **extra: str
) -> None:
    """WeCom's callback arrives, is stored, and the leader handles it (as the daemon does)."""
    with session(engine) as s:
        store_callback(
            s,
            dedup_key=f"{chat_id}:{change}:{clock.now().isoformat()}",
            kind="ExternalChatEvent",
            chat_id=chat_id,
            payload=chat_event(clock, chat_id, change, **extra),
            now=clock.now(),
        )
    assert await process_pending(engine, client, clock, NO_PLAYBOOKS) == 1


async def sync_while(
    make_client: Callable[..., WeComClient],
    engine: Engine,
    clock: FrozenClock,
    chat_id: str,
    during: Callable[[WeComClient], Awaitable[None]],
) -> SyncReport:
    """One sync; while it waits for `chat_id`'s groupchat/get, time passes and `during` runs."""
    async with make_client() as client:

        async def meanwhile() -> None:
            clock.advance(MID_SYNC)
            await during(client)

        source = Meanwhile(client, chat_id, meanwhile)
        report = await sync_groups(source, engine, clock, concurrency=1)
    assert source.ran
    return report


async def test_a_group_created_during_the_sync_is_not_dismissed_by_it(
    make_client, engine, clock, sim: Simulator
):
    async with make_client() as client:
        assert (await sync_groups(client, engine, clock)).ok
    clock.advance(timedelta(hours=1))
    dismiss(sim, "wrSync4")  # its dismiss callback was lost: this sync must still notice

    async def created(client: WeComClient) -> None:
        sim.add_groups([{"chat_id": "wrSyncNew", "name": "新群", "owner": "lisi"}])
        await callback(engine, client, clock, "wrSyncNew", "create")

    report = await sync_while(make_client, engine, clock, "wrSync2", created)

    assert report.ok
    assert report.dismissals_checked
    assert [g.chat_id for g in report.dismissed] == ["wrSync4"]
    with session(engine) as s:
        new = get_group(s, "wrSyncNew")
        assert (new.status, new.dismissed_at) == (GroupStatus.ACTIVE, None)
        assert "wrSyncNew" in [t.id for t in targets(s)]
        assert get_group(s, "wrSync4").status == GroupStatus.DISMISSED

    # The next sync lists it; one after it is gone (callback lost again) dismisses it.
    clock.advance(timedelta(hours=1))
    async with make_client() as client:
        report = await sync_groups(client, engine, clock)
    assert report.ok
    assert report.dismissed == []
    dismiss(sim, "wrSyncNew")
    clock.advance(timedelta(hours=1))
    async with make_client() as client:
        report = await sync_groups(client, engine, clock)
    assert [g.chat_id for g in report.dismissed] == ["wrSyncNew"]


async def test_a_group_dismissed_during_the_sync_is_not_brought_back_by_it(
    make_client, engine, clock, sim: Simulator
):
    async with make_client() as client:
        assert (await sync_groups(client, engine, clock)).ok
    clock.advance(timedelta(hours=1))

    async def dismissed(client: WeComClient) -> None:
        dismiss(sim, "wrSync3")
        await callback(engine, client, clock, "wrSync3", "dismiss")

    report = await sync_while(make_client, engine, clock, "wrSync3", dismissed)

    with session(engine) as s:
        group = get_group(s, "wrSync3")
        assert (group.status, group.dismissed_at) == (GroupStatus.DISMISSED, clock.now())
        assert [t.id for t in targets(s)] == [c for c in CHAT_IDS if c != "wrSync3"]
    assert report.ok
    assert (report.fetched, report.unchanged, report.changed, report.dismissed) == (6, 6, [], [])


async def test_a_group_refreshed_during_the_sync_keeps_the_newer_roster(
    make_client, engine, clock, sim: Simulator
):
    async with make_client() as client:
        assert (await sync_groups(client, engine, clock)).ok
    clock.advance(timedelta(hours=1))

    async def joined(client: WeComClient) -> None:
        join(sim, "wrSync1", "wmNewcomer", at=clock.now())
        await callback(
            engine, client, clock, "wrSync1", "update", UpdateDetail="add_member", JoinScene="3"
        )

    report = await sync_while(make_client, engine, clock, "wrSync1", joined)

    with session(engine) as s:
        assert "wmNewcomer" in group_member_ids(s, "wrSync1")
        assert get_group(s, "wrSync1").synced_at == clock.now()  # the callback's write
    assert "wmNewcomer" in customers(sim, "wrSync1")
    assert report.ok
    assert report.changed == []  # the callback's refresh, not this sync, added the newcomer


async def test_a_group_the_callbacks_insert_while_the_sync_inserts_it_is_no_error(
    make_client, engine, clock, sim: Simulator
):
    """A new group's callback and the sync both find no row and insert it: the one that
    commits second must not fail (the sync would then dismiss nothing that round)."""
    raced: list[str] = []

    def callback_first(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if (
            raced
            or not statement.startswith("INSERT INTO groups ")
            or "wrSync2" not in str(parameters)
        ):
            return
        raced.append("wrSync2")  # the callback handler's write, on its own connection
        clock.advance(MID_SYNC)
        with session(engine) as s:
            upsert_group(
                s, {"chat_id": "wrSync2", "name": "回调先到", "owner": "lisi"}, clock.now()
            )

    event.listen(engine, "before_cursor_execute", callback_first)
    try:
        async with make_client() as client:
            report = await sync_groups(client, engine, clock, concurrency=1)
    finally:
        event.remove(engine, "before_cursor_execute", callback_first)
    assert raced == ["wrSync2"]
    assert report.errors == []
    assert report.ok
    assert report.dismissals_checked
    with session(engine) as s:
        assert get_group(s, "wrSync2").name == "回调先到"  # newer than what the sync asked
        assert sorted(t.id for t in targets(s)) == sorted(CHAT_IDS)
