"""After a crash: did WeCom create the task for a claimed batch before we recorded it?

A dispatcher commits `claimed` before calling add_msg_template and `submitted` (with the
msgid) right after. A crash in between leaves rows claimed by a dead process, and only WeCom
knows whether the task exists. We ask `get_groupmsg_list_v2` for the sender's mass messages
since the claim and match by text (WeCom returns no target list there). A match is recorded
as that task; no match means nothing was created and the rows go back to planned — or to
missed, when their time has passed. Either way nothing is sent twice and nothing is lost.

When several unrecorded WeCom messages carry the same text from the same sender, the one
created first after the claim is taken: batches with identical text and sender at the same
time are one batch by construction (the planner merges them), so this only matters for
re-sent identical texts, where any match is equally right.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Engine
from sqlmodel import Session, select

from botops.outbox.queue import outgoing_for, release, set_state, stale_claims
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


@dataclass
class ReconcileReport:
    recovered: dict[str, str] = field(default_factory=dict)  # batch -> msgid found in WeCom
    released: list[str] = field(default_factory=list)  # batches back to planned
    missed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # claimed too recently to conclude


@dataclass(frozen=True)
class _Batch:
    rows: list[OutboxRow]

    @property
    def first(self) -> OutboxRow:
        return self.rows[0]

    @property
    def keys(self) -> list[str]:
        return [r.key for r in self.rows]


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
        batches: dict[str, list[OutboxRow]] = defaultdict(list)
        for row in stale_claims(s, worker):
            batches[row.batch].append(row)
    for name, rows in sorted(batches.items()):
        batch = _Batch(rows)
        found = await _find_task(engine, client, batch, now)
        claimed = batch.first.claimed_at or batch.first.updated_at
        with session(engine) as s:
            if found is not None:
                _record(s, batch, found, now)
                report.recovered[name] = found
            elif now - claimed < settle:
                report.waiting.append(name)
            elif batch.first.expires_at <= now:
                set_state(
                    s,
                    batch.keys,
                    SendState.MISSED,
                    now,
                    error="crashed while sending; expired before recovery",
                )
                report.missed.append(name)
            else:
                release(
                    s, batch.keys, now, error="recovered after a crash: WeCom had no task for it"
                )
                report.released.append(name)
        log.warning("outbox.reconciled", batch=name, msgid=found, rows=len(rows))
    return report


async def _find_task(
    engine: Engine, client: WeComClient, batch: _Batch, now: datetime
) -> str | None:
    first = batch.first
    claimed = first.claimed_at or first.updated_at
    messages = await client.get_groupmsg_list_v2(
        "group" if first.target_kind == "group" else "single",
        claimed - CLOCK_SLACK,
        min(now + CLOCK_SLACK, claimed + timedelta(days=29)),
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


def _record(s: Session, batch: _Batch, msgid: str, now: datetime) -> None:
    outgoing = outgoing_for(batch.rows)
    record_task(s, msgid=msgid, source=outgoing, targets=outgoing.target_ids, created_at=now)
    set_state(s, batch.keys, SendState.SUBMITTED, now, msgid=msgid)
