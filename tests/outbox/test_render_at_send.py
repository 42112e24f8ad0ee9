"""Messages showing check-in figures go out with the figures of the moment they are due:
planned a day ahead, rendered when claimed, split per text, cancelled when nothing is left
to say — through the real dispatcher, simulator and ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from botops.checkins.message import Message
from botops.checkins.route import score
from botops.clock import FrozenClock
from botops.outbox.queue import claim
from botops.planning.planner import Window
from botops.planning.policy import SendPolicy
from botops.simulator import Simulator
from botops.simulator.seed import external_userid
from botops.store.db import session
from botops.store.models import SendState
from tests.helpers import local
from tests.outbox.support import World, group_spec, world

pytestmark = pytest.mark.anyio

PLAYBOOK = {
    "camp.yaml": """\
        id: camp
        name: 打卡营
        anchor: 2026-03-01
        audience: {tags: {any: [打卡]}}
        checkin: {keywords: [打卡]}
        steps:
          - id: evening
            schedule: {days: {from: 1, to: 30}, time: '20:00'}
            text: "{% if checkin.not_checked_in %}第{{ day }}天还没打卡：{{ checkin.not_checked_in | join('、') }}（已打卡{{ checkin.today_count }}人）{% endif %}"
        """
}
SEED = [group_spec("wrA1", "zhangsan"), group_spec("wrA2", "zhangsan")]
TAGS = {"wrA1": ["打卡"], "wrA2": ["打卡"]}
POLICY = SendPolicy.model_validate(
    {"quiet_hours": None, "receive_cap": {"period": "day", "limit": 5}}
)
EVENING = local("2026-03-02 20:00")


@asynccontextmanager
async def planned(tmp_path: Path) -> AsyncIterator[World]:
    """The evening reminders planned in the morning, before anyone checked in."""
    clock = FrozenClock(local("2026-03-02 08:00"))
    sim = Simulator.from_groups(SEED, clock=clock)
    async with world(tmp_path, sim, clock, PLAYBOOK, TAGS, POLICY) as w:
        w.plan(Window(local("2026-03-02 00:00"), local("2026-03-03 00:00")))
        yield w


def check_in(w: World, chat_id: str, index: int) -> None:
    message = Message(
        msgid=f"m-{chat_id}-{index}",
        chat_id=chat_id,
        sender_id=external_userid(chat_id, index),
        sender_name=f"客户{index + 1}",
        text="打卡",
        sent_at=w.clock.now(),
        source="test",
    )
    with session(w.engine) as s:
        [result] = score(s, w.library, message, w.clock.now(), "Asia/Shanghai")
        assert result.decision.scored


def sent_texts(w: World) -> dict[str, str]:
    """chat_id -> text of the task WeCom holds for it."""
    return {
        t.target_id: (task.text or {}).get("content", "")
        for task in w.sim_tasks()
        for t in task.targets
    }


async def test_the_text_is_rendered_with_the_figures_of_the_moment_it_is_due(tmp_path):
    async with planned(tmp_path) as w:
        assert {r.state for r in w.rows().values()} == {SendState.PLANNED}
        w.clock.set(local("2026-03-02 12:00"))
        check_in(w, "wrA1", 0)
        check_in(w, "wrA2", 1)
        check_in(w, "wrA2", 2)
        w.clock.set(EVENING)
        report = await w.dispatcher.dispatch()
        assert len(report.submitted) == 2
        assert sent_texts(w) == {
            "wrA1": "第2天还没打卡：客户2、客户3（已打卡1人）",
            "wrA2": "第2天还没打卡：客户1（已打卡2人）",
        }
        rows = w.rows()
        assert {r.target_id: r.text for r in rows.values()} == sent_texts(w)
        # one text per task: the planned batch was split, and the split was written
        assert len({r.batch for r in rows.values()}) == 2


async def test_groups_whose_texts_still_agree_stay_one_task(tmp_path):
    async with planned(tmp_path) as w:
        w.clock.set(local("2026-03-02 12:00"))
        for chat in ("wrA1", "wrA2"):
            check_in(w, chat, 0)
            check_in(w, chat, 1)
        w.clock.set(EVENING)
        await w.dispatcher.dispatch()
        [task] = w.sim_tasks()
        assert sorted(t.target_id for t in task.targets) == ["wrA1", "wrA2"]
        assert task.text == {"content": "第2天还没打卡：客户3（已打卡2人）"}


async def test_a_message_that_renders_empty_when_due_is_cancelled_not_sent(tmp_path):
    async with planned(tmp_path) as w:
        w.clock.set(local("2026-03-02 12:00"))
        for index in range(3):
            check_in(w, "wrA1", index)
        w.clock.set(EVENING)
        await w.dispatcher.dispatch()
        assert set(sent_texts(w)) == {"wrA2"}
        row = next(r for r in w.rows().values() if r.target_id == "wrA1")
        assert row.state is SendState.CANCELLED
        assert row.error == "at send time: message rendered empty"
        # a cancelled row is never claimed again
        with session(w.engine) as s:
            assert claim(s, EVENING, "another-worker") == []
