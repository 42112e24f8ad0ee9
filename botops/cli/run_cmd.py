"""`botops run`: the daemon. `--once [--now ISO]`: one full cycle, then exit. `--now ISO`
alone: a rehearsal, the daemon running from that moment at real pace — never against WeCom
itself, where sends at a pretended time would reach real customers at the wrong hour."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from botops.cli import common
from botops.clock import Clock, FrozenClock, ShiftedClock, SystemClock
from botops.config import PRODUCTION_API, Settings
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
        help="pretend it is this time (e.g. 2026-12-08T07:31:00+08:00): with --once for that "
        "cycle; without, time runs on from it (a rehearsal; refused against real WeCom)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="--once report")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = common.settings(args)
    if args.now is not None and not args.once and _real_wecom(settings):
        raise SystemExit(
            "botops run: --now without --once is a rehearsal and runs only on a simulator "
            f"(wecom.api_base is {PRODUCTION_API}: sends would reach customers at wrong times)"
        )
    library = common.library([settings.sops_dir], settings.templates_dir, settings)
    clock: Clock = SystemClock()
    if args.now is not None:
        clock = FrozenClock(args.now) if args.once else ShiftedClock(args.now)
    if not args.once:
        from botops.daemon.service import serve

        return serve(settings, clock, library)

    async def once() -> CycleReport:
        async with runtime(settings, clock, lambda: library) as rt:
            return await rt.cycle.once()

    report = asyncio.run(once())
    _print(report, args.format)
    return 1 if report.dispatched.failed or (report.tracking and report.tracking.errors) else 0


def _real_wecom(settings: Settings) -> bool:
    return settings.wecom.configured and settings.wecom.api_base.rstrip("/") == PRODUCTION_API


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
