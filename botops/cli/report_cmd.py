"""`botops report`: group activity and inactive groups, check-in rates, the points
leaderboard and send outcomes, as a table, JSON or a self-contained HTML page.

Read only. The database must exist (an empty SQLite file is never created just to report on
it). Inactivity verdicts are computed now with the same rules the daemon applies
(botops.store.inactivity.assess) rather than read from `group_flags`, so the report is right
on a database the daemon never evaluated; nothing is written. Playbooks are only parsed (as
in `botops points`): a broken template never blocks the report; playbooks that do not parse
are left out, with a warning.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from botops.cli import common
from botops.clock import SystemClock
from botops.playbook.loader import load_paths
from botops.reports.html_view import render_html
from botops.reports.json_view import render_json
from botops.reports.report import build_report
from botops.reports.table_view import render_table
from botops.store.db import session
from botops.store.report_inputs import gather_report


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="group activity, inactive groups, check-in rates, leaderboard, send outcomes",
        description="A report of the last N days from the database (reads only): groups by "
        "activity with inactive ones first, check-in rate per playbook day, the points "
        "leaderboard and send outcomes.",
    )
    parser.add_argument(
        "--days",
        type=common.whole_number(1, 366),
        default=7,
        metavar="N",
        help="days up to today (default: 7)",
    )
    parser.add_argument("--format", choices=("table", "json", "html"), default="table")
    parser.add_argument(
        "--output", type=Path, metavar="FILE", help="write here instead of standard output"
    )
    parser.add_argument(
        "--now",
        type=common.iso_datetime,
        metavar="ISO",
        help="report as of this moment, e.g. 2026-12-08T09:00:00+08:00 (default: now)",
    )
    parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = common.settings(args)
    sourced, problems = load_paths([settings.sops_dir])
    if any(p.severity == "error" for p in problems):
        print(
            "botops report: some playbooks do not load and are left out (run `botops validate`)",
            file=sys.stderr,
        )
    playbooks = [s.playbook for s in sourced]
    now = args.now or SystemClock().now()
    engine = common.existing_database(settings.database_url)
    try:
        with session(engine) as s:
            inputs = gather_report(s, playbooks, settings, now, days=args.days)
            s.rollback()  # reads only
    finally:
        engine.dispose()
    report = build_report(inputs)
    if args.format == "json":
        text = render_json(report)
    elif args.format == "html":
        text = render_html(report)
    else:
        text = render_table(report)
    common.write_output(args.output, text)
    return 0
