"""`botops sync`: copy WeCom's customer groups, rosters and corp tags into the store.

Safe to interrupt and rerun: every group is committed as soon as it is fetched. Exit codes:
0 all synced, 1 some group (or the listing) failed, 130 interrupted (Ctrl-C).

The report goes to standard output (text or JSON); the progress bar, the built-in simulator
notice and log lines go to standard error, so `--format json` output stays parseable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import structlog
from sqlalchemy import Engine

from botops import logs
from botops.cli import common
from botops.clock import SystemClock
from botops.config import Settings
from botops.simulator.seed import DEFAULT_GROUPS_FILE
from botops.store.db import open_database
from botops.sync import Progress, SyncReport, sync_groups
from botops.sync.report import render_text
from botops.wecom.connect import connect

EXIT_INTERRUPTED = 130


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "sync",
        help="copy customer groups, members and corp tags from WeCom into the store",
        description="Sync customer groups, their members and the corp tag list from WeCom "
        "(or from the built-in simulator when no credentials are configured).",
    )
    # SUPPRESS: when not given here, keep `botops --config FILE sync` (a None default would
    # overwrite it; argparse copies a sub-parser's defaults over the main parser's values).
    parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="config file")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--concurrency", type=int, default=8, metavar="N", help="groupchat/get calls in flight"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log retries and progress")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.concurrency < 1:
        raise SystemExit("botops sync: --concurrency must be at least 1")
    settings = common.settings(args)
    engine = open_database(settings.database_url)
    report = SyncReport()
    bar = ProgressBar(sys.stderr) if sys.stderr.isatty() else None
    code = 0
    try:
        with logs_to_stderr(logging.INFO if args.verbose else logging.ERROR):
            asyncio.run(_sync(settings, engine, report, bar, args.concurrency))
    except KeyboardInterrupt:
        # asyncio.run cancelled the sync; everything committed so far stays committed.
        report.interrupted = True
        code = EXIT_INTERRUPTED
    finally:
        if bar is not None:
            bar.finish()
        engine.dispose()
    if args.format == "json":
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(render_text(report))
    return code or (0 if report.ok else 1)


async def _sync(
    settings: Settings,
    engine: Engine,
    report: SyncReport,
    progress: Progress | None,
    concurrency: int,
) -> None:
    clock = SystemClock()
    async with connect(settings, clock) as wecom:
        if wecom.simulated:
            seed = DEFAULT_GROUPS_FILE if DEFAULT_GROUPS_FILE.is_file() else "a demo set"
            print(
                "botops: no WeCom credentials (wecom.corp_id, wecom.secret): syncing from the "
                f"built-in simulator seeded from {seed}",
                file=sys.stderr,
            )
        await sync_groups(
            wecom.client,
            engine,
            clock,
            progress=progress,
            concurrency=concurrency,
            report=report,
        )


class ProgressBar:
    """`\\r`-redrawn `[#####.....] 12/40` on a terminal; no dependency needed."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self._stream = stream
        self._width = width
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        filled = self._width * done // total if total else self._width
        bar = "#" * filled + "." * (self._width - filled)
        self._stream.write(f"\rsyncing groups [{bar}] {done}/{total}")
        self._stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False


@contextmanager
def logs_to_stderr(level: int) -> Iterator[None]:
    """Route structlog to stderr at `level` for this command, then restore the previous
    configuration (structlog's default prints to stdout, which would corrupt the report)."""
    was_configured = structlog.is_configured()
    previous = structlog.get_config()
    logs.configure(level)
    try:
        yield
    finally:
        if was_configured:
            structlog.configure(**previous)
        else:
            structlog.reset_defaults()
