"""Exactly one leader: only the process holding leadership plans and sends.

Several `botops run` replicas may share one PostgreSQL database; one leads, the others wait
and call `acquire()` every few seconds. With SQLite there is one daemon, full stop.

PostgreSQL: a session-level advisory lock, not a lease table
    `pg_try_advisory_lock(LEADER_KEY)` on one dedicated autocommit connection, held for as
    long as the process leads. A lease row ("leader until T") needs every replica's clock to
    agree and a renewal loop that must never stall; the advisory lock needs neither. It
    belongs to the server session, so when the leader dies — crash, kill -9, OOM, host gone —
    PostgreSQL ends the session and frees the lock, and a standby's next `acquire()` wins.
    After a clean process death the kernel closes the socket and failover takes one poll.

    Caveat: a network partition. Neither side sees a closed socket, so both sides are told
    to notice quickly: the client (libpq keepalives and `tcp_user_timeout`) and the server
    (the session's own `tcp_keepalives_*` settings, sent as connection options), so the
    server drops the old session about 11 s after traffic stops. The old leader must learn
    first that it lost: `still_leader()` asks the server whether this session still holds
    the lock, gives up after `check_timeout` seconds, and treats any error or timeout as lost
    leadership. The daemon must therefore call `still_leader()` before each batch of sends
    and at least every 5 s, so it stands down before a standby can win.

    The lock is per database: replicas must point at the same database, directly or through
    a session-pooling proxy (a transaction-pooling PgBouncer breaks session locks; the
    `still_leader()` check would then report the loss).

SQLite: an exclusive `flock` on a lock file next to the database
    A second daemon is refused with the holder's pid (written into the lock file). The
    kernel drops the lock when the holder's process dies, however it dies. `flock` is only
    trustworthy on a local file system.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import make_url

from botops.errors import BotopsError, ConfigError

# Shared with the main engine. The keepalive values serve client side (libpq) and server side
# (the session's tcp_* settings) alike: ~11 s to notice; tcp_user_timeout: unacknowledged data
# for 4 s (a partition) drops the connection.
from botops.store.db import (
    CONNECT_TIMEOUT_SECONDS,
    KEEPALIVE_COUNT,
    KEEPALIVE_IDLE,
    KEEPALIVE_INTERVAL,
    TCP_USER_TIMEOUT_MS,
)

if TYPE_CHECKING:
    from psycopg import AsyncConnection


def _leader_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key (the lock's name, hashed)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


LEADER_KEY = _leader_key("botops-leader")
CHECK_TIMEOUT_SECONDS = 2.0
CLOSE_GRACE_SECONDS = 5.0


class LeadershipError(BotopsError):
    """Leadership cannot be decided: the database is unreachable, or another daemon runs."""


class Leadership(Protocol):
    async def acquire(self) -> bool:
        """Try once, without waiting: True when this process leads (again, or already).

        Raises LeadershipError when the database cannot be reached at all.
        """
        ...

    async def still_leader(self) -> bool:
        """A cheap, bounded check; False means stop sending now and `acquire()` again."""
        ...

    async def release(self) -> None:
        """Stand down so a standby can take over at once (idempotent)."""
        ...


class PostgresLeadership:
    """A session-level advisory lock held on one dedicated connection."""

    def __init__(
        self, url: str, *, key: int = LEADER_KEY, check_timeout: float = CHECK_TIMEOUT_SECONDS
    ) -> None:
        self._conninfo = make_url(url).set(drivername="postgresql").render_as_string(False)
        self._key = key
        self._check_timeout = check_timeout
        self._conn: AsyncConnection[tuple[object, ...]] | None = None
        self._discarding: set[asyncio.Task[None]] = set()

    async def acquire(self) -> bool:
        if self._conn is not None:
            return await self.still_leader()
        conn = await self._connect()
        try:
            row = await (
                await conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,))
            ).fetchone()
        except Exception as exc:
            await conn.close()
            raise LeadershipError(f"leader election on PostgreSQL failed: {exc}") from exc
        if row is None or row[0] is not True:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def still_leader(self) -> bool:
        conn = self._conn
        if conn is None:
            return False
        check = asyncio.ensure_future(self._holds_lock(conn))
        # Not asyncio.wait_for: cancelling a psycopg query first tries to cancel it on the
        # server, which can take 10 s more in a partition. Answer now, clean up later.
        done, _ = await asyncio.wait({check}, timeout=self._check_timeout)
        if check in done and check.exception() is None and check.result():
            return True
        self._conn = None
        self._discard(conn, check)
        return False

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            unlock = asyncio.ensure_future(
                conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
            )
            await asyncio.wait({unlock}, timeout=self._check_timeout)
            self._discard(conn, unlock)  # closing the session frees the lock in any case
        if self._discarding:
            await asyncio.wait(set(self._discarding), timeout=2 * CLOSE_GRACE_SECONDS + 1)

    async def _connect(self) -> AsyncConnection[tuple[object, ...]]:
        import psycopg

        server_side = (
            f"-c tcp_keepalives_idle={KEEPALIVE_IDLE} -c tcp_keepalives_interval={KEEPALIVE_INTERVAL}"
            f" -c tcp_keepalives_count={KEEPALIVE_COUNT}"
            f" -c statement_timeout={int(self._check_timeout * 1000)}"
        )
        try:
            return await psycopg.AsyncConnection.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                keepalives=1,
                keepalives_idle=KEEPALIVE_IDLE,
                keepalives_interval=KEEPALIVE_INTERVAL,
                keepalives_count=KEEPALIVE_COUNT,
                tcp_user_timeout=TCP_USER_TIMEOUT_MS,
                application_name=f"botops-leader {socket.gethostname()}:{os.getpid()}"[:63],
                options=server_side,
            )
        except psycopg.Error as exc:
            raise LeadershipError(f"cannot reach PostgreSQL for leader election: {exc}") from exc

    async def _holds_lock(self, conn: AsyncConnection[tuple[object, ...]]) -> bool:
        """Whether this very session holds the lock (survives a pooler swapping sessions)."""
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND pid = pg_backend_pid() AND classid::bigint = %s AND objid::bigint = %s"
            " AND objsubid = 1",
            ((self._key >> 32) & 0xFFFFFFFF, self._key & 0xFFFFFFFF),
        )
        row = await cursor.fetchone()
        return row is not None and row[0] == 1

    def _discard(
        self, conn: AsyncConnection[tuple[object, ...]], pending: asyncio.Future[Any]
    ) -> None:
        task = asyncio.ensure_future(_close_after(conn, pending))
        self._discarding.add(task)
        task.add_done_callback(self._discarding.discard)


async def _close_after(
    conn: AsyncConnection[tuple[object, ...]], pending: asyncio.Future[Any]
) -> None:
    """Close `conn` once its last operation has ended (bounded: cancel it after a grace)."""
    await asyncio.wait({pending}, timeout=CLOSE_GRACE_SECONDS)
    pending.cancel()
    with contextlib.suppress(BaseException):
        await pending
    with contextlib.suppress(Exception):
        await conn.close()


class SqliteLeadership:
    """An exclusive, non-blocking `flock` on `<database>.lock` (or `<dir>/botops.lock`)."""

    def __init__(self, data_dir_or_db_path: Path) -> None:
        # Resolved: a symlink to the database (another name for the same file) must find the
        # same lock, or two daemons would each lead on one file.
        target = Path(data_dir_or_db_path).resolve()
        self.path = (
            target / "botops.lock" if target.is_dir() else target.with_name(target.name + ".lock")
        )
        self._fd: int | None = None

    async def acquire(self) -> bool:
        return self.try_lock()

    async def still_leader(self) -> bool:
        """Held, and the lock file is still the one on disk (a deleted data folder is not)."""
        if self._fd is None:
            return False
        try:
            return os.stat(self.path).st_ino == os.fstat(self._fd).st_ino
        except OSError:
            return False

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)
            os.close(fd)  # closing the descriptor releases the flock

    def try_lock(self) -> bool:
        """Synchronous `acquire()`, for `leadership_for`."""
        if self._fd is not None:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a read-only mount, another owner, a full disk: not a crash
            raise LeadershipError(
                f"cannot create the lock file {self.path}: {(exc.strerror or str(exc)).lower()}"
                " (botops must be able to write the database's folder: data_dir, database.url)"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return True

    def holder(self) -> str:
        """The pid written by the process holding the lock, or "unknown"."""
        try:
            return self.path.read_text(encoding="ascii").strip() or "unknown"
        except (OSError, UnicodeDecodeError):
            return "unknown"


class SoleLeadership:
    """An in-memory SQLite database belongs to one process: it always leads."""

    def __init__(self) -> None:
        self._held = False

    async def acquire(self) -> bool:
        self._held = True
        return True

    async def still_leader(self) -> bool:
        return self._held

    async def release(self) -> None:
        self._held = False


def leadership_for(database_url: str) -> Leadership:
    """The leadership that fits `database.url`. With SQLite it is taken at once, and a second
    daemon is refused with LeadershipError: there is no standby for a local file."""
    try:
        parsed = make_url(database_url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with the URL in the message
        raise ConfigError("database.url", "not a database URL") from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return PostgresLeadership(database_url)
    if backend != "sqlite":
        raise ConfigError(
            "database.url", f"leader election supports sqlite and postgresql, not {backend}"
        )
    if not parsed.database or parsed.database == ":memory:":
        return SoleLeadership()
    sqlite = SqliteLeadership(Path(parsed.database))
    if not sqlite.try_lock():
        raise LeadershipError(
            f"another botops run holds {sqlite.path} (pid {sqlite.holder()}); SQLite supports"
            " one daemon — use PostgreSQL for several replicas"
        )
    return sqlite
