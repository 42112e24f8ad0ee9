"""The outbox's state changes, straight on a real SQLite file, with plans from the real
loader and planner: insert-or-ignore, playbook updates, cancellations, enrolments, claims
and missed sends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, event
from sqlmodel import select

from botops.outbox.queue import (
    Held,
    claim,
    enqueue,
    mark_attempted,
    mark_missed,
    release,
    set_state,
)
from botops.planning.planner import Plan, Window, plan
from botops.planning.policy import SendPolicy
from botops.planning.targets import Target
from botops.playbook.library import PlaybookLibrary
from botops.store.db import session
from botops.store.models import Enrolment, OutboxRow, SendState
from tests.helpers import SHANGHAI, local

POLICY = SendPolicy.model_validate(
    {"quiet_hours": None, "receive_cap": {"period": "day", "limit": 10}}
)
OWNERS = {1: "zhangsan", 2: "zhangsan", 3: "zhangsan", 4: "lisi", 5: "lisi"}


def group(n: int, enrolled: dict[str, date] | None = None) -> Target:
    return Target(
        f"wrG{n:04d}",
        f"打卡{n}群",
        OWNERS[n],
        frozenset({"打卡"}),
        datetime(2026, 1, 1, tzinfo=SHANGHAI),
        50,
        enrolled=enrolled or {},
    )


GROUPS = [group(n) for n in OWNERS]


def camp(
    *, morning: str = "早安", evening: str | None = "晚安", anchor: str = "2026-03-01"
) -> dict[str, str]:
    steps = (
        "  - id: morning\n"
        "    schedule: {days: {from: 1, to: 30}, time: '09:00'}\n"
        f'    text: "{morning} 第{{{{ day }}}}天"\n'
    )
    if evening is not None:
        steps += (
            "  - id: evening\n"
            "    schedule: {days: {from: 1, to: 30}, time: '20:00'}\n"
            f'    text: "{evening} 第{{{{ day }}}}天"\n'
        )
    return {
        "camp.yaml": f"id: camp\nname: 打卡营\nanchor: {anchor}\n"
        f"audience: {{tags: {{any: [打卡]}}}}\nsteps:\n{steps}"
    }


def days(start: str, n: int) -> Window:
    begin = local(f"{start} 00:00")
    return Window(begin, begin + timedelta(days=n))


def library_of(build, playbooks: dict[str, str]) -> PlaybookLibrary:
    library: PlaybookLibrary
    library, problems = build(playbooks)
    assert not [p for p in problems if p.severity == "error"], problems
    return library


def planned(library: PlaybookLibrary, window: Window, targets=GROUPS, **options) -> Plan:
    return plan(library, targets, window, POLICY, **options)


def write(engine: Engine, library: PlaybookLibrary, the_plan: Plan, now: datetime):
    versions = {p.id: library.digest(p.id) for p in library.playbooks}
    with session(engine) as s:
        return enqueue(s, the_plan, versions, now)


def rows(engine: Engine) -> dict[str, OutboxRow]:
    with session(engine) as s:
        return {r.key: r for r in s.exec(select(OutboxRow)).all()}


def snapshot(engine: Engine) -> dict[str, dict[str, object]]:
    return {key: row.model_dump() for key, row in rows(engine).items()}


def at(row: OutboxRow) -> str:
    return row.due_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M")


def test_enqueue_is_insert_or_ignore(build, engine):
    library = library_of(build, camp())
    the_plan = planned(library, days("2026-03-02", 3))
    now = local("2026-03-01 23:00")

    first = write(engine, library, the_plan, now)
    assert first.inserted == len(the_plan.sends) == 3 * 2 * len(GROUPS)
    assert (first.updated, first.cancelled) == (0, [])
    before = snapshot(engine)
    assert {r["state"] for r in before.values()} == {SendState.PLANNED}
    assert set(before) == {s.key for s in the_plan.sends}

    # The same plan again, later, and a freshly computed identical one: nothing changes.
    again = write(engine, library, the_plan, now + timedelta(minutes=1))
    recomputed = write(engine, library, planned(library, days("2026-03-02", 3)), now)
    for report in (again, recomputed):
        assert (report.inserted, report.updated, report.cancelled) == (0, 0, [])
    assert snapshot(engine) == before


@contextmanager
def statements(engine: Engine) -> Iterator[list[tuple[str, object]]]:
    """The SQL statements (and their parameters) sent to the database meanwhile."""
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def inserts(seen: list[tuple[str, object]]) -> list[tuple[str, object]]:
    return [(sql, params) for sql, params in seen if sql.lstrip().upper().startswith("INSERT")]


def test_a_steady_round_writes_only_what_changed(build, engine):
    """The daemon plans the same window every minute: a round over keys already planned
    sends no INSERT at all, a new group's sends are the only rows inserted, and a changed
    playbook still refreshes and cancels its future planned sends."""
    library = library_of(build, camp())
    window = days("2026-03-02", 3)
    now = local("2026-03-01 23:00")
    first = write(engine, library, planned(library, window), now)
    assert first.inserted == 3 * 2 * len(GROUPS)
    before = snapshot(engine)

    with statements(engine) as seen:
        again = write(engine, library, planned(library, window), now + timedelta(minutes=1))
    assert (again.inserted, again.updated, again.cancelled) == (0, 0, [])
    assert inserts(seen) == []
    assert snapshot(engine) == before

    # A sixth group joins the audience: only its sends are inserted, in one statement.
    newcomer = Target("wrG0006", "打卡6群", "wangwu", frozenset({"打卡"}), None, 50)
    with statements(engine) as seen:
        joined = write(engine, library, planned(library, window, [*GROUPS, newcomer]), now)
    assert (joined.inserted, joined.updated, joined.cancelled) == (3 * 2, 0, [])
    (insert,) = inserts(seen)
    assert "outbox" in insert[0]
    bound = [str(v) for v in insert[1]]
    assert sum(v.startswith("camp:") for v in bound) == 3 * 2  # the keys it bound: new ones
    assert all(":wrG0006:" in v for v in bound if v.startswith("camp:"))
    after = snapshot(engine)
    assert {k: after[k] for k in before} == before
    assert {k for k in after if k not in before} == {
        f"camp:{step}:wrG0006:2026-03-0{d}" for step in ("morning", "evening") for d in (2, 3, 4)
    }

    # The evening step is removed and the morning text changes, at noon on 03-03: the evening
    # sends that can still go out are cancelled, such morning ones refreshed — 03-03 09:00's
    # too, due but not expired before 15:00 —, nothing is inserted.
    later = local("2026-03-03 12:00")
    changed = library_of(build, camp(morning="早上好", evening=None))
    with statements(engine) as seen:
        report = write(engine, changed, planned(changed, window, [*GROUPS, newcomer]), later)
    assert inserts(seen) == []
    current = rows(engine)
    sendable = {k for k, r in current.items() if r.expires_at > later}
    assert report.inserted == 0
    assert sorted(report.cancelled) == sorted(k for k in sendable if ":evening:" in k)
    assert report.updated == len([k for k in sendable if ":morning:" in k]) == 12
    assert {at(current[k]) for k in sendable if ":morning:" in k} == {"03-03 09:00", "03-04 09:00"}
    for key in sendable:
        row = current[key]
        if ":evening:" in key:
            assert (row.state, row.error, row.updated_at) == (
                SendState.CANCELLED,
                "no longer in the plan",
                later,
            )
        else:
            assert (row.state, row.playbook_version) == (SendState.PLANNED, changed.digest("camp"))
            assert row.text.startswith("早上好"), row.text
    for key in set(current) - sendable:  # expired sends stay as they were
        assert current[key].model_dump() == after[key], key


def claimed_and_submitted(engine: Engine, now: datetime) -> tuple[list[str], list[str]]:
    """Claim what is due at `now`; one of its batches goes on to be submitted."""
    with session(engine) as s:
        taken = claim(s, now, "worker-1")
    batches = sorted({r.batch for r in taken})
    assert len(batches) == 2  # zhangsan's and lisi's
    submitted = [r.key for r in taken if r.batch == batches[0]]
    with session(engine) as s:
        set_state(s, submitted, SendState.SUBMITTED, now, msgid="msgSUBMITTED")
    return [r.key for r in taken if r.batch != batches[0]], submitted


def test_a_changed_playbook_updates_only_planned_rows_that_can_still_go_out(build, engine):
    library = library_of(build, camp())
    write(engine, library, planned(library, days("2026-03-02", 4)), local("2026-03-01 23:00"))
    now = local("2026-03-03 12:00")
    claimed, submitted = claimed_and_submitted(engine, now)  # the 03-03 09:00 sends
    before = rows(engine)

    changed = library_of(build, camp(morning="早上好", evening="晚上好"))
    assert changed.digest("camp") != library.digest("camp")
    report = write(engine, changed, planned(changed, days("2026-03-02", 3)), now)

    after = rows(engine)
    refreshed = {
        k
        for k, r in before.items()
        if r.state == SendState.PLANNED and now <= r.due_at < local("2026-03-05 00:00")
    }
    assert {at(before[k]) for k in refreshed} == {"03-03 20:00", "03-04 09:00", "03-04 20:00"}
    assert (report.inserted, report.updated, report.cancelled) == (0, len(refreshed), [])
    for key, row in after.items():
        old = before[key]
        if key in refreshed:
            assert row.text.startswith(("早上好", "晚上好")), row.text
            assert row.playbook_version == changed.digest("camp")
            assert row.state == SendState.PLANNED
        else:  # claimed, submitted, past, or beyond the new window: as they were
            assert row.model_dump() == old.model_dump(), key
            assert row.text.startswith(("早安", "晚安"))
    assert {after[k].state for k in claimed} == {SendState.CLAIMED}
    assert {after[k].state for k in submitted} == {SendState.SUBMITTED}
    assert {at(after[k]) for k in after if k not in refreshed} == {
        "03-02 09:00",
        "03-02 20:00",
        "03-03 09:00",
        "03-05 09:00",
        "03-05 20:00",
    }


def test_sends_gone_from_the_plan_are_cancelled_only_when_planned_and_future(build, engine):
    library = library_of(build, camp())
    write(engine, library, planned(library, days("2026-03-02", 4)), local("2026-03-01 23:00"))
    now = local("2026-03-03 12:00")
    claimed, submitted = claimed_and_submitted(engine, now)
    before = rows(engine)

    # The evening step is removed, and wrG0005 left the audience (lost its tag).
    smaller = library_of(build, camp(evening=None))
    report = write(engine, smaller, planned(smaller, days("2026-03-02", 3), GROUPS[:4]), now)

    after = rows(engine)
    expected = {
        k
        for k, r in before.items()
        if now <= r.due_at < local("2026-03-05 00:00")
        and (r.step == "evening" or r.target_id == "wrG0005")
    }
    assert {(at(before[k]), before[k].step) for k in expected} == {
        ("03-03 20:00", "evening"),
        ("03-04 09:00", "morning"),
        ("03-04 20:00", "evening"),
    }
    # Removing a step changed the playbook: the morning sends that stay take the new version.
    kept = {
        k
        for k, r in before.items()
        if r.state == SendState.PLANNED and now <= r.due_at < local("2026-03-05 00:00")
    } - expected
    assert {at(before[k]) for k in kept} == {"03-04 09:00"}
    assert sorted(report.cancelled) == sorted(expected)
    assert (report.inserted, report.updated) == (0, len(kept))
    for key, row in after.items():
        if key in expected:
            assert (row.state, row.error) == (SendState.CANCELLED, "no longer in the plan")
            assert row.updated_at == now
        elif key in kept:
            assert (row.state, row.text) == (SendState.PLANNED, before[key].text)
            assert row.playbook_version == smaller.digest("camp")
        else:
            assert row.model_dump() == before[key].model_dump(), key
    # Not cancelled: yesterday's evening send (past), wrG0005's claimed morning send, the
    # submitted batch, and what lies beyond the window planned now.
    assert after["camp:evening:wrG0001:2026-03-02"].state == SendState.PLANNED
    gone_group = [k for k in claimed + submitted if "wrG0005" in k]
    assert [after[k].state for k in gone_group] in (
        [SendState.CLAIMED],
        [SendState.SUBMITTED],
    )
    assert {after[k].state for k in after if at(after[k]).startswith("03-05")} == {
        SendState.PLANNED
    }


def daemon_window(now: datetime) -> Window:
    """What Cycle.plan plans: from the longest expires_after (6 h) back to a day ahead."""
    return Window(now - timedelta(hours=6), now + timedelta(days=1))


def test_a_send_the_plan_drops_and_contains_again_is_planned_again(build, engine):
    """Cancelled while the plan lacks it, planned again once it has it: the step moved past
    the window's end, a group's tag removed and put back. Insert-or-ignore alone kept the
    cancelled row, and the send was lost."""
    nine, noon = camp(), camp(morning="早安", evening=None)
    noon["camp.yaml"] = noon["camp.yaml"].replace("'09:00'", "'12:00'")
    library, moved = library_of(build, nine), library_of(build, noon)
    now = local("2026-03-05 10:00")
    write(engine, library, planned(library, daemon_window(now)), now)
    key = "camp:morning:wrG0001:2026-03-06"
    assert at(rows(engine)[key]) == "03-06 09:00"

    # 10:01: the step moves to 12:00; 03-06 12:00 lies beyond this round's window.
    edit = now + timedelta(minutes=1)
    report = write(engine, moved, planned(moved, daemon_window(edit)), edit)
    assert key in report.cancelled
    assert (rows(engine)[key].state, rows(engine)[key].error) == (
        SendState.CANCELLED,
        "no longer in the plan",
    )

    next_day = local("2026-03-06 10:02")
    report = write(engine, moved, planned(moved, daemon_window(next_day)), next_day)
    row = rows(engine)[key]
    assert key in report.revived
    assert (row.state, row.error, at(row), row.updated_at) == (
        SendState.PLANNED,
        "",
        "03-06 12:00",
        next_day,
    )
    assert row.playbook_version == moved.digest("camp")

    # wrG0005 loses its tag, then gets it back.
    later = local("2026-03-06 13:00")
    gone = write(engine, moved, planned(moved, daemon_window(later), GROUPS[:4]), later)
    assert gone.cancelled == ["camp:morning:wrG0005:2026-03-06"]  # 12:00, not sent yet
    back = write(engine, moved, planned(moved, daemon_window(later), GROUPS), later)
    assert back.revived == gone.cancelled
    assert rows(engine)[gone.cancelled[0]].state == SendState.PLANNED


def test_only_sends_the_plan_dropped_come_back(build, engine):
    """A send cancelled for another reason (withdrawn, its group dismissed) stays so."""
    library = library_of(build, camp(evening=None))
    now = local("2026-03-05 10:00")
    write(engine, library, planned(library, daemon_window(now)), now)
    dismissed = "camp:morning:wrG0001:2026-03-06"
    with session(engine) as s:
        row = s.get(OutboxRow, dismissed)
        assert row is not None
        row.state, row.error = SendState.CANCELLED, "group dismissed"
        s.add(row)

    report = write(engine, library, planned(library, daemon_window(now)), now)

    assert (report.inserted, report.revived) == (0, [])
    assert rows(engine)[dismissed].state == SendState.CANCELLED


def test_a_group_with_a_new_owner_is_sent_by_the_new_owner(build, engine):
    """A group handed over (离职继承): its planned sends change sender and batch, or the old
    owner's WeCom task would list a group no longer theirs and WeCom would refuse it."""
    library = library_of(build, camp(evening=None))
    now = local("2026-03-05 10:00")
    write(engine, library, planned(library, daemon_window(now)), now)
    key = "camp:morning:wrG0001:2026-03-06"
    before_all = snapshot(engine)
    before = rows(engine)[key]
    assert before.sender == "zhangsan"

    handed = [replace(GROUPS[0], owner="lisi"), *GROUPS[1:]]
    report = write(engine, library, planned(library, daemon_window(now), handed), now)

    after = rows(engine)
    changed = {k for k in after if after[k].model_dump() != before_all[k]}
    assert report.updated == 2
    assert changed == {key, "camp:morning:wrG0001:2026-03-05"}  # due at 09:00, not sent yet
    for k in changed:
        assert (after[k].sender, after[k].state) == ("lisi", SendState.PLANNED)
    assert after[key].batch == after["camp:morning:wrG0004:2026-03-06"].batch != before.batch


