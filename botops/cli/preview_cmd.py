"""`botops preview`: exactly what would be sent, when and to whom — sending nothing.

Runs the real loader, planner and renderer (the same code the daemon runs) and writes the
plan as a table, JSON or a self-contained HTML calendar.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from botops.cli import common
from botops.clock import SystemClock
from botops.errors import TargetsError
from botops.planning.planner import Plan, Window, plan
from botops.planning.targets import Target, load_targets
from botops.playbook.context import SAMPLE_CHECKINS, CheckinSnapshot
from botops.preview.html_view import render_html
from botops.preview.json_view import render_json
from botops.preview.notes import Annotations, annotate
from botops.preview.table_view import render_table
from botops.store.db import session
from botops.store.groups import targets as stored_targets

MAX_DAYS = 3660  # ten years: beyond it a plan is only slow to compute and to read


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "preview",
        help="show what would be sent, when, to which group and segment (sends nothing)",
        description="Dry run: plan and render the playbooks for a date range. Sends nothing.",
    )
    parser.add_argument(
        "paths", nargs="*", type=Path, metavar="PLAYBOOK_OR_DIR", help="default: sops_dir"
    )
    parser.add_argument(
        "--start", type=common.iso_date, metavar="YYYY-MM-DD", help="first day (default: today)"
    )
    parser.add_argument(
        "--days",
        type=common.whole_number(1, MAX_DAYS),
        default=7,
        metavar="N",
        help=f"number of days, 1 to {MAX_DAYS} (default: 7)",
    )
    parser.add_argument(
        "--groups", type=Path, metavar="FILE", help="YAML/JSON list of groups to plan for"
    )
    parser.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="CHAT_ID",
        help="only this group (repeatable)",
    )
    parser.add_argument("--format", choices=("table", "json", "html"), default="table")
    parser.add_argument(
        "--output", type=Path, metavar="FILE", help="write here instead of standard output"
    )
    parser.add_argument(
        "--templates", type=Path, metavar="DIR", help="templates folder (default: templates_dir)"
    )
    parser.add_argument(
        "--sample-checkins",
        action="store_true",
        help="render check-in variables with sample figures (to read reminder and leaderboard texts)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = common.settings(args)
    library = common.library(
        args.paths or [settings.sops_dir], args.templates or settings.templates_dir, settings
    )
    every, source = _all_targets(args)
    targets = _only_wanted(args, every, source)
    tz = ZoneInfo(settings.timezone)
    start_day = args.start or SystemClock().now().astimezone(tz).date()
    start = datetime.combine(start_day, time()).replace(tzinfo=tz)
    window = Window(
        start, datetime.combine(start_day + timedelta(days=args.days), time()).replace(tzinfo=tz)
    )
    checkins: dict[str, CheckinSnapshot] = (
        {t.id: SAMPLE_CHECKINS for t in targets} if args.sample_checkins else {}
    )
    # Without sample figures, show what the daemon does: texts showing check-in figures are
    # provisional, rendered again when due (and never skipped for being empty now).
    result = plan(
        library,
        targets,
        window,
        settings.send_policy,
        checkins,
        checkins_at_send=not args.sample_checkins,
    )
    notes = annotate(result, library, every, sample_checkins=args.sample_checkins, source=source)
    # Warnings go to stderr in every format: standard output stays the table, the JSON
    # list scripts read, or the page (which shows them too).
    for warning in notes.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    common.write_output(args.output, _render(args.format, result, tz, args.output is None, notes))
    return 0


def _all_targets(args: argparse.Namespace) -> tuple[list[Target], str]:
    """The groups file when given, else the groups `botops sync` stored; and its name."""
    if args.groups is not None:
        return load_targets(args.groups), str(args.groups)
    return _stored_targets(common.settings(args).database_url), "the store"


def _only_wanted(args: argparse.Namespace, targets: list[Target], source: str) -> list[Target]:
    if args.group:
        wanted = set(args.group)
        missing = wanted - {t.id for t in targets}
        if missing:
            raise TargetsError(f"not in {source}: {', '.join(sorted(missing))}")
        targets = [t for t in targets if t.id in wanted]
    return targets


def _stored_targets(url: str) -> list[Target]:
    hint = "run `botops sync` first, or pass --groups FILE (see examples/groups.yaml)"
    engine = common.existing_database(url, hint)
    try:
        with session(engine) as s:
            targets = stored_targets(s)
    finally:
        engine.dispose()
    if not targets:
        raise TargetsError(f"no synced groups in the store: {hint}")
    return targets


def _render(kind: str, result: Plan, tz: ZoneInfo, to_terminal: bool, notes: Annotations) -> str:
    if kind == "json":
        return render_json(result, tz, notes)
    if kind == "html":
        return render_html(result, tz, title="botops 群日历", annotations=notes)
    color = to_terminal and sys.stdout.isatty()
    return render_table(result, tz, color=color, annotations=notes)
