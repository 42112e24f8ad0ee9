"""Dispatching due outbox batches under a configured WeCom rate limit: the achieved call rate.

The world is built as tests/outbox/support.py builds it: groups seeded into the WeCom
simulator (served over loopback by uvicorn, `running_simulator`), synced into a real SQLite
file, tagged, planned and enqueued; then the clock is set to the sends' due time and one
`Dispatcher.dispatch()` round (the daemon's) pushes every due batch through
`add_msg_template` on a `WeComClient` built with a configured rate limit. One batch is one
staff member's WeCom task (two groups, text and a link), so each batch is one call.

The client's limiter (botops.wecom.ratelimit) takes any window (`Window(limit, seconds)`);
the settings expose only per minute and per hour (`wecom.calls_per_minute`, `client_limits`).
A 60-second window would need a run of several minutes to show more than one window, so by
default the same limit rate is scaled to a 5-second window — 600/min becomes 50 per 5 s —
and the run takes ~15 s; `--minute` uses `client_limits` on `calls_per_minute=600` as
configured (a run of ~3 minutes).

The simulator timestamps every request as it receives it (monotonic, not its whole seconds).
Reported: the achieved rate — calls in the complete windows while batches were still waiting,
over those windows' length — as a ratio to the configured limit (the baseline: the limiter
cannot do better; target >= 95%), and the most calls seen in any sliding window of the
limit's length (target: never above the limit). For context, the same world dispatched with
the default limit (10,000/min, which never binds here) shows how fast the dispatcher can go.
"""

from __future__ import annotations

import asyncio
import bisect
import sys
import tempfile
import textwrap
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.quiet import logging_to
from botops.clock import FrozenClock
from botops.config import WeComSettings
from botops.outbox.dispatcher import Dispatcher, OutboxRecorder
from botops.outbox.queue import enqueue
from botops.planning.planner import Window as PlanWindow
from botops.planning.planner import plan
from botops.planning.policy import SendPolicy
from botops.playbook.library import load_library
from botops.senders.wecom_mass import WeComMassSender
from botops.simulator import Simulator
from botops.simulator.server import running_simulator
from botops.store.db import open_database, session
from botops.store.groups import add_group_tags, targets
from botops.store.media import DbMediaStore
from botops.sync.groups import sync_groups
from botops.wecom.client import WeComClient
from botops.wecom.connect import client_limits
from botops.wecom.media import MediaCache
from botops.wecom.ratelimit import RateLimits, Window

