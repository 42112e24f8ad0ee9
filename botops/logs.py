"""Logging, configured once per command: structlog to standard error (standard output is for
reports and JSON), JSON lines when not on a terminal, readable console lines otherwise,
secrets redacted last, just before rendering. The standard library's records that reach the
root logger (httpx, APScheduler, SQLAlchemy) are rendered the same way."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Any

import structlog

from botops.wecom.redact import install_stdlib_redaction, redact_secrets


class _Stderr:
    """Writes to whatever `sys.stderr` is at the time: a stream bound at configure time goes
    stale when someone (a test harness, an embedding program) swaps it.

    A line that cannot be written (the reader of a pipe went away: `botops run | head`, a log
    collector restarted) is dropped: a log line must never stop the work it describes, such
    as recording a send WeCom has just created."""

    def msg(self, message: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # a broken pipe, a full disk, closed
            print(message, file=sys.stderr, flush=True)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


class _StderrHandler(logging.StreamHandler[Any]):
    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure(level: int = logging.INFO) -> None:
    tty = sys.stderr.isatty()
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=not os.environ.get("NO_COLOR"))  # no-color.org
        if tty
        else structlog.processors.JSONRenderer(ensure_ascii=False)
    )
    stamped: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    rendered: list[Any] = [
        structlog.processors.format_exc_info,
        redact_secrets,  # tracebacks are scrubbed too
        renderer,
    ]
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *stamped, *rendered],
        logger_factory=lambda *_: _Stderr(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=False,
    )
    # httpx, APScheduler and SQLAlchemy log through the standard library: same
    # stream, same lines (JSON off a terminal), same redaction, their tracebacks too.
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *stamped],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendered],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(max(level, logging.WARNING))
    install_stdlib_redaction()
