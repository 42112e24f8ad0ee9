"""`botops report` through the real CLI on a real SQLite file: JSON contents, the table, and a
well-formed, escaped, self-contained HTML page."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import Engine

from botops.cli import main
from botops.config import Settings
from botops.playbook.library import PlaybookLibrary
from botops.store.db import open_database, session
from botops.store.inactivity import evaluate_flags
from botops.store.models import OutboxRow, SendState
from tests.helpers import local
from tests.reports.support import NOW, add_group, make_library, say

EVIL = "<script>alert(1)</script>群"


@pytest.fixture
def config(tmp_path: Path) -> tuple[Path, Engine, PlaybookLibrary]:
    library = make_library(tmp_path)
    db = tmp_path / "botops.db"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"sops_dir: sops\ntemplates_dir: templates\ndatabase:\n  url: sqlite:///{db}\n",
        encoding="utf-8",
    )
    engine = open_database(f"sqlite:///{db}")
    return config, engine, library


@pytest.fixture
def stored(config: tuple[Path, Engine, PlaybookLibrary]) -> Path:
    path, engine, library = config
    add_group(engine, "wr-a", name="打卡一群", members=["wm-a", "wm-b", "wm-c"], tags=["打卡"])
    add_group(engine, "wr-b", name=EVIL, members=["wm-d", "wm-e"], tags=["打卡"])
    add_group(engine, "wr-c", name="闲聊群")
    for sender, at in [("wm-a", "03-08 07:00"), ("wm-b", "03-08 08:00"), ("wm-a", "03-09 07:00")]:
        say(engine, library, "wr-a", sender, f"2026-{at}", "打卡")
    say(engine, library, "wr-c", "wm-x", "2026-03-05 10:00")
    say(engine, library, "wr-c", "wm-x", "2026-03-10 09:00")
    say(engine, library, "wr-c", "wm-y", "2026-03-10 09:30")
    with session(engine) as s:
        evaluate_flags(s, library.playbooks, Settings(), local("2026-03-10 08:00"))
        for day, state in [
            ("03-07", SendState.MISSED),
            ("03-08", SendState.FAILED),
            ("03-09", SendState.SENT),
            ("03-10", SendState.PLANNED),
        ]:
            s.add(outbox_row(f"daily:evening:wr-a:{day}", day, state))
        s.add(outbox_row("daily:evening:wr-b:03-09", "03-09", SendState.SUBMITTED, "wr-b"))
        s.add(outbox_row("daily:evening:wr-a:02-01", "02-01", SendState.SENT))  # before the period
    engine.dispose()
    return path


def outbox_row(key: str, day: str, state: SendState, target: str = "wr-a") -> OutboxRow:
    due = local(f"2026-{day} 20:00")
    return OutboxRow(
        key=key,
        playbook="daily",
        step="evening",
        target_id=target,
        sender="zhangsan",
        planned_at=due,
        due_at=due,
        expires_at=due,
        state=state,
        updated_at=due,
    )


def report(config: Path, *args: str) -> int:
    return main(["--config", str(config), "report", "--now", NOW.isoformat(), *args])


def test_json_holds_every_section(stored: Path, capsys: pytest.CaptureFixture[str]):
    assert report(stored, "--format", "json", "--days", "7") == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["first_day"], data["last_day"]) == ("2026-03-04", "2026-03-10")
    groups = [(g["chat_id"], g["status"], g["reason"], g["rule"]) for g in data["groups"]]
    assert groups == [
        ("wr-b", "flagged", "3 天内没有打卡（阈值 2）", "daily"),
        ("wr-a", "active", "", "daily"),
        ("wr-c", "active", "", "config"),
    ]
    assert data["groups"][0]["name"] == EVIL
    assert data["groups"][0]["flagged_since"] == "2026-03-10T08:00:00+08:00"
    chatty = data["groups"][2]
    assert (chatty["messages"], chatty["speakers"], chatty["joined"]) == (3, 2, 0)
    assert data["summary"] == {
        "groups": 3,
        "flagged": 1,
        "messages": 6,
        "checkins": 3,
        "joined": 0,
        "left": 0,
        "outcomes": {
            "sent": 1,
            "submitted": 1,
            "failed": 1,
            "expired": 0,
            "missed": 1,
            "cancelled": 0,
            "pending": 1,
        },
    }
    (rates,) = data["checkin_rates"]
    assert rates["name"] == "每日打卡"
    by_day = {d["day"]: (d["checked"], d["members"], d["groups"]) for d in rates["days"]}
    assert sorted(by_day) == list(range(1, 11))  # Day 1 (03-01) to today, Day 10
    assert by_day[8] == (2, 5, 2)
    assert by_day[9] == (1, 5, 2)
    assert by_day[10] == (0, 5, 2)
    (board,) = data["leaderboards"]
    assert [(r["name"], r["points"]) for r in board["rows"]] == [("wm-a", 20), ("wm-b", 10)]
    (outcomes,) = data["outcomes"]
    assert (outcomes["playbook"], outcomes["step"], outcomes["total"]) == ("daily", "evening", 5)


def test_the_table_lists_flagged_groups_first(stored: Path, capsys: pytest.CaptureFixture[str]):
    assert report(stored) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("status"))
    assert lines[first + 1].startswith("FLAGGED")
    assert "3 天内没有打卡（阈值 2）" in lines[first + 1]
    assert "1 flagged" in out
    assert "Leaderboard: 每日打卡 (daily)" in out
    assert "waiting for staff 1" in out


VOID = frozenset({"meta", "br", "img", "input", "link", "hr"})  # HTML's; SVG's self-close


class Structure(HTMLParser):
    """Checks that every element is closed in order (void elements aside)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()


def test_html_is_one_well_formed_escaped_page(stored: Path, tmp_path: Path):
    out = tmp_path / "reports" / "report.html"
    assert report(stored, "--format", "html", "--output", str(out)) == 0
    page = out.read_text(encoding="utf-8")
    parser = Structure()
    parser.feed(page)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []
    assert {"svg", "table", "style"} <= parser.tags
    assert "script" not in parser.tags  # no scripts at all, and the group name is text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;群" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page
    assert "3 天内没有打卡（阈值 2）" in page


def test_no_database_is_an_error_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    db = tmp_path / "data" / "botops.db"
    config = tmp_path / "config.yaml"
    config.write_text(f"database:\n  url: sqlite:///{db}\n", encoding="utf-8")
    assert report(config) == 1
    assert "no database" in capsys.readouterr().err
    assert not db.parent.exists()
