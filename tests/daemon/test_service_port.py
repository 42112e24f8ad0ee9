"""`botops run` on a port another process holds: one clear line and exit 4, before it led,
migrated, started a job or wrote a heartbeat — on SQLite and on PostgreSQL."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from botops.cli.run_cmd import EXIT_PORT_UNAVAILABLE
from tests.daemon.service_support import project_on, seed

pytestmark = pytest.mark.slow


def test_a_busy_port_stops_the_daemon_before_it_leads_with_one_line(
    tmp_path: Path, database_url: str
) -> None:
    with (
        project_on(tmp_path, seed(1, "Port", 1), database_url) as project,
        socket.socket() as taken,
    ):
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        daemon = project.daemon("d", BOTOPS_SERVER__PORT=str(port))
        code = daemon.wait(timeout=30)
        log = daemon.log()

        assert code == EXIT_PORT_UNAVAILABLE, log[-3000:]
        assert log.strip().splitlines() == [
            f"botops run: cannot listen on 127.0.0.1:{port} (server.host, server.port): "
            "address already in use: another process holds it (stop it, or set server.port / "
            "BOTOPS_SERVER__PORT)"
        ]
        # No heartbeat left behind: `botops status` would show a crashed replica, and the next
        # leader would alert daemon_silent.
        assert project.heartbeats() == {}
        assert project.sim.count("gettoken") == 0, "it reached WeCom before it could serve"

        # The next daemon on the same database starts and leads at once: nothing was held.
        retry = project.daemon("retry")
        assert retry.wait_ready()["checks"]["database"] == "ok"
