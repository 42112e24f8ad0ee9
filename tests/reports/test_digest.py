"""The daily digest: the pure markdown builder (content, the 4,096-byte limit) and
`send_digest` against the real WeCom simulator's robot endpoint over loopback."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from botops.config import Settings
from botops.playbook.library import PlaybookLibrary
from botops.reports.digest import (
    MARKDOWN_LIMIT,
    DigestInputs,
    FailedSend,
    FlaggedGroup,
    StaffBacklog,
    build_digest,
    build_failed_sends_alert,
)
from botops.senders.digest import send_digest
from botops.simulator import Simulator
from botops.simulator.faults import Fault
from botops.store.db import session
from botops.store.models import DigestRun, MassTask, OutboxRow, SendState
from botops.wecom.robot import RobotClient
from tests.helpers import SHANGHAI, local
from tests.reports.support import add_group, make_library

NOW = local("2026-03-10 09:00")


def test_the_digest_lists_flags_waiting_staff_and_failures():
    inputs = DigestInputs(
        flagged=[
            FlaggedGroup("wr-a", "打卡一群", "3 天内没有打卡（阈值 2）", NOW - timedelta(days=2))
        ],
        backlog=[
            StaffBacklog("lisi", 1, NOW - timedelta(minutes=40)),
            StaffBacklog("zhangsan", 3, NOW - timedelta(hours=26)),
        ],
        failed=[
            FailedSend("daily", "evening", "wr-b", "打卡二群", "WeCom 41001:\nbad", NOW),
            FailedSend("daily", "morning", "wm-x", "", "", NOW),
        ],
        failed_count=2,
    )
    text = build_digest(inputs, NOW, SHANGHAI)
    assert text.splitlines() == [
        "## botops 每日运营简报 3月10日 周二",
        "",
        '**不活跃的群** <font color="warning">1 个</font>',
        "> 打卡一群：3 天内没有打卡（阈值 2）（2 天前标记）",
        "",
        '**待员工确认的群发任务** <font color="warning">4 个</font>，2 位员工',
        "> zhangsan：3 个任务，最早的已等 1 天",
        "> lisi：1 个任务，最早的已等 40 分钟",
        "",
        '**近 24 小时发送失败** <font color="warning">2 条</font>',
        "> daily / evening → 打卡二群：WeCom 41001: bad",
        "> daily / morning → wm-x：未知错误",
    ]


def test_a_stopped_group_sync_comes_first_and_is_no_quiet_day():
    inputs = DigestInputs([], [], [], 0, sync_stopped_at=NOW - timedelta(hours=5))
    assert build_digest(inputs, NOW, SHANGHAI).splitlines() == [
        "## botops 每日运营简报 3月10日 周二",
        "",
        '**客户群同步已中断** <font color="warning">上次成功在 5 小时前</font>',
        "> 请检查企业微信 Secret 和服务器的可信 IP（/readyz 会给出原因）",
    ]


def test_the_failed_sends_alert_lists_examples_and_the_count():
    failed = [
        FailedSend("daily", "morning", "wr-a", "打卡一群", "WeCom 40058:\ninvalid param", NOW),
        FailedSend("daily", "morning", "wm-x", "", "", NOW),
    ]
    assert build_failed_sends_alert(failed, 7).splitlines() == [
        '**botops: 发送失败** <font color="warning">7 条</font>',
        "> daily / morning → 打卡一群：WeCom 40058: invalid param",
        "> daily / morning → wm-x：未知错误",
        "> …还有 5 个",
        "企业微信拒绝了这些消息，不会自动重试。详情见 `botops status`，每日简报会汇总。",
    ]


def test_a_quiet_day_says_so():
    text = build_digest(DigestInputs([], [], [], 0), NOW, SHANGHAI)
    assert "一切正常" in text


def test_a_long_digest_is_trimmed_under_the_limit_keeping_every_section():
    name = "非常活跃的百日打卡挑战群" * 3
    inputs = DigestInputs(
        flagged=[
            FlaggedGroup(f"wr-{i}", f"{name}{i}", "3 天内没有消息（阈值 1）", NOW)
            for i in range(300)
        ],
        backlog=[StaffBacklog(f"staff-{i:03d}", 2, NOW - timedelta(hours=i)) for i in range(80)],
        failed=[FailedSend("daily", "evening", f"wr-{i}", name, "x" * 500, NOW) for i in range(5)],
        failed_count=42,
    )
    text = build_digest(inputs, NOW, SHANGHAI)
    assert len(text.encode("utf-8")) <= MARKDOWN_LIMIT
    assert '**不活跃的群** <font color="warning">300 个</font>' in text
    assert '<font color="warning">160 个</font>，80 位员工' in text
    assert '**近 24 小时发送失败** <font color="warning">42 条</font>' in text
    more = [line for line in text.splitlines() if line.startswith("> …还有 ")]
    assert len(more) == 3
    shown = sum(1 for line in text.splitlines() if line.startswith("> ")) - len(more)
    hidden = sum(int(line.split()[2]) for line in more)
    assert shown + hidden == 300 + 80 + 42  # every item is either shown or counted
    assert max(len(line) for line in text.splitlines()) < 120  # long errors are clipped


# --- sending ---------------------------------------------------------------------------------


@pytest.fixture
def library(tmp_path: Path) -> PlaybookLibrary:
    return make_library(tmp_path)


@pytest.fixture
def key(sim: Simulator) -> str:
    return sim.config.robot_keys[0]


def seed(engine: Engine) -> None:
    """A flagged-to-be group, a task waiting for staff, a failed send; and two tasks still
    waiting that no staff member has to confirm: one its sender confirmed (sent to some of
    its groups), one withdrawn by ops."""
    add_group(engine, "wr-a", name="打卡一群", tags=["打卡"])
    with session(engine) as s:
        s.add(MassTask(msgid="msg-1", sender="zhangsan", created_at=NOW - timedelta(hours=5)))
        nine_hours_ago = NOW - timedelta(hours=9)
        s.add(
            MassTask(
                msgid="msg-confirmed",
                sender="zhangsan",
                created_at=nine_hours_ago,
                sender_confirmed_at=nine_hours_ago + timedelta(minutes=10),
            )
        )
        s.add(
            MassTask(
                msgid="msg-withdrawn",
                sender="lisi",
                created_at=nine_hours_ago,
                withdrawn_at=NOW - timedelta(hours=1),
            )
        )
        s.add(
            OutboxRow(
                key="daily:evening:wr-a:1",
                playbook="daily",
                step="evening",
                target_id="wr-a",
                sender="zhangsan",
                planned_at=NOW,
                due_at=NOW,
                expires_at=NOW,
                state=SendState.FAILED,
                error="WeCom 41001: access_token missing",
                updated_at=NOW - timedelta(hours=1),
            )
        )


async def digest(
    engine: Engine,
    robot: RobotClient,
    key: str | None,
    library: PlaybookLibrary,
    at: datetime,
    settings: Settings | None = None,
) -> bool:
    return await send_digest(engine, robot, key, library.playbooks, settings or Settings(), at)


@pytest.mark.anyio
async def test_the_digest_goes_out_once_a_day_at_its_time(
    engine: Engine,
    library: PlaybookLibrary,
    make_robot: Callable[..., RobotClient],
    sim: Simulator,
    key: str,
):
    seed(engine)
    async with make_robot() as robot:
        assert not await digest(engine, robot, key, library, local("2026-03-10 08:59"))
        assert not await digest(engine, robot, None, library, NOW)  # no robot_key: nothing
        assert await digest(engine, robot, key, library, NOW)
        assert not await digest(engine, robot, key, library, local("2026-03-10 09:01"))
        assert not await digest(engine, robot, key, library, local("2026-03-10 23:59"))
        assert await digest(engine, robot, key, library, local("2026-03-11 09:30"))
    messages = sim.robot_messages()
    assert [m.msgtype for m in messages] == ["markdown", "markdown"]
    content = messages[0].body["markdown"]["content"]
    assert "3月10日" in content
    assert "> 打卡一群：3 天内没有打卡（阈值 2）（0 分钟前标记）" in content  # evaluated first
    assert "> zhangsan：1 个任务，最早的已等 5 小时" in content  # not the one confirmed
    assert "lisi" not in content  # withdrawn: nothing to confirm
    assert '**待员工确认的群发任务** <font color="warning">1 个</font>，1 位员工' in content
    assert "> daily / evening → 打卡一群：WeCom 41001: access_token missing" in content
    assert "同步已中断" not in content  # the group was synced this morning
    later = messages[1].body["markdown"]["content"]
    assert "发送失败" not in later  # a day later: none
    assert "**客户群同步已中断**" in later  # a day without a sync (sync_every 1h, 3 allowed)


@pytest.mark.anyio
async def test_a_digest_that_was_not_posted_goes_out_at_the_next_call(
    engine: Engine,
    library: PlaybookLibrary,
    make_robot: Callable[..., RobotClient],
    sim: Simulator,
    key: str,
):
    seed(engine)
    sim.faults.add(Fault("errcode", times=3, api="webhook/send", errcode=-1))  # busy, 3 tries
    async with make_robot() as robot:
        assert not await digest(engine, robot, key, library, NOW)
        with session(engine) as s:
            assert s.exec(select(DigestRun)).all() == []  # unclaimed
        assert await digest(engine, robot, key, library, NOW + timedelta(minutes=1))
    assert len(sim.robot_messages()) == 1


@pytest.mark.anyio
async def test_a_rejected_digest_is_not_retried_that_day(
    engine: Engine,
    library: PlaybookLibrary,
    make_robot: Callable[..., RobotClient],
    sim: Simulator,
):
    seed(engine)
    async with make_robot() as robot:
        assert not await digest(engine, robot, "not-a-robot-key", library, NOW)
        assert not await digest(
            engine, robot, "not-a-robot-key", library, NOW + timedelta(minutes=1)
        )
    with session(engine) as s:
        assert [r.local_day.isoformat() for r in s.exec(select(DigestRun))] == ["2026-03-10"]
    assert sim.robot_messages() == []


@pytest.mark.anyio
async def test_no_digest_when_turned_off(
    engine: Engine,
    library: PlaybookLibrary,
    make_robot: Callable[..., RobotClient],
    sim: Simulator,
    key: str,
):
    off = Settings.model_validate({"reports": {"digest_at": None}})
    async with make_robot() as robot:
        assert not await digest(engine, robot, key, library, NOW, off)
    assert sim.robot_messages() == []
