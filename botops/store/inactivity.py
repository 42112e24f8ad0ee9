"""Inactive groups in the store: judging every active group (botops.reports.inactivity) on its
stored activity, and keeping `group_flags` in step with the verdicts.

`assess` only reads (`botops report` shows fresh verdicts without writing); `evaluate_flags`
writes: it opens a flag when a rule fires, updates the reason while it keeps firing and
clears it when activity returns, the rule stops applying or the group is dismissed. It is
idempotent: evaluating twice, or on two replicas at once, never opens a second flag (a
partial unique index allows one open flag per group). The caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from botops.checkins.route import playbook_day_one, playbook_last_day
from botops.config import Settings
from botops.planning.targets import Target
from botops.playbook.model import Playbook
from botops.reports.activity import DayActivity, days_between
from botops.reports.inactivity import (
    AppliedRule,
    FlagAction,
    Programme,
    Verdict,
    choose_rule,
    flag_action,
    judge,
)
from botops.store.activity import daily_activity, first_message_day
from botops.store.db import dialect_insert
from botops.store.groups import targets
from botops.store.models import GroupFlag, GroupRecord, GroupStatus


@dataclass(frozen=True, slots=True)
class Assessment:
    """One active group's verdict, with the activity it was judged on."""

    target: Target
    applied: AppliedRule | None
    verdict: Verdict
    days: tuple[DayActivity, ...]  # the rule's window (the N whole days and today)


@dataclass(frozen=True, slots=True)
class FlagChange:
    chat_id: str
    name: str
    action: FlagAction
    reason: str


@dataclass(frozen=True, slots=True)
class OpenFlag:
    chat_id: str
    name: str
    owner: str
    rule_source: str
    reason: str
    flagged_at: datetime


def programmes(playbooks: Sequence[Playbook], target: Target, tz_default: str) -> list[Programme]:
    """The playbooks running for `target` (as the check-in router decides it)."""
    found = []
    for playbook in playbooks:
        day_one = playbook_day_one(playbook, target, tz_default)
        if day_one is None:
            continue
        last = playbook_last_day(playbook, day_one)
        found.append(Programme(playbook.id, day_one, last, playbook.inactivity))
    return found


def assess(
    session: Session, playbooks: Sequence[Playbook], settings: Settings, now: datetime
) -> list[Assessment]:
    """Every active group judged by its rule at `now` (days local to `settings.timezone`).
    `playbooks`: the loaded ones (`library.playbooks`); only parsed, never rendered here."""
    tz = ZoneInfo(settings.timezone)
    today = now.astimezone(tz).date()
    default = settings.reports.default_rule
    groups = targets(session)
    applied = {
        t.id: choose_rule(
            programmes(playbooks, t, settings.timezone), default, _created(t, tz), today
        )
        for t in groups
    }
    longest = max((a.rule.days for a in applied.values() if a is not None), default=0)
    first = today - timedelta(days=longest)
    activity = daily_activity(session, first, today, tz)
    messages_since = first_message_day(session)
    assessments = []
    for target in groups:
        rule = applied[target.id]
        days = tuple(
            activity.get(target.id) or [DayActivity(d) for d in days_between(first, today)]
        )
        if rule is not None:
            days = tuple(d for d in days if d.day >= today - timedelta(days=rule.rule.days))
        verdict = judge(rule, days, today, messages_since=messages_since)
        assessments.append(Assessment(target, rule, verdict, days))
    return assessments


def _created(target: Target, tz: ZoneInfo) -> date | None:
    """The group's first whole local day: its creation day only when created at midnight. A
    group created at 23:30 has not lived through that day, whose silence proves nothing."""
    if target.created_at is None:
        return None
    local = target.created_at.astimezone(tz)
    return local.date() if local.time() == time() else local.date() + timedelta(days=1)


def evaluate_flags(
    session: Session, playbooks: Sequence[Playbook], settings: Settings, now: datetime
) -> list[FlagChange]:
    """Bring `group_flags` in step with the groups' verdicts at `now`; what changed."""
    current = {flag.chat_id: flag for flag in _open_rows(session)}
    changes = []
    seen = set()
    for item in assess(session, playbooks, settings, now):
        chat = item.target.id
        seen.add(chat)
        flag = current.get(chat)
        action = flag_action(None if flag is None else flag.reason, item.verdict)
        if action is FlagAction.KEEP:
            continue
        if action is FlagAction.OPEN:
            if not _open(session, chat, item.verdict, now):
                continue  # another replica opened it first
        elif flag is not None and action is FlagAction.UPDATE:
            flag.reason, flag.rule_source = item.verdict.reason, item.verdict.source
            session.add(flag)
        elif flag is not None:
            flag.cleared_at = now
            session.add(flag)
        changes.append(FlagChange(chat, item.target.name, action, item.verdict.reason))
    for chat, flag in current.items():
        if chat not in seen:  # dismissed (or gone from the store): nothing to watch any more
            flag.cleared_at = now
            session.add(flag)
            changes.append(FlagChange(chat, "", FlagAction.CLEAR, "群已解散"))
    session.flush()
    return changes


def _open(session: Session, chat_id: str, verdict: Verdict, now: datetime) -> bool:
    insert = dialect_insert(session)
    values = {
        "chat_id": chat_id,
        "rule_source": verdict.source,
        "reason": verdict.reason,
        "flagged_at": now,
        "cleared_at": None,
    }
    statement = (
        insert(GroupFlag).values(values).on_conflict_do_nothing().returning(col(GroupFlag.id))
    )
    return session.exec(statement).first() is not None


def _open_rows(session: Session) -> Sequence[GroupFlag]:
    query = select(GroupFlag).where(col(GroupFlag.cleared_at).is_(None))
    return session.exec(query.order_by(col(GroupFlag.chat_id))).all()


def open_flags(session: Session) -> list[OpenFlag]:
    """The open flags of active groups, oldest first."""
    query = (
        select(GroupFlag, GroupRecord)
        .join(GroupRecord, col(GroupRecord.chat_id) == col(GroupFlag.chat_id))
        .where(col(GroupFlag.cleared_at).is_(None), GroupRecord.status == GroupStatus.ACTIVE)
        .order_by(col(GroupFlag.flagged_at), col(GroupFlag.chat_id))
    )
    return [
        OpenFlag(f.chat_id, g.name, g.owner, f.rule_source, f.reason, f.flagged_at)
        for f, g in session.exec(query)
    ]
