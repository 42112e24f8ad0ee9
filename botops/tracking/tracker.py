"""`TaskTracker`: one polling round over the mass-send tasks still waiting for staff.

Per open task, in this order (wecom-api.md §2):

    get_groupmsg_task         which senders confirmed (status 2) → sender_confirmed_at
    get_groupmsg_send_result  per confirmed sender: 1 sent (send_time), 2 not a friend,
                              3 already received (the receive cap); group sends list only
                              groups sent to, so the rest stay waiting
    all targets final         → task sent (all sent) or partial
    unconfirmed               → remind_groupmsg_send when a reminder time has passed
                                (TrackingPolicy), recorded in the reminders table; so is a
                                reminder whose answer was lost (it may have gone out) or
                                that WeCom refused (41094 or 45009: its 3 per 24 h spent,
                                maybe by hand), else every round would remind again

An expired task (past expires_at; `botops withdraw` expires a task at once, and runs this
round for it itself: a task may be finished by another round) still waiting after the read,
or whose read failed (so a read that keeps failing cannot keep staff able to send it):

    cancel_groupmsg_send, then the read again → what is still waiting, and the task → expired
    cancel failed transiently → reported, tried again next round
    cancel rejected for good  → read if possible, finish expired keeping the error
    read failed               → after a cancel: reported, both tried again next round; past
                                TrackingPolicy.give_up_after (24 h) after expiry, whatever
                                still fails, the task ends expired keeping the error

A task that never expires (recorded without an expires_at) whose reads have kept failing for
give_up_after (a sender who left, 60111) ends the same way: cancelled if WeCom lets us, then
expired keeping the error. Since when they fail is the task's last_polled_at while its error
is a read's ("poll: ..."): the first failed read after one that got through moves it there,
later failures leave it. A read that gets through clears the error, so staff may still
confirm late, and one failure never ends a task.

Every change is committed before the next WeCom call, so a crash mid-round loses at most
the answer in flight, and the next round picks up from the database. WeCom errors stop
that task's round only (reported); configuration errors stop the whole round.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from sqlalchemy import Engine

from botops.clock import Clock
from botops.errors import WeComConfigError, WeComError, WeComRejectedError
from botops.store import tasks as store
from botops.store.db import session
from botops.store.models import MassTask, TargetStatus, TaskStatus
from botops.tracking.policy import TrackingPolicy, target_status
from botops.wecom.client import WeComClient
from botops.wecom.models import TASK_SENT, GroupMsgTaskItem
from botops.wecom.responses import OutcomeUnknown

log = structlog.get_logger()
_READ_FAILED = "poll:"  # the error a failed read leaves on its task ("<action>: <error>")


@dataclass(frozen=True, slots=True)
class TaskError:
    msgid: str
    action: str  # "poll", "remind" or "cancel"
    message: str


@dataclass(slots=True)
class TrackingReport:
    polled: int = 0
    confirmed: list[str] = field(default_factory=list)  # newly confirmed this round
    updated_targets: int = 0
    reminded: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    finished: dict[str, TaskStatus] = field(default_factory=dict)
    errors: list[TaskError] = field(default_factory=list)


class TaskTracker:
    def __init__(
        self,
        client: WeComClient,
        engine: Engine,
        clock: Clock,
        policy: TrackingPolicy | None = None,
    ) -> None:
        self._client = client
        self._engine = engine
        self._clock = clock
        self._policy = policy or TrackingPolicy()

    async def poll(self, only: Collection[str] | None = None) -> TrackingReport:
        """One round over the tasks still waiting (or those of them in `only`)."""
        report = TrackingReport()
        with session(self._engine) as s:
            waiting = store.open_tasks(s, msgids=only)
        for task in waiting:
            report.polled += 1
            with self._reporting(task.msgid, "poll", report):
                await self._poll_task(task, report)
        return report

    async def _poll_task(self, task: MassTask, report: TrackingReport) -> None:
        try:
            senders = await self._read(task, report)
        except WeComConfigError:
            raise
        except WeComError as exc:
            now = self._clock.now()
            if not _expired(task, now) and not self._given_up(task, now):
                raise  # reported and kept on the task (see _failed); read again next round
            # A read failing for days (a departed sender) or rate limited (a withdrawal in a
            # big round) must not keep staff able to send an expired or withdrawn task, nor
            # keep one that never expires waiting forever.
            with self._reporting(task.msgid, "cancel", report):
                await self._cancel(task, report, unread=exc)
            return
        now = self._clock.now()
        if self._settle(task.msgid, now, report):
            return
        if _expired(task, now):  # expired while this round read it
            with self._reporting(task.msgid, "cancel", report):
                await self._cancel(task, report)
        elif not senders or any(s.get("status") != TASK_SENT for s in senders):
            with self._reporting(task.msgid, "remind", report):
                await self._remind(task, now, report)

    async def _read(self, task: MassTask, report: TrackingReport) -> list[GroupMsgTaskItem]:
        """WeCom's view of the task: who confirmed, and what reached whom, recorded."""
        senders = await self._client.get_groupmsg_task(task.msgid)
        self._confirmed(task, senders, report)
        for sender in senders:
            if sender.get("status") == TASK_SENT:
                await self._results(task, sender["userid"], report)
        return senders

    def _settle(self, msgid: str, now: datetime, report: TrackingReport) -> bool:
        """Mark the task polled; finish it (sent / partial) when no target is waiting."""
        with session(self._engine) as s:
            targets = store.task_targets(s, msgid)
            if not targets or any(t.status == TargetStatus.WAITING for t in targets):
                row = s.get(MassTask, msgid)
                assert row is not None
                row.last_polled_at, row.error = now, ""  # errors of earlier rounds are resolved
                s.add(row)
                return False
            all_sent = all(t.status == TargetStatus.SENT for t in targets)
            status = TaskStatus.SENT if all_sent else TaskStatus.PARTIAL
            if not store.finish_task(s, msgid, status, now):
                return True  # finished meanwhile by another round
        report.finished[msgid] = status
        log.info("tracking.finished", msgid=msgid, status=str(status))
        return True

    @contextmanager
    def _reporting(self, msgid: str, action: str, report: TrackingReport) -> Iterator[None]:
        """WeCom errors end this step of this task (reported, retried next round);
        configuration errors end the round."""
        try:
            yield
        except WeComConfigError:
            raise
        except WeComError as exc:
            self._failed(msgid, action, exc, report)

    def _failed(self, msgid: str, action: str, exc: WeComError, report: TrackingReport) -> None:
        """Report a failed step, and keep it on the task until a round gets through. The
        first failed read after one that got through marks when reads began to fail."""
        error = self._reported(msgid, action, exc, report)
        with session(self._engine) as s:
            row = s.get(MassTask, msgid)
            if row is not None:
                if action == "poll" and not row.error.startswith(_READ_FAILED):
                    row.last_polled_at = self._clock.now()
                row.error = error[:500]
                s.add(row)

    def _given_up(self, task: MassTask, now: datetime) -> bool:
        return self._policy.given_up(task.expires_at, now, _failing_since(task))

    @staticmethod
    def _reported(msgid: str, action: str, exc: WeComError, report: TrackingReport) -> str:
        report.errors.append(TaskError(msgid, action, str(exc)))
        log.warning("tracking.error", msgid=msgid, action=action, error=str(exc))
        return f"{action}: {exc}"

    def _confirmed(
        self, task: MassTask, senders: list[GroupMsgTaskItem], report: TrackingReport
    ) -> None:
        times = [
            _utc(s.get("send_time")) or self._clock.now()
            for s in senders
            if s.get("status") == TASK_SENT
        ]
        if not times:
            return
        with session(self._engine) as s:
            row = s.get(MassTask, task.msgid)
            if row is not None and row.sender_confirmed_at is None:
                row.sender_confirmed_at = min(times)
                s.add(row)
                report.confirmed.append(task.msgid)
                log.info("tracking.confirmed", msgid=task.msgid, sender=task.sender)

    async def _results(self, task: MassTask, userid: str, report: TrackingReport) -> None:
        results = await self._client.get_groupmsg_send_result(task.msgid, userid)
        id_key = "chat_id" if task.chat_type == "group" else "external_userid"
        outcomes = {
            str(item.get(id_key, "")): (
                target_status(item.get("status")),
                _utc(item.get("send_time")),
            )
            for item in results
        }
        with session(self._engine) as s:
            changed = store.update_targets(s, task.msgid, outcomes)
        report.updated_targets += changed

    async def _cancel(
        self, task: MassTask, report: TrackingReport, unread: WeComError | None = None
    ) -> None:
        """Cancel an expired task, then record what staff sent; the rest expires.
        `unread`: why this round's read failed (not read again, WeCom just refused it)."""
        errors: list[str] = []  # why the task ends without a cancel or a full account
        given_up = self._given_up(task, self._clock.now())
        cancelled = False
        try:
            await self._client.cancel_groupmsg_send(task.msgid)
            cancelled = True
        except WeComRejectedError as exc:
            # For good (e.g. 41047 invalid msgid): cancelling every round cannot help.
            errors.append(self._reported(task.msgid, "cancel", exc, report))
        except WeComConfigError:
            raise
        except WeComError as exc:  # transient: tried again next round, until given up
            if not given_up:
                raise
            errors.append(self._reported(task.msgid, "cancel", exc, report))
        # Staff may have sent it until the cancel took effect: read, so what WeCom delivered
        # is recorded sent, not expired. (Cancelling twice is harmless if this read fails and
        # the next round cancels again.)
        if unread is None:
            try:
                await self._read(task, report)
            except WeComConfigError:
                raise
            except WeComError as exc:
                unread = exc
        if unread is not None:
            if cancelled and not given_up:
                self._failed(task.msgid, "poll", unread, report)  # read (and cancel) next round
                return
            errors.append(self._reported(task.msgid, "poll", unread, report))
        now = self._clock.now()
        if self._settle(task.msgid, now, report):
            return
        with session(self._engine) as s:
            error = "; ".join(errors)
            if not store.finish_task(s, task.msgid, TaskStatus.EXPIRED, now, error=error):
                return  # finished meanwhile by another round
            expired = store.expire_waiting(s, task.msgid)
        if cancelled:
            report.cancelled.append(task.msgid)
        report.finished[task.msgid] = TaskStatus.EXPIRED
        event = "tracking.withdrawn" if task.withdrawn_at else "tracking.expired"
        if task.expires_at is None:
            event = "tracking.given_up"  # never expired: its reads kept failing
        log.info(event, msgid=task.msgid, expired_targets=expired, error=error)

    async def _remind(self, task: MassTask, now: datetime, report: TrackingReport) -> None:
        with session(self._engine) as s:
            current = s.get(MassTask, task.msgid)
            if current is None or current.withdrawn_at is not None:
                return  # withdrawn since this round read it: never remind staff of it
            sent = store.reminder_times(s, task.msgid)
        if not self._policy.reminder_due(task.created_at, now, task.expires_at, sent):
            return
        try:
            await self._client.remind_groupmsg_send(task.msgid)
        except (OutcomeUnknown, WeComRejectedError):
            # It may have gone out (lost answer), or WeCom refuses it (41094 or 45009: the
            # task's 3 per 24 h are spent, maybe by hand): either way this reminder time is
            # used, else every round would remind again (spending the quota) or be refused.
            with session(self._engine) as s:
                store.record_reminder(s, task.msgid, self._clock.now())
            raise
        with session(self._engine) as s:
            store.record_reminder(s, task.msgid, self._clock.now())
        report.reminded.append(task.msgid)
        log.info("tracking.reminded", msgid=task.msgid, sender=task.sender, number=len(sent) + 1)


def _expired(task: MassTask, now: datetime) -> bool:
    return task.expires_at is not None and now >= task.expires_at


def _failing_since(task: MassTask) -> datetime | None:
    """Since when the task's reads fail, None if its last read got through (as of the start
    of this round). A task whose reads failed before botops kept this (an older botops left
    last_polled_at at the last read that got through, or unset) counts from there."""
    if not task.error.startswith(_READ_FAILED):
        return None
    return task.last_polled_at or task.created_at


def _utc(timestamp: int | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None