def test_a_disabled_playbook_cancels_its_sends_already_due(build, engine):
    """09:00's batch went back to planned (WeCom answered 45009) and ops disable the
    playbook at 09:01: the due send is cancelled, not sent at the next claim."""
    library = library_of(build, camp(evening=None))
    write(engine, library, planned(library, days("2026-03-02", 2)), local("2026-03-01 23:00"))
    off = library_of(
        build,
        {
            "camp.yaml": camp(evening=None)["camp.yaml"].replace(
                "audience:", "enabled: false\naudience:"
            )
        },
    )
    now = local("2026-03-02 09:01")

    report = write(engine, off, planned(off, daemon_window(now)), now)

    due = {k for k, r in rows(engine).items() if at(r) == "03-02 09:00"}
    assert set(report.cancelled) >= due
    with session(engine) as s:
        assert claim(s, now, "worker-1") == []


def test_a_state_change_applies_only_to_rows_still_claimed(build, engine):
    """A later chunk of a batch refused must not mark the chunks WeCom accepted failed."""
    library = library_of(build, camp())
    write(engine, library, planned(library, days("2026-03-02", 1)), local("2026-03-01 23:00"))
    now = local("2026-03-02 09:00")
    with session(engine) as s:
        keys = [r.key for r in claim(s, now, "worker-1")]
        set_state(s, keys[:1], SendState.SUBMITTED, now, msgid="msgACCEPTED")
    with session(engine) as s:
        set_state(s, keys, SendState.FAILED, now, error="40058")

    after = rows(engine)
    assert (after[keys[0]].state, after[keys[0]].msgid) == (SendState.SUBMITTED, "msgACCEPTED")
    assert {after[k].state for k in keys[1:]} == {SendState.FAILED}