TZ = ZoneInfo("Asia/Shanghai")
DUE = datetime(2026, 11, 24, 9, 0, tzinfo=TZ)
ADD = "externalcontact/add_msg_template"
TAG = "压测"
GROUPS_PER_OWNER = 2
PER_MINUTE = 600
SCALED = Window(PER_MINUTE * 5 // 60, 5.0)  # 600/min on a 5-second window: 50 per 5 s
WINDOWS = 3  # complete windows of backlog; the batches fill them and one call more
ROUNDS = 2
TARGET = 0.95

PLAYBOOK = """\
id: bench-dispatch
name: 压测 早安
anchor: 2026-11-01
audience: {tags: {any: [压测]}}
steps:
  - id: morning
    schedule: {days: {from: 1, to: 60}, time: '09:00'}
    text: "早安！今天是第 {{ day }} 天，伙伴们加油。"
    attachments:
      - link: {title: 今日任务, url: "https://example.com/task", desc: 点开看看今天做什么}
    expires_after: 2h
"""


class TimedSimulator(Simulator):
    """The simulator, also noting when (monotonic seconds) each request reached it."""

    def __init__(self) -> None:
        super().__init__(clock=FrozenClock(DUE))
        self.arrivals: dict[str, list[float]] = {}

    def record(self, method: str, api: str, query: Mapping[str, str], body: Any) -> None:
        arrived = time.monotonic()
        super().record(method, api, query, body)
        with self.lock:
            self.arrivals.setdefault(api, []).append(arrived)


@dataclass
class Run:
    calls: int
    seconds: float  # first to last add_msg_template, as the simulator saw them
    submitted: int
    arrivals: list[float]


def seed(batches: int) -> list[dict[str, Any]]:
    return [
        {
            "chat_id": f"wrBench{owner:05d}x{n}",
            "name": f"压测{owner}-{n}群",
            "owner": f"staff{owner:05d}",
            "created_at": "2026-10-01T10:00:00+08:00",
            "member_count": 3,
        }
        for owner in range(batches)
        for n in range(GROUPS_PER_OWNER)
    ]


async def dispatch_once(root: Path, batches: int, limits: RateLimits) -> Run:
    """Build the world (sync, tag, plan, enqueue) and time one dispatch round."""
    (root / "sops").mkdir(parents=True)
    (root / "templates").mkdir()
    (root / "sops" / "bench.yaml").write_text(textwrap.dedent(PLAYBOOK), encoding="utf-8")
    library, problems = load_library([root / "sops"], root / "templates")
    assert not [p for p in problems if p.severity == "error"], problems
    policy = SendPolicy()
    clock = FrozenClock(DUE - timedelta(hours=1))
    sim = TimedSimulator()
    groups = seed(batches)
    sim.add_groups(groups)
    engine = open_database(f"sqlite:///{root / 'botops.db'}")
    try:
        with running_simulator(sim) as base_url:
            corp, secret = sim.config.corp_id, sim.config.secret
            async with WeComClient(base_url, corp, secret, clock=clock) as setup:
                report = await sync_groups(setup, engine, clock)
                assert report.ok, report
            with session(engine) as s:
                for group in groups:
                    add_group_tags(s, group["chat_id"], [TAG])
                result = plan(
                    library,
                    targets(s),
                    PlanWindow(DUE, DUE + timedelta(minutes=1)),
                    policy,
                    enrol_at=clock.now(),
                    checkins_at_send=True,
                )
                versions = {p.id: library.digest(p.id) for p in library.playbooks}
                enqueue(s, result, versions, clock.now())
            planned = len({send.batch for send in result.sends if send.sendable})
            assert planned == batches, f"{planned} batches planned, {batches} wanted"
            clock.set(DUE + timedelta(seconds=30))
            _, retry = client_limits(WeComSettings())
            async with WeComClient(
                base_url, corp, secret, clock=clock, rate_limits=limits, retry=retry
            ) as client:
                await client.get_token()  # the daemon holds a token already
                media = MediaCache(
                    client.upload_media, clock, namespace=corp, store=DbMediaStore(engine)
                )
                sender = WeComMassSender(client, media, record=OutboxRecorder(engine, clock))
                dispatcher = Dispatcher(
                    engine,
                    sender,
                    client,
                    clock,
                    worker="bench",
                    library=lambda: library,
                    policy=policy,
                )
                dispatched = await dispatcher.dispatch()
    finally:
        engine.dispose()
    arrivals = sim.arrivals.get(ADD, [])
    return Run(
        calls=len(arrivals),
        seconds=arrivals[-1] - arrivals[0],
        submitted=len(set(dispatched.submitted.values())),
        arrivals=arrivals,
    )


def run(batches: int, limits: RateLimits) -> Run:
    with (
        tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp,
        logging_to(Path(tmp) / "botops.log"),
    ):
        result = asyncio.run(dispatch_once(Path(tmp), batches, limits))
    if result.calls != batches or result.submitted != batches:
        raise RuntimeError(f"{result.calls} calls, {result.submitted} tasks for {batches} batches")
    return result


def max_in_window(arrivals: Sequence[float], seconds: float) -> int:
    """The most calls in any `seconds`-long span [t, t + seconds)."""
    return max(bisect.bisect_left(arrivals, t + seconds) - i for i, t in enumerate(arrivals))


def shortest_span(arrivals: Sequence[float], calls: int) -> float:
    """The shortest time in which `calls` + 1 consecutive calls arrived."""
    return min(arrivals[i + calls] - arrivals[i] for i in range(len(arrivals) - calls))


def achieved_rate(arrivals: Sequence[float], seconds: float) -> tuple[float, int]:
    """Calls per second over the complete windows from the first call while calls were still
    waiting (the last, partial window is the tail of the queue, not the limiter's doing)."""
    windows = int((arrivals[-1] - arrivals[0]) // seconds)
    if windows < 1:
        raise RuntimeError("the run did not fill one window: add batches")
    end = arrivals[0] + windows * seconds
    return bisect.bisect_left(arrivals, end) / (windows * seconds), windows


def main(rounds: int = ROUNDS, minute: bool = False) -> None:
    if minute:
        limits, _ = client_limits(WeComSettings(calls_per_minute=PER_MINUTE))
        window = limits.per_api[0]
    else:
        window = SCALED
        limits = RateLimits(per_api=(window,))
    batches = WINDOWS * window.limit + 1
    limit_rate = window.limit / window.seconds
    print(
        f"dispatch: {batches} due batches ({batches * GROUPS_PER_OWNER} groups), one "
        f"add_msg_template each, limit {window.limit} per {window.seconds:g} s "
        f"(= {limit_rate * 60:,.0f}/min), best of {rounds} rounds"
    )
    ratios = []
    for n in range(rounds):
        result = run(batches, limits)
        rate, windows = achieved_rate(result.arrivals, window.seconds)
        peak = max_in_window(result.arrivals, window.seconds)
        ratios.append((rate / limit_rate, peak))
        print(
            f"  round {n + 1}: {result.calls} calls in {result.seconds:.2f} s; over {windows} "
            f"full windows {rate:.2f} calls/s = {rate / limit_rate:.1%} of the limit; "
            f"most in any {window.seconds:g} s window: {peak} (limit {window.limit}; "
            f"{window.limit + 1} calls in {shortest_span(result.arrivals, window.limit):.4f} s "
            "at the shortest)"
        )
    free = run(batches, RateLimits())
    print(
        f"  unlimited (default 10,000/min): {free.calls} calls in {free.seconds:.2f} s = "
        f"{free.calls / free.seconds:,.0f} calls/s — the dispatcher's own speed"
    )
    best = max(r for r, _ in ratios)
    worst_peak = max(p for _, p in ratios)
    print(
        f"  achieved / limit {best:.1%} (rounds {min(r for r, _ in ratios):.1%}-{best:.1%}), "
        f"target >= {TARGET:.0%}: {'pass' if best >= TARGET else 'MISSED'};  most in a window "
        f"{worst_peak} / {window.limit}: {'pass' if worst_peak <= window.limit else 'OVER THE LIMIT'}"
    )


if __name__ == "__main__":
    main(minute="--minute" in sys.argv[1:])
