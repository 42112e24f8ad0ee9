"""WeCom's frequency limit (45009) ends a group sync at once: the block lasts the rest of the
exceeded window (wecom-api.md §1), so each further call would only meet it again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from botops.clock import FrozenClock
from botops.simulator import Fault, Simulator
from botops.store.db import session
from botops.store.groups import list_groups
from botops.store.models import GroupStatus
from botops.sync import SyncReport, sync_groups
from botops.sync.report import render_text
from tests.sync.conftest import dismiss

pytestmark = pytest.mark.anyio
GET = "externalcontact/groupchat/get"
LIST = "externalcontact/groupchat/list"
CONCURRENCY = 8
GROUPS = [
    {"chat_id": f"wrLimit{i:03d}", "name": f"群{i}", "owner": "zhangsan", "member_count": 3}
    for i in range(200)
]


@pytest.fixture
def sim(clock: FrozenClock) -> Simulator:
    return Simulator.from_groups(GROUPS, clock=clock)


async def sync(make_client, engine, clock) -> SyncReport:
    async with make_client() as client:
        return await sync_groups(client, engine, clock, concurrency=CONCURRENCY)


def limited() -> Fault:
    return Fault("errcode", api=GET, times=10**6, errcode=45009, errmsg="api freq out of limit")


async def test_the_frequency_limit_stops_the_sync_and_dismisses_nothing(
    make_client, engine, clock, sim
):
    assert (await sync(make_client, engine, clock)).ok
    clock.advance(timedelta(hours=1))
    dismiss(sim, "wrLimit007")
    sim.faults.add(limited())
    calls_before = sim.count(GET)

    report = await sync(make_client, engine, clock)

    # At most the calls already in flight when the first 45009 came back, none retried
    # (it was 800 calls: 200 groups x 4 attempts).
    assert sim.count(GET) - calls_before <= CONCURRENCY
    assert report.rate_limited
    assert not report.aborted  # not a configuration error: no "sync broken" alert
    assert not report.ok
    (error,) = report.errors  # once, not once per group
    assert error.stage == "fetch"
    assert "45009" in error.message
    assert "frequency limit" in error.message
    assert "runs again at its next time" in error.message
    assert report.fetched == 0
    assert not report.dismissals_checked
    assert report.dismissed == []
    assert "WeCom's frequency limit was hit" in render_text(report)
    assert report.as_json()["rate_limited"] is True
    with session(engine) as s:
        assert list_groups(s, status=GroupStatus.DISMISSED) == []

    sim.faults.clear()  # the window has passed: the next sync finishes the job
    clock.advance(timedelta(hours=1))
    rerun = await sync(make_client, engine, clock)
    assert rerun.ok
    assert not rerun.rate_limited
    assert [g.chat_id for g in rerun.dismissed] == ["wrLimit007"]


async def test_the_frequency_limit_on_the_listing_is_asked_once(make_client, engine, clock, sim):
    sim.faults.add(Fault("errcode", api=LIST, times=10**6, errcode=45009))
    report = await sync(make_client, engine, clock)
    assert report.rate_limited
    assert [(e.stage, e.chat_id) for e in report.errors] == [("list", None)]
    assert "frequency limit" in report.errors[0].message
    assert sim.count(LIST) == 1
    assert sim.count(GET) == 0
