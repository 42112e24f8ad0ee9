"""Shared by tests/daemon/test_service_*.py: real `python -m botops run` processes against a
simulator running in the test process, on a real database.

The simulator's records are the ground truth of what reached WeCom; the outbox is read back
from the database the daemons share.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlmodel import select

from botops.cli import main
from botops.simulator import Simulator
from botops.simulator.model import MassTask
from botops.simulator.server import running_simulator
from botops.store.daemons import daemons_seen
from botops.store.db import open_database, session
from botops.store.models import OutboxRow

ADD = "externalcontact/add_msg_template"
T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(count: int, prefix: str, owners: int) -> list[dict[str, Any]]:
    """`count` groups; group i is owned by staff (i % owners), so a static message to them
    is `owners` WeCom tasks."""
    return [
        {
            "chat_id": f"wr{prefix}{i:02d}",
            "name": f"{prefix}群{i}",
            "owner": f"staff{i % owners:02d}",
            "created_at": "2026-01-01T10:00:00+08:00",
            "member_count": 3,
        }
        for i in range(count)
    ]


def playbook(pid: str, tag: str, steps: Iterable[tuple[str, datetime, str]]) -> str:
    """A playbook of one-shot (`at`) steps: (step id, when, `text: ...` or `template: ...`).
    No quiet hours (start == end): the tests run at any time of day."""
    body = "".join(
        f'  - id: {sid}\n    schedule: {{at: "{at.isoformat()}"}}\n    {message}\n'
        for sid, at, message in steps
    )
    return (
        textwrap.dedent(
            f"""\
        id: {pid}
        name: 测试剧本 {pid}
        audience:
          tags: {{any: [{tag}]}}
        policy:
          quiet_hours: {{start: "00:00", end: "00:00"}}
        steps:
        """
        )
        + body
    )


def wait_until(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.05) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:.0f} s: {what} (last: {result!r})")
        time.sleep(every)


class Daemon:
    """One `python -m botops run` process, its stdout/stderr in files under the project."""

    def __init__(self, project: Project, name: str, args: Sequence[str] = (), **env: str) -> None:
        self.project = project
        self.name = name
        self.port = free_port()
        self.env = project.env | {"BOTOPS_SERVER__PORT": str(self.port)} | env
        out = (project.root / f"{name}.out").open("wb")
        err = (project.root / f"{name}.err").open("wb")
        with out, err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "botops", "run", *args],
                env=self.env,
                cwd=project.root,
                stdout=out,
                stderr=err,
            )
        self.pid = self.proc.pid

    def readyz(self) -> dict[str, Any] | None:
        """/readyz's answer, or None while the server does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                return dict(json.loads(r.read()))
        except (OSError, urllib.error.URLError, ValueError):
            return None

    def leader(self) -> bool | None:
        ready = self.readyz()
        return None if ready is None else bool(ready["leader"])

    def wait_ready(self, timeout: float = 30) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            if self.proc.poll() is not None:
                pytest.fail(f"{self.name} exited ({self.proc.returncode}):\n{self.log()[-3000:]}")
            return self.readyz()

        return wait_until(ready, timeout, f"{self.name} answers /readyz")

    def log(self) -> str:
        return (self.project.root / f"{self.name}.err").read_text(encoding="utf-8")

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        """Teardown: whatever state it is in, it is gone afterwards."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


class Project:
    """A botops checkout in a tmp folder: playbooks, a database, the simulator's credentials
    in the environment (as in production: no config file, `BOTOPS_*` variables)."""

    def __init__(self, root: Path, sim: Simulator, api_base: str, database_url: str) -> None:
        self.root = root
        self.sim = sim
        self.database_url = database_url
        self.sops = root / "sops"
        self.templates = root / "templates"
        self.sops.mkdir(parents=True, exist_ok=True)
        self.templates.mkdir(parents=True, exist_ok=True)
        self.daemons: list[Daemon] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BOTOPS_")}
        self.env |= {
            "BOTOPS_DATABASE__URL": database_url,
            "BOTOPS_DATA_DIR": str(root / "data"),
            "BOTOPS_SOPS_DIR": str(self.sops),
            "BOTOPS_TEMPLATES_DIR": str(self.templates),
            "BOTOPS_WECOM__API_BASE": api_base,
            "BOTOPS_WECOM__CORP_ID": sim.config.corp_id,
            "BOTOPS_WECOM__SECRET": sim.config.secret,
            "BOTOPS_SERVER__HOST": "127.0.0.1",
            "BOTOPS_DAEMON__PLAN_EVERY": "1s",
            # a send whose answer was lost is re-sent (if WeCom has no task) after 3 s, not 2 min
            "BOTOPS_DAEMON__RECONCILE_AFTER": "3s",
            # a callback whose handling failed is retried after 1 s (doubling), not 1 min
            "BOTOPS_DAEMON__CALLBACK_RETRY_AFTER": "1s",
        }

    def write(self, relative: str, text: str) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def tag_groups(
        self,
        groups: list[dict[str, Any]],
        tag: str,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """`botops sync` and `botops groups import`, in this process, with the daemons' env."""
        with monkeypatch.context() as m:
            for name in [n for n in os.environ if n.startswith("BOTOPS_")]:
                m.delenv(name)
            for name, value in self.env.items():
                if name.startswith("BOTOPS_"):
                    m.setenv(name, value)
            m.chdir(self.root)
            tagged = self.root / "tagged.json"
            tagged.write_text(
                json.dumps([{**g, "tags": [tag]} for g in groups], ensure_ascii=False),
                encoding="utf-8",
            )
            assert main(["sync"]) == 0
            assert main(["groups", "import", str(tagged)]) == 0
            assert f"{len(groups)} group(s) tagged" in capsys.readouterr().out

    def daemon(self, name: str, args: Sequence[str] = (), **env: str) -> Daemon:
        daemon = Daemon(self, name, args, **env)
        self.daemons.append(daemon)
        return daemon

    def outbox(self) -> list[OutboxRow]:
        engine = open_database(self.database_url)
        try:
            with session(engine) as s:
                return list(s.exec(select(OutboxRow).order_by(OutboxRow.key)).all())
        finally:
            engine.dispose()

    def heartbeats(self) -> dict[str, str]:
        """The running daemons' heartbeats (`botops status` reads them): worker -> role."""
        engine = open_database(self.database_url)
        try:
            with session(engine) as s:
                return {d.worker: d.role for d in daemons_seen(s)}
        finally:
            engine.dispose()

    def rows(self, step: str) -> list[OutboxRow]:
        return [r for r in self.outbox() if r.step == step]

    def logs(self) -> str:
        return "\n".join(f"--- {d.name} (pid {d.pid})\n{d.log()[-4000:]}" for d in self.daemons)


