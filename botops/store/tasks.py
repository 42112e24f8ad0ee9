"""Mass-send tasks in the database: created, tracked, reminded, withdrawn, finished.

A task is recorded with its targets and their send keys in one transaction, right after
add_msg_template answers (see `StoreTaskRecorder`), so staff confirming a task botops has
not recorded cannot happen unnoticed. Everything after that is the tracker's: target
outcomes, confirmation, reminders, expiry. `botops withdraw` only moves a task's expiry to
now. Updates never move a target out of a final state, nor a task out of a finished one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from botops.clock import Clock
from botops.store.db import session as open_session
from botops.store.models import (
    MassTask,
    MassTaskReminder,
    MassTaskTarget,
    TargetStatus,
    TaskStatus,
)


class TaskSource(Protocol):
    """What a task is recorded from (a sender's `Outgoing` fits)."""

    @property
    def batch(self) -> str: ...
    @property
    def playbook(self) -> str: ...
    @property
    def step(self) -> str: ...
    @property
    def sender(self) -> str: ...
    @property
    def chat_type(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def targets(self) -> tuple[tuple[str, str], ...]: ...  # (target id, send key)


class CreatedTaskLike(Protocol):
    @property
    def msgid(self) -> str: ...
    @property
    def targets(self) -> tuple[str, ...]: ...


def record_task(
    session: Session,
    *,
    msgid: str,
    source: TaskSource,
    targets: Sequence[str],
    created_at: datetime,
) -> MassTask:
    """Add the task and its targets (with their send keys) to `session`'s transaction."""
    keys = dict(source.targets)
    task = MassTask(
        msgid=msgid,
        chat_type=source.chat_type,
        sender=source.sender,
        playbook=source.playbook,
        step=source.step,
        batch=source.batch,
        text=source.text,
        created_at=created_at,
        expires_at=source.expires_at,
    )
    session.add(task)
    session.flush()  # the task row first: targets reference it
    session.add_all(
        MassTaskTarget(msgid=msgid, target_id=target, send_key=keys.get(target, ""))
        for target in dict.fromkeys(targets)
    )
    return task


class StoreTaskRecorder:
    """A `senders.TaskRecorder` writing each created task in its own transaction."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def __call__(self, outgoing: TaskSource, task: CreatedTaskLike) -> None:
        with open_session(self._engine) as s:
            record_task(
                s,
                msgid=task.msgid,
                source=outgoing,
                targets=task.targets,
                created_at=self._clock.now(),
            )


def open_tasks(
    session: Session,
    *,
    msgids: Collection[str] | None = None,
    playbook: str | None = None,
    step: str | None = None,
    sender: str | None = None,
    withdrawn: bool = False,
) -> list[MassTask]:
    """Tasks still waiting for staff, oldest first; all of them, or those matching every
    filter given (`withdrawn`: only those `botops withdraw` withdrew)."""
    query = select(MassTask).where(MassTask.status == TaskStatus.WAITING)
    if msgids is not None:
        query = query.where(col(MassTask.msgid).in_(list(msgids)))
    if withdrawn:
        query = query.where(col(MassTask.withdrawn_at).is_not(None))
    for column, value in (
        (MassTask.playbook, playbook),
        (MassTask.step, step),
        (MassTask.sender, sender),
    ):
        if value is not None:
            query = query.where(column == value)
    return list(session.exec(query.order_by(col(MassTask.created_at), col(MassTask.msgid))))


def withdraw(session: Session, msgids: Collection[str], now: datetime) -> list[str]:
    """Withdraw the tasks of `msgids` still waiting for staff: they expire `now`, so the next
    tracking round settles what staff already sent and cancels the rest in WeCom. Returns the
    msgids withdrawn; a task withdrawn before keeps its first `withdrawn_at`."""
    withdrawn = []
    for task in open_tasks(session, msgids=msgids):
        task.expires_at = now if task.expires_at is None else min(task.expires_at, now)
        task.withdrawn_at = task.withdrawn_at or now
        session.add(task)
        withdrawn.append(task.msgid)
    return withdrawn


def task_targets(session: Session, msgid: str) -> list[MassTaskTarget]:
    query = (
        select(MassTaskTarget)
        .where(MassTaskTarget.msgid == msgid)
        .order_by(col(MassTaskTarget.target_id))
    )
    return list(session.exec(query))


def update_targets(
    session: Session, msgid: str, outcomes: Mapping[str, tuple[TargetStatus, datetime | None]]
) -> int:
    """Apply WeCom's per-target outcomes to targets still waiting; returns how many changed."""
    changed = 0
    for target in task_targets(session, msgid):
        outcome = outcomes.get(target.target_id)
        if target.status != TargetStatus.WAITING or outcome is None:
            continue
        status, sent_at = outcome
        if status == TargetStatus.WAITING:
            continue
        target.status, target.sent_at = status, sent_at
        session.add(target)
        changed += 1
    return changed


def finish_task(
    session: Session, msgid: str, status: TaskStatus, now: datetime, *, error: str = ""
) -> bool:
    """Finish the task if it is still waiting; whether this call finished it. One UPDATE, so
    two tracking rounds (the daemon's and `botops withdraw`'s) cannot both finish a task.
    `error`: why it finished without WeCom's full account (a cancel WeCom refused, ...)."""
    result = session.execute(
        update(MassTask)
        .where(col(MassTask.msgid) == msgid, col(MassTask.status) == TaskStatus.WAITING)
        .values(status=status, finished_at=now, last_polled_at=now, error=error[:500])
    )
    return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


def expire_waiting(session: Session, msgid: str) -> int:
    """Targets still waiting when their task was cancelled → expired; returns how many."""
    expired = 0
    for target in task_targets(session, msgid):
        if target.status == TargetStatus.WAITING:
            target.status = TargetStatus.EXPIRED
            session.add(target)
            expired += 1
    return expired


def reminder_times(session: Session, msgid: str) -> list[datetime]:
    query = (
        select(MassTaskReminder.reminded_at)
        .where(MassTaskReminder.msgid == msgid)
        .order_by(col(MassTaskReminder.reminded_at))
    )
    return list(session.exec(query))


def record_reminder(session: Session, msgid: str, at: datetime) -> None:
    session.add(MassTaskReminder(msgid=msgid, reminded_at=at))