def test_changes_decided_on_a_reading_apply_only_while_the_claim_is_as_read(build, engine):
    """Two replicas overlapping: the new leader read the old one's claim untried and
    releases it; the old one records its attempt. Whichever writes second matches nothing,
    on SQLite and PostgreSQL alike."""
    library = library_of(build, camp())
    write(engine, library, planned(library, days("2026-03-02", 1)), local("2026-03-01 23:00"))
    now = local("2026-03-02 09:00")
    with session(engine) as s:
        keys = [r.key for r in claim(s, now, "old-leader")]
    as_read = Held("old-leader", None)
    with session(engine) as s:
        assert mark_attempted(s, keys, now, "old-leader") == len(keys)  # the old one first
    with session(engine) as s:
        assert release(s, keys, now, "never tried", held=as_read) == 0  # stale reading
        assert set_state(s, keys, SendState.MISSED, now, held=as_read) == 0
        assert mark_attempted(s, keys, now, "old-leader") == 0  # attempted once only
        assert release(s, keys, now, "no task", held=Held("old-leader", now)) == len(keys)
    with session(engine) as s:
        assert mark_attempted(s, keys, now, "old-leader") == 0  # released: not its own now
    assert {r.state for k, r in rows(engine).items() if k in keys} == {SendState.PLANNED}


