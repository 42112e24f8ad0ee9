"""The outbox's state changes. Each function is one transaction's worth of work.

planned ──claim──> claimed ──WeCom created the task──> submitted ──staff confirm──> sent
   │                  │  └─ rejected ─> failed               ├─ not friend / capped ─> failed
   │                  │                                      ├─ expiry ─> expired
   │                  │                                      └─ withdrawn by ops ─> cancelled
   │                  └─ crash ─> reconciled: submitted, or back to planned
   ├─ past expires_after when due ─> missed
   └─ step or group gone from the plan ─> cancelled ──planned again──> planned
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Table, update
from sqlmodel import Session, col, select

from botops.planning.planner import Plan
from botops.planning.sends import PlannedSend, attachment_payload
from botops.playbook.model import Attachment
from botops.senders.base import Outgoing
from botops.store.db import dialect_insert
from botops.store.models import Enrolment, OutboxRow, SendState

NOT_IN_PLAN = "no longer in the plan"
"""The error of a send cancelled because the plan dropped it: the only cancellation undone
when a later plan contains the send again (withdrawals and dismissed groups stay)."""


@dataclass
class EnqueueReport:
    inserted: int = 0
    updated: int = 0  # planned, not sent yet, and its playbook version or sender changed
    cancelled: list[str] = field(default_factory=list)
    revived: list[str] = field(default_factory=list)  # dropped earlier, planned again


def enqueue(session: Session, plan: Plan, versions: dict[str, str], now: datetime) -> EnqueueReport:
    """Write a plan into the outbox: new keys are inserted, existing ones left alone (insert-or-
    ignore). Sends that can still go out (planned, not expired, due or not) follow the plan:
    those of a changed playbook or a group with a new owner take the new text and sender,
    those the plan no longer contains (a removed step, a group that left the audience, a
    disabled playbook) are cancelled, and such a cancelled send the plan contains again (the
    tag is back, the step moved into the window) is planned again. Enrolments the plan
    assumed are recorded in the same transaction.

    The daemon plans the same window every minute, so almost every key is already there: the
    keys of the window are read first (one narrow SELECT) and only the missing ones are
    inserted, and only rows that change are loaded as objects. The insert is still insert-or-
    ignore, so a key written meanwhile by another replica (or one whose due time lies outside
    the window) is left alone all the same."""
    report = EnqueueReport()
    _record_enrolments(session, plan.enrolments, now)
    window_rows = (
        col(OutboxRow.due_at) >= plan.window.start,
        col(OutboxRow.due_at) < plan.window.end,
    )
    known = set(session.exec(select(OutboxRow.key).where(*window_rows)))
    planned = {s.key: s for s in plan.sends if s.sendable}
    missing = [key for key in planned if key not in known]
    inserted = _insert_or_ignore(session, (_row(planned[key], now) for key in missing))
    report.inserted = len(inserted)
    # Sends that can still go out, due already or not (one put back after a retryable error
    # takes an edit too): (key, version, sender, batch) as plain tuples; only the rows to
    # change are loaded. Every such send lies in the window: it starts at least the longest
    # expires_after back (Cycle._window_start).
    open_sends = session.exec(
        select(OutboxRow.key, OutboxRow.playbook_version, OutboxRow.sender, OutboxRow.batch).where(
            OutboxRow.state == SendState.PLANNED,
            col(OutboxRow.due_at) >= plan.window.start,
            col(OutboxRow.due_at) < plan.window.end,
            col(OutboxRow.expires_at) > now,
        )
    )
    gone: list[str] = []
    stale: list[str] = []
    for key, version, sender, batch in open_sends:
        send = planned.get(key)
        if send is None:
            gone.append(key)
        elif version != versions.get(send.playbook, version) or (sender, batch) != (
            send.sender,
            send.batch or "",
        ):
            stale.append(key)
    for row in _rows(session, gone):
        row.state, row.error, row.updated_at = SendState.CANCELLED, NOT_IN_PLAN, now
        session.add(row)
        report.cancelled.append(row.key)
    for row in _rows(session, stale):
        _refresh(row, planned[row.key], now)
        session.add(row)
        report.updated += 1
    # Dropped earlier and planned again. A key the insert ignored has a row whose due time
    # lies outside the window (the step moved): it may be one of these too.
    dropped = session.exec(
        select(OutboxRow.key).where(
            *window_rows, OutboxRow.state == SendState.CANCELLED, OutboxRow.error == NOT_IN_PLAN
        )
    )
    candidates = [k for k in dropped if k in planned] + sorted(set(missing) - inserted)
    for row in _rows(session, candidates):
        send = planned[row.key]
        if (row.state, row.error) == (SendState.CANCELLED, NOT_IN_PLAN) and send.expires_at > now:
            _refresh(row, send, now)
            row.state, row.error = SendState.PLANNED, ""
            session.add(row)
            report.revived.append(row.key)
    return report


def _rows(session: Session, keys: list[str]) -> Iterator[OutboxRow]:
    """The outbox rows of `keys`, in that order, 500 keys per SELECT."""
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        found = {
            r.key: r for r in session.exec(select(OutboxRow).where(col(OutboxRow.key).in_(chunk)))
        }
        yield from (found[k] for k in chunk if k in found)


def _row(send: PlannedSend, now: datetime) -> dict[str, object]:
    return {
        "key": send.key,
        "playbook": send.playbook,
        "step": send.step,
        "target_id": send.target,
        "target_kind": send.target_kind,
        "sender": send.sender,
        "segment": send.segment,
        "batch": send.batch or "",
        "planned_at": send.planned_at,
        "due_at": send.at,
        "expires_at": send.expires_at,
        "text": send.text,
        "attachments": json.dumps(
            [attachment_payload(a) for a in send.attachments], ensure_ascii=False
        ),
        "playbook_version": send.playbook_digest,
        "state": SendState.PLANNED,
        "updated_at": now,
    }


def _refresh(row: OutboxRow, send: PlannedSend, now: datetime) -> None:
    """A changed playbook or owner changes only sends that have not gone out."""
    values = _row(send, now)
    for name in (
        "sender",
        "text",
        "attachments",
        "batch",
        "due_at",
        "expires_at",
        "segment",
        "playbook_version",
    ):
        setattr(row, name, values[name])
    row.updated_at = now


def _insert_or_ignore(session: Session, rows: Iterable[dict[str, object]]) -> set[str]:
    """Insert the rows whose key is not in the outbox yet; the keys inserted.

    One statement executed with many parameter sets (SQLAlchemy sends them as multi-row
    batches sized for the driver): it is compiled once and cached, where a multi-row
    `.values(rows)` statement is compiled afresh every time, ~0.2 s per 500 rows. The rows
    are taken 500 at a time, so a large first round never holds them all at once."""
    insert = dialect_insert(session)
    table: Table = OutboxRow.__table__  # type: ignore[attr-defined]
    statement = (
        insert(table)
        .on_conflict_do_nothing()
        .returning(table.c.key)  # rowcount is -1 for batched inserts on PostgreSQL
    )
    inserted: set[str] = set()
    pending = iter(rows)
    while chunk := list(islice(pending, 500)):
        inserted.update(session.execute(statement, chunk).scalars())
    return inserted


def _record_enrolments(
    session: Session, enrolments: dict[tuple[str, str], date], now: datetime
) -> None:
    for (target_id, playbook_id), day_one in enrolments.items():
        if session.get(Enrolment, (target_id, playbook_id)) is None:
            session.add(
                Enrolment(
                    target_id=target_id, playbook_id=playbook_id, day_one=day_one, enrolled_at=now
                )
            )


def mark_missed(session: Session, now: datetime) -> list[str]:
    """Sends that came due while nobody dispatched them and are now past expires_after."""
    rows = session.exec(
        select(OutboxRow).where(
            OutboxRow.state == SendState.PLANNED, col(OutboxRow.expires_at) <= now
        )
    ).all()
    for row in rows:
        row.state, row.updated_at = SendState.MISSED, now
        row.error = f"due {row.due_at:%Y-%m-%d %H:%M} UTC, not sent before expires_after ({row.expires_at:%Y-%m-%d %H:%M} UTC)"
        session.add(row)
    return [r.key for r in rows]


def claim(
    session: Session,
    now: datetime,
    worker: str,
    *,
    limit: int = 10_000,
    waiting: Collection[str] = (),
) -> list[OutboxRow]:
    """Take due sends, whole batches at a time, except those of the playbooks `waiting`
    (in their quiet hours now). The conditional UPDATE (state = planned) means two
    dispatchers can never take the same row, even if two leaders ever overlapped."""
    due = session.exec(
        select(OutboxRow.batch)
        .where(
            col(OutboxRow.state) == SendState.PLANNED,
            col(OutboxRow.due_at) <= now,
            col(OutboxRow.expires_at) > now,
            col(OutboxRow.playbook).not_in(list(waiting)),
        )
        .distinct()
        .limit(limit)
    ).all()
    if not due:
        return []
    # RETURNING: exactly the rows this UPDATE took — not rows this worker claimed earlier
    # at the same instant (a frozen or coarse clock) and still holds.
    taken = list(
        session.execute(
            update(OutboxRow)
            .where(
                col(OutboxRow.batch).in_(due),
                col(OutboxRow.state) == SendState.PLANNED,
                col(OutboxRow.due_at) <= now,
            )
            .values(state=SendState.CLAIMED, claimed_by=worker, claimed_at=now, updated_at=now)
            .returning(col(OutboxRow.key))
        ).scalars()
    )
    rows: list[OutboxRow] = []
    for start in range(0, len(taken), 500):
        chunk = taken[start : start + 500]
        rows.extend(session.exec(select(OutboxRow).where(col(OutboxRow.key).in_(chunk))).all())
    return sorted(rows, key=lambda r: (r.batch, r.target_id))


@dataclass(frozen=True, slots=True)
class Held:
    """Claimed rows as their reader saw them: held by `owner`, attempted at `attempted_at`
    (None: never). A change decided on that reading applies only to rows still so, because
    two replicas can overlap for a moment: a leader that lost its lock may still be between
    two statements while the new leader reconciles its claims. Whoever moves first wins;
    the other's update matches nothing."""

    owner: str
    attempted_at: datetime | None

    def conditions(self) -> list[ColumnElement[bool]]:
        attempted = col(OutboxRow.attempted_at)
        return [
            col(OutboxRow.claimed_by) == self.owner,
            attempted.is_(None) if self.attempted_at is None else attempted == self.attempted_at,
        ]


