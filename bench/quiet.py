"""Logging for in-process benchmarks: configured as `botops run` configures it (JSON lines on
standard error, so their cost is part of what is measured) but into a file, not the terminal."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import structlog

from botops.logs import configure


@contextlib.contextmanager
def logging_to(path: Path) -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with path.open("w", encoding="utf-8") as log, contextlib.redirect_stderr(log):
        configure()
        try:
            yield
        finally:
            structlog.reset_defaults()
            root.handlers, root.level = handlers, level
