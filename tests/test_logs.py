"""`botops.logs.configure`: what the log stream looks like on standard error, whoever logs.

Third-party libraries log through the standard library (APScheduler's skipped and missed
runs, its job tracebacks, httpx, SQLAlchemy's pool): their lines must be the same JSON lines
as botops' own, and just as redacted, or a log collector parsing JSON gets a stray text line
(with whatever secret its traceback held)."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest
import structlog

from botops import logs


def test_standard_library_records_are_json_lines_and_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure(logging.INFO)  # stderr is captured: not a terminal
    structlog.get_logger().info("send", key="k1")
    logging.getLogger("apscheduler.scheduler").warning(
        'Execution of job "%s" skipped: maximum number of running instances reached (%d)',
        "run_leader_job",
        1,
    )
    try:
        raise RuntimeError("GET https://qyapi/cgi-bin/x?access_token=LEAKY1 failed")
    except RuntimeError:
        logging.getLogger("apscheduler.executors.default").exception("Job raised an exception")
    logging.getLogger("sqlalchemy.pool").error("reset failed: corpsecret=LEAKY2")

    err = capsys.readouterr().err
    assert "LEAKY1" not in err
    assert "LEAKY2" not in err
    lines = [json.loads(line) for line in err.splitlines()]  # every line is JSON
    assert [(line["event"].split(":")[0], line["level"]) for line in lines] == [
        ("send", "info"),
        ('Execution of job "run_leader_job" skipped', "warning"),
        ("Job raised an exception", "error"),
        ("reset failed", "error"),
    ]
    assert lines[1]["logger"] == "apscheduler.scheduler"
    assert "timestamp" in lines[1]
    assert "RuntimeError" in lines[2]["exception"]
    assert "access_token=***" in lines[2]["exception"]


def test_standard_library_records_below_warning_stay_out(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure(logging.INFO)
    logging.getLogger("httpx").info("HTTP Request: GET https://q/?access_token=LEAKY")
    assert capsys.readouterr().err == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("no_color", "coloured"), [(None, True), ("1", False)])
def test_a_terminal_gets_colours_unless_no_color_is_set(
    monkeypatch: pytest.MonkeyPatch, no_color: str | None, coloured: bool
) -> None:
    # https://no-color.org: any non-empty NO_COLOR turns colours off.
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    logs.configure(logging.INFO)
    structlog.get_logger().warning("send", key="k1")
    text = terminal.getvalue()
    assert "send" in text
    assert ("\x1b[" in text) is coloured
