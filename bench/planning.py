"""Planning + rendering one day for 10,000 groups across the shipped playbooks.

Baseline, measured in the same run: a bare Jinja loop rendering the same templates for the
same sends with contexts built beforehand — the least any planner must spend. Reported: the
planner's sends/s, its wall time for the day, and planner time / baseline time (target ≤ 2×,
whole day < 1 s). Best of several rounds, because these machines are noisy.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from botops.config import Settings
from botops.planning.planner import Plan, Window, plan
from botops.planning.targets import Target, template_view
from botops.playbook.context import (
    EMPTY_CHECKINS,
    message_context,
    schedule_context,
)
from botops.playbook.library import PlaybookLibrary, load_library

REPO = Path(__file__).resolve().parent.parent
TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 12, 15)  # a lecture day, inside the check-in cohorts' runs
GROUPS = 10_000
ROUNDS = 5


def make_groups(count: int, seed: int = 7) -> list[Target]:
    """A realistic mix: check-in cohorts, lecture groups, short-lived flash-sale groups."""
    rng = random.Random(seed)
    groups = []
    for n in range(count):
        owner = f"staff{rng.randrange(40):02d}"
        kind = rng.random()
        created = datetime(2026, 9, 1, 10, tzinfo=TZ) + timedelta(days=rng.randrange(100))
        enrolled: dict[str, date] = {}
        if kind < 0.6:
            tags = {"打卡挑战", rng.choice(["宝妈群", "白领群", "学生群"])}
            enrolled["checkin-100days"] = DAY - timedelta(days=rng.randrange(60))  # 60 cohorts
            name = f"百日打卡{n}群"
        elif kind < 0.85:
            tags = {"讲座"} | ({"老学员"} if rng.random() < 0.3 else set())
            name = f"育儿直播课{n}群"
        else:
            tags = {"快闪群"}
            created = datetime.combine(
                DAY - timedelta(days=rng.randrange(5)), datetime.min.time(), TZ
            )
            name = f"好物快闪{n}群"
        groups.append(
            Target(
                f"wr{n:08d}",
                name,
                owner,
                frozenset(tags),
                created,
                rng.randrange(50, 500),
                "group",
                enrolled,
            )
        )
    return groups


def best_of(rounds: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def bare_render_loop(
    library: PlaybookLibrary, result: Plan, groups: dict[str, Target]
) -> Callable[[], None]:
    """The same templates for the same sends, contexts prepared outside the timed loop."""
    playbooks = {p.id: p for p in library.playbooks}
    jobs = []
    for send in result.sends:
        playbook = playbooks[send.playbook]
        step = next(s for s in playbook.steps if s.id == send.step)
        target = groups[send.target]
        when = schedule_context(
            playbook=playbook,
            step=step,
            anchor=send.planned_at.astimezone(TZ).date() - timedelta(days=send.day - 1),
            day=send.day,
            occurrence=send.occurrence,
            local_time=send.at.astimezone(TZ).replace(tzinfo=None),
        )
        context = message_context(when, template_view(target), send.segment, EMPTY_CHECKINS)
        jobs.append((library.message(send.playbook, send.step, send.segment).template, context))

    def loop() -> None:
        for template, context in jobs:
            template.render(context)

    return loop


def main() -> None:
    settings = Settings()
    library, problems = load_library([REPO / "sops"], REPO / "templates", settings.policy)
    assert not [p for p in problems if p.severity == "error"], problems
    groups = make_groups(GROUPS)
    start = datetime.combine(DAY, datetime.min.time(), TZ)
    window = Window(start, start + timedelta(days=1))

    def run_plan() -> Plan:
        return plan(library, groups, window, settings.send_policy)

    result = run_plan()
    planner = best_of(ROUNDS, run_plan)
    baseline = best_of(ROUNDS, bare_render_loop(library, result, {g.id: g for g in groups}))
    sendable = sum(s.sendable for s in result.sends)
    tasks = len({s.batch for s in result.sends if s.batch})
    print(
        f"planning: {GROUPS:,} groups, {len(result.sends):,} planned sends ({sendable:,} sendable, {tasks:,} WeCom tasks) on {DAY}"
    )
    print(
        f"  planner (plan + render)  {planner:.3f} s   {len(result.sends) / planner:,.0f} sends/s   target < 1 s"
    )
    print(
        f"  bare Jinja render loop   {baseline:.3f} s   {len(result.sends) / baseline:,.0f} renders/s"
    )
    print(f"  ratio planner / baseline {planner / baseline:.2f}x   target <= 2x")


if __name__ == "__main__":
    main()
