"""`botops report` read as an operator reads it: the HTML page's summary at the top says what
the table's summary says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine

from botops.store.db import open_database, session
from botops.store.models import SendState
from tests.reports.support import add_group, make_library
from tests.reports.test_report_cli import outbox_row, report


@pytest.fixture
def lost_sends(tmp_path: Path) -> Path:
    """Two sends that never reached anyone: one expired unconfirmed, one missed."""
    make_library(tmp_path)
    db = tmp_path / "botops.db"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"sops_dir: sops\ntemplates_dir: templates\ndatabase:\n  url: sqlite:///{db}\n",
        encoding="utf-8",
    )
    engine: Engine = open_database(f"sqlite:///{db}")
    add_group(engine, "wr-a", name="打卡一群", tags=["打卡"])
    with session(engine) as s:
        s.add(outbox_row("daily:evening:wr-a:03-08", "03-08", SendState.EXPIRED))
        s.add(outbox_row("daily:evening:wr-a:03-09", "03-09", SendState.MISSED))
    engine.dispose()
    return config


def chips(page: str) -> list[str]:
    header = page.split('<div class="chips">')[1].split("</div>")[0]
    return [re.sub(r"<[^>]+>", "", chip) for chip in re.findall(r"<span[^>]*>.*?</span>", header)]


def test_html_summary_shows_expired_and_missed_sends(
    lost_sends: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """The table's summary line reads "Sends: expired 1 · missed 1"; the page's chips showed
    sent 0, waiting 0, failed 0 — all clear — for the same two sends that never went out."""
    assert report(lost_sends) == 0
    assert "Sends: expired 1 · missed 1\n" in capsys.readouterr().out
    out = tmp_path / "report.html"
    assert report(lost_sends, "--format", "html", "--output", str(out)) == 0
    shown = chips(out.read_text(encoding="utf-8"))
    assert "已过期 1" in shown
    assert "错过 1" in shown
