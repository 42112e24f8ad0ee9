"""`botops run`: the daemon. `--once [--now ISO]`: one full cycle, then exit."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from botops.cli import common
from botops.clock import Clock, FrozenClock, SystemClock
from botops.daemon.cycle import CycleReport
from botops.daemon.runtime import runtime


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "run",
        help="run the daemon: plan, send, track (built-in simulator without credentials)",
        description="Plan sends from the playbooks, push them through WeCom's mass-send APIs "
        "on schedule, track them until staff confirm. --once: one cycle, then exit.",
    )
    parser.add_argument("--once", action="store_true", help="run one cycle and exit (cron-style)")
    parser.add_argument(
        "--now",
        type=common.iso_datetime,
        metavar="ISO-8601",
        help="with --once: pretend it is this time (e.g. 2026-12-08T07:31:00+08:00)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="--once report")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.now is not None and not args.once:
        raise SystemExit("botops run: --now goes with --once")
    settings = common.settings(args)
    library = common.library([settings.sops_dir], settings.templates_dir, settings)
    clock: Clock = FrozenClock(args.now) if args.now is not None else SystemClock()
    if not args.once:
        from botops.daemon.service import serve

        return serve(settings, clock, library)

    async def once() -> CycleReport:
        async with runtime(settings, clock, lambda: library) as rt:
            return await rt.cycle.once()

    report = asyncio.run(once())
    _print(report, args.format)
    return 1 if report.dispatched.failed or (report.tracking and report.tracking.errors) else 0


def _print(report: CycleReport, fmt: str) -> None:
    summary = {
        "planned": {
            "inserted": report.planned.inserted,
            "updated": report.planned.updated,
            "cancelled": len(report.planned.cancelled),
        },
        "dispatched": {
            "submitted": len(report.dispatched.submitted),
            "tasks": sorted(set(report.dispatched.submitted.values())),
            "failed": report.dispatched.failed,
            "retried": len(report.dispatched.retried),
            "missed": len(report.dispatched.missed),
            "recovered": report.dispatched.reconciled.recovered,
            "released": report.dispatched.reconciled.released,
        },
        "outcomes": {key: str(state) for key, state in report.outcomes.items()},
    }
    if fmt == "json":
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    d = summary["dispatched"]
    assert isinstance(d, dict)
    print(
        f"planned: {report.planned.inserted} new, {report.planned.updated} updated, "
        f"{len(report.planned.cancelled)} cancelled"
    )
    print(
        f"dispatched: {d['submitted']} send(s) in {len(d['tasks'])} WeCom task(s); "
        f"{len(report.dispatched.failed)} failed, {d['retried']} to retry, {d['missed']} missed"
    )
    for key, reason in sorted(report.dispatched.failed.items()):
        print(f"  failed {key}: {reason}", file=sys.stderr)