@contextmanager
def project_on(
    tmp_path: Path, groups: list[dict[str, Any]], database_url: str
) -> Iterator[Project]:
    sim = Simulator.from_groups(groups)
    with running_simulator(sim) as api_base:
        project = Project(tmp_path, sim, api_base, database_url)
        try:
            yield project
        finally:
            for daemon in project.daemons:
                daemon.stop()


class LeaderWatch:
    """Samples every daemon's /readyz `leader` on a thread, for as long as it runs: the
    samples show whether two ever led at once, and when leadership moved."""

    def __init__(self, daemons: list[Daemon], every: float = 0.1) -> None:
        self.daemons = daemons
        self.samples: list[tuple[float, tuple[bool | None, ...]]] = []
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leader-watch", daemon=True)

    def __enter__(self) -> LeaderWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            states = tuple(d.leader() for d in self.daemons)
            self.samples.append((time.monotonic(), states))
            self._stop.wait(self._every)

    def overlaps(self) -> list[tuple[float, tuple[bool | None, ...]]]:
        """Samples in which more than one daemon said it leads."""
        return [(at, states) for at, states in self.samples if states.count(True) > 1]


def task_text(task: MassTask) -> str:
    return (task.text or {}).get("content", "")


def deliveries(sim: Simulator) -> Counter[tuple[str, str]]:
    """(message text, target) → how many WeCom tasks hold it: every value must be 1."""
    return Counter((task_text(task), t.target_id) for task in sim.tasks() for t in task.targets)
