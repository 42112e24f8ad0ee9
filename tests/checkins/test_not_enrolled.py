"""A group a check-in playbook selects but has given no Day 1 yet (`anchor: enrolled`, before
the daemon's first planning round) scores nothing on every path, and says so apart from a
group no check-in playbook selects: the ingest tally (`POST /ingest/messages`,
`botops import-messages`) counts `not_enrolled`; the AI bot answers nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import func, select

from botops.playbook.library import PlaybookLibrary, load_library
from botops.store.db import session
from botops.store.models import Enrolment, LedgerEntry
from botops.webhook.aibot import AiBotMessage
from botops.webhook.aibot_checkin import check_in
from botops.webhook.ingest import score_messages
from tests.checkins.test_ingest import CHAT, PLAYBOOK, store_group
from tests.checkins.test_route import NOW, msg
from tests.helpers import write_tree

ENROLLED = PLAYBOOK.replace("anchor: 2026-03-01", "anchor: enrolled").replace(
    "  points: 10\n", '  points: 10\n  reply: {text: "打卡成功 +{{ result.points }}"}\n'
)


def library(root: Path) -> PlaybookLibrary:
    write_tree(root, {"daily.yaml": ENROLLED})
    loaded, problems = load_library([root / "sops"], root / "templates")
    assert not [p for p in problems if p.severity == "error"], problems
    return loaded


def ledger_rows(engine: Engine) -> int:
    with session(engine) as s:
        return s.exec(select(func.count()).select_from(LedgerEntry)).one()


def test_a_selected_group_without_day_one_is_not_enrolled_not_unselected(
    engine: Engine, tmp_path: Path
) -> None:
    daily = library(tmp_path / "ops")
    store_group(engine, ["wm-a"])
    store_group(engine, ["wm-b"], chat_id="wrUntagged", tags=())
    tally = score_messages(
        engine,
        daily,
        [
            msg("m1", "wm-a", "2026-03-02 08:00"),
            msg("m2", "wm-b", "2026-03-02 08:00", chat="wrUntagged"),
        ],
        NOW,
        "Asia/Shanghai",
    )
    assert (tally.checkins, dict(tally.not_scored)) == (
        0,
        {"not_enrolled": 1, "no_checkin_playbook": 1},
    )
    assert tally.example == {"not_enrolled": f"group {CHAT} under daily"}
    assert ledger_rows(engine) == 0

    # The AI bot: no score and no answer, as before.
    bot = AiBotMessage(
        msg_id="ai-1",
        aibot_id="bot",
        chat_type="group",
        from_userid="wm-a",
        msg_type="text",
        chat_id=CHAT,
        text="@打卡助手 打卡",
    )
    with session(engine) as s:
        assert check_in(s, daily, bot, NOW, NOW, "Asia/Shanghai") == ""
    assert ledger_rows(engine) == 0

    # The daemon's first planning round records Day 1: the bot's message now scores.
    with session(engine) as s:
        s.add(
            Enrolment(
                target_id=CHAT, playbook_id="daily", day_one=date(2026, 3, 2), enrolled_at=NOW
            )
        )
    with session(engine) as s:
        assert check_in(s, daily, bot, NOW, NOW, "Asia/Shanghai") == "打卡成功 +10"
    assert ledger_rows(engine) == 1