def test_enrolments_the_plan_assumed_are_recorded_once(build, engine):
    library = library_of(build, camp(anchor="enrolled"))
    first = planned(library, days("2026-03-02", 2), enrol_at=local("2026-03-02 08:00"))
    assert first.enrolments == {(g.id, "camp"): date(2026, 3, 2) for g in GROUPS}
    write(engine, library, first, local("2026-03-02 08:00"))
    with session(engine) as s:
        recorded = {(e.target_id, e.playbook_id): e for e in s.exec(select(Enrolment)).all()}
    assert {k: e.day_one for k, e in recorded.items()} == first.enrolments
    assert {e.enrolled_at for e in recorded.values()} == {local("2026-03-02 08:00")}

    # A plan that assumed another Day 1 (a replica that had not seen the first) changes
    # nothing already recorded.
    other = planned(library, days("2026-03-05", 1), enrol_at=local("2026-03-05 08:00"))
    write(engine, library, other, local("2026-03-05 08:00"))
    with session(engine) as s:
        again = {(e.target_id, e.playbook_id): e.day_one for e in s.exec(select(Enrolment)).all()}
    assert again == first.enrolments

    # Targets carrying the recorded enrolment count days from it and assume nothing.
    enrolled = [group(n, {"camp": date(2026, 3, 2)}) for n in OWNERS]
    later = planned(library, days("2026-03-03", 1), enrolled, enrol_at=local("2026-03-03 08:00"))
    assert later.enrolments == {}
    assert {s.day for s in later.sends} == {2}


