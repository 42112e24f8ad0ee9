"""botops.store.retention: old finished sends and tasks go, everything still open stays."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, func
from sqlmodel import select

from botops.store.db import session
from botops.store.models import (
    MassTask,
    MassTaskReminder,
    MassTaskTarget,
    OutboxRow,
    SendState,
    TaskStatus,
)
from botops.store.retention import prune_sends
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
