"""The daemon's log goes to a pipe whose reader goes away (`botops run | head`, a log
collector restarting): it keeps running, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.daemon.service_support import free_port, project_on, seed, wait_until

pytestmark = pytest.mark.slow


def test_a_closed_log_pipe_does_not_stop_the_daemon(tmp_path: Path) -> None:
    with project_on(tmp_path, seed(2, "Pipe", 2), f"sqlite:///{tmp_path / 'botops.db'}") as project:
        port = free_port()
        env = project.env | {"BOTOPS_SERVER__PORT": str(port)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "botops", "run"],
            env=env,
            cwd=project.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            assert proc.stderr is not None
            proc.stderr.readline()  # it has started logging
            proc.stderr.close()  # the reader goes away
            # Planning rounds every second each log a line into the broken pipe.
            time.sleep(4)
            assert proc.poll() is None, "the daemon died with its log pipe"
            wait_until(lambda: project.heartbeats() or None, 10, "the daemon's heartbeat")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
            assert project.heartbeats() == {}  # a clean stop leaves no heartbeat
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
