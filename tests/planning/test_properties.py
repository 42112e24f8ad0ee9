"""Planner properties over generated playbooks, groups, windows and policies."""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botops.planning.planner import Window, plan
from botops.planning.policy import SendPolicy
from botops.planning.targets import Target
from botops.playbook.library import PlaybookLibrary, load_library
from tests.helpers import write_tree

ZONES = ["Asia/Shanghai", "Europe/Berlin", "America/New_York"]
TAGS = ["a", "b", "c"]

times = st.builds(
    lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30, 59])
)
schedules = st.one_of(
    st.builds(lambda d, t: f"{{day: {d}, time: '{t}'}}", st.integers(-3, 40), times),
    st.builds(
        lambda a, n, k, t: f"{{days: {{from: {a}, to: {a + n}, every: {k}}}, time: '{t}'}}",
        st.integers(-2, 10),
        st.integers(0, 40),
        st.integers(1, 7),
        times,
    ),
    st.builds(
        lambda w, t: f"{{weekdays: [{', '.join(w)}], time: '{t}'}}",
        st.lists(
            st.sampled_from(["mon", "wed", "sat", "sun"]), min_size=1, max_size=3, unique=True
        ),
        times,
    ),
    st.builds(
        lambda h, m: f"{{cron: '{m} {h} * * *'}}",
        st.sampled_from(["8", "12,20", "*/6"]),
        st.sampled_from(["0", "30"]),
    ),
)


@st.composite
def playbook_yaml(draw, pid: str) -> str:
    steps = []
    for index in range(draw(st.integers(1, 3))):
        extra = draw(
            st.sampled_from(
                ["", "    when_capped: drop\n", "    expires_after: 1d\n", "    priority: 90\n"]
            )
        )
        steps.append(
            f"  - id: s{index}\n    schedule: {draw(schedules)}\n    text: '{pid} {{{{ day }}}}'\n{extra}"
        )
    anchor = draw(st.sampled_from(["enrolled", "group_created", "2026-03-05"]))
    return (
        f"id: {pid}\nname: {pid}\ntimezone: {draw(st.sampled_from(ZONES))}\n"
        f"priority: {draw(st.integers(0, 100))}\nanchor: {anchor}\nduration_days: 30\n"
        f"audience: {{tags: {{any: [{draw(st.sampled_from(TAGS))}]}}}}\nsteps:\n" + "".join(steps)
    )


@st.composite
def scenarios(draw):
    yamls = {f"p{i}.yaml": draw(playbook_yaml(f"p{i}")) for i in range(draw(st.integers(1, 3)))}
    targets = [
        Target(
            f"wr{i}",
            f"群{i}",
            draw(st.sampled_from(["u1", "u2"])),
            frozenset(draw(st.lists(st.sampled_from(TAGS), max_size=3))),
            datetime(2026, 3, 1, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
            + timedelta(hours=draw(st.integers(0, 200))),
        )
        for i in range(draw(st.integers(1, 4)))
    ]
    policy = SendPolicy.model_validate(
        {
            "timezone": draw(st.sampled_from(ZONES)),
            "quiet_hours": draw(
                st.sampled_from(
                    [
                        None,
                        {"start": "22:00", "end": "07:00"},
                        {"start": "12:00", "end": "13:00", "action": "skip"},
                    ]
                )
            ),
            "receive_cap": draw(
                st.sampled_from(
                    [
                        {"period": "day", "limit": 1},
                        {"period": "week", "limit": 3},
                        {"period": "month", "limit": "days_in_month"},
                    ]
                )
            ),
            "expires_after": draw(st.sampled_from(["2h", "1d"])),
        }
    )
    tz = ZoneInfo(policy.timezone)
    start = datetime.combine(
        date(2026, 3, 1) + timedelta(days=draw(st.integers(0, 30))), time()
    ).replace(tzinfo=tz)
    window = Window(start, start + timedelta(days=draw(st.integers(1, 10))))
    return yamls, targets, policy, window


def load(yamls: dict[str, str]) -> PlaybookLibrary:
    with tempfile.TemporaryDirectory() as root:
        write_tree(Path(root), yamls)
        library, problems = load_library([Path(root) / "sops"], Path(root) / "templates")
    assert not [p for p in problems if p.severity == "error"], problems
    return library


PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(scenarios())
def test_plan_invariants(scenario):
    yamls, targets, policy, window = scenario
    library = load(yamls)
    result = plan(library, targets, window, policy)

    keys = [s.key for s in result.sends]
    assert len(keys) == len(set(keys)), "idempotency keys are unique"
    assert result.sends == sorted(result.sends, key=lambda s: (s.at, s.playbook, s.step, s.target))
    for send in result.sends:
        assert window.start <= send.at < window.end
        if send.sendable:
            assert send.at <= send.expires_at
            quiet = (
                next(p for p in library.playbooks if p.id == send.playbook).policy.quiet_hours
                or policy.quiet_hours
            )
            if quiet is not None:
                local = send.at.astimezone(
                    ZoneInfo(
                        next(p for p in library.playbooks if p.id == send.playbook).timezone
                        or policy.timezone
                    )
                )
                assert not quiet.contains(local.time()), f"{send.key} at {local} is in quiet hours"

    # No target above its cap in any period that lies wholly inside the window.
    tz = ZoneInfo(policy.timezone)
    cap = policy.receive_cap
    counts = Counter(
        (s.target, cap.period_start(s.at.astimezone(tz).date())) for s in result.sends if s.sendable
    )
    for (_, period), count in counts.items():
        assert count <= cap.limit_for(period)

    assert plan(library, targets, window, policy) == result, "same inputs, same plan"


@PROPERTY_SETTINGS
@given(scenarios())
def test_splitting_the_window_changes_nothing(scenario):
    """What the daemon plans day by day is what preview showed for the whole range."""
    yamls, targets, policy, window = scenario
    library = load(yamls)
    whole = plan(library, targets, window, policy)
    middle = window.start + (window.end - window.start) / 2
    first = plan(library, targets, Window(window.start, middle), policy)
    # As the daemon does: record the enrolments the first plan assumed, then plan on.
    enrolled = [
        replace(
            t, enrolled={pid: day for (tid, pid), day in first.enrolments.items() if tid == t.id}
        )
        for t in targets
    ]
    halves = first.sends + plan(library, enrolled, Window(middle, window.end), policy).sends

    def outcome(sends):
        return sorted((s.key, s.status, s.at, s.text) for s in sends)

    assert outcome(whole.sends) == outcome(halves)
