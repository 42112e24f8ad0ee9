"""PostgreSQL goes away for a moment while a real `botops run` is mid-send: every session is
terminated and new connections are refused (ALLOW_CONNECTIONS false) right after WeCom
created a task whose answer is still on its way.

The daemon must keep running and say what happened, and once the database is back the
next rounds must record the task WeCom created and send the rest: every group once.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import select

from botops.simulator import Fault
from botops.store.db import open_database, session
from botops.store.models import MassTask, SendState
from tests.daemon.service_support import (
    ADD,
    deliveries,
    playbook,
    project_on,
    seed,
    utcnow,
    wait_until,
)
from tests.helpers import postgres_url, reset_postgres

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

GROUPS = 6  # one owner each: six WeCom tasks, one after the other
SLOW_ACK_SECONDS = 1.5


@contextmanager
def database_unavailable(url: str) -> Iterator[None]:
    """Refuse new connections to the database and end every session on it, until the block
    ends (from a connection to template1: a database cannot lock itself out)."""
    import psycopg

    target = make_url(url)
    admin = target.set(drivername="postgresql", database="template1").render_as_string(False)
    name = target.database
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        try:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            yield
        finally:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')


def events(log: str) -> list[dict[str, Any]]:
    """The daemon's JSON log lines (anything else on stderr is not botops' own)."""
    found = []
    for line in log.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict):
                found.append(entry)
    return found


def job_failed(log: str) -> dict[str, Any] | None:
    return next((e for e in events(log) if e.get("event") == "daemon.job_failed"), None)


def test_the_daemon_outlives_a_database_outage_mid_send_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = postgres_url()
    reset_postgres(url)
    groups = seed(GROUPS, "Pg", GROUPS)
    with project_on(tmp_path, groups, url) as project:
        sim = project.sim
        text = "数据库演练：今天的任务已发布"
        project.write(
            "sops/now.yaml",
            playbook("now", "演练", [("due", utcnow() - timedelta(minutes=1), f"text: {text}")]),
        )
        project.tag_groups(groups, "演练", monkeypatch, capsys)
        sim.faults.add(Fault("slow_ack", api=ADD, seconds=SLOW_ACK_SECONDS))

        # A create may run for half the settle time: long enough for this slow answer.
        daemon = project.daemon("d", BOTOPS_DAEMON__RECONCILE_AFTER=f"{int(SLOW_ACK_SECONDS * 4)}s")
        [first] = wait_until(sim.tasks, 60, "WeCom created the first task")
        with database_unavailable(url):
            # The answer arrives, the task cannot be recorded, the round fails: said in one
            # JSON line naming the problem.
            failure = wait_until(lambda: job_failed(daemon.log()), 30, "the failed round logged")
            time.sleep(0.5)  # the daemon keeps going without its database for a moment
            assert daemon.proc.poll() is None
        assert failure["error"].startswith("database: ")
        assert "is not currently accepting connections" in failure["error"]
        assert any(e.get("event") == "send.mass.task_unrecorded" for e in events(daemon.log()))

        # Back: the same process records WeCom's task and sends the rest, once each.
        def all_submitted() -> bool:
            rows = project.rows("due")
            return len(rows) == GROUPS and all(r.state == SendState.SUBMITTED for r in rows)

        wait_until(all_submitted, 60, "every send submitted after the outage")
        time.sleep(1.2)  # a few more rounds (plan_every 1s): nothing else may go out
        assert daemon.proc.poll() is None, daemon.log()[-3000:]
        assert deliveries(sim) == Counter({(text, g["chat_id"]): 1 for g in groups})
        assert sim.count(ADD) == GROUPS
        engine = open_database(url)
        try:
            with session(engine) as s:
                recorded = set(s.exec(select(MassTask.msgid)))
        finally:
            engine.dispose()
        assert recorded == {t.msgid for t in sim.tasks()}
        assert first.msgid in recorded
        rows = project.rows("due")
        assert {r.target_id: r.msgid for r in rows} == {
            t.target_id: task.msgid for task in sim.tasks() for t in task.targets
        }

        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=40) == 0, daemon.log()[-3000:]
