"""100 days of the shipped checkin-100days playbook in seconds: the daemon's Cycle, built by
botops/daemon/runtime.py, against the simulator (staff confirm 5 minutes after creation) on
one FrozenClock that jumps from one due send to the next."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from botops.clock import FrozenClock
from botops.config import Settings
from botops.daemon.cycle import CycleReport
from botops.daemon.runtime import runtime
from botops.planning.planner import Window, plan
from botops.planning.sends import Status
from botops.playbook.library import load_library
from botops.simulator import SimConfig, Simulator
from botops.simulator.server import running_simulator
from botops.store.db import open_database, session
from botops.store.groups import add_group_tags, targets
from botops.store.models import Enrolment, MassTask, MassTaskTarget, OutboxRow, SendState
from botops.sync.groups import sync_groups
from botops.wecom.client import WeComClient
from botops.wecom.models import SEND_SENT
from tests.helpers import REPO, SHANGHAI, local
from tests.outbox.support import ADD, group_spec

pytestmark = pytest.mark.anyio

PLAYBOOK = "checkin-100days"
START = local("2026-12-01 06:00")  # the groups are enrolled now: Day 1 is 2026-12-01
DAY_ONE = date(2026, 12, 1)
END = local("2027-03-11 00:00")  # after Day 100 (2027-03-10)
SEED = [
    group_spec("wrTT1", "zhangsan", []),
    group_spec("wrTT2", "zhangsan", []),
    group_spec("wrTT3", "lisi", []),
]
TAGS = {
    "wrTT1": ["打卡挑战", "白领群"],
    "wrTT2": ["打卡挑战", "宝妈群"],
    "wrTT3": ["打卡挑战"],
}


def next_event(engine: Engine, now: datetime, plan_ahead: timedelta) -> datetime:
    """The next planned send's time — or, with none planned, when the window moves on."""
    with session(engine) as s:
        due = s.exec(
            select(func.min(OutboxRow.due_at)).where(
                OutboxRow.state == SendState.PLANNED, OutboxRow.due_at > now
            )
        ).one()
    return min(due, now + plan_ahead) if due is not None else now + plan_ahead


async def setup_groups(sim: Simulator, base_url: str, engine: Engine, clock: FrozenClock) -> None:
    async with WeComClient(base_url, sim.config.corp_id, sim.config.secret, clock=clock) as c:
        assert (await sync_groups(c, engine, clock)).ok
    with session(engine) as s:
        for chat_id, tags in TAGS.items():
            add_group_tags(s, chat_id, tags)


async def test_a_hundred_days_each_send_once_at_its_local_time_and_none_capped(tmp_path: Path):
    clock = FrozenClock(START)
    sim = Simulator.from_groups(
        SEED, config=SimConfig(confirm_after=timedelta(minutes=5)), clock=clock
    )
    database = f"sqlite:///{tmp_path / 'botops.db'}"
    with running_simulator(sim) as base_url:
        settings = Settings.model_validate(
            {
                "database": {"url": database},
                "sops_dir": REPO / "sops",
                "templates_dir": REPO / "templates",
                "wecom": {
                    "api_base": base_url,
                    "corp_id": sim.config.corp_id,
                    "secret": sim.config.secret,
                },
            }
        )
        library, problems = load_library([settings.sops_dir], settings.templates_dir)
        assert not [p for p in problems if p.severity == "error"]
        engine = open_database(database)
        try:
            await setup_groups(sim, base_url, engine, clock)
            reports: list[tuple[datetime, CycleReport]] = []
            async with runtime(settings, clock, lambda: library) as rt:
                while clock.now() < END:
                    reports.append((clock.now(), await rt.cycle.once()))
                    clock.set(next_event(engine, clock.now(), settings.daemon.plan_ahead))
                clock.set(END + timedelta(hours=1))  # the last outcomes come home
                reports.append((clock.now(), await rt.cycle.once()))
            check(sim, engine, settings, library, reports)
        finally:
            engine.dispose()