def _update_claimed(
    session: Session, keys: Sequence[str], held: Held | None, values: dict[str, Any]
) -> int:
    """Apply `values` to those of `keys` still claimed (and still as `held`); how many."""
    changed = 0
    for start in range(0, len(keys), 500):
        result = session.execute(
            update(OutboxRow)
            .where(
                col(OutboxRow.key).in_(keys[start : start + 500]),
                col(OutboxRow.state) == SendState.CLAIMED,
                *(held.conditions() if held else ()),
            )
            .values(**values)
        )
        changed += result.rowcount  # type: ignore[attr-defined]
    return changed


def set_state(
    session: Session,
    keys: Iterable[str],
    state: SendState,
    now: datetime,
    *,
    msgid: str = "",
    error: str = "",
    held: Held | None = None,
) -> int:
    """Move claimed rows on; how many moved. Rows no longer claimed are left alone (a later
    chunk of a batch that WeCom refused must not overwrite the chunks it accepted)."""
    values: dict[str, Any] = {"state": state, "updated_at": now, "error": error}
    if msgid:
        values["msgid"] = msgid
    return _update_claimed(session, list(keys), held, values)


def mark_attempted(session: Session, keys: Sequence[str], now: datetime, worker: str) -> int:
    """Committed right before a batch goes to WeCom: after a crash, a claim without it was
    never tried and goes straight back to planned, and one with it is looked up in WeCom no
    sooner than the settle time after this moment (botops.outbox.reconcile). Only rows
    `worker` still holds untried are marked; how many. Fewer than `keys`: another replica
    has taken the claim back, and the batch must not be sent."""
    held = Held(worker, None)
    return _update_claimed(session, keys, held, {"attempted_at": now, "updated_at": now})


