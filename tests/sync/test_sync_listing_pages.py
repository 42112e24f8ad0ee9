"""groupchat/list read page by page while WeCom's groups change under it.

WeCom's cursor is opaque; the simulator's is an offset, like many. A group dismissed on a page
already read shifts the later ones back, so the next page starts one group too far and a live
group is never listed. Not being listed is no proof a group is gone: only groupchat/get can
say so (90501), and a group it still returns stays active.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from botops.errors import WeComRejectedError, WeComRetryableError
from botops.simulator import Simulator
from botops.store.db import session
from botops.store.groups import get_group, list_groups
from botops.store.models import GroupStatus
from botops.sync import sync_groups
from botops.wecom.client import WeComClient
from tests.sync.conftest import CHAT_IDS, dismiss, rename

pytestmark = pytest.mark.anyio
LIST = "/cgi-bin/externalcontact/groupchat/list"
GET = "externalcontact/groupchat/get"


class BetweenPages(httpx.AsyncBaseTransport):
    """Real HTTP to the simulator; `after_first_page` runs once WeCom answered page 1."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.after_first_page: Any = None
        self.pages = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.url.path == LIST:
            self.pages += 1
            if self.pages == 1 and self.after_first_page is not None:
                self.after_first_page()
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class SmallPages:
    """The real client, listing two groups a page (a corp with thousands, scaled down)."""

    def __init__(self, client: WeComClient) -> None:
        self._client = client

    async def list_group_chats(self, status_filter: int = 0) -> Any:
        return await self._client.list_group_chats(status_filter, limit=2)

    async def get_group_chat(self, chat_id: str) -> Any:
        return await self._client.get_group_chat(chat_id)

    async def get_corp_tags(self) -> Any:
        return await self._client.get_corp_tags()


async def test_a_group_skipped_by_a_shifting_cursor_is_not_dismissed(
    make_client, engine, clock, sim: Simulator
):
    transport = BetweenPages()
    async with make_client(transport=transport) as client:
        assert (await sync_groups(SmallPages(client), engine, clock)).ok
        clock.advance(timedelta(hours=1))
        rename(sim, CHAT_IDS[2], "改名了")
        transport.pages = 0
        # Pages of two: [0, 1] read; 0 is dismissed; page 2 starts at offset 2 of [1..5]: 3.
        transport.after_first_page = lambda: dismiss(sim, CHAT_IDS[0])
        report = await sync_groups(SmallPages(client), engine, clock)

    assert transport.pages == 3
    assert report.listed == 5  # 2 never listed
    assert report.ok, report.errors
    assert [g.chat_id for g in report.dismissed] == [CHAT_IDS[0]]
    assert report.dismissals_checked
    assert report.unlisted == [CHAT_IDS[2]]
    with session(engine) as s:
        skipped = get_group(s, CHAT_IDS[2])
        active = [g.chat_id for g in list_groups(s)]
    assert skipped.status == GroupStatus.ACTIVE
    assert skipped.name == "改名了"  # fetched, so refreshed too
    assert active == CHAT_IDS[1:]


@pytest.mark.parametrize(
    ("error", "dismissed"),
    [
        # Still unreachable after the client's retries: nothing proves it gone, and a sync
        # that could not check every group it would dismiss dismisses none.
        (WeComRetryableError(GET, -1, "system busy"), []),
        # Refused for good (say the app's visible range no longer covers its owner): unlisted
        # and refused, it is gone as far as botops can reach it, as before.
        (
            WeComRejectedError(GET, 60011, "no privilege to access/modify contact/party/agent"),
            [CHAT_IDS[3]],
        ),
    ],
)
async def test_an_unlisted_group_is_checked_before_it_is_dismissed(
    make_client, engine, clock, sim: Simulator, error, dismissed
):
    async with make_client() as client:
        assert (await sync_groups(client, engine, clock)).ok
        clock.advance(timedelta(hours=1))
        with sim.lock:
            sim.state.groups[CHAT_IDS[3]].owner = "离职员工"
        report = await sync_groups(
            Unlisting(client, hidden=CHAT_IDS[3], error=error), engine, clock
        )
    assert report.listed == 5
    assert report.unlisted == [CHAT_IDS[3]]
    assert [g.chat_id for g in report.dismissed] == dismissed
    assert report.dismissals_checked == bool(dismissed)
    with session(engine) as s:
        assert get_group(s, CHAT_IDS[3]).status == (
            GroupStatus.DISMISSED if dismissed else GroupStatus.ACTIVE
        )


class Unlisting(SmallPages):
    """WeCom leaving one group out of the listing, and answering `error` when it is asked for."""

    def __init__(self, client: WeComClient, *, hidden: str, error: Exception) -> None:
        super().__init__(client)
        self._hidden, self._error = hidden, error

    async def list_group_chats(self, status_filter: int = 0) -> Any:
        listed = await super().list_group_chats(status_filter)
        return [ref for ref in listed if ref["chat_id"] != self._hidden]

    async def get_group_chat(self, chat_id: str) -> Any:
        if chat_id == self._hidden:
            raise self._error
        return await super().get_group_chat(chat_id)
