"""Messages that show check-in figures are rendered when they are due, not when planned.

The daemon plans a day ahead and an outbox row's text is fixed when it is written, so an
evening reminder naming who has not checked in would show the morning's figures (or be
skipped as empty). For the claimed rows of such steps, `render_at_send` asks the planner
again — the same pure function preview uses — for just those targets at just that instant,
with the ledger's figures of that moment, and writes the result into the rows before
anything is sent:

- a text that now renders empty (everyone checked in) or too long cancels its row;
- rows of one batch whose texts now differ are split into one batch per text, because one
  WeCom task carries one text. The split is written with the text, so crash recovery
  (botops.outbox.reconcile, which matches WeCom's tasks by text) sees what was sent.

It runs in the claim's transaction: rows are claimed and re-rendered atomically.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from botops.planning.planner import Window, plan
from botops.planning.policy import SendPolicy
from botops.planning.sends import PlannedSend
from botops.playbook.context import CheckinSnapshot
from botops.playbook.library import PlaybookLibrary
from botops.store import ledger
from botops.store.groups import targets
from botops.store.models import OutboxRow, SendState

INSTANT = timedelta(microseconds=1)


def render_at_send(
    session: Session,
    rows: Sequence[OutboxRow],
    library: PlaybookLibrary,
    policy: SendPolicy,
    now: datetime,
) -> list[OutboxRow]:
    """The rows still to send, texts and batches current; cancelled rows are left out."""
    live = [r for r in rows if _reads_checkins(library, r)]
    if not live:
        return list(rows)
    fresh = _replan(session, live, library, policy)
    cancelled: set[str] = set()
    for row in live:
        send = fresh.get(row.key)
        if send is None or not send.sendable:
            row.state, row.claimed_by, row.updated_at = SendState.CANCELLED, "", now
            row.error = f"at send time: {send.reason if send else 'no longer in the plan'}"
            cancelled.add(row.key)
        else:
            row.text, row.updated_at = send.text, now
        session.add(row)
    kept = [r for r in rows if r.key not in cancelled]
    _split_batches([r for r in live if r.key not in cancelled])
    return sorted(kept, key=lambda r: (r.batch, r.target_id))


def _reads_checkins(library: PlaybookLibrary, row: OutboxRow) -> bool:
    try:
        return library.message(row.playbook, row.step, row.segment).reads_checkins
    except KeyError:  # the playbook or step is gone: the next plan cancels what is left
        return False


def _replan(
    session: Session, rows: Sequence[OutboxRow], library: PlaybookLibrary, policy: SendPolicy
) -> dict[str, PlannedSend]:
    """Plan each (playbook, due instant) again for its rows' targets, with today's figures."""
    known = {t.id: t for t in targets(session)}
    zones = {p.id: ZoneInfo(p.timezone or policy.timezone) for p in library.playbooks}
    groups: dict[tuple[str, datetime], list[OutboxRow]] = defaultdict(list)
    for row in rows:
        groups[(row.playbook, row.due_at)].append(row)
    fresh: dict[str, PlannedSend] = {}
    for (playbook, due), members in groups.items():
        day = due.astimezone(zones[playbook]).date()
        chosen = [known[r.target_id] for r in members if r.target_id in known]
        figures: dict[str, CheckinSnapshot] = {
            t.id: ledger.snapshot(session, t.id, playbook, day, ledger.group_roster(session, t.id))
            for t in chosen
            if t.kind == "group"
        }
        result = plan(library, chosen, Window(due, due + INSTANT), policy, figures)
        fresh.update({s.key: s for s in result.sends if s.playbook == playbook})
    return fresh


def _split_batches(rows: Sequence[OutboxRow]) -> None:
    """One batch per distinct text (a WeCom task has one text); unchanged when all agree."""
    texts: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        texts[row.batch].add(row.text)
    for row in rows:
        if len(texts[row.batch]) > 1:
            digest = hashlib.sha1(row.text.encode(), usedforsecurity=False).hexdigest()[:8]
            row.batch = f"{row.batch}~{digest}"
