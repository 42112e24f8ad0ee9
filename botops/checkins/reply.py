"""The bot's answer to a check-in: each playbook's `checkin.reply`, rendered for its decision.

Only AI-bot messages can be answered (botops.webhook.aibot_app). The figures are read after
the message was scored, in the same transaction, so "累计 230 分" includes this message.
"""

from __future__ import annotations

import structlog
from sqlmodel import Session

from botops.checkins.message import Message
from botops.checkins.route import Scored
from botops.checkins.rules import current_streak
from botops.planning.targets import template_view
from botops.playbook.context import REPLY_OUTCOMES, CheckinResult, reply_context
from botops.playbook.library import PlaybookLibrary
from botops.playbook.templates import TemplateProblem, Templates
from botops.store import ledger

log = structlog.get_logger()


def render_reply(
    session: Session, library: PlaybookLibrary, message: Message, results: list[Scored]
) -> str:
    """The answer to `message` (one paragraph per playbook with a reply); "" for none."""
    texts = []
    for scored in results:
        spec = library.reply(scored.playbook.id)
        decision = scored.decision
        if spec is None or decision.outcome not in REPLY_OUTCOMES:
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
            log.error("checkins.reply_failed", playbook=playbook, error=str(exc))
            continue
        if text:
            texts.append(text)
    return "\n\n".join(texts)
