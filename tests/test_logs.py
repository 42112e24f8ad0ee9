"""`botops.logs.configure`: what the log stream looks like on standard error, whoever logs.

Third-party libraries log through the standard library (APScheduler's skipped and missed
runs, its job tracebacks, httpx, SQLAlchemy's pool): their lines must be the same JSON lines
as botops' own, and just as redacted, or a log collector parsing JSON gets a stray text line
(with whatever secret its traceback held)."""

from __future__ import annotations

import json
import logging

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