def test_claim_takes_whole_batches_and_never_a_row_twice(build, engine):
    library = library_of(build, camp())
    the_plan = planned(library, days("2026-03-02", 2))
    write(engine, library, the_plan, local("2026-03-01 23:00"))
    now = local("2026-03-02 09:05")
    batches: dict[str, set[str]] = {}
    for send in the_plan.sends:
        if at_local(send.at) == "03-02 09:00":
            batches.setdefault(send.batch or "", set()).add(send.key)
    assert sorted(len(b) for b in batches.values()) == [2, 3]

    with session(engine) as s:
        one = claim(s, now, "worker-1", limit=1)
    with session(engine) as s:
        other = claim(s, now, "worker-2")
    with session(engine) as s:
        nothing = claim(s, now, "worker-3")
    with session(engine) as s:
        same_worker_again = claim(s, now, "worker-1")
    with session(engine) as s:
        later_again = claim(s, now + timedelta(minutes=1), "worker-1")

    assert len({r.batch for r in one}) == len({r.batch for r in other}) == 1
    assert {(r.state, r.claimed_at) for r in one + other} == {(SendState.CLAIMED, now)}
    assert {r.key for r in one} == batches[one[0].batch]  # the whole batch
    assert {r.key for r in other} == batches[other[0].batch]
    assert {r.key for r in one}.isdisjoint(r.key for r in other)
    assert nothing == same_worker_again == later_again == []
    state = rows(engine)
    for row in one + other:
        stored = state[row.key]
        assert (stored.state, stored.claimed_at) == (SendState.CLAIMED, now)
        assert stored.claimed_by == row.claimed_by
    assert {state[r.key].claimed_by for r in one} == {"worker-1"}
    assert {state[r.key].claimed_by for r in other} == {"worker-2"}
    # Nothing that is not yet due was taken.
    assert {r.state for r in state.values() if r.due_at > now} == {SendState.PLANNED}


