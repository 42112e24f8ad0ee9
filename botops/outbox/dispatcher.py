"""The dispatcher: due outbox rows → WeCom tasks, durably, exactly once.

One round (`dispatch`):
1. due sends past their expiry are marked missed (after downtime: never a burst of stale
   messages);
2. claims left by a dead dispatcher are reconciled with WeCom (botops.outbox.reconcile);
3. due batches are claimed (except those of playbooks in their quiet hours now: a send
   already late waits for the morning, or expires) — committed before any WeCom call, in the same transaction as
   the texts of messages showing check-in figures are rendered (botops.outbox.render_at_send);
4. batch by batch: leadership is checked (a replica that lost it hands the rest back), its
   media is uploaded, the attempt is recorded, the batch is handed to the sender; the moment
   WeCom creates a task, the recorder writes the task and marks its rows submitted in one
   transaction.

Two replicas can overlap for a moment (a leader that lost its lock may be stalled between
two statements while the new leader reconciles its claims). Every write here applies only
to rows this dispatcher still holds as it last saw them (queue.Held): an attempt recorded
after the new leader took the claim back matches nothing, and the batch is not sent. And
a batch may start creating tasks only within half the settle time after its attempt was
recorded (`_within_window`): the new leader looks it up in WeCom only after the whole
settle time, so whatever this one created by then is found there, never sent again.

An error whose outcome is unknown (connection dropped while WeCom may have created the task)
leaves the rows claimed but disowned, so the next round reconciles them instead of resending;
until then another batch of the same message from the same sender waits (see
queue.unresolved_messages).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import Engine, update
from sqlmodel import Session, col

from botops.clock import Clock
from botops.errors import WeComRejectedError, WeComRetryableError
from botops.metrics import OUTBOX_LAG
from botops.outbox.queue import (
    Held,
    claim,
    mark_attempted,
    mark_missed,
    message_of,
    outgoing_for,
    release,
    set_state,
    unresolved_messages,
)
from botops.outbox.reconcile import SETTLE, ReconcileReport, reconcile
from botops.outbox.render_at_send import render_at_send
from botops.planning.policy import SendPolicy
from botops.playbook.library import PlaybookLibrary
from botops.senders.base import (
    AttachmentError,
    CreatedTask,
    Outgoing,
    Receipt,
    Sender,
    SendWindowClosed,
)
from botops.store.db import session
from botops.store.models import OutboxRow, SendState
from botops.store.tasks import record_task
from botops.wecom.client import WeComClient
from botops.wecom.responses import FrequencyLimited, OutcomeUnknown

log = structlog.get_logger()

DISOWNED = "outcome-unknown"  # claimed_by of rows whose WeCom outcome must be reconciled
HELD = "waiting: the same message from this sender has an unknown outcome"
CLAIM_LOST = "taken back by another dispatcher before it was tried"
StillLeader = Callable[[], Awaitable[bool]]


@dataclass
class DispatchReport:
    missed: list[str] = field(default_factory=list)
    reconciled: ReconcileReport = field(default_factory=ReconcileReport)
    submitted: dict[str, str] = field(default_factory=dict)  # key -> msgid
    failed: dict[str, str] = field(default_factory=dict)  # key -> reason
    retried: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)  # delivered at once (robot)
    unknown: list[str] = field(default_factory=list)  # batches: WeCom's outcome is unknown


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        sender: Sender,
        client: WeComClient,
        clock: Clock,
        *,
        worker: str,
        library: Callable[[], PlaybookLibrary],
        policy: SendPolicy,
        settle: timedelta = SETTLE,
        still_leader: StillLeader | None = None,
    ) -> None:
        """`worker` must be unique per process run; `library()` is the current playbooks
        (it follows reloads): their folders hold attachment files, their templates render
        check-in figures at send time under `policy`. `still_leader()` is asked before each
        batch (botops.daemon.leader: a replica that lost leadership must stop sending before
        another can start); without it this dispatcher is the only one."""
        self._engine = engine
        self._sender = sender
        self._client = client
        self._clock = clock
        self._worker = worker
        self._library = library
        self._policy = policy
        self._settle = settle  # see reconcile.SETTLE
        self._still_leader = still_leader
        self._draining = False
        self._in_round = False
        self._limited = False  # WeCom answered 45009 this round: its block outlasts the round

    def drain(self) -> None:
        """Stop claiming (SIGTERM): the batch in flight finishes, nothing new starts."""
        self._draining = True

    async def dispatch(self) -> DispatchReport:
        if self._in_round:  # leftover claims (below) are only ours to take back between rounds
            raise RuntimeError("Dispatcher.dispatch: rounds must not overlap")
        self._in_round = True
        self._limited = False
        try:
            return await self._round()
        finally:
            self._in_round = False

    async def _round(self) -> DispatchReport:
        report = DispatchReport()
        now = self._clock.now()
        with session(self._engine) as s:
            # Claims this worker still holds were left by an earlier round that aborted and
            # could not hand them back (say, the database was unavailable): reconcile them
            # like a dead dispatcher's, or they would wait for a restart.
            _disown_leftovers(s, self._worker, now)
            report.missed = mark_missed(s, now)
        report.reconciled = await reconcile(
            self._engine, self._client, self._worker, now, settle=self._settle
        )
        if self._draining:
            return report
        quiet = in_quiet_hours(self._library(), self._policy, now)
        with session(self._engine) as s:
            rows = claim(s, now, self._worker, waiting=quiet)
            rows = render_at_send(s, rows, self._library(), self._policy, now)
            held = unresolved_messages(s, self._worker)
        batches = [list(batch) for _, batch in groupby(rows, key=lambda r: r.batch)]
        for index, members in enumerate(batches):
            stop = await self._stop_reason()
            if stop or message_of(members[0]) in held:
                with session(self._engine) as s:
                    untried = batches[index:] if stop else [members]
                    keys = [r.key for batch in untried for r in batch]
                    mine = Held(self._worker, None)
                    release(s, keys, self._clock.now(), error=stop or HELD, held=mine)
                if stop:
                    log.warning("send.stopped", reason=stop, batches=len(untried))
                    break
                report.retried.extend(keys)
                continue
            try:
                if not await self._send(members, report):
                    held.add(message_of(members[0]))
            except BaseException as exc:
                self._abandon(members, batches[index + 1 :], exc)
                raise
        return report

    async def _stop_reason(self) -> str:
        """Why no further batch may be sent this round, or "" to go on."""
        if self._draining:
            return "shutting down"
        if self._limited:
            return "WeCom's frequency limit (45009)"
        if self._still_leader is not None and not await self._still_leader():
            return "leadership lost"
        return ""

    def _abandon(
        self, current: list[OutboxRow], untried: list[list[OutboxRow]], exc: BaseException
    ) -> None:
        """The round ends on an error nobody handled (a configuration error, a database
        error after WeCom created the task, cancellation). Only other dispatchers' claims
        are reconciled, so rows left claimed by this one would wait for a restart: the batch
        in flight is disowned (WeCom may have its task: the next round reconciles it), the
        batches not yet tried go back to planned."""
        now, error = self._clock.now(), f"round aborted: {exc!r}"[:500]
        with session(self._engine) as s:
            _disown(s, [r.key for r in current], now, error, self._worker)
            untried_keys = [r.key for batch in untried for r in batch]
            release(s, untried_keys, now, error=error, held=Held(self._worker, None))

    async def _send(self, rows: list[OutboxRow], report: DispatchReport) -> bool:
        """Send one batch; False when WeCom's outcome is unknown."""
        outgoing = self._outgoing(rows)
        keys = [r.key for r in rows]
        bound = log.bind(
            playbook=outgoing.playbook, step=outgoing.step, batch=outgoing.batch, targets=len(rows)
        )
        mine = Held(self._worker, None)
        try:
            await self._sender.prepare(outgoing)  # media: nothing a customer sees
            attempted = self._clock.now()
            with session(self._engine) as s:
                if mark_attempted(s, keys, attempted, self._worker) < len(keys):
                    s.rollback()  # not even the rows still ours: the batch goes as a whole
                    release(s, keys, attempted, error=CLAIM_LOST, held=mine)
                    bound.warning("send.claim_lost")
                    return True
            mine = Held(self._worker, attempted)
            receipt = await self._within_window(outgoing, attempted)
        except (OutcomeUnknown, TimeoutError) as exc:
            with session(self._engine) as s:
                _disown(s, keys, self._clock.now(), str(exc) or repr(exc), self._worker)
            report.unknown.append(outgoing.batch)
            bound.warning("send.outcome_unknown", error=str(exc) or repr(exc))
            _log_sends(rows, dict.fromkeys(keys, "outcome_unknown"))
            return False
        except (WeComRetryableError, SendWindowClosed) as exc:
            # WeCom did nothing, or we did not ask it to: try again next round. Rows already
            # submitted (an earlier task of this batch) are no longer claimed: untouched.
            self._limited = isinstance(exc, FrequencyLimited)
            with session(self._engine) as s:
                release(s, keys, self._clock.now(), error=str(exc), held=mine)
            report.retried.extend(keys)
            bound.warning("send.retry_later", error=str(exc))
            _log_sends(rows, dict.fromkeys(keys, "retry_later"))
            return True
        except (WeComRejectedError, AttachmentError) as exc:
            with session(self._engine) as s:
                set_state(s, keys, SendState.FAILED, self._clock.now(), error=str(exc), held=mine)
            report.failed.update(dict.fromkeys(keys, str(exc)))
            bound.error("send.failed", error=str(exc))
            _log_sends(rows, dict.fromkeys(keys, "failed"))
            return True
        by_target = outgoing.send_keys()
        now = self._clock.now()
        OUTBOX_LAG.observe(max((now - rows[0].due_at).total_seconds(), 0.0))
        with session(self._engine) as s:
            for failure in receipt.failed:
                key = by_target[failure.target_id]
                set_state(s, [key], SendState.FAILED, now, error=failure.reason, held=mine)
                report.failed[key] = failure.reason
            sent = [by_target[t] for t in receipt.sent]
            if sent:
                set_state(s, sent, SendState.SENT, now, held=mine)
                report.sent.extend(sent)
        for task in receipt.tasks:
            report.submitted.update({by_target[t]: task.msgid for t in task.targets})
        bound.info(
            "send.dispatched", tasks=[t.msgid for t in receipt.tasks], failed=len(receipt.failed)
        )
        outcomes = {key: f"submitted {msgid}" for key, msgid in report.submitted.items()}
        outcomes |= dict.fromkeys(sent, "sent") | dict.fromkeys(
            (by_target[f.target_id] for f in receipt.failed), "failed"
        )
        _log_sends(rows, outcomes)
        return True

    async def _within_window(self, outgoing: Outgoing, attempted: datetime) -> Receipt:
        """The sender's work, started and finished within half the settle time after the
        attempt was recorded. The sender asks the gate before each task it creates (time
        on the injected clock: a replica stalled past the window starts nothing); the
        timeout (the event loop's time) ends whatever is still running at the window's end:
        its outcome is then unknown, and reconciled."""
        window = self._settle / 2

        def gate() -> None:
            if self._clock.now() - attempted >= window:
                raise SendWindowClosed(
                    f"not started within {window} of recording the attempt: after a stall,"
                    " another replica could take the batch for unsent"
                )

        gate()
        left = window - (self._clock.now() - attempted)
        async with asyncio.timeout(left.total_seconds()):
            return await self._sender.send(outgoing, gate)

    def _outgoing(self, rows: list[OutboxRow]) -> Outgoing:
        folder = next(
            (s.path.parent for s in self._library().sourced if s.playbook.id == rows[0].playbook),
            None,
        )
        return outgoing_for(rows, folder)


