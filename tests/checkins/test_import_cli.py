"""`botops import-messages FILE.jsonl` against a real SQLite file and a tiny playbook."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from botops.cli import main
from botops.store.db import open_database
from tests.checkins.test_ingest import ledger_rows, make_library, record, store_group


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Engine]:
    make_library(tmp_path)
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
