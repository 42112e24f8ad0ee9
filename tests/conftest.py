"""Shared fixtures: build playbook libraries from YAML text through the public loader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from botops.errors import Problem
from botops.playbook.library import PlaybookLibrary, load_library
from tests.helpers import write_tree

pytest_plugins = ["tests.simulated_wecom"]

Build = Callable[..., tuple[PlaybookLibrary, list[Problem]]]


@pytest.fixture
def build(tmp_path: Path) -> Build:
    """build({"a.yaml": yaml}, {"t.j2": text}) -> (library, problems)."""

    def _build(playbooks: dict[str, str], templates: dict[str, str] | None = None):
        write_tree(tmp_path, playbooks, templates)
        return load_library([tmp_path / "sops"], tmp_path / "templates")

    return _build


@pytest.fixture(autouse=True)
def _isolated_logging():
    """`botops.cli.main` configures logging for the process (as a CLI must); give every
    test a clean slate so one test's configuration cannot filter another's captured logs."""
    import logging

    import structlog

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers, root.level = handlers, level
