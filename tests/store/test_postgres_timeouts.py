"""PostgreSQL: the main engine gives up on a partitioned server instead of hanging.

The daemon calls the database synchronously from its event loop; a query that waits for a
server it can no longer reach would freeze everything, the leadership check included.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from botops.store.db import (
    CONNECT_TIMEOUT_SECONDS,
    KEEPALIVE_COUNT,
    KEEPALIVE_IDLE,
    KEEPALIVE_INTERVAL,
    TCP_USER_TIMEOUT_MS,
    open_database,
)
from tests.helpers import REPO, postgres_url, reset_postgres

pytestmark = pytest.mark.postgres
SCRIPT = Path(__file__).with_name("partition_proc.py")
# tcp_user_timeout (4 s) for the pooled connection's ping, then connect_timeout (5 s; in
# practice tcp_user_timeout again, ~4 s, as the SYN goes unanswered) for its replacement.
PARTITION_BOUND_SECONDS = 15


def libpq_parameters(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        dbapi: Any = conn.connection.dbapi_connection
        parameters: dict[str, str] = dbapi.info.get_parameters()
        return parameters


@pytest.fixture
def migrated() -> str:
    url = postgres_url()
    reset_postgres(url)
    open_database(url).dispose()
    return url


def test_the_engine_asks_libpq_to_notice_a_dead_server(migrated: str) -> None:
    engine = open_database(migrated)
    try:
        parameters = libpq_parameters(engine)
    finally:
        engine.dispose()
    assert parameters["connect_timeout"] == str(CONNECT_TIMEOUT_SECONDS)
    assert parameters["keepalives"] == "1"
    assert parameters["keepalives_idle"] == str(KEEPALIVE_IDLE)
    assert parameters["keepalives_interval"] == str(KEEPALIVE_INTERVAL)
    assert parameters["keepalives_count"] == str(KEEPALIVE_COUNT)
    assert parameters["tcp_user_timeout"] == str(TCP_USER_TIMEOUT_MS)


def test_the_urls_own_settings_win(migrated: str) -> None:
    url = make_url(migrated).update_query_dict({"connect_timeout": "30", "keepalives_idle": "60"})
    engine = open_database(url.render_as_string(False))
    try:
        parameters = libpq_parameters(engine)
    finally:
        engine.dispose()
    assert parameters["connect_timeout"] == "30"
    assert parameters["keepalives_idle"] == "60"
    assert parameters["tcp_user_timeout"] == str(TCP_USER_TIMEOUT_MS)  # the rest still apply


def isolated_network() -> list[str]:
    """The command prefix for a network namespace of our own (where iptables only touches
    it), or a skip when this machine cannot make one."""
    prefix = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
    if not (shutil.which("unshare") and shutil.which("iptables") and shutil.which("ip")):
        pytest.skip("needs unshare, ip and iptables to drop packets in a network namespace")
    probe = subprocess.run([*prefix, "iptables", "-L", "INPUT"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot use iptables in a network namespace: {probe.stderr.decode()}")
    return prefix


@pytest.mark.slow
def test_a_query_fails_within_seconds_when_the_network_drops_everything(migrated: str) -> None:
    prefix = isolated_network()
    engine = open_database(migrated)
    try:
        with engine.connect() as conn:
            directories = str(conn.execute(text("SHOW unix_socket_directories")).scalar())
    finally:
        engine.dispose()
    if not directories:
        pytest.skip("the test server has no Unix socket for the namespace to reach it by")
    server_socket = f"{directories.split(',')[0].strip()}/.s.PGSQL.{make_url(migrated).port}"
    try:
        done = subprocess.run(
            [*prefix, sys.executable, str(SCRIPT), migrated, server_socket],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=PARTITION_BOUND_SECONDS * 3,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("a query through a partition still hangs (no libpq timeouts)")
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.splitlines()[-1])
    assert outcome["error"] == "OperationalError"
    assert outcome["seconds"] < PARTITION_BOUND_SECONDS
    assert outcome["healed"]  # the pool recovers once the partition ends
