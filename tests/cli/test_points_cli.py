"""`botops points` and `botops points adjust` on a real SQLite file, the ledger filled by
`botops import-messages` (the real check-in rules) from messages on days the tests choose;
streaks are counted on `--today`, so nothing depends on the real date."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from botops.cli import main
from botops.store.db import open_database, session
from botops.store.groups import add_group_tags, upsert_group
from tests.helpers import SHANGHAI, write_tree

TODAY = "2026-03-05"
DAILY = """\
id: daily
name: 每日打卡
timezone: Asia/Shanghai
anchor: 2026-03-01
audience: {tags: {any: [打卡]}}
checkin:
  keywords: [打卡]
  points: 10
steps:
  - id: evening
    schedule: {days: {from: 1, to: 30}, time: '20:00'}
    text: "今天已有 {{ checkin.today_count }} 人打卡"
"""
# Its own timezone, so the leaderboard's "as of" shows which timezone counted the streaks.
READING = """\
id: reading
name: 读书会
timezone: Europe/London
anchor: 2026-03-01
audience: {tags: {any: [读书]}}
checkin:
  keywords: [读书]
  points: 5
steps:
  - id: evening
    schedule: {days: {from: 1, to: 30}, time: '20:00'}
    text: "读书会"
"""
NAMES = {
    "wm-a": "小雨",
    "wm-b": "小明",
    "wm-c": "Bob",
    "wm-z": "Amy",
    "wm-e": "小红",
    "wm-quiet": "潜水员",
}
ROSTERS = {"wrA": ["wm-a", "wm-b", "wm-c", "wm-z", "wm-quiet"], "wrB": ["wm-a", "wm-e"]}
TAGS = {"wrA": ["打卡", "读书"], "wrB": ["打卡"]}
# (member, group, text, local day in March, local time in Shanghai)
MESSAGES = [
    ("wm-a", "wrA", "打卡", 3, "08:30"),
    ("wm-a", "wrA", "打卡", 4, "08:30"),
    ("wm-a", "wrA", "打卡", 5, "08:30"),
    ("wm-b", "wrA", "打卡", 1, "08:30"),
    ("wm-b", "wrA", "打卡", 2, "08:30"),
    ("wm-b", "wrA", "打卡", 3, "08:30"),
    ("wm-c", "wrA", "打卡", 5, "09:00"),
    ("wm-z", "wrA", "打卡", 5, "09:30"),
    ("wm-a", "wrB", "打卡", 5, "10:00"),
    ("wm-e", "wrB", "打卡", 4, "10:00"),
    ("wm-e", "wrB", "打卡", 5, "10:00"),
    ("wm-b", "wrA", "读书", 4, "20:00"),
    ("wm-b", "wrA", "读书", 5, "20:00"),
    ("wm-c", "wrA", "随便聊聊", 5, "21:00"),  # not a check-in: scores nothing
]

Row = dict[str, Any]


class Ops:
    """A config, an empty migrated SQLite file and the groups, through the public paths."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        write_tree(root, {"daily.yaml": DAILY, "reading.yaml": READING})
        self.root = root
        self.db = root / "botops.db"
        self.config = root / "config.yaml"
        self.config.write_text("sops_dir: sops\ntemplates_dir: templates\n", encoding="utf-8")
        monkeypatch.delenv("BOTOPS_CONFIG", raising=False)
        monkeypatch.setenv("BOTOPS_DATABASE__URL", f"sqlite:///{self.db}")
        engine = open_database(f"sqlite:///{self.db}")
        try:
            for chat_id, members in ROSTERS.items():
                with session(engine) as s:
                    upsert_group(s, _chat(chat_id, members), datetime(2026, 3, 1, tzinfo=SHANGHAI))
                    add_group_tags(s, chat_id, TAGS[chat_id])
        finally:
            engine.dispose()

    def cli(self, *argv: str) -> int:
        return main(["--config", str(self.config), *argv])

    def import_messages(self) -> None:
        lines = [
            json.dumps(
                {
                    "msgid": f"msg-{n}",
                    "chat_id": chat,
                    "sender_id": member,
                    "sender_name": NAMES[member],
                    "text": text,
                    "sent_at": f"2026-03-{day:02d}T{at}:00+08:00",
                },
                ensure_ascii=False,
            )
            for n, (member, chat, text, day, at) in enumerate(MESSAGES)
        ]
        file = self.root / "messages.jsonl"
        file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        assert self.cli("import-messages", str(file)) == 0

    def ledger(self) -> list[tuple[Any, ...]]:
        """Every ledger row, read with plain sqlite3 (not through the code under test)."""
        with sqlite3.connect(self.db) as conn:
            rows = conn.execute(
                "SELECT id, member_id, chat_id, playbook, local_day, points, reason, "
                "source_msgid, note FROM ledger ORDER BY id"
            ).fetchall()
        conn.close()
        return rows


