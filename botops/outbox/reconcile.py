"""After a crash: did WeCom create the task for a claimed batch before we recorded it?

A dispatcher commits `claimed`, then `attempted_at` right before calling add_msg_template,
and `submitted` (with the msgid) right after. A crash in between leaves rows claimed by a dead
process. A claim never attempted goes straight back to planned. For an attempted one only
WeCom knows whether the task exists: we ask `get_groupmsg_list_v2` for the sender's mass
messages since the attempt and match by text (WeCom returns no target list there). A match
is recorded as that task; no match means nothing was created and the rows go back to
planned — or to missed, when their time has passed. Either way nothing is sent twice and
nothing is lost.

Matching by text is unambiguous because the dispatcher never tries a batch while another
attempted batch of the same sender and text is unresolved (queue.unresolved_messages), and
tasks already recorded are never matched again. A lookup WeCom refuses (the sender left the
company, a rate limit) fails that batch only: it waits for the next round, and is given up on
(missed, its outcome unknown) once it has been expired for GIVE_UP.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Engine
from sqlmodel import Session, select

from botops.errors import WeComError
from botops.outbox.queue import Held, outgoing_for, release, set_state, stale_claims
from botops.store.db import session
from botops.store.models import MassTask, OutboxRow, SendState
from botops.store.tasks import record_task
from botops.wecom.client import WeComClient
from botops.wecom.models import GroupMsg

log = structlog.get_logger()

# WeCom's create_time and our claimed_at come from different clocks.
CLOCK_SLACK = timedelta(minutes=10)
# A create whose answer we lost may still be in progress at WeCom (the client gave up after
# its timeout; WeCom finishes later). Until a claim is this old, "no task found" is not yet
# an answer: the rows wait, and only then go back to planned (`daemon.reconcile_after`).
SETTLE = timedelta(minutes=2)
# A batch whose lookup WeCom keeps refusing is given up on this long after it expired.
GIVE_UP = timedelta(days=1)


@dataclass
class ReconcileReport:
    recovered: dict[str, str] = field(default_factory=dict)  # batch -> msgid found in WeCom
    released: list[str] = field(default_factory=list)  # batches back to planned
    missed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # attempted too recently, or lookup failed


@dataclass(frozen=True)
class _Batch:
    rows: list[OutboxRow]

    @property
    def first(self) -> OutboxRow:
        return self.rows[0]

    @property
    def keys(self) -> list[str]:
        return [r.key for r in self.rows]

    @property
    def attempted(self) -> datetime | None:
        return self.first.attempted_at

    @property
    def held(self) -> Held:
        """As read: changes apply only if its dispatcher has not moved on meanwhile."""
        return Held(self.first.claimed_by, self.attempted)


async def reconcile(
    engine: Engine,
    client: WeComClient,
    worker: str,
    now: datetime,
    *,
    settle: timedelta = SETTLE,
) -> ReconcileReport:
    report = ReconcileReport()
    with session(engine) as s:
        grouped: dict[str, list[OutboxRow]] = defaultdict(list)
        for row in stale_claims(s, worker):
            grouped[row.batch].append(row)
    # Earliest attempt first: it takes the earliest matching task.
    batches = sorted(
        (_Batch(rows) for rows in grouped.values()),
        key=lambda b: (b.attempted or b.first.updated_at, b.first.batch),
    )
    for batch in batches:
        name, attempted = batch.first.batch, batch.attempted
        found: str | None = None
        if attempted is not None:
            try:
                found = await _find_task(engine, client, batch, attempted, now)
            except WeComError as exc:
                _lookup_failed(engine, batch, exc, now, report)
                continue
        if found is None and attempted is not None and now - attempted < settle:
            report.waiting.append(name)
            continue
        # Every change applies only if the claim is still as read (batch.held): if its
        # dispatcher was alive after all and moved on meanwhile, its rows are its own.
        with session(engine) as s:
            if found is not None:
                moved = _record(s, batch, found, now)
                if moved:
                    report.recovered[name] = found
            elif batch.first.expires_at <= now:
                error = "never tried" if attempted is None else "crashed while sending"
                error = f"{error}; expired before recovery"
                moved = set_state(
                    s, batch.keys, SendState.MISSED, now, error=error, held=batch.held
                )
                if moved:
                    report.missed.append(name)
            else:
                error = "WeCom had no task for it" if attempted else "it was never tried"
                error = f"recovered after a crash: {error}"
                moved = release(s, batch.keys, now, error=error, held=batch.held)
                if moved:
                    report.released.append(name)
        event = "outbox.reconciled" if moved else "outbox.reconcile_superseded"
        log.warning(event, batch=name, msgid=found, rows=len(batch.rows))
    return report


def _lookup_failed(
    engine: Engine, batch: _Batch, exc: WeComError, now: datetime, report: ReconcileReport
) -> None:
    """WeCom refused to list the sender's mass sends: this batch waits (the others go on),
    and once long expired its outcome is given up on."""
    name = batch.first.batch
    if now - batch.first.expires_at < GIVE_UP:
        report.waiting.append(name)
        log.warning("outbox.reconcile_failed", batch=name, error=str(exc))
        return
    error = f"outcome unknown: WeCom could not say whether it was sent ({exc})"
    with session(engine) as s:
        if not set_state(s, batch.keys, SendState.MISSED, now, error=error[:500], held=batch.held):
            return  # its dispatcher moved on meanwhile
    report.missed.append(name)
    log.error("outbox.reconcile_given_up", batch=name, error=str(exc))


async def _find_task(
    engine: Engine, client: WeComClient, batch: _Batch, attempted: datetime, now: datetime
) -> str | None:
    first = batch.first
    messages = await client.get_groupmsg_list_v2(
        "group" if first.target_kind == "group" else "single",
        attempted - CLOCK_SLACK,
        min(now + CLOCK_SLACK, attempted + timedelta(days=29)),
        creator=first.sender,
    )
    with session(engine) as s:
        known = set(s.exec(select(MassTask.msgid)).all())
    candidates = sorted(
        (m for m in messages if _text(m) == first.text and m.get("msgid") not in known),
        key=lambda m: int(m.get("create_time") or 0),
    )
    return str(candidates[0]["msgid"]) if candidates else None


def _text(message: GroupMsg) -> str:
    text = message.get("text") or {}
    return str(text.get("content", ""))


def _record(s: Session, batch: _Batch, msgid: str, now: datetime) -> int:
    """The found task, recorded unless the batch's dispatcher recorded it meanwhile."""
    moved = set_state(s, batch.keys, SendState.SUBMITTED, now, msgid=msgid, held=batch.held)
    if moved:
        outgoing = outgoing_for(batch.rows)
        record_task(s, msgid=msgid, source=outgoing, targets=outgoing.target_ids, created_at=now)
    return moved
