"""`botops status`: a terminal summary of the running system, read from the database."""

from __future__ import annotations

import argparse
from typing import Any
from zoneinfo import ZoneInfo

from botops.cli import common
from botops.clock import SystemClock
from botops.reports.status import render_json, render_text
from botops.store.db import session
from botops.store.status_inputs import gather_status


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "status",
        help="today's sends, tasks waiting for staff, inactive groups, recent errors",
        description="A summary of the running system from the database (reads only).",
    )
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument(
        "--now", type=common.iso_datetime, metavar="ISO", help="as if it were this moment"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = common.settings(args)
    tz = ZoneInfo(settings.timezone)
    now = args.now or SystemClock().now()
    engine = common.existing_database(settings.database_url)
    try:
        with session(engine) as s:
            status = gather_status(s, now, tz)
            s.rollback()  # reads only
    finally:
        engine.dispose()
    text = render_json(status, tz) if args.format == "json" else render_text(status, now, tz)
    common.write_output(None, text)
    return 0
