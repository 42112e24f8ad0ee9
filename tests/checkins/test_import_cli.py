"""`botops import-messages FILE.jsonl` against a real SQLite file and a tiny playbook."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from botops.cli import main
from botops.store.db import open_database, session
from botops.store.groups import mark_dismissed
from tests.checkins.test_ingest import CHAT, PLAYBOOK, ledger_rows, record, store_group
from tests.helpers import SHANGHAI, write_tree

WINDOW = '  points: 10\n  window: {start: "05:00", end: "23:30"}\n'


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Engine]:
    return project(tmp_path, PLAYBOOK)


def project(tmp_path: Path, playbook: str) -> tuple[Path, Engine]:
    """A config, its playbook and a database with the check-in group (members wm-a, wm-b)."""
    write_tree(tmp_path, {"daily.yaml": playbook})
    db = tmp_path / "botops.db"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"sops_dir: sops\ntemplates_dir: templates\ndatabase:\n  url: sqlite:///{db}\n",
        encoding="utf-8",
    )
    engine = open_database(f"sqlite:///{db}")
    store_group(engine, ["wm-a", "wm-b"])
    return config, engine


def jsonl(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_scores_check_ins_once(
    setup: tuple[Path, Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, engine = setup
    lines = [json.dumps(record("m1", "wm-a")), "", json.dumps(record("m2", "wm-b"))]
    file = jsonl(tmp_path / "messages.jsonl", *lines)
    assert main(["--config", str(config), "import-messages", str(file)]) == 0
    assert "2 message(s) read, 2 check-in(s) scored" in capsys.readouterr().out
    assert ledger_rows(engine) == 2
    assert main(["--config", str(config), "import-messages", str(file)]) == 0
    assert "0 check-in(s) scored" in capsys.readouterr().out
    assert ledger_rows(engine) == 2
    engine.dispose()


def test_what_did_not_score_is_counted_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tour's check-in, sent after the window closes, must not just say "0 scored"."""
    config, engine = project(tmp_path, PLAYBOOK.replace("  points: 10\n", WINDOW))
    file = jsonl(
        tmp_path / "messages.jsonl",
        json.dumps(record("m1", "wm-a", sent_at="2026-03-02T23:45:00+08:00")),
        json.dumps(record("m2", "wm-b", "hello")),
        json.dumps(record("m3", "wm-b", chat_id="wrNobody")),
        json.dumps(record("m4", "wm-b")),
    )
    assert main(["--config", str(config), "import-messages", str(file)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "4 message(s) read, 1 check-in(s) scored",
        "  not scored: 1 outside the check-in window (e.g. 23:45 is outside 05:00-23:30)",
        "  not scored: 1 not a check-in (no keyword matched)",
        "  not scored: 1 in a group botops does not know (run botops sync)",
    ]
    assert ledger_rows(engine) == 1
    engine.dispose()


def test_a_file_saved_with_a_byte_order_mark_imports(
    setup: tuple[Path, Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, engine = setup
    file = tmp_path / "messages.jsonl"
    file.write_text(json.dumps(record("m1", "wm-a")) + "\n", encoding="utf-8-sig")
    assert main(["--config", str(config), "import-messages", str(file)]) == 0
    assert "1 message(s) read, 1 check-in(s) scored" in capsys.readouterr().out
    assert ledger_rows(engine) == 1
    engine.dispose()


def test_staff_dismissed_groups_and_future_dates_are_explained(
    setup: tuple[Path, Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, engine = setup
    store_group(engine, ["wm-c"], chat_id="wrGone")
    with session(engine) as s:
        mark_dismissed(s, [CHAT], datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI))
    file = jsonl(
        tmp_path / "messages.jsonl",
        json.dumps(record("m1", "zhangsan")),
        json.dumps(record("m2", "wm-c", chat_id="wrGone", sent_at="2026-03-02T08:30:00+08:00")),
        json.dumps(record("m3", "wm-c", chat_id="wrGone", sent_at="2026-03-02T09:30:00+08:00")),
        json.dumps(record("m4", "wm-a", sent_at="2999-03-02T08:30:00+08:00")),
    )
    assert main(["--config", str(config), "import-messages", str(file)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "4 message(s) read, 1 check-in(s) scored"
    future, *others = sorted(out[1:])
    assert future.startswith(
        "  not scored: 1 dated in the future (check the sender's clock and time zone) "
        "(e.g. sent_at 2999-03-02T08:30:00+08:00 is after now (20"
    )
    assert others == [
        "  not scored: 1 sent after the group was dismissed "
        "(e.g. the group was dismissed at 2026-03-02T09:00:00+08:00)",
        "  not scored: 1 sent by staff (e.g. staff members do not check in)",
    ]
    assert ledger_rows(engine) == 1
    engine.dispose()


def test_a_bad_line_stops_the_whole_import(
    setup: tuple[Path, Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, engine = setup
    missing = record("m2", "wm-b")
    del missing["chat_id"]
    file = jsonl(
        tmp_path / "messages.jsonl",
        json.dumps(record("m1", "wm-a")),
        json.dumps(missing),
        "{oops",
    )
    assert main(["--config", str(config), "import-messages", str(file)]) == 1
    err = capsys.readouterr().err
    assert f"{file}:2: field 'chat_id' is missing" in err
    assert f"{file}:3: not JSON" in err
    assert ledger_rows(engine) == 0
    engine.dispose()


def test_every_outcome_that_scores_nothing_is_explained_in_words():
    from botops.checkins.rules import Outcome
    from botops.cli.import_messages_cmd import WHY_NOT_SCORED

    scoring = {Outcome.CHECKIN, Outcome.MAKEUP}
    assert set(Outcome) - scoring <= set(WHY_NOT_SCORED)
