"""An operator's edge cases of `botops run`'s life, on real processes: a hang-up signal, a
second name for the same SQLite file, a data folder or database it cannot write, and the
host's clock stepping back.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from botops.store.db import open_database
from tests.daemon.service_support import (
    deliveries,
    playbook,
    project_on,
    seed,
    task_text,
    utcnow,
    wait_until,
)

pytestmark = pytest.mark.slow

GRACE_SECONDS = 10


def later(tag: str) -> str:
    return playbook("later", tag, [("later", utcnow() + timedelta(hours=1), 'text: "稍后"')])


def test_sighup_stops_the_daemon_cleanly_and_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A closed terminal, or `kill -HUP` out of habit ("reload"): not a crash mid-send that
    # leaves claims to reconcile and a heartbeat that reads as a crashed replica.
    groups = seed(2, "Hup", 2)
    with project_on(tmp_path, groups, f"sqlite:///{tmp_path / 'state' / 'botops.db'}") as project:
        project.write("sops/later.yaml", later("挂断"))
        daemon = project.daemon("d")
        worker = daemon.wait_ready()["worker"]
        wait_until(lambda: project.heartbeats() == {worker: "leader"}, 15, "a heartbeat")

        daemon.signal(signal.SIGHUP)

        assert daemon.wait(timeout=GRACE_SECONDS + 10) == 0, daemon.log()[-3000:]
        assert "daemon.stopped" in daemon.log()
        assert project.heartbeats() == {}


def test_a_symlink_to_a_running_daemons_database_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two names for one SQLite file: still one daemon, or both would lead and each take the
    # other's claims for a crashed process's.
    groups = seed(2, "Link", 2)
    real = tmp_path / "state" / "botops.db"
    with project_on(tmp_path, groups, f"sqlite:///{real}") as project:
        project.write("sops/later.yaml", later("链接"))
        first = project.daemon("first")
        assert first.wait_ready()["leader"] is True
        link = tmp_path / "link.db"
        link.symlink_to(real)

        second = project.daemon("second", BOTOPS_DATABASE__URL=f"sqlite:///{link}")

        assert second.wait(timeout=30) == 1, second.readyz()
        err = second.log()
        assert f"pid {first.pid}" in err, err
        assert "SQLite supports one daemon" in err
        assert first.leader() is True


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` (a folder or a file) read-only, even for root: a read-only bind mount."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    for args in (["--bind", str(path), str(path)], ["-o", "remount,bind,ro", str(path)]):
        done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            subprocess.run(["umount", str(path)], capture_output=True, check=False)
            pytest.skip(f"cannot make a read-only bind mount here: {done.stderr.strip()}")
    try:
        yield
    finally:  # lazy: a daemon that failed the test may still hold the file open
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=True)


def test_a_data_folder_it_cannot_write_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    groups = seed(1, "Ro", 1)
    volume = tmp_path / "volume"
    volume.mkdir()
    database = volume / "data" / "botops.db"  # data/ does not exist yet: it cannot be made
    with project_on(tmp_path, groups, f"sqlite:///{database}") as project, read_only(volume):
        project.write("sops/later.yaml", later("只读"))
        daemon = project.daemon("d")
        assert daemon.wait(timeout=30) == 1
        err = daemon.log()
        assert "Traceback" not in err, err
        assert f"cannot create the lock file {database}.lock: read-only file system" in err, err

        # A command that writes the database: the same, about its folder.
        synced = subprocess.run(
            [sys.executable, "-m", "botops", "sync"],
            env=daemon.env,
            cwd=project.root,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert synced.returncode == 1
        assert "Traceback" not in synced.stderr, synced.stderr
        assert (
            f"botops: config database.url: cannot create the folder {database.parent}: "
            "read-only file system"
        ) in synced.stderr


def test_a_database_file_it_cannot_write_is_refused_at_start_and_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Reads work, so the daemon would start, answer /readyz and then fail every round for
    # ever; it must stop at once with the reason, and change nothing.
    groups = seed(2, "RoDb", 2)
    database = tmp_path / "state" / "botops.db"
    with project_on(tmp_path, groups, f"sqlite:///{database}") as project:
        project.write("sops/later.yaml", later("只读库"))
        project.tag_groups(groups, "只读库", monkeypatch, capsys)
        open_database(project.database_url).dispose()  # migrated; its WAL checkpointed
        before = hashlib.sha256(database.read_bytes()).hexdigest()
        with read_only(database):
            daemon = project.daemon("d")
            assert daemon.wait(timeout=30) == 1, daemon.readyz()
        err = daemon.log()
        assert "Traceback" not in err, err
        assert "botops: config database.url: cannot write to the database: attempt to write a" in (
            err
        )
        assert hashlib.sha256(database.read_bytes()).hexdigest() == before

        again = project.daemon("again")  # writable again: it runs
        assert again.wait_ready()["leader"] is True


CLOCK_SHIM = textwrap.dedent(
    '''\
    """Test shim: the host's wall clock, stepped by the seconds in $JUMP_FILE. Only Python's
    wall-clock readers that botops and APScheduler use are moved; monotonic time is not, as
    with a real clock step (NTP, a VM resumed, an operator's `date -s`)."""
    import datetime as _dt
    import os

    _FILE = os.environ["JUMP_FILE"]


    class _SteppedClock(_dt.datetime):
        @classmethod
        def now(cls, tz=None):
            try:
                with open(_FILE) as f:
                    seconds = float(f.read().strip() or 0)
            except (OSError, ValueError):
                seconds = 0.0
            return _dt.datetime.now(tz) + _dt.timedelta(seconds=seconds)


    import apscheduler.schedulers.base as _scheduler
    import botops.clock as _clock

    _scheduler.datetime = _SteppedClock
    _clock.datetime = _SteppedClock
    '''
)


def test_the_host_clock_stepping_back_an_hour_neither_stalls_nor_resends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # APScheduler times its jobs by the wall clock: stepped back an hour, every job (planning,
    # tracking, leadership, the heartbeat) would wait that hour.
    groups = seed(2, "Jump", 2)
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(CLOCK_SHIM, encoding="utf-8")
    jump = tmp_path / "jump"
    jump.write_text("0", encoding="utf-8")
    with project_on(tmp_path, groups, f"sqlite:///{tmp_path / 'state' / 'botops.db'}") as project:
        sim = project.sim
        before = playbook("before", "跳", [("now", utcnow() - timedelta(minutes=1), 'text: "早"')])
        project.write("sops/before.yaml", before)
        project.tag_groups(groups, "跳", monkeypatch, capsys)
        pythonpath = os.pathsep.join(filter(None, [str(shim), os.environ.get("PYTHONPATH")]))
        daemon = project.daemon("d", PYTHONPATH=pythonpath, JUMP_FILE=str(jump))
        wait_until(lambda: len(sim.tasks()) == 2, 30, "the due send, before the step")

        jump.write_text("-3600", encoding="utf-8")
        time.sleep(3)  # the rounds planned before the step have passed
        stepped = utcnow() - timedelta(hours=1)
        after = playbook("after", "跳", [("soon", stepped + timedelta(seconds=4), 'text: "晚"')])
        project.write("sops/after.yaml", after)

        wait_until(
            lambda: {task_text(t) for t in sim.tasks()} == {"早", "晚"},
            30,
            "a step due 4 s after the clock stepped back goes out",
        )
        time.sleep(2)
        assert set(deliveries(sim).values()) == {1}, deliveries(sim)
        assert len(sim.tasks()) == 4
        assert "daemon.clock_stepped" in daemon.log()
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=GRACE_SECONDS + 10) == 0
