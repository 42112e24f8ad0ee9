"""`botops preview` read as an operator reads it, through the real CLI: real group names (emoji
with a variation selector) and windows longer than a year."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from botops.cli import main
from tests.helpers import write_tree

NIGHT = """\
id: night
name: 晚安
anchor: 2026-12-01
audience: {tags: {any: [夜]}}
steps:
  - id: late
    schedule: {days: {from: 1, to: 800}, time: '23:00'}
    text: "晚安"
    expires_after: 12h
"""


@pytest.fixture
def preview(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in [n for n in os.environ if n.startswith("BOTOPS_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    write_tree(tmp_path, {"night.yaml": NIGHT})
    (tmp_path / "config.yaml").write_text(
        "sops_dir: sops\ntemplates_dir: templates\n", encoding="utf-8"
    )

    def run(groups: list[tuple[str, str]], *args: str) -> int:
        path = tmp_path / "groups.json"
        listed = [{"chat_id": c, "name": n, "owner": "zhangsan", "tags": ["夜"]} for c, n in groups]
        path.write_text(json.dumps(listed, ensure_ascii=False), encoding="utf-8")
        return main(["preview", "--groups", str(path), *args])

    return run


def test_an_emoji_with_variation_selector_takes_two_cells(preview, capsys):
    """An emoji presentation sequence, "❤️" (U+2764 U+FE0F), is drawn two cells wide (UAX #11),
    like "群". Counted as one cell, every column after such a group name was one
    cell off."""
    groups = [("wrAAAA", "❤️ab"), ("wrBBBB", "群ab")]
    assert preview(groups, "--start", "2026-12-02", "--days", "1") == 0
    out = capsys.readouterr().out.split("Summary")[0]
    rows = [line for line in out.splitlines() if "night/late" in line]
    assert len(rows) == 2
    gaps = {re.search(r"\) +night/late", row).group() for row in rows}  # type: ignore[union-attr]
    assert len(gaps) == 1, rows


def test_moved_sends_in_a_window_of_years_carry_the_year(preview, capsys):
    """Over more than a year the same month and day comes round again: "12-31 23:00 ->
    01-01 07:00" twice, with nothing to tell which is which."""
    assert preview([("wrAAAA", "夜猫子群")], "--start", "2026-12-30", "--days", "400") == 0
    out = capsys.readouterr().out
    moved = [ln for ln in out.split("Moved (shifted / deferred)")[1].splitlines() if ln.strip()]
    assert len(moved) == 400
    assert len(set(moved)) == len(moved)
    assert any("2026-12-31 23:00 -> 2027-01-01 07:00" in line for line in moved)
    assert any("2027-12-31 23:00 -> 2028-01-01 07:00" in line for line in moved)
