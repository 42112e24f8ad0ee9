"""An AI-bot message as a check-in: normalize, score, and word the answer.

Shared by the callback route (which answers passively, in the HTTP response) and by
botops.webhook.process (a message whose first handling failed is scored later and answered
through its response_url). Runs in the caller's session: scoring, the reply's figures and
marking the stored callback processed commit together.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session

from botops.checkins.message import Message
from botops.checkins.reply import render_reply
from botops.checkins.route import score
from botops.playbook.library import PlaybookLibrary
from botops.store.models import GroupMember
from botops.webhook.aibot import AiBotMessage

SOURCE = "aibot"
# "@打卡助手 打卡", "请问几点截止 @打卡助手": a mention, wherever it is, is not part of what the
# member said (and the bot's own name may well contain a check-in keyword). A mention runs
# to the next space or U+2005, the separator WeCom puts after it.
_MENTIONS = re.compile(r"@[^\s\u2005]+")


def as_message(bot: AiBotMessage, sent_at: datetime, sender_name: str) -> Message | None:
    """The group text message `bot` carries, or None (a single chat, an image...)."""
    if bot.chat_type != "group" or bot.chat_id is None or bot.text is None:
        return None
    return Message(
        msgid=bot.msg_id,
        chat_id=bot.chat_id,
        sender_id=bot.from_userid,
        sender_name=sender_name,
        text=_MENTIONS.sub("", bot.text).strip(),
        sent_at=sent_at,
        source=SOURCE,
    )


def check_in(
    session: Session,
    library: PlaybookLibrary,
    bot: AiBotMessage,
    sent_at: datetime,
    now: datetime,
    tz_default: str,
) -> str:
    """Score the message under its group's check-in playbooks; the reply text ("" for none).
    AI-bot callbacks carry no send time: `sent_at` is when the callback arrived."""
    name = _member_name(session, bot.chat_id, bot.from_userid) if bot.chat_id else ""
    message = as_message(bot, sent_at, name)
    if message is None:
        return ""
    results = score(session, library, message, now, tz_default)
    return render_reply(session, library, message, results)


def _member_name(session: Session, chat_id: str, userid: str) -> str:
    member = session.get(GroupMember, (chat_id, userid))
    if member is None:
        return ""
    return member.group_nickname or member.name