def release(
    session: Session, keys: Sequence[str], now: datetime, error: str, *, held: Held | None = None
) -> int:
    """Back to planned for another try (nothing was created in WeCom); how many."""
    values: dict[str, Any] = {
        "state": SendState.PLANNED,
        "claimed_by": "",
        "claimed_at": None,
        "attempted_at": None,
        "error": error,
        "attempts": OutboxRow.attempts + 1,
        "updated_at": now,
    }
    return _update_claimed(session, keys, held, values)


def stale_claims(session: Session, worker: str) -> list[OutboxRow]:
    """Claimed rows of another dispatcher incarnation. Only the leader dispatches, so their
    dispatcher is gone: it crashed, possibly after WeCom created the task. They must be
    reconciled with WeCom before anything is sent again."""
    return list(
        session.exec(
            select(OutboxRow)
            .where(OutboxRow.state == SendState.CLAIMED, OutboxRow.claimed_by != worker)
            .order_by(col(OutboxRow.batch), col(OutboxRow.target_id))
        ).all()
    )


Message = tuple[str, str, str]
"""(sender, target kind, text): what reconciling tells WeCom's mass sends apart by."""


def message_of(row: OutboxRow) -> Message:
    return row.sender, row.target_kind, row.text


def unresolved_messages(session: Session, worker: str) -> set[Message]:
    """The messages of claims tried by another dispatcher (or disowned) and not reconciled
    yet. WeCom lists mass sends without their targets, so reconciling matches them by
    sender and text: while one such claim is unresolved, another batch of the same message
    must wait, or a task created for one could be taken for the other."""
    tried = session.exec(
        select(OutboxRow.sender, OutboxRow.target_kind, OutboxRow.text)
        .where(
            OutboxRow.state == SendState.CLAIMED,
            OutboxRow.claimed_by != worker,
            col(OutboxRow.attempted_at).is_not(None),
        )
        .distinct()
    )
    return {(sender, kind, text) for sender, kind, text in tried}


def outgoing_for(rows: Sequence[OutboxRow], base_dir: Path | None = None) -> Outgoing:
    """The claimed rows of one batch as what a sender takes (and a task record describes)."""
    first = rows[0]
    return Outgoing(
        batch=first.batch,
        playbook=first.playbook,
        step=first.step,
        sender=first.sender,
        chat_type="group" if first.target_kind == "group" else "single",
        targets=tuple((r.target_id, r.key) for r in rows),
        text=first.text,
        attachments=tuple(_attachment(a) for a in json.loads(first.attachments)),
        base_dir=base_dir,
        expires_at=min(r.expires_at for r in rows),
    )


def _attachment(payload: dict[str, Any]) -> Attachment:
    kind = str(payload["msgtype"])
    return Attachment.model_validate({kind: payload[kind]})
