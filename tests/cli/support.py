"""Fixtures of the CLI tests that reach WeCom: the repo's playbooks, and a simulator either
built in (no credentials) or reached over HTTP as if it were the real WeCom."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from botops.simulator import Simulator
from botops.simulator.seed import seed_groups_from
from botops.simulator.server import running_simulator
from tests.helpers import REPO

GROUPS = REPO / "examples" / "groups.yaml"
READING = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"  # 百日读书打卡1群, owner zhangsan
PARENTS = "wrOgQhDgAAMYQiS5ol9G7gK9JVBBBB"  # 百日亲子阅读打卡群, owner lisi
FLASH = "wrOgQhDgAAMYQiS5ol9G7gK9JVEEEE"  # 宝藏好物快闪群①, owner zhaoliu
POSTER = REPO / "assets" / "milestone-poster.png"


@pytest.fixture
def env(monkeypatch, tmp_path) -> Path:
    """The repo's playbooks, a scratch data dir, no credentials, no stray config."""
    for name in list(os.environ):
        if name.startswith("BOTOPS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOTOPS_SOPS_DIR", str(REPO / "sops"))
    monkeypatch.setenv("BOTOPS_TEMPLATES_DIR", str(REPO / "templates"))
    monkeypatch.setenv("BOTOPS_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch SQLite file as the database, no stray settings, run from `tmp_path`."""
    for name in [n for n in os.environ if n.startswith("BOTOPS_")]:
        monkeypatch.delenv(name)
    path = tmp_path / "botops.db"
    monkeypatch.setenv("BOTOPS_DATABASE__URL", f"sqlite:///{path}")
    monkeypatch.chdir(tmp_path)
    return path


@pytest.fixture
def builtin(monkeypatch) -> list[Simulator]:
    """The simulators `connect()` builds in-process when no credentials are configured."""
    made: list[Simulator] = []
    original = Simulator.from_groups.__func__

    def spy(cls, *args, **kwargs):
        made.append(original(cls, *args, **kwargs))
        return made[-1]

    monkeypatch.setattr(Simulator, "from_groups", classmethod(spy))
    return made


@pytest.fixture
def external(env, monkeypatch) -> Iterator[Simulator]:
    """A simulator botops reaches as if it were the real WeCom (credentials configured)."""
    sim = Simulator.from_groups(seed_groups_from(GROUPS))
    with running_simulator(sim) as url:
        monkeypatch.setenv("BOTOPS_WECOM__API_BASE", url)
        monkeypatch.setenv("BOTOPS_WECOM__CORP_ID", sim.config.corp_id)
        monkeypatch.setenv("BOTOPS_WECOM__SECRET", sim.config.secret)
        yield sim
