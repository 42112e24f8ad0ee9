"""Exactly one leader, across real processes, on real PostgreSQL and on SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from botops.daemon.leader import (
    LeadershipError,
    PostgresLeadership,
    SoleLeadership,
    SqliteLeadership,
    leadership_for,
)
from botops.errors import ConfigError
from tests.helpers import postgres_url

SCRIPT = Path(__file__).with_name("leader_proc.py")
POLL_SECONDS = 0.5  # how often a standby calls acquire(); the daemon uses a few seconds


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Replica:
    """One `leader_proc.py` process, its output lines readable with a timeout."""

    def __init__(self, url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), url, str(POLL_SECONDS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.pid = self.proc.pid
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def next_line(self, timeout: float) -> str | None:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def expect(self, prefix: str, timeout: float = 15) -> str:
        line = self.next_line(timeout)
        assert line is not None, f"pid {self.pid}: nothing within {timeout}s (wanted {prefix!r})"
        assert line.startswith(prefix), f"pid {self.pid}: {line!r} (wanted {prefix!r})"
        return line

    def tell(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def replicas() -> Iterator[list[Replica]]:
    started: list[Replica] = []
    yield started
    for replica in started:
        replica.stop()


def start(replicas: list[Replica], url: str) -> Replica:
    replica = Replica(url)
    replicas.append(replica)
    return replica


def one_leader(a: Replica, b: Replica) -> tuple[Replica, Replica]:
    """Wait for exactly one of two ready replicas to lead; (leader, standby)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for leader, standby in ((a, b), (b, a)):
            line = leader.next_line(0.05)
            if line is not None:
                assert line == f"leader {leader.pid}"
                # Several standby polls later, the other one still does not lead.
                assert standby.next_line(POLL_SECONDS * 4) is None
                return leader, standby
    raise AssertionError("no replica became leader within 15 s")


def failover_seconds(dead: Replica, standby: Replica) -> float:
    start = time.monotonic()
    dead.kill()
    standby.expect(f"leader {standby.pid}", timeout=60)
    return time.monotonic() - start


# --- PostgreSQL: advisory lock -------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_one_leader_and_failover_after_kill_9(replicas: list[Replica]) -> None:
    url = postgres_url()
    a, b = start(replicas, url), start(replicas, url)
    a.expect("ready"), b.expect("ready")
    leader, standby = one_leader(a, b)

    seconds = failover_seconds(leader, standby)

    print(
        f"\nPostgreSQL failover after kill -9: {seconds:.2f} s (standby polls every {POLL_SECONDS} s)"
    )
    assert seconds < 60
    third = start(replicas, url)
    third.expect("ready")
    assert third.next_line(POLL_SECONDS * 4) is None  # the new leader holds it


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_release_hands_over_while_the_old_leader_lives(replicas: list[Replica]) -> None:
    url = postgres_url()
    a, b = start(replicas, url), start(replicas, url)
    a.expect("ready"), b.expect("ready")
    leader, standby = one_leader(a, b)

    leader.tell()

    leader.expect("released")
    standby.expect(f"leader {standby.pid}", timeout=10)
    assert leader.proc.poll() is None


class Proxy:
    """A TCP relay to PostgreSQL that can go silent, like a network partition."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.silent = asyncio.Event()
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if self.silent.is_set():
                    continue  # swallowed: the other side never hears of it
                writer.write(data)
                await writer.drain()
        writer.close()

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[tuple[Proxy, str]]:
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url())
    relay = Proxy(url.host or "127.0.0.1", url.port or 5432)
    port = await relay.start()
    yield relay, url.set(port=port).render_as_string(False)
    await relay.close()


@pytest.mark.postgres
@pytest.mark.anyio
async def test_postgres_leader_stands_down_fast_when_the_network_goes_silent(
    proxy: tuple[Proxy, str],
) -> None:
    relay, via_relay = proxy
    old = PostgresLeadership(via_relay, check_timeout=1.0)
    standby = PostgresLeadership(postgres_url())
    assert await old.acquire()
    assert await old.still_leader()
    assert not await standby.acquire()

    relay.silent.set()
    started = time.monotonic()
    assert not await old.still_leader()
    assert time.monotonic() - started < 2.0  # the timeout, not psycopg's 10 s cancel dance

    await relay.close()  # the partition ends: the server sees the old session gone
    deadline = time.monotonic() + 15
    while not await standby.acquire():
        assert time.monotonic() < deadline, "the standby never took over"
        await asyncio.sleep(0.2)
    await old.release()
    await standby.release()


@pytest.mark.postgres
@pytest.mark.anyio
async def test_postgres_still_leader_is_false_after_release_and_reacquire_works() -> None:
    url = postgres_url()
    first, second = PostgresLeadership(url), PostgresLeadership(url)
    assert await first.acquire()
    assert await first.acquire()  # already leading: still True, no second lock
    assert not await second.acquire()
    await first.release()
    assert not await first.still_leader()
    assert await second.acquire()
    await second.release()
    await first.release()  # idempotent


@pytest.mark.anyio
async def test_postgres_unreachable_is_an_error_not_a_silent_standby() -> None:
    leadership = PostgresLeadership("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(LeadershipError, match="cannot reach PostgreSQL"):
        await leadership.acquire()


# --- SQLite: flock ---------------------------------------------------------------------------


@pytest.mark.slow
def test_sqlite_second_daemon_is_refused_naming_the_holder(
    replicas: list[Replica], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'botops.db'}"
    first = start(replicas, url)
    first.expect("ready")
    first.expect(f"leader {first.pid}")

    second = start(replicas, url)

    line = second.expect("refused")
    assert f"holds {tmp_path / 'data' / 'botops.db.lock'} (pid {first.pid})" in line
    assert "SQLite supports one daemon — use PostgreSQL for several replicas" in line
    assert second.proc.wait(timeout=10) == 3


@pytest.mark.slow
def test_sqlite_lock_is_freed_when_the_holder_is_killed(
    replicas: list[Replica], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'botops.db'}"
    first = start(replicas, url)
    first.expect("ready")
    first.expect(f"leader {first.pid}")

    first.kill()
    after = start(replicas, url)

    after.expect("ready")
    after.expect(f"leader {after.pid}")


@pytest.mark.anyio
async def test_sqlite_release_clears_the_pid_and_lets_the_next_one_in(tmp_path: Path) -> None:
    db = tmp_path / "botops.db"
    first, second = SqliteLeadership(db), SqliteLeadership(db)
    assert await first.acquire()
    assert not await second.acquire()  # a separate open file: refused even in one process
    assert second.holder().isdigit()
    await first.release()
    assert first.path.read_text() == ""
    assert await second.acquire()
    assert await second.still_leader()
    await second.release()


@pytest.mark.anyio
async def test_sqlite_leader_whose_lock_file_was_deleted_no_longer_leads(tmp_path: Path) -> None:
    leadership = SqliteLeadership(tmp_path)
    assert await leadership.acquire()
    assert leadership.path == tmp_path / "botops.lock"
    leadership.path.unlink()  # a new daemon would now lock a new file: two leaders
    assert not await leadership.still_leader()
    await leadership.release()


def test_leadership_for_picks_by_url(tmp_path: Path) -> None:
    assert isinstance(leadership_for("postgresql+psycopg://u@db/botops"), PostgresLeadership)
    assert isinstance(leadership_for("sqlite://"), SoleLeadership)
    with pytest.raises(ConfigError, match=r"database\.url"):
        leadership_for("mysql://u@db/botops")
    with pytest.raises(ConfigError, match="not a database URL"):
        leadership_for("::")
