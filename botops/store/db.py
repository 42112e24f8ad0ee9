"""Opening the database: SQLite (default, WAL) or PostgreSQL, from `database.url`."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, create_engine

from botops.errors import ConfigError
from botops.store.schema_revision import is_current

# How long a SQLite write waits for another connection's lock before "database is locked";
# a URL may say otherwise (sqlite:///botops.db?timeout=5).
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
SQLITE_CACHE_KIB = 512  # per connection; see _sqlite_pragmas
# PostgreSQL, client side (libpq), for every connection: the main engine's and the leader
# election's (botops.daemon.leader). Without them a partition (packets dropped, no FIN or RST)
# blocks a query until the kernel gives up retransmitting, about 15 minutes, and the daemon's
# synchronous database calls freeze its event loop (leadership check included) that long.
# - tcp_user_timeout: data sent but unacknowledged for 4 s means the path is broken (a healthy
#   one acknowledges in milliseconds); the call fails instead of waiting for a reply;
# - keepalives: an idle pooled connection is found dead after 5 + 2 * 3 = ~11 s;
# - connect_timeout: a new connection (pool_pre_ping's replacement) gives up after 5 s.
# So a query caught by a partition fails within about 4 + 5 = 9 s. No statement_timeout: a
# migration or a prune may rightly run for minutes.
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 5, 2, 3
CONNECT_TIMEOUT_SECONDS = 5
TCP_USER_TIMEOUT_MS = 4_000
LIBPQ_DRIVERS = frozenset({"psycopg", "psycopg2"})  # the drivers that take libpq's options
T = TypeVar("T")


def open_database(url: str) -> Engine:
    """An engine on a database migrated to the current schema (see botops.store.migrate).
    SQLite files get WAL and enforced foreign keys."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with the URL in the message
        raise ConfigError("database.url", "not a database URL") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # a read-only mount, another owner: say so, no traceback
                reason = (exc.strerror or str(exc)).lower()
                raise ConfigError(
                    "database.url", f"cannot create the folder {folder}: {reason}"
                ) from None
        connect_args: dict[str, Any] = {"check_same_thread": False}
        if "timeout" not in parsed.query:  # a URL's ?timeout= (busy wait) is SQLAlchemy's
            connect_args["timeout"] = SQLITE_BUSY_TIMEOUT_SECONDS
        engine = create_engine(url, connect_args=connect_args)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, connect_args=_libpq_timeouts(parsed))
    try:
        if not is_current(engine):
            from botops.store.migrate import upgrade  # Alembic is loaded only to migrate

            upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _libpq_timeouts(url: URL) -> dict[str, Any]:
    """The partition guards above, except those the URL sets itself (connect_args would
    override the URL's query: ?connect_timeout=30 must win)."""
    if url.get_driver_name() not in LIBPQ_DRIVERS:
        return {}
    guards = {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "keepalives": 1,
        "keepalives_idle": KEEPALIVE_IDLE,
        "keepalives_interval": KEEPALIVE_INTERVAL,
        "keepalives_count": KEEPALIVE_COUNT,
        "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
    }
    return {name: value for name, value in guards.items() if name not in url.query}


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    try:
        # WAL: readers (preview, status) never block the writer; NORMAL is durable across
        # process crashes, which is the failure we design for.
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Each pooled connection keeps its own page cache (default 2 MB) for the process's
        # life; the file's pages are in the OS cache anyway. 512 KiB each took the daemon's
        # peak at 10,000 groups from 150-151 MB to 147-148 with planning no slower
        # (bench/README.md).
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _use_wal(cursor: Any, wait_seconds: float = 30.0) -> None:
    """Switch the file to WAL (it stays WAL, so later connections only read the mode).

    The switch needs an exclusive lock that SQLite does not wait for: two processes opening
    a new file together get "database is locked" at once, so retry for a while."""
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def session(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


def in_session(engine: Engine, work: Callable[..., T], *args: Any) -> T:
    """`work(session, *args)` in a session of its own, committed: for `asyncio.to_thread`."""
    with session(engine) as s:
        return work(s, *args)


def dialect_insert(session: Session) -> Any:
    """The session's dialect's INSERT (PostgreSQL's or SQLite's): both have
    `on_conflict_do_nothing`, the insert-or-ignore that idempotency keys rely on."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def database_error(exc: SQLAlchemyError) -> str:
    """What went wrong, in the driver's words ("database or disk is full", "database is
    locked", "connection refused"): without the SQL statement and its parameters, which are
    long and may carry members' messages."""
    reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
    return reason or type(exc).__name__
