"""`botops run --once` leads like the daemon: beside a running daemon it refuses (two
dispatchers would reconcile each other's claims), and when it exits 1 its summary says why."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from botops.cli import main
from botops.simulator import Fault
from tests.daemon.service_support import ADD, Project, playbook, project_on, seed, utcnow

pytestmark = pytest.mark.slow


@contextmanager
def as_project(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process with the project's settings, as a shell in its checkout would have."""
    with monkeypatch.context() as m:
        for name in [n for n in os.environ if n.startswith("BOTOPS_")]:
            m.delenv(name)
        for name, value in project.env.items():
            if name.startswith("BOTOPS_"):
                m.setenv(name, value)
        m.chdir(project.root)
        yield


def test_once_is_refused_while_a_daemon_leads(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    groups = seed(2, "Once", 2)
    with project_on(tmp_path, groups, database_url) as project:
        project.tag_groups(groups, "以后", monkeypatch, capsys)
        daemon = project.daemon("d")
        assert daemon.wait_ready()["leader"] is True
        later = utcnow() + timedelta(days=30)  # due only in the --once's pretended time
        project.write("sops/later.yaml", playbook("later", "以后", [("s", later, 'text: "x"')]))
        with as_project(project, monkeypatch):
            code = main(["run", "--once", "--now", (later + timedelta(seconds=1)).isoformat()])
        err = capsys.readouterr().err
        assert code == 1, err
        assert "botops: run --once refused: a botops daemon runs on this database" in err
        assert project.sim.count(ADD) == 0
        assert all(r.playbook != "later" for r in project.outbox()), "--once planned"


def test_once_exits_1_saying_why_when_tasks_cannot_be_tracked(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    groups = seed(2, "Track", 1)  # one owner: one WeCom task
    with project_on(tmp_path, groups, database_url) as project:
        due = utcnow() - timedelta(minutes=1)
        project.write("sops/now.yaml", playbook("now", "现在", [("due", due, 'text: "现在发"')]))
        project.tag_groups(groups, "现在", monkeypatch, capsys)
        with as_project(project, monkeypatch):
            assert main(["run", "--once"]) == 0, capsys.readouterr().err
            [task] = project.sim.tasks()
            capsys.readouterr()
            api = "externalcontact/get_groupmsg_task"
            project.sim.faults.add(Fault("errcode", api=api, errcode=40058, times=100))
            code = main(["run", "--once"])
        out, err = capsys.readouterr()
        assert code == 1
        assert "dispatched: 0 send(s) in 0 WeCom task(s); 0 failed" in out
        assert "tracked: 1 task(s) polled, 0 confirmed, 0 reminded, 0 cancelled; 1 error(s)" in out
        assert f"  not tracked {task.msgid} (poll): WeCom {api}: errcode 40058" in err
        assert err.rstrip().endswith(
            "botops run --once: exit 1: 1 mass-send task(s) could not be tracked in WeCom"
            " (tracked again at the next run)"
        )
