"""A check-in scores only within the challenge's days: from the group's Day 1 through the
playbook's last day (`duration_days`). Before or after, the rules decide NOT_STARTED or
FINISHED, worth nothing, the same through the AI bot and the ingest path."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import func, select

from botops.checkins.rules import MemberHistory, Outcome, evaluate
from botops.playbook.library import PlaybookLibrary, load_library
from botops.store.db import session
from botops.store.groups import upsert_group
from botops.store.models import LedgerEntry
from botops.webhook.aibot import AiBotMessage
from botops.webhook.aibot_checkin import check_in
from botops.webhook.ingest import score_messages
from tests.checkins.helpers import RULE, history, message, run
from tests.helpers import SHANGHAI, local, write_tree

D = date.fromisoformat
DAY_ONE, LAST_DAY = D("2026-03-10"), D("2026-03-16")  # a 7-day challenge
BOUNDS: dict[str, Any] = {"not_before": DAY_ONE, "not_after": LAST_DAY}


@pytest.mark.parametrize(
    ("text", "at", "outcome"),
    [
        ("打卡", "2026-03-02 09:00", "not_started"),
        ("打卡", "2026-03-09 23:00", "not_started"),
        ("打卡", "2026-03-09 04:00", "not_started"),  # not "outside the window"
        ("打卡", "2026-03-10 05:00", "checkin"),  # Day 1
        ("打卡", "2026-03-16 23:29", "checkin"),  # the last day
        ("打卡", "2026-03-17 05:00", "finished"),
        ("打卡", "2026-03-30 09:00", "finished"),
        ("补卡", "2026-03-09 09:00", "not_started"),
        ("补卡", "2026-03-17 09:00", "finished"),  # the last day cannot be filled late
        ("早上好", "2026-03-02 09:00", "not_checkin"),  # plain chat stays plain chat
        ("早上好", "2026-03-30 09:00", "not_checkin"),
    ],
)
def test_only_the_challenges_days_score(text: str, at: str, outcome: str):
    decision = evaluate(RULE, SHANGHAI, message(text, at), MemberHistory(), **BOUNDS)
    assert decision.outcome == outcome
    assert decision.total == (10 if outcome == "checkin" else 0)


def test_out_of_days_says_why():
    before = evaluate(
        RULE, SHANGHAI, message("打卡", "2026-03-02 09:00"), MemberHistory(), **BOUNDS
    )
    after = evaluate(RULE, SHANGHAI, message("补卡", "2026-03-17 09:00"), MemberHistory(), **BOUNDS)
    assert before.detail == "the challenge starts on 2026-03-10"
    assert after.detail == "the challenge ended on 2026-03-16"
    assert (before.matched, after.matched) == (("打卡",), ("补卡",))


def test_no_streak_bonus_after_the_last_day():
    # Six days in a row up to the last day: a 7th day after the end pays no 7-day bonus.
    past = history(run("2026-03-16", 6))
    decision = evaluate(RULE, SHANGHAI, message("打卡", "2026-03-17 08:00"), past, **BOUNDS)
    assert (decision.outcome, decision.bonus, decision.credited_day) == (
        Outcome.FINISHED,
        0,
        None,
    )


# --- through the router, as the AI bot and the ingest route call it -----------------------

CHAT = "wrCamp"
CAMP = """\
id: camp
name: 打卡营
anchor: 2026-03-10
duration_days: 7
audience: {chat_ids: [wrCamp]}
checkin:
  keywords: [打卡]
  streak_bonus: {7: 30}
  reply:
    text: >-
      {% if result.outcome == "checkin" %}第{{ day }}天打卡成功，累计{{ points_total }}分
      {%- elif result.outcome == "not_started" %}还没开始：{{ 1 - day }}天后开始
      {%- elif result.outcome == "finished" %}已经结营：共{{ points_total }}分{% endif %}
steps:
  - id: hello
    schedule: {day: 1, time: '09:00'}
    text: 你好
"""
# The same group's next challenge, with no end: it runs while `camp` is over.
NEXT = """\
id: next
name: 第二期
anchor: 2026-03-17
audience: {chat_ids: [wrCamp]}
checkin:
  keywords: [打卡]
  reply:
    text: '{% if result.outcome == "checkin" %}第二期第{{ day }}天打卡成功{% endif %}'
steps:
  - id: hello
    schedule: {day: 1, time: '09:00'}
    text: 你好
"""


def library(root: Path, *playbooks: str) -> PlaybookLibrary:
    write_tree(root, {f"p{n}.yaml": text for n, text in enumerate(playbooks)})
    built, problems = load_library([root / "sops"], root / "templates")
    assert not [p for p in problems if p.severity == "error"], problems
    return built


@pytest.fixture
def camp(engine: Engine, tmp_path: Path) -> PlaybookLibrary:
    chat: Any = {
        "chat_id": CHAT,
        "name": "打卡营1群",
        "owner": "zhangsan",
        "create_time": int(local("2026-02-01 10:00").timestamp()),
        "member_list": [{"userid": "wm-a", "type": 2, "join_time": 1, "name": "小雨"}],
        "admin_list": [],
        "member_version": "v1",
    }
    with session(engine) as s:
        upsert_group(s, chat, local("2026-03-01 10:00"))
    return library(tmp_path, CAMP)


def aibot(engine: Engine, lib: PlaybookLibrary, msgid: str, at: str) -> str:
    bot = AiBotMessage(
        msg_id=msgid,
        aibot_id="bot1",
        chat_type="group",
        from_userid="wm-a",
        msg_type="text",
        chat_id=CHAT,
        text="@打卡助手 打卡",
    )
    sent_at: datetime = local(at)
    with session(engine) as s:
        return check_in(s, lib, bot, sent_at, sent_at, "Asia/Shanghai")


def points(engine: Engine) -> int:
    with session(engine) as s:
        return int(s.exec(select(func.coalesce(func.sum(LedgerEntry.points), 0))).one())


def test_the_ai_bot_scores_nothing_before_day_one_or_after_the_last_day(
    engine: Engine, camp: PlaybookLibrary
):
    assert aibot(engine, camp, "m1", "2026-03-02 09:00") == "还没开始：8天后开始"
    assert points(engine) == 0
    assert aibot(engine, camp, "m2", "2026-03-16 09:00") == "第7天打卡成功，累计10分"
    assert aibot(engine, camp, "m3", "2026-03-30 09:00") == "已经结营：共10分"
    assert points(engine) == 10


def test_ingest_counts_them_as_not_scored_with_their_reason(engine: Engine, camp: PlaybookLibrary):
    messages = [
        message("打卡", at, chat=CHAT, sender="wm-a")
        for at in ("2026-03-02 09:00", "2026-03-10 09:00", "2026-03-17 09:00")
    ]
    tally = score_messages(engine, camp, messages, local("2026-03-30 09:00"), "Asia/Shanghai")
    assert (tally.checkins, dict(tally.not_scored)) == (1, {"not_started": 1, "finished": 1})
    assert tally.example["not_started"] == "the challenge starts on 2026-03-10"
    assert points(engine) == 10


def test_a_finished_challenge_is_quiet_while_the_groups_next_one_answers(
    engine: Engine, camp: PlaybookLibrary, tmp_path: Path
):
    both = library(tmp_path / "both", CAMP, NEXT)
    assert aibot(engine, both, "m1", "2026-03-18 09:00") == "第二期第2天打卡成功"
    # ...and when the running one has nothing to say, the finished one still may not speak:
    # the message did count, under `next`.
    assert aibot(engine, both, "m2", "2026-03-18 10:00") == ""
    assert points(engine) == 10