def in_quiet_hours(library: PlaybookLibrary, policy: SendPolicy, now: datetime) -> list[str]:
    """The playbooks whose quiet hours hold at `now`. The planner keeps sends out of quiet
    hours, but one already due when it could not go (the daemon was down, WeCom refused it,
    its group was planned late) would otherwise leave at 23:00: it waits for the morning, or
    expires as missed."""
    quiet = []
    for playbook in library.playbooks:
        hours = playbook.policy.quiet_hours or policy.quiet_hours
        zone = ZoneInfo(playbook.timezone or policy.timezone)
        if hours is not None and hours.contains(now.astimezone(zone).time()):
            quiet.append(playbook.id)
    return quiet


def _log_sends(rows: list[OutboxRow], outcomes: dict[str, str]) -> None:
    """One line per send, so `grep key=...` tells a send's whole story."""
    for row in rows:
        log.info(
            "send",
            playbook=row.playbook,
            step=row.step,
            group=row.target_id,
            key=row.key,
            attempt=row.attempts + 1,
            outcome=outcomes.get(row.key, "unknown"),
        )


def _disown_leftovers(s: Session, worker: str, now: datetime) -> None:
    s.execute(
        update(OutboxRow)
        .where(col(OutboxRow.state) == SendState.CLAIMED, col(OutboxRow.claimed_by) == worker)
        .values(claimed_by=DISOWNED, error="left claimed by an aborted round", updated_at=now)
    )


def _disown(s: Session, keys: list[str], now: datetime, error: str, worker: str) -> None:
    """Leave `worker`'s claims to reconciling (their WeCom outcome is unknown)."""
    s.execute(
        update(OutboxRow)
        .where(
            col(OutboxRow.key).in_(keys),
            col(OutboxRow.state) == SendState.CLAIMED,
            col(OutboxRow.claimed_by) == worker,
        )
        .values(claimed_by=DISOWNED, error=error, updated_at=now)
    )


class OutboxRecorder:
    """A senders.TaskRecorder: the task, its targets and the outbox rows, one transaction."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def __call__(self, outgoing: Outgoing, task: CreatedTask) -> None:
        keys = outgoing.send_keys()
        with session(self._engine) as s:
            record_task(
                s,
                msgid=task.msgid,
                source=outgoing,
                targets=task.targets,
                created_at=self._clock.now(),
            )
            set_state(
                s,
                [keys[t] for t in task.targets],
                SendState.SUBMITTED,
                self._clock.now(),
                msgid=task.msgid,
            )
