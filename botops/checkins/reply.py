"""The bot's answer to a check-in: each playbook's `checkin.reply`, rendered for its decision.

Only AI-bot messages can be answered (botops.webhook.aibot_app). The figures are read after
the message was scored, in the same transaction, so "累计 230 分" includes this message.
A challenge that has not started or has finished answers only when no other playbook of the
group took the message as a check-in attempt within its days: a group moving on to its next
challenge hears about the one that counts, not also "the last one is over".
"""

from __future__ import annotations

import structlog
from sqlmodel import Session

from botops.checkins.message import Message
from botops.checkins.route import Scored
from botops.checkins.rules import Outcome, current_streak
from botops.planning.targets import template_view
from botops.playbook.context import REPLY_OUTCOMES, CheckinResult, reply_context
from botops.playbook.library import PlaybookLibrary
from botops.playbook.templates import TemplateProblem, Templates
from botops.store import ledger

log = structlog.get_logger()

OUT_OF_DAYS = (Outcome.NOT_STARTED, Outcome.FINISHED)


def render_reply(
    session: Session, library: PlaybookLibrary, message: Message, results: list[Scored]
) -> str:
    """The answer to `message` (one paragraph per playbook with a reply); "" for none."""
    texts = []
    in_days = any(r.decision.outcome in REPLY_OUTCOMES for r in results if not _out_of_days(r))
    for scored in results:
        spec = library.reply(scored.playbook.id)
        decision = scored.decision
        if spec is None or decision.outcome not in REPLY_OUTCOMES:
            continue
        if in_days and _out_of_days(scored):
            continue
        playbook, chat, member = scored.playbook.id, message.chat_id, message.sender_id
        counted = decision.credited_day or decision.day
        days = ledger.history(session, member, chat, playbook).days
        context = reply_context(
            playbook=scored.playbook,
            target=template_view(scored.target),
            member_id=member,
            member_name=message.sender_name,
            result=CheckinResult(
                outcome=str(decision.outcome),
                points=decision.total,
                bonus=decision.bonus,
                streak=current_streak(days, decision.day),  # alive on the message's day
                detail=decision.detail,
            ),
            day=(counted - scored.day_one).days + 1,
            points_total=ledger.member_points(session, member, chat, playbook),
        )
        try:
            text = Templates.render(spec.template, context, spec.name)
        except TemplateProblem as exc:  # validated with samples; real data can still differ
            # (`points_total // result.points` at 0 points). The check-in is scored whatever
            # its answer does: no reply, never a lost score.
            log.error(
                "checkins.reply_failed", playbook=playbook, error=str(exc), template=spec.name
            )
            continue
        if text:
            texts.append(text)
    return "\n\n".join(texts)


def _out_of_days(scored: Scored) -> bool:
    return scored.decision.outcome in OUT_OF_DAYS