def _chat(chat_id: str, members: list[str]) -> Any:
    return {
        "chat_id": chat_id,
        "name": f"群{chat_id}",
        "owner": "zhangsan",
        "create_time": int(datetime(2026, 2, 1, tzinfo=SHANGHAI).timestamp()),
        "member_list": [{"userid": "zhangsan", "type": 1, "join_time": 1}]
        + [{"userid": m, "type": 2, "join_time": 2, "name": NAMES[m]} for m in members],
        "admin_list": [],
        "member_version": "v1",
    }


@pytest.fixture
def empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ops:
    return Ops(tmp_path, monkeypatch)


@pytest.fixture
def ops(empty: Ops, capsys: pytest.CaptureFixture[str]) -> Ops:
    empty.import_messages()
    capsys.readouterr()
    return empty


def board(
    ops: Ops, capsys: pytest.CaptureFixture[str], *options: str, today: str = TODAY
) -> list[Row]:
    assert ops.cli("points", "--format", "json", "--today", today, *options) == 0
    rows: list[Row] = json.loads(capsys.readouterr().out)
    return rows


def summary(rows: list[Row]) -> list[tuple[str, int, int, int]]:
    return [(r["member_id"], r["points"], r["streak"], r["checkin_days"]) for r in rows]


# --- the leaderboard ----------------------------------------------------------------------


def test_ranks_by_points_then_streak_then_name(
    ops: Ops, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = board(ops, capsys)
    # wm-b and wm-a tie on 40 points: wm-b's streak (5 days, both playbooks) is longer; Amy
    # and Bob tie on points and streak: one rank, listed by name though Bob's id sorts first.
    assert summary(rows) == [
        ("wm-b", 40, 5, 5),
        ("wm-a", 40, 3, 3),
        ("wm-e", 20, 2, 2),
        ("wm-z", 10, 1, 1),
        ("wm-c", 10, 1, 1),
    ]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 4]
    assert [r["name"] for r in rows] == ["小明", "小雨", "小红", "Amy", "Bob"]
    assert list(rows[0]) == ["rank", "name", "member_id", "points", "streak", "checkin_days"]


def test_streaks_are_those_alive_on_today(ops: Ops, capsys: pytest.CaptureFixture[str]) -> None:
    # wm-b last checked in for `daily` on 3 March: alive on the 4th (today's check-in may
    # still come), broken on the 5th.
    on_4th = {
        r["member_id"]: r["streak"]
        for r in board(ops, capsys, "--playbook", "daily", today="2026-03-04")
    }
    on_5th = {r["member_id"]: r["streak"] for r in board(ops, capsys, "--playbook", "daily")}
    assert on_4th["wm-b"] == 3
    assert on_5th["wm-b"] == 0
    assert on_5th["wm-a"] == 3


def test_filters_by_playbook_and_group(ops: Ops, capsys: pytest.CaptureFixture[str]) -> None:
    assert summary(board(ops, capsys, "--playbook", "daily")) == [
        ("wm-a", 40, 3, 3),
        ("wm-b", 30, 0, 3),
        ("wm-e", 20, 2, 2),
        ("wm-z", 10, 1, 1),
        ("wm-c", 10, 1, 1),
    ]
    assert summary(board(ops, capsys, "--playbook", "reading")) == [("wm-b", 10, 2, 2)]
    assert summary(board(ops, capsys, "--group", "wrB")) == [
        ("wm-e", 20, 2, 2),
        ("wm-a", 10, 1, 1),
    ]
    assert summary(board(ops, capsys, "--group", "wrA", "--playbook", "daily")) == [
        ("wm-a", 30, 3, 3),
        ("wm-b", 30, 0, 3),
        ("wm-z", 10, 1, 1),
        ("wm-c", 10, 1, 1),
    ]


