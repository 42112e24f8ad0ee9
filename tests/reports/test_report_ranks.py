"""`botops report` shows the store's ranks: members tied on points and streak share one, in
JSON, the table and HTML alike."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from botops.cli import main
from botops.store.db import open_database
from tests.reports.support import NOW, add_group, make_library, say


@pytest.fixture
def config(tmp_path: Path) -> Path:
    library = make_library(tmp_path)
    db = tmp_path / "botops.db"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"sops_dir: sops\ntemplates_dir: templates\ndatabase:\n  url: sqlite:///{db}\n",
        encoding="utf-8",
    )
    engine = open_database(f"sqlite:///{db}")
    add_group(engine, "wr-a", members=["wm-a", "wm-b", "wm-c"], tags=["打卡"])
    for day in ("03-08", "03-09"):
        for sender in ("wm-b", "wm-a"):  # 20 points and a 2-day streak each
            say(engine, library, "wr-a", sender, f"2026-{day} 07:00", "打卡")
    say(engine, library, "wr-a", "wm-c", "2026-03-09 08:00", "打卡")
    engine.dispose()
    return config


def report(config: Path, *args: str) -> int:
    return main(["--config", str(config), "report", "--now", NOW.isoformat(), *args])


def test_json_table_and_html_show_shared_ranks(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    assert report(config, "--format", "json") == 0
    (board,) = json.loads(capsys.readouterr().out)["leaderboards"]
    assert [(r["rank"], r["name"], r["points"]) for r in board["rows"]] == [
        (1, "wm-a", 20),
        (1, "wm-b", 20),
        (3, "wm-c", 10),
    ]

    assert report(config) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("Leaderboard: 每日打卡 (daily)") + 2
    assert [line.split()[:2] for line in lines[start : start + 3]] == [
        ["1", "wm-a"],
        ["1", "wm-b"],
        ["3", "wm-c"],
    ]

    page = tmp_path / "report.html"
    assert report(config, "--format", "html", "--output", str(page)) == 0
    board_html = page.read_text(encoding="utf-8").split('class="board"><thead>')[1]
    ranks = re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]+)</td>', board_html)
    assert ranks == [("1", "wm-a"), ("1", "wm-b"), ("3", "wm-c")]


def test_a_big_tie_is_listed_to_ten_rows_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """15 members tied for first: the report lists 10 and counts the other 5, in every format,
    instead of growing with the tie."""
    library = make_library(tmp_path)
    db = tmp_path / "botops.db"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"sops_dir: sops\ntemplates_dir: templates\ndatabase:\n  url: sqlite:///{db}\n",
        encoding="utf-8",
    )
    members = [f"wm-{i:02d}" for i in range(15)]
    engine = open_database(f"sqlite:///{db}")
    add_group(engine, "wr-a", members=members, tags=["打卡"])
    for sender in members:
        say(engine, library, "wr-a", sender, "2026-03-09 07:00", "打卡")
    engine.dispose()
    capsys.readouterr()  # the scoring's log lines

    assert report(config, "--format", "json") == 0
    (board,) = json.loads(capsys.readouterr().out)["leaderboards"]
    assert [r["name"] for r in board["rows"]] == members[:10]
    assert board["more_tied"] == 5

    assert report(config) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("Leaderboard: 每日打卡 (daily)") + 2
    assert [line.split()[0] for line in lines[start : start + 11]] == ["1"] * 10 + ["…"]
    assert lines[start + 10] == "… and 5 more tied at rank 1"

    page = tmp_path / "report.html"
    assert report(config, "--format", "html", "--output", str(page)) == 0
    board_html = page.read_text(encoding="utf-8").split('class="board"><thead>')[1]
    assert len(re.findall(r'<tr><td class="num">1</td>', board_html)) == 10
    assert "另有 5 人并列第 1 名" in board_html
