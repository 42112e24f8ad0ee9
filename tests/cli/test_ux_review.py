"""Read-side outputs as an operator uses them, through the real CLI: the points CSV opened in
Excel, and `botops status --format json` read by a script next to the other JSON outputs."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

import pytest

from botops.cli import main
from tests.cli import test_points_cli
from tests.cli.test_points_cli import TODAY, Ops
from tests.cli.test_status_cli import NOW, fill

# Member names are whatever customers typed as their WeChat nickname.
FORMULAS = {
    "wm-a": '=HYPERLINK("http://evil.example","点我领奖")',
    "wm-b": "+86 138",
    "wm-c": "-_-",
    "wm-z": "@小助手",
}


def test_points_csv_does_not_hand_excel_a_formula(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A nickname starting with =, +, - or @ is a formula to Excel (CSV injection): the CSV
    cell is prefixed with an apostrophe, so Excel shows the text, runs nothing."""
    for member, name in FORMULAS.items():  # the names the group sync stores
        monkeypatch.setitem(test_points_cli.NAMES, member, name)
    ops = Ops(tmp_path, monkeypatch)
    lines = [
        json.dumps(
            {
                "msgid": f"m-{member}",
                "chat_id": "wrA",
                "sender_id": member,
                "sender_name": name,
                "text": "打卡",
                "sent_at": f"{TODAY}T08:00:00+08:00",
            },
            ensure_ascii=False,
        )
        for member, name in FORMULAS.items()
    ]
    messages = tmp_path / "messages.jsonl"
    messages.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert ops.cli("import-messages", str(messages)) == 0
    assert ops.cli("points", "adjust", "wm-a", "-15", "--reason", "违规") == 0
    capsys.readouterr()

    assert ops.cli("points", "--today", TODAY, "--format", "csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    names = {r["member_id"]: r["name"] for r in rows}
    assert names == {member: f"'{name}" for member, name in FORMULAS.items()}
    assert {r["member_id"]: r["points"] for r in rows}["wm-a"] == "-5"  # numbers stay numbers

    assert ops.cli("points", "--today", TODAY, "--format", "json") == 0
    from_json = {r["member_id"]: r["name"] for r in json.loads(capsys.readouterr().out)}
    assert from_json == FORMULAS  # JSON is for scripts: the names as they are


def test_status_json_times_are_iso_in_the_configured_timezone(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As in `report`, `preview` and `groups list --format json`: ISO 8601 with the offset of
    the configured timezone — not Python's str() of a UTC time ("2026-03-10 07:00:00+00:00"),
    which the table beside it shows as 15:00."""
    fill(database)
    assert main(["status", "--now", NOW.isoformat(), "--format", "json"]) == 0
    status = json.loads(capsys.readouterr().out)
    times = [
        status["last_planned"],
        status["last_synced"],
        *(d[k] for d in status["daemons"] for k in ("started_at", "seen_at")),
        *(b["oldest"] for b in status["backlog"]),
        *(f["flagged_at"] for f in status["flagged"]),
        *(e["at"] for e in status["errors"]),
    ]
    assert len(times) > 8
    for text in times:
        assert text.endswith("+08:00"), text
        assert datetime.fromisoformat(text).isoformat() == text  # "T", whole seconds
    assert status["last_synced"] == "2026-03-08T12:00:00+08:00"
    assert status["day"] == "2026-03-10"
