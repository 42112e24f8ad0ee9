"""What `botops report` is built from, read from the store (botops.reports.report builds it).

Read only: inactivity verdicts are computed fresh (botops.store.inactivity.assess) rather than
taken from `group_flags`, so the report is right on a database the daemon never evaluated;
an open stored flag only adds since when the group has been flagged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from botops.checkins.route import active_since, playbook_last_day
from botops.config import Settings
from botops.planning.targets import Target
from botops.playbook.model import Playbook
from botops.reports.report import (
    CheckinInput,
    GroupInput,
    OutcomeInput,
    ReportInputs,
    period_start,
)
from botops.store import ledger
from botops.store.activity import daily_activity, speakers
from botops.store.inactivity import assess, open_flags
from botops.store.models import GroupMember, LedgerEntry, OutboxRow

LEADERBOARD_TOP = 10


def gather_report(
    session: Session,
    playbooks: Sequence[Playbook],
    settings: Settings,
    now: datetime,
    *,
    days: int,
) -> ReportInputs:
    """The inputs of a report of the `days` local days ending today (in settings.timezone)."""
    tz = ZoneInfo(settings.timezone)
    today = now.astimezone(tz).date()
    first = period_start(today, days)
    assessments = assess(session, playbooks, settings, now)
    activity = daily_activity(session, first, today, tz)
    spoke = speakers(session, first, today)
    flagged = {f.chat_id: f.flagged_at for f in open_flags(session)}
    groups = [
        GroupInput(
            chat_id=a.target.id,
            name=a.target.name,
            owner=a.target.owner,
            member_count=a.target.member_count,
            days=activity.get(a.target.id, ()),
            speakers=spoke.get(a.target.id, 0),
            verdict=a.verdict,
            flagged_since=flagged.get(a.target.id) if a.verdict.flagged else None,
        )
        for a in assessments
    ]
    checking = [p for p in playbooks if p.checkin is not None]
    return ReportInputs(
        generated_at=now,
        timezone=settings.timezone,
        first=first,
        last=today,
        groups=groups,
        checkins=checkin_inputs(session, checking, [a.target for a in assessments], settings),
        leaderboards={
            p.id: ledger.leaderboard(
                session,
                playbook=p.id,
                top=LEADERBOARD_TOP,
                today=now.astimezone(ZoneInfo(p.timezone or settings.timezone)).date(),
            )
            for p in checking
        },
        outcomes=outcome_inputs(session, first, today, tz),
        playbook_names={p.id: p.name for p in playbooks},
    )


def checkin_inputs(
    session: Session, playbooks: Sequence[Playbook], groups: Sequence[Target], settings: Settings
) -> list[CheckinInput]:
    """Each (check-in playbook, group it scores in): Day 1, current customer members and, per
    local day, how many of them are credited with it (leavers count in neither)."""
    members = _customer_counts(session)
    checked = _checked_by_day(session)
    inputs = []
    for playbook in playbooks:
        for target in groups:
            day_one = active_since(playbook, target, settings.timezone)
            if day_one is None:
                continue
            last = playbook_last_day(playbook, day_one)
            inputs.append(
                CheckinInput(
                    playbook=playbook.id,
                    chat_id=target.id,
                    day_one=day_one,
                    last_day=last,
                    members=members.get(target.id, 0),
                    checked=checked.get((playbook.id, target.id), {}),
                )
            )
    return inputs


def _customer_counts(session: Session) -> dict[str, int]:
    query = (
        select(col(GroupMember.chat_id), func.count())
        .where(col(GroupMember.left_at).is_(None), GroupMember.member_type != 1)
        .group_by(col(GroupMember.chat_id))
    )
    return {chat: int(n) for chat, n in session.exec(query)}


def _checked_by_day(session: Session) -> dict[tuple[str, str], dict[date, int]]:
    query = (
        select(
            col(LedgerEntry.playbook),
            col(LedgerEntry.chat_id),
            col(LedgerEntry.local_day),
            func.count(func.distinct(LedgerEntry.member_id)),
        )
        .join(
            GroupMember,
            (col(GroupMember.chat_id) == col(LedgerEntry.chat_id))
            & (col(GroupMember.userid) == col(LedgerEntry.member_id)),
        )
        .where(col(LedgerEntry.reason).in_(ledger.DAY_REASONS))
        .where(col(GroupMember.left_at).is_(None), GroupMember.member_type != 1)
        .group_by(col(LedgerEntry.playbook), col(LedgerEntry.chat_id), col(LedgerEntry.local_day))
    )
    found: dict[tuple[str, str], dict[date, int]] = defaultdict(dict)
    for playbook, chat, day, n in session.exec(query):
        found[(playbook, chat)][day] = int(n)
    return found


def outcome_inputs(session: Session, first: date, last: date, tz: ZoneInfo) -> list[OutcomeInput]:
    """Outbox rows due in the period, counted by playbook, step and state."""
    start = datetime.combine(first, time(), tz)
    end = datetime.combine(last + timedelta(days=1), time(), tz)
    query = (
        select(col(OutboxRow.playbook), col(OutboxRow.step), col(OutboxRow.state), func.count())
        .where(col(OutboxRow.due_at) >= start, col(OutboxRow.due_at) < end)
        .group_by(col(OutboxRow.playbook), col(OutboxRow.step), col(OutboxRow.state))
    )
    return [
        OutcomeInput(playbook, step, str(state), int(n))
        for playbook, step, state, n in session.exec(query)
    ]
