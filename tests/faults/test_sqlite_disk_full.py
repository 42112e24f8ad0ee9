"""The SQLite database's disk fills up while `botops run --once` writes its plan.

Two ways to fill it: a real tiny file system (a 4 MiB tmpfs, when this machine lets us
mount one) topped up with a filler file, and SQLite's own page limit (`max_page_count` on
every connection: the same SQLITE_FULL, anywhere). Either way the command must fail with an
error naming the problem, leave the database intact (integrity_check) with nothing of the
plan half-written, and, once there is room again, run as if nothing had happened: every due
send in WeCom once.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.pool import Pool

from botops.cli import main
from botops.clock import FrozenClock
from botops.simulator import Simulator
from botops.simulator.server import running_simulator
from tests.helpers import REPO
from tests.outbox.support import ADD, group_spec

GROUPS = 30
NOW = "2026-12-08T07:31:00+08:00"  # Day 1's 07:30 morning task is due
SEED = [group_spec(f"wrFull{i:02d}", f"staff{i:02d}", []) for i in range(GROUPS)]
TMPFS_BYTES = 4 * 1024 * 1024
HEADROOM = 160 * 1024  # free space left: enough to open the database, not for a month's plan


Fill = Callable[[Path], AbstractContextManager[None]]


@contextmanager
def tmpfs(root: Path) -> Iterator[Path]:
    folder = root / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@contextmanager
def filler_file(database: Path) -> Iterator[None]:
    """Fill the database's file system but for HEADROOM bytes."""
    filler = database.parent / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as f:
        while True:
            try:
                f.write(chunk)
            except OSError as exc:
                full = exc.errno == errno.ENOSPC
                break
    assert full, "the disk filled up"
    os.truncate(filler, max(0, filler.stat().st_size - HEADROOM))
    try:
        yield
    finally:
        filler.unlink()


@contextmanager
def page_limit(database: Path) -> Iterator[None]:
    """Every new SQLite connection may not grow the file: SQLITE_FULL on the first page."""

    def cap(dbapi: Any, _record: Any) -> None:
        cursor = dbapi.cursor()
        try:
            pages = cursor.execute("PRAGMA page_count").fetchone()[0]
            cursor.execute(f"PRAGMA max_page_count = {pages}")
        finally:
            cursor.close()

    event.listen(Pool, "connect", cap)
    try:
        yield
    finally:
        event.remove(Pool, "connect", cap)


def integrity(database: Path) -> list[tuple[str]]:
    with sqlite3.connect(database) as conn:
        return conn.execute("PRAGMA integrity_check").fetchall()


def counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("outbox", "enrolments", "mass_tasks")
        }


def checkpoint(database: Path) -> None:
    """Move everything into the main file and empty the WAL (so new writes need new room)."""
    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.mark.parametrize("fill", ["tmpfs", "max_page_count"])
def test_a_full_disk_fails_the_run_clearly_and_leaves_the_database_whole(
    fill: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with tmpfs(tmp_path) if fill == "tmpfs" else nullfolder(tmp_path) as folder:
        database = folder / "botops.db"
        clock = FrozenClock(datetime.fromisoformat(NOW))
        sim = Simulator.from_groups(SEED, clock=clock)
        with running_simulator(sim) as api_base:
            for name in [n for n in os.environ if n.startswith("BOTOPS_")]:
                monkeypatch.delenv(name)
            env = {
                "BOTOPS_DATABASE__URL": f"sqlite:///{database}",
                "BOTOPS_SOPS_DIR": str(REPO / "sops"),
                "BOTOPS_TEMPLATES_DIR": str(REPO / "templates"),
                "BOTOPS_DAEMON__PLAN_AHEAD": "30d",  # a month of sends: ~1,800 rows
                "BOTOPS_WECOM__API_BASE": api_base,
                "BOTOPS_WECOM__CORP_ID": sim.config.corp_id,
                "BOTOPS_WECOM__SECRET": sim.config.secret,
            }
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            monkeypatch.chdir(tmp_path)
            tagged = tmp_path / "tagged.json"
            tagged.write_text(
                json.dumps([{**g, "tags": ["打卡挑战"]} for g in SEED], ensure_ascii=False),
                encoding="utf-8",
            )
            assert main(["sync"]) == 0
            assert main(["groups", "import", str(tagged)]) == 0
            capsys.readouterr()
            checkpoint(database)
            before = counts(database)
            assert before == {"outbox": 0, "enrolments": 0, "mass_tasks": 0}

            full = filler_file(database) if fill == "tmpfs" else page_limit(database)
            with full:
                code = run_once()
                err = capsys.readouterr().err
            # A clear error: exit 1, one line naming the problem (not a traceback).
            assert code == 1, err[-3000:]
            assert "botops: database: database or disk is full" in err
            assert "Traceback" not in err
            # Nothing broken, nothing half-written: the plan's transaction never happened.
            assert integrity(database) == [("ok",)]
            assert counts(database) == before
            assert sim.tasks() == []

            # Room again: the same command runs as if nothing had happened.
            assert run_once() == 0, capsys.readouterr().err[-3000:]
            assert integrity(database) == [("ok",)]
            after = counts(database)
            assert after["outbox"] > 1000
            assert after["enrolments"] == GROUPS
            targets = Counter(t.target_id for task in sim.tasks() for t in task.targets)
            assert targets == Counter({g["chat_id"]: 1 for g in SEED})
            assert sim.count(ADD) == GROUPS


def run_once() -> int:
    try:
        return main(["run", "--once", "--now", NOW])
    except Exception as exc:  # an error botops did not turn into a message and exit code
        print(f"uncaught {type(exc).__name__}: {exc}"[:2000], file=__import__("sys").stderr)
        return -1


@contextmanager
def nullfolder(root: Path) -> Iterator[Path]:
    folder = root / "disk"
    folder.mkdir()
    yield folder
