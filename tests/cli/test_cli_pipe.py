"""A command whose reader goes away (`botops preview | head`) stops quietly."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import REPO


def test_output_into_a_closed_pipe_stops_without_a_traceback():
    preview = [sys.executable, "-m", "botops", "preview", "--groups", "examples/groups.yaml"]
    preview += ["--start", "2026-12-07", "--days", "3"]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written: `| head` has exited
    try:
        done = subprocess.run(
            preview, cwd=REPO, stdout=write_end, stderr=subprocess.PIPE, timeout=60, check=False
        )
    finally:
        os.close(write_end)
    assert b"Traceback" not in done.stderr, done.stderr.decode()
    assert b"BrokenPipeError" not in done.stderr
    assert done.returncode == 141  # as a process SIGPIPE killed: `set -o pipefail` sees it
