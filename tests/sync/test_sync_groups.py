"""`sync_groups` against the simulator over loopback HTTP, into a real SQLite file."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta

import pytest
from sqlmodel import select

from botops.simulator import Fault
from botops.simulator.seed import ensure_tag, external_userid
from botops.store.db import session
from botops.store.groups import FieldChange, GroupChange, group_member_ids, list_groups, targets
from botops.store.models import CorpTagRecord, GroupMember, GroupRecord, GroupStatus
from botops.sync import SyncReport, sync_groups
from botops.sync.report import SyncError, render_text
from tests.sync.conftest import CHAT_IDS, GROUPS, customers, dismiss, join, leave, rename

pytestmark = pytest.mark.anyio
GET = "externalcontact/groupchat/get"


async def sync(make_client, engine, clock, **options) -> SyncReport:
    async with make_client() as client:
        return await sync_groups(client, engine, clock, **options)


def rows(engine, model):
    with session(engine) as s:
        return list(s.exec(select(model)).all())


def snapshot(engine) -> dict[str, tuple]:
    """Everything a sync writes except its own timestamp."""
    with session(engine) as s:
        groups = {
            g.chat_id: (g.name, g.owner, g.notice, g.status, g.member_version, g.member_count)
            for g in s.exec(select(GroupRecord)).all()
        }
        members = {
            (m.chat_id, m.userid): (m.join_time, m.left_at, m.invitor)
            for m in s.exec(select(GroupMember)).all()
        }
        tags = {t.tag_id: t.name for t in s.exec(select(CorpTagRecord)).all()}
    return {"groups": groups, "members": members, "tags": tags}


async def test_first_sync_stores_groups_members_and_corp_tags(make_client, engine, clock):
    progress: list[tuple[int, int]] = []
    report = await sync(make_client, engine, clock, progress=lambda d, t: progress.append((d, t)))

    assert report.ok
    assert (report.listed, report.fetched) == (6, 6)
    assert sorted(c.chat_id for c in report.new) == CHAT_IDS
    assert report.changed == []
    assert report.dismissed == []
    total = sum(g["member_count"] + 1 for g in GROUPS)  # customers + the owner
    assert report.members_in_new_groups == total
    assert (report.members_joined, report.members_left) == (0, 0)
    assert len(report.corp_tags.added) == 2  # 打卡挑战, 讲座
    assert progress[0] == (0, 6)
    assert progress[-1] == (6, 6)
    assert len(progress) == 7

    stored = {g.chat_id: g for g in rows(engine, GroupRecord)}
    assert set(stored) == set(CHAT_IDS)
    first = stored["wrSync1"]
    assert (first.name, first.owner, first.status) == ("打卡1群", "zhangsan", GroupStatus.ACTIVE)
    assert first.created_at == GROUPS[1]["created_at"]
    assert first.member_count == 5  # 4 customers + zhangsan, as WeCom lists them
    assert first.synced_at == clock.now()
    assert len(rows(engine, GroupMember)) == total
    with session(engine) as s:
        member = s.get(GroupMember, ("wrSync1", external_userid("wrSync1", 0)))
    assert member is not None
    assert (member.member_type, member.invitor, member.left_at) == (2, "zhangsan", None)
    assert member.join_scene in (1, 2, 3)
    assert {t.name for t in rows(engine, CorpTagRecord)} == {"打卡挑战", "讲座"}


async def test_datetimes_come_back_timezone_aware_utc(make_client, engine, clock, sim):
    await sync(make_client, engine, clock)
    leave(sim, "wrSync2", customers(sim, "wrSync2")[0])
    await sync(make_client, engine, clock)
    moments = [g.created_at for g in rows(engine, GroupRecord)]
    moments += [g.synced_at for g in rows(engine, GroupRecord)]
    moments += [m.join_time for m in rows(engine, GroupMember)]
    moments += [m.left_at for m in rows(engine, GroupMember) if m.left_at]
    assert len(moments) > 12
    assert all(m is not None and m.tzinfo is UTC for m in moments)


async def test_second_sync_with_nothing_changed_changes_nothing(make_client, engine, clock):
    await sync(make_client, engine, clock)
    before = snapshot(engine)
    clock.advance(timedelta(hours=1))
    report = await sync(make_client, engine, clock)
    assert report.ok
    assert (report.new, report.changed, report.dismissed) == ([], [], [])
    assert report.unchanged == 6
    assert (report.members_joined, report.members_left, report.members_in_new_groups) == (0, 0, 0)
    assert not report.corp_tags.changed
    assert snapshot(engine) == before
    assert all(g.synced_at == clock.now() for g in rows(engine, GroupRecord))


async def test_next_sync_reports_exactly_what_changed(make_client, engine, clock, sim):
    await sync(make_client, engine, clock)
    clock.advance(timedelta(days=1))
    gone = customers(sim, "wrSync2")[1]
    join(sim, "wrSync1", "wmNewcomer", at=clock.now())
    leave(sim, "wrSync2", gone)
    rename(sim, "wrSync3", "打卡3群（冲刺）", notice="今晚八点直播")
    dismiss(sim, "wrSync4")

    report = await sync(make_client, engine, clock)

    assert report.ok
    changed = {c.chat_id: c for c in report.changed}
    assert set(changed) == {"wrSync1", "wrSync2", "wrSync3"}
    assert (changed["wrSync1"].joined, changed["wrSync1"].left) == (("wmNewcomer",), ())
    assert (changed["wrSync2"].joined, changed["wrSync2"].left) == ((), (gone,))
    fields = {(f.field, f.old, f.new) for f in changed["wrSync3"].fields}
    assert fields == {("name", "打卡3群", "打卡3群（冲刺）"), ("notice", "", "今晚八点直播")}
    assert changed["wrSync3"].joined == changed["wrSync3"].left == ()
    assert [g.chat_id for g in report.dismissed] == ["wrSync4"]
    assert (report.members_joined, report.members_left) == (1, 1)
    assert report.unchanged == 2
    assert report.listed == 5

    with session(engine) as s:
        left = s.get(GroupMember, ("wrSync2", gone))
        newcomer = s.get(GroupMember, ("wrSync1", "wmNewcomer"))
        dismissed = s.get(GroupRecord, "wrSync4")
        assert gone not in group_member_ids(s, "wrSync2")
        assert gone in group_member_ids(s, "wrSync2", current=False)
        assert [t.id for t in targets(s)] == ["wrSync0", "wrSync1", "wrSync2", "wrSync3", "wrSync5"]
    assert left is not None
    assert left.left_at == clock.now()
    assert newcomer is not None
    assert (newcomer.join_scene, newcomer.join_time) == (3, clock.now())
    assert dismissed is not None
    assert dismissed.status == GroupStatus.DISMISSED
    assert dismissed.dismissed_at == clock.now()
    group = next(g for g in rows(engine, GroupRecord) if g.chat_id == "wrSync2")
    assert group.member_count == GROUPS[2]["member_count"]  # one customer fewer, plus the owner


async def test_a_member_who_comes_back_is_in_the_group_again(make_client, engine, clock, sim):
    userid = customers(sim, "wrSync0")[0]
    await sync(make_client, engine, clock)
    leave(sim, "wrSync0", userid)
    await sync(make_client, engine, clock)
    join(sim, "wrSync0", userid, at=clock.now() + timedelta(hours=2))
    clock.advance(timedelta(hours=3))
    report = await sync(make_client, engine, clock)
    assert [(c.chat_id, c.joined) for c in report.changed] == [("wrSync0", (userid,))]
    with session(engine) as s:
        member = s.get(GroupMember, ("wrSync0", userid))
    assert member is not None
    assert member.left_at is None
    assert member.join_time == clock.now() - timedelta(hours=1)


async def test_owner_change_and_wecom_status_are_stored(make_client, engine, clock, sim):
    await sync(make_client, engine, clock)
    with sim.lock:
        sim.state.groups["wrSync5"].owner = "wangwu"
        sim.state.groups["wrSync5"].status = 1  # the owner left the corp
    report = await sync(make_client, engine, clock)
    assert [(f.field, f.old, f.new) for c in report.changed for f in c.fields] == [
        ("owner", "zhangsan", "wangwu")
    ]
    with session(engine) as s:
        group = s.get(GroupRecord, "wrSync5")
    assert group is not None
    assert (group.owner, group.wecom_status) == ("wangwu", 1)


async def test_corp_tag_changes_are_reported(make_client, engine, clock, sim):
    await sync(make_client, engine, clock)
    with sim.lock:
        tags = sim.state.tag_groups[0].tags
        renamed, removed = tags[0], tags[1]
        old_name = renamed.name
        renamed.name = "百日打卡"
        tags.remove(removed)
    with sim.lock:
        added = ensure_tag(sim.state, "快闪群", 0)
    report = await sync(make_client, engine, clock)
    assert report.corp_tags.added == [added.id]
    assert report.corp_tags.removed == [removed.id]
    assert [(r.tag_id, r.old, r.new) for r in report.corp_tags.renamed] == [
        (renamed.id, old_name, "百日打卡")
    ]
    assert {t.name for t in rows(engine, CorpTagRecord)} == {"百日打卡", "快闪群"}


async def test_failing_groups_are_reported_and_block_dismissal(make_client, engine, clock, sim):
    await sync(make_client, engine, clock)
    clock.advance(timedelta(hours=1))  # a sync dismisses only rows written before its listing
    rename(sim, "wrSync5", "改名了")
    dismiss(sim, "wrSync4")
    # Permanent rejections for the first two groupchat/get calls (in list order: wrSync0, 1).
    sim.faults.add(Fault("errcode", api=GET, times=2, errcode=60011, errmsg="no privilege"))

    report = await sync(make_client, engine, clock, concurrency=1)

    assert not report.ok
    assert [(e.stage, e.chat_id) for e in report.errors] == [
        ("fetch", "wrSync0"),
        ("fetch", "wrSync1"),
    ]
    assert "60011" in report.errors[0].message
    assert [c.chat_id for c in report.changed] == ["wrSync5"]  # the others still synced
    assert report.listing_complete
    assert not report.dismissals_checked
    assert report.dismissed == []
    with session(engine) as s:
        assert [g.chat_id for g in list_groups(s, status=GroupStatus.DISMISSED)] == []

    rerun = await sync(make_client, engine, clock)
    assert rerun.ok
    assert rerun.errors == []
    assert [g.chat_id for g in rerun.dismissed] == ["wrSync4"]
    assert rerun.changed == []
    assert rerun.unchanged == 5


async def test_a_failed_listing_stores_no_group_and_dismisses_nothing(
    make_client, engine, clock, sim
):
    await sync(make_client, engine, clock)
    dismiss(sim, "wrSync0")
    sim.faults.add(Fault("errcode", api="externalcontact/groupchat/list", errcode=60011))
    report = await sync(make_client, engine, clock)
    assert [(e.stage, e.chat_id) for e in report.errors] == [("list", None)]
    assert not report.listing_complete
    assert report.fetched == 0
    assert report.dismissed == []
    with session(engine) as s:
        assert len(list_groups(s)) == 6


async def test_cancelled_sync_keeps_completed_groups_and_a_rerun_finishes(
    make_client, engine, clock, sim
):
    await sync(make_client, engine, clock)
    clock.advance(timedelta(hours=1))
    dismiss(sim, "wrSync5")
    for chat_id in CHAT_IDS[:5]:
        rename(sim, chat_id, f"{chat_id}-新名字")
    report = SyncReport()

    async with make_client() as client:
        task: asyncio.Task[SyncReport] | None = None

        def cancel_after_two(done: int, total: int) -> None:
            if done == 2 and task is not None:
                task.cancel()

        task = asyncio.ensure_future(
            sync_groups(
                client, engine, clock, progress=cancel_after_two, concurrency=1, report=report
            )
        )
        with pytest.raises(asyncio.CancelledError):
            await task

    assert report.interrupted
    assert not report.ok
    assert [c.chat_id for c in report.changed] == ["wrSync0", "wrSync1"]
    assert report.dismissed == []
    assert not report.dismissals_checked
    with session(engine) as s:
        names = {g.chat_id: g.name for g in list_groups(s)}
    assert names["wrSync1"] == "wrSync1-新名字"
    assert names["wrSync2"] == "打卡2群"
    assert "wrSync5" in names  # still active: an interrupted sync proves nothing

    rerun = await sync(make_client, engine, clock)
    assert rerun.ok
    assert [c.chat_id for c in rerun.changed] == ["wrSync2", "wrSync3", "wrSync4"]
    assert rerun.unchanged == 2
    assert [g.chat_id for g in rerun.dismissed] == ["wrSync5"]


class CountingClient:
    """Delegates to a real client and records how many groupchat/get calls overlap."""

    def __init__(self, client) -> None:
        self._client = client
        self.in_flight = 0
        self.most = 0

    async def list_group_chats(self, status_filter: int = 0):
        return await self._client.list_group_chats(status_filter)

    async def get_corp_tags(self):
        return await self._client.get_corp_tags()

    async def get_group_chat(self, chat_id: str):
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            return await self._client.get_group_chat(chat_id)
        finally:
            self.in_flight -= 1


async def test_concurrency_is_bounded(make_client, engine, clock):
    async with make_client() as client:
        counting = CountingClient(client)
        report = await sync_groups(counting, engine, clock, concurrency=3)
    assert report.ok
    assert report.fetched == 6
    assert counting.most == 3


async def test_concurrency_must_be_positive(make_client, engine, clock):
    with pytest.raises(ValueError, match="concurrency"):
        await sync(make_client, engine, clock, concurrency=0)


def test_report_text_and_json_agree():
    report = SyncReport(listed=2, listing_complete=True)
    report.record(GroupChange("wrA", "A群", fields=(FieldChange("name", "旧", "A群"),)))
    report.errors.append(SyncError("fetch", "wrB", "WeCom externalcontact/groupchat/get: boom"))
    text = render_text(report)
    assert "changed  wrA A群: name '旧' → 'A群'" in text
    assert "error    wrB: WeCom externalcontact/groupchat/get: boom" in text
    assert text.rstrip().endswith(
        "incomplete: 1 error(s), 1 of 2 groups stored; no group was marked dismissed"
        " — run `botops sync` again to finish"
    )
    data = report.as_json()
    assert data["ok"] is False
    assert data["groups"]["changed"][0]["fields"] == [{"field": "name", "old": "旧", "new": "A群"}]
    assert data["errors"] == [
        {"stage": "fetch", "chat_id": "wrB", "message": "WeCom externalcontact/groupchat/get: boom"}
    ]


async def test_a_group_gone_between_list_and_get_is_dismissed(make_client, engine, clock, sim):
    await sync(make_client, engine, clock)
    # WeCom answers 90501 "not a customer group" for a group dismissed since the listing.
    sim.faults.add(
        Fault("errcode", api=GET, times=1, errcode=90501, errmsg="not a customer group chat")
    )

    report = await sync(make_client, engine, clock, concurrency=1)

    assert report.ok
    assert report.vanished == ["wrSync0"]
    assert [g.chat_id for g in report.dismissed] == ["wrSync0"]
    with session(engine) as s:
        assert [g.chat_id for g in list_groups(s, status=GroupStatus.DISMISSED)] == ["wrSync0"]


async def test_a_configuration_error_stops_the_sync_at_once(make_client, engine, clock, sim):
    await sync(make_client, engine, clock)
    sim.faults.add(Fault("errcode", api=GET, times=1, errcode=48002, errmsg="api forbidden"))
    calls_before = sim.count(GET)

    report = await sync(make_client, engine, clock, concurrency=1)

    assert report.aborted
    assert [(e.stage, e.chat_id) for e in report.errors] == [("fetch", "wrSync0")]  # once, not 6x
    assert report.fetched == 0
    assert report.dismissed == []
    assert sim.count(GET) - calls_before == 1


async def test_a_configuration_error_on_corp_tags_fetches_no_group(make_client, engine, clock, sim):
    sim.faults.add(
        Fault(
            "errcode",
            api="externalcontact/get_corp_tag_list",
            errcode=40001,
            errmsg="invalid secret",
        )
    )
    report = await sync(make_client, engine, clock)
    assert report.aborted
    assert [e.stage for e in report.errors] == ["corp_tags"]
    assert sim.count(GET) == 0