def check(sim, engine, settings, library, reports) -> None:
    # It moved from event to event, not minute by minute: about one cycle per send time.
    assert len(reports) < 150
    for at, report in reports:
        assert report.dispatched.failed == {}, at
        assert report.dispatched.missed == [], at
        assert report.dispatched.retried == [], at
        assert report.planned.cancelled == [], at
        assert report.tracking is not None, at
        assert report.tracking.errors == [], at

    # What the planner plans for the 100 days at once, from the enrolments the daemon stored.
    with session(engine) as s:
        stored = targets(s)
        enrolled = {(e.target_id, e.playbook_id): e.day_one for e in s.exec(select(Enrolment))}
        rows = {r.key: r for r in s.exec(select(OutboxRow))}
        recorded = {t.msgid: t for t in s.exec(select(MassTask))}
        keys_of: dict[str, dict[str, str]] = defaultdict(dict)
        for target in s.exec(select(MassTaskTarget)):
            keys_of[target.msgid][target.target_id] = target.send_key
    assert enrolled == {(chat_id, PLAYBOOK): DAY_ONE for chat_id in TAGS}
    # (as the daemon plans: texts showing check-in figures are rendered again when due)
    whole = plan(library, stored, Window(START, END), settings.send_policy, checkins_at_send=True)
    sends = [s for s in whole.sends if s.playbook == PLAYBOOK]
    planned = {s.key: s for s in sends if s.sendable}
    capped = {s.key: s for s in sends if s.status == Status.CAPPED}
    assert {s.target for s in sends} == set(TAGS)
    assert len(planned) >= 3 * 100  # every morning task, at least
    assert capped  # the default cap (days-in-month per month) drops the lower priorities

    # The outbox holds exactly the planned sends, each confirmed and sent.
    assert set(rows) == set(planned)
    assert {k: r.state for k, r in rows.items()} == dict.fromkeys(planned, SendState.SENT)

    # WeCom got each planned send in exactly one task, at the planned local time, once.
    tasks = sim.tasks()
    assert sim.count(ADD) == len(tasks) == len(recorded)
    assert set(recorded) == {t.msgid for t in tasks}
    delivered: Counter[str] = Counter()
    [playbook] = [p for p in library.playbooks if p.id == PLAYBOOK]
    steps = {step.id: step for step in playbook.steps}
    for task in tasks:
        created = datetime.fromtimestamp(task.create_time, SHANGHAI)
        for target in task.targets:
            key = keys_of[task.msgid][target.target_id]
            delivered[key] += 1
            send = planned[key]
            assert (send.target, send.sender) == (target.target_id, task.creator)
            assert created == send.at == rows[key].due_at
            assert created.strftime("%H:%M") == f"{steps[send.step].schedule.time:%H:%M}"
            assert target.status == SEND_SENT
            day = (created.date() - DAY_ONE).days + 1
            assert send.day == day
            if send.step == "morning-task":
                assert re.search(rf"第 {day} 天", task.text["content"] if task.text else "")
    assert delivered == Counter(dict.fromkeys(planned, 1))
    assert not set(delivered) & set(capped)

    # What was sent, per group: all 100 morning tasks and the ceremony, in the cap; evening
    # reminders (nobody checks in here) only where the cap has room, in the last month.
    by_step = Counter((planned[k].target, planned[k].step) for k in delivered)
    for chat_id in TAGS:
        assert by_step[(chat_id, "morning-task")] == 100
        assert by_step[(chat_id, "final-ceremony")] == 1
        assert by_step[(chat_id, "evening-reminder")] > 0
    for task in tasks:
        if "还没打卡的伙伴" in (task.text or {}).get("content", ""):
            assert "客户1" in task.text["content"]  # the group's members, rendered when due
    months: Counter[tuple[str, int, int]] = Counter()
    for key in delivered:
        moment = planned[key].at.astimezone(SHANGHAI)
        months[(planned[key].target, moment.year, moment.month)] += 1
    for (_, year, month), count in months.items():
        assert count <= settings.send_policy.receive_cap.limit_for(date(year, month, 1))
