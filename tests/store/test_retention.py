"""botops.store.retention: old finished sends and tasks go, everything still open stays."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from botops.store.activity import first_message_day
from botops.store.db import session
from botops.store.models import (
    GroupMessageRecord,
    MassTask,
    MassTaskReminder,
    MassTaskTarget,
    OutboxRow,
    SendState,
    TaskStatus,
)
from botops.store.retention import messages_kept_from, prune_messages, prune_sends
from tests.helpers import local

NOW = local("2027-03-10 09:00")
CUTOFF = NOW - timedelta(days=400)


def send(key: str, due_days_ago: int, state: SendState, *, now: datetime = NOW) -> OutboxRow:
    """A send of `state`, due `due_days_ago` days before `now`."""
    due = now - timedelta(days=due_days_ago)
    return OutboxRow(
        key=key,
        playbook="camp",
        step="morning",
        target_id="wrA",
        sender="zhangsan",
        planned_at=due,
        due_at=due,
        expires_at=due + timedelta(hours=6),
        text="早上好" * 100,
        state=state,
        updated_at=due,
    )


def task(msgid: str, created_days_ago: int, status: TaskStatus) -> MassTask:
    return MassTask(
        msgid=msgid,
        sender="zhangsan",
        created_at=NOW - timedelta(days=created_days_ago),
        status=status,
    )


def test_finished_history_older_than_the_cutoff_is_deleted_and_nothing_open(engine: Engine):
    with session(engine) as s:
        for state in SendState:
            s.add(send(f"old-{state}", 500, state))
        s.add(send("recent-sent", 30, SendState.SENT))
        s.add(task("old-sent", 500, TaskStatus.SENT))
        s.add(task("old-waiting", 500, TaskStatus.WAITING))  # staff may still confirm it
        s.add(task("recent-sent", 30, TaskStatus.SENT))
        s.flush()
        s.add(MassTaskTarget(msgid="old-sent", target_id="wrA", send_key="old-sent"))
        s.add(MassTaskReminder(msgid="old-sent", reminded_at=NOW - timedelta(days=500)))
        s.add(MassTaskTarget(msgid="old-waiting", target_id="wrA"))
    # a chunk smaller than the backlog: several transactions, all of it deleted
    assert prune_sends(engine, CUTOFF, chunk=2) == 6
    with session(engine) as s:
        assert sorted(s.exec(select(OutboxRow.key))) == [
            "old-claimed",
            "old-planned",
            "old-submitted",
            "recent-sent",
        ]
        assert sorted(s.exec(select(MassTask.msgid))) == ["old-waiting", "recent-sent"]
        # the deleted task's targets and reminders went with it (ON DELETE CASCADE)
        assert s.exec(select(func.count()).select_from(MassTaskReminder)).one() == 0
        assert list(s.exec(select(MassTaskTarget.msgid))) == ["old-waiting"]
    assert prune_sends(engine, CUTOFF) == 0  # nothing left to delete


def message(msgid: str, days_ago: int, *, now: datetime = NOW) -> GroupMessageRecord:
    """A message logged `days_ago` days before `now` (its local day: UTC's, near enough)."""
    at = now - timedelta(days=days_ago)
    return GroupMessageRecord(
        msgid=msgid, chat_id="wrA", sender_id="wmA", sent_at=at, local_day=at.date()
    )


def logged(engine: Engine) -> tuple[list[str], date | None]:
    with session(engine) as s:
        return sorted(s.exec(select(GroupMessageRecord.msgid))), first_message_day(s)


def test_old_days_of_the_message_log_go_and_its_first_day_is_remembered(engine: Engine):
    with session(engine) as s:
        for msgid, days_ago in (("a", 40), ("b", 40), ("c", 21), ("d", 20), ("e", 3)):
            s.add(message(msgid, days_ago))
    today = NOW.date()

    assert prune_messages(engine, today - timedelta(days=30), chunk=1) == 2
    after_first = logged(engine)
    assert prune_messages(engine, today - timedelta(days=20)) == 1
    after_second = logged(engine)
    assert prune_messages(engine, today - timedelta(days=20)) == 0

    assert after_first == (["c", "d", "e"], today - timedelta(days=40))
    # Inactivity rules still see that logging began 40 days ago, not 20.
    assert after_second == (["d", "e"], today - timedelta(days=40))


def test_a_message_log_with_nothing_old_is_left_as_it_is(engine: Engine):
    assert prune_messages(engine, NOW.date()) == 0
    assert logged(engine) == ([], None)  # no first day invented for an empty log
    with session(engine) as s:
        s.add(message("a", 3))
    assert prune_messages(engine, NOW.date() - timedelta(days=3)) == 0
    assert logged(engine) == (["a"], NOW.date() - timedelta(days=3))


@pytest.mark.parametrize(
    ("keep_days", "windows", "kept_days"),
    [(400, [7, 30], 400), (7, [30, 3], 30), (10, [], 10), (10, [10], 10)],
)
def test_the_message_log_keeps_every_inactivity_window(keep_days, windows, kept_days):
    today = NOW.date()
    kept = messages_kept_from(today, timedelta(days=keep_days), windows)
    assert kept == today - timedelta(days=kept_days)