def test_one_worker_claiming_twice_at_the_same_instant_gets_each_row_once(build, engine):
    """A frozen clock (run --once --now, tests) or a coarse one gives two claims of one
    worker the same claimed_at: the second must return only what it took itself."""
    library = library_of(build, camp())
    write(engine, library, planned(library, days("2026-03-02", 1)), local("2026-03-01 23:00"))
    now = local("2026-03-02 09:05")
    with session(engine) as s:
        first = claim(s, now, "worker-1", limit=1)
    with session(engine) as s:
        second = claim(s, now, "worker-1", limit=1)
    with session(engine) as s:
        third = claim(s, now, "worker-1", limit=1)

    assert len({r.batch for r in first}) == len({r.batch for r in second}) == 1
    assert {r.key for r in first}.isdisjoint(r.key for r in second)
    assert len(first) + len(second) == len(GROUPS)
    assert third == []


def at_local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%m-%d %H:%M")


def test_claim_skips_expired_sends(build, engine):
    library = library_of(build, camp())
    write(engine, library, planned(library, days("2026-03-02", 1)), local("2026-03-01 23:00"))
    with session(engine) as s:
        taken = claim(s, local("2026-03-02 20:30"), "worker-1")
    assert {at(r) for r in taken} == {"03-02 20:00"}  # 09:00 expired at 15:00