def test_json_csv_and_table_agree(ops: Ops, capsys: pytest.CaptureFixture[str]) -> None:
    rows = board(ops, capsys, "--group", "wrA")
    assert ops.cli("points", "--group", "wrA", "--today", TODAY, "--format", "csv") == 0
    from_csv = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert from_csv == [{k: str(v) for k, v in r.items()} for r in rows]

    assert ops.cli("points", "--group", "wrA", "--today", TODAY) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"Points (group wrA); streaks as of {TODAY} (Asia/Shanghai)"
    assert lines[1].split() == ["rank", "name", "member_id", "points", "streak", "checkin_days"]
    table = [line.split() for line in lines[2:-1]]
    assert table == [[str(v) for v in r.values()] for r in rows]
    assert lines[-1] == "4 member(s); 90 points in total"


def test_the_playbook_timezone_counts_its_streaks(
    ops: Ops, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ops.cli("points", "--playbook", "reading", "--today", TODAY) == 0
    assert f"as of {TODAY} (Europe/London)" in capsys.readouterr().out


def test_top_shows_the_first_n_of_the_full_board(
    ops: Ops, capsys: pytest.CaptureFixture[str]
) -> None:
    everyone = board(ops, capsys)
    assert board(ops, capsys, "--top", "2") == everyone[:2]
    assert ops.cli("points", "--top", "2", "--today", TODAY) == 0
    out = capsys.readouterr().out
    assert out.endswith("top 2 of 5 member(s); 120 points in total\n")
    assert "wm-e" not in out


def test_output_writes_a_file_excel_reads(
    ops: Ops, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "out" / "积分.csv"
    assert ops.cli("points", "--format", "csv", "--output", str(target), "--today", TODAY) == 0
    assert capsys.readouterr().out == ""
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel then reads UTF-8
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert [r["member_id"] for r in rows] == ["wm-b", "wm-a", "wm-e", "wm-z", "wm-c"]


def test_an_empty_ledger_says_so(empty: Ops, capsys: pytest.CaptureFixture[str]) -> None:
    assert empty.cli("points") == 0
    assert capsys.readouterr().out == "no points yet\n"
    assert empty.cli("points", "--format", "json", "--group", "wrA") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == []
    assert "no points yet (group wrA)" in captured.err


def test_an_unknown_scope_is_refused_not_empty(
    ops: Ops, capsys: pytest.CaptureFixture[str]
) -> None:
    # A typo must not read "no points yet" (tests/cli/test_tour_followups.py has the rest).
    assert ops.cli("points", "--playbook", "nope") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "botops: unknown playbook 'nope' (known: daily, reading)\n"


# --- adjustments --------------------------------------------------------------------------


def test_adjust_adds_one_row_and_changes_the_total(
    ops: Ops, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ops.ledger()
    # wm-e has rows in one group under one playbook only: no options needed.
    assert ops.cli("points", "adjust", "wm-e", "5", "--reason", " 补发昨天的分 ") == 0
    assert capsys.readouterr().out == (
        "wm-e (小红): +5 in group wrB, playbook daily (补发昨天的分); new total 25\n"
    )
    after = ops.ledger()
    assert after[: len(before)] == before
    assert len(after) == len(before) + 1
    _, member, chat, playbook, _, points, reason, msgid, note = after[-1]
    assert (member, chat, playbook, points, reason, msgid, note) == (
        "wm-e",
        "wrB",
        "daily",
        5,
        "ADJUSTMENT",
        "",
        "补发昨天的分",
    )
    assert summary(board(ops, capsys, "--group", "wrB"))[0] == ("wm-e", 25, 2, 2)


def test_a_negative_adjustment_in_a_chosen_group(
    ops: Ops, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ops.ledger()
    assert ops.cli("points", "adjust", "wm-a", "-15", "--reason", "重复打卡", "--group", "wrA") == 0
    assert capsys.readouterr().out.endswith(
        "-15 in group wrA, playbook daily (重复打卡); new total 15\n"
    )
    after = ops.ledger()
    assert after[: len(before)] == before
    assert after[-1][1:4] == ("wm-a", "wrA", "daily")
    assert after[-1][5] == -15
    # The adjustment moves points, not check-in days or streaks.
    assert ("wm-a", 25, 3, 3) in summary(board(ops, capsys))


def test_a_member_without_rows_needs_an_explicit_known_scope(
    ops: Ops, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ops.ledger()
    assert ops.cli("points", "adjust", "wm-quiet", "3", "--reason", "x") == 1
    assert "wm-quiet has no points yet" in capsys.readouterr().err
    args = ("points", "adjust", "wm-quiet", "3", "--reason", "线下活动")
    assert ops.cli(*args, "--group", "wrB", "--playbook", "daily") == 1
    assert "wm-quiet is not a member of group wrB" in capsys.readouterr().err
    assert ops.cli(*args, "--group", "wrX", "--playbook", "daily") == 1
    assert "no ledger rows in group wrX under playbook daily" in capsys.readouterr().err
    assert ops.ledger() == before
    assert ops.cli(*args, "--group", "wrA", "--playbook", "daily") == 0
    assert "new total 3" in capsys.readouterr().out
    assert ops.ledger()[-1][1:4] == ("wm-quiet", "wrA", "daily")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["wm-e", "0", "--reason", "x"], "an adjustment of 0 points changes nothing"),
        (["wm-e", "5", "--reason", "   "], "an adjustment needs a reason"),
        (
            ["wm-a", "5", "--reason", "x"],
            "wm-a has points in 2 groups/playbooks; choose one: "
            "--group wrA --playbook daily, --group wrB --playbook daily",
        ),
        (["wm-b", "5", "--reason", "x", "--group", "wrA"], "wm-b has points in 2"),
        (
            ["wm-b", "5", "--reason", "x", "--playbook", "daily", "--group", "wrB"],
            "wm-b is not a member of group wrB; wm-b has points with: "
            "--group wrA --playbook daily, --group wrA --playbook reading",
        ),
        (
            ["wm-e", "5", "--reason", "x", "--playbook", "reading"],
            "wm-e has no points (playbook reading); choose: --group wrB --playbook daily",
        ),
    ],
)
def test_refused_adjustments_write_nothing(
    ops: Ops, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    before = ops.ledger()
    assert ops.cli("points", "adjust", *argv) == 1
    assert f"botops: {message}" in capsys.readouterr().err
    assert ops.ledger() == before


def test_scope_options_before_the_action_count(
    ops: Ops, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ops.cli("points", "--playbook", "reading", "adjust", "wm-b", "2", "--reason", "x") == 0
    assert "+2 in group wrA, playbook reading" in capsys.readouterr().out


def test_top_takes_everyone_tied_at_the_cut_off(
    ops: Ops, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("points", "adjust", "wm-quiet", "3", "--reason", "线下活动")
    assert ops.cli(*args, "--group", "wrA", "--playbook", "daily") == 0
    capsys.readouterr()
    # Amy and Bob share 4th place: the top 4 is five members, and 潜水员 (6th) is left out.
    rows = board(ops, capsys, "--top", "4")
    assert [(r["member_id"], r["rank"]) for r in rows] == [
        ("wm-b", 1),
        ("wm-a", 2),
        ("wm-e", 3),
        ("wm-z", 4),
        ("wm-c", 4),
    ]
    assert ops.cli("points", "--top", "4", "--format", "csv", "--today", TODAY) == 0
    assert [r["rank"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))] == [
        "1",
        "2",
        "3",
        "4",
        "4",
    ]
    assert ops.cli("points", "--top", "4", "--today", TODAY) == 0
    out = capsys.readouterr().out
    assert out.endswith("top 4 of 6 member(s), 5 shown with ties; 123 points in total\n")
    assert "wm-quiet" not in out