def test_mark_missed_only_planned_rows_past_their_expiry(build, engine):
    library = library_of(build, camp())
    write(engine, library, planned(library, days("2026-03-02", 2)), local("2026-03-01 23:00"))
    due = local("2026-03-02 09:00")
    with session(engine) as s:
        taken = claim(s, due, "worker-dead")
    zhangsan = [r.key for r in taken if r.sender == "zhangsan"]
    with session(engine) as s:
        set_state(s, zhangsan, SendState.SUBMITTED, due, msgid="msgX")
    now = local("2026-03-03 10:00")

    with session(engine) as s:
        missed = mark_missed(s, now)
    with session(engine) as s:
        again = mark_missed(s, now)

    after = rows(engine)
    assert {at(after[k]) for k in missed} == {"03-02 20:00"}  # expired at 03-03 02:00
    assert len(missed) == len(GROUPS)
    assert again == []
    for key in missed:
        row = after[key]
        assert (row.state, row.updated_at) == (SendState.MISSED, now)
        assert row.error == (
            "due 2026-03-02 12:00 UTC, not sent before expires_after (2026-03-02 18:00 UTC)"
        )
    # Claimed and submitted rows past their expiry belong to the dispatcher and the tracker.
    assert sorted(after[r.key].state for r in taken) == sorted(
        [SendState.SUBMITTED] * 3 + [SendState.CLAIMED] * 2
    )
    # Not yet expired: 03-03 09:00 expires at 15:00 exactly, and is missed from then on.
    assert {r.state for r in after.values() if at(r) >= "03-03"} == {SendState.PLANNED}
    with session(engine) as s:
        assert mark_missed(s, local("2026-03-03 14:59")) == []
    with session(engine) as s:
        at_expiry = mark_missed(s, local("2026-03-03 15:00"))
    assert {at(after[k]) for k in at_expiry} == {"03-03 09:00"}


def test_insert_or_ignore_counts_on_postgresql_too():
    """rowcount is -1 for batched multi-row inserts on PostgreSQL; the keys inserted come
    from RETURNING."""
    from datetime import UTC, datetime, timedelta

    from botops.outbox.queue import _insert_or_ignore
    from botops.store.db import open_database, session
    from botops.store.models import SendState
    from tests.helpers import postgres_url, reset_postgres

    url = postgres_url()
    reset_postgres(url)
    engine = open_database(url)
    now = datetime.now(UTC)

    def row(key: str) -> dict[str, object]:
        return {
            "key": key,
            "playbook": "p",
            "step": "s",
            "target_id": "t",
            "sender": "u",
            "planned_at": now,
            "due_at": now,
            "expires_at": now + timedelta(hours=1),
            "state": SendState.PLANNED,
            "updated_at": now,
        }

    try:
        with session(engine) as s:
            assert _insert_or_ignore(s, [row("a"), row("b")]) == {"a", "b"}
        with session(engine) as s:
            assert _insert_or_ignore(s, [row("a"), row("c")]) == {"c"}
    finally:
        engine.dispose()
