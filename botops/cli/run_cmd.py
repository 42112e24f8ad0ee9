"""`botops run`: the daemon. `--once [--now ISO]`: one full cycle, then exit. `--now ISO`
alone: a rehearsal, the daemon running from that moment at real pace. `--now` (with `--once`
or without) runs only on a simulator, never against WeCom itself: sends at a pretended time
would reach real customers at the wrong hour, and the pretended day would be stored as the
groups' Day 1."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from botops.cli import common
from botops.cli.wecom_guard import on_production_host
from botops.clock import Clock, FrozenClock, ShiftedClock, SystemClock
from botops.config import PRODUCTION_API, Settings
from botops.daemon.cycle import CycleReport
from botops.daemon.leader import LeadershipError, leadership_for
from botops.daemon.runtime import runtime
from botops.playbook.library import PlaybookLibrary

EXIT_PORT_UNAVAILABLE = 4  # server.port is taken (or not permitted): not a crash, not a config typo


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
        "cycle; without, time runs on from it (a rehearsal); on a simulator only, refused "
        "against real WeCom",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="--once report")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = common.settings(args)
    if args.now is not None and on_production_host(settings):
        what = "--once --now tries a time of day" if args.once else "--now is a rehearsal"
        raise SystemExit(
            f"botops run: {what} and runs only on a simulator (wecom.api_base is "
            f"{PRODUCTION_API}: sends would reach customers at wrong times, and the pretended "
            "day would be stored as groups' Day 1)"
        )
    library = common.library([settings.sops_dir], settings.templates_dir, settings)
    clock: Clock = SystemClock()
    if args.now is not None:
        clock = FrozenClock(args.now) if args.once else ShiftedClock(args.now)
    if not args.once:
        from botops.daemon.service import PortUnavailable, serve

        try:
            return serve(settings, clock, library)
        except PortUnavailable as exc:  # one line, before the daemon took or wrote anything
            print(f"botops run: {exc}", file=sys.stderr)
            return EXIT_PORT_UNAVAILABLE

    report = asyncio.run(_once(settings, clock, library))
    _print(report, args.format)
    failures = _failures(report)
    if failures:  # the summary's counts alone do not say why the exit code is 1
        print(f"botops run --once: exit 1: {'; '.join(failures)}", file=sys.stderr)
    return 1 if failures else 0


async def _once(settings: Settings, clock: Clock, library: PlaybookLibrary) -> CycleReport:
    """One cycle as the leader, like the daemon: beside a running daemon, two dispatchers
    would each take the other's claims for a crashed process's and reconcile them."""
    refused = "run --once refused: a botops daemon runs on this database and already plans "
    try:
        leadership = leadership_for(settings.database_url)  # SQLite: its lock, or refused
    except LeadershipError as exc:
        raise LeadershipError(f"{refused}and sends ({exc})") from None
    if not await leadership.acquire():  # PostgreSQL: another process leads
        raise LeadershipError(f"{refused}and sends (it holds the leader lock on database.url)")
    try:
        async with runtime(
            settings, clock, lambda: library, still_leader=leadership.still_leader
        ) as rt:
            return await rt.cycle.once()
    finally:
        await leadership.release()


def _failures(report: CycleReport) -> list[str]:
    """Why the cycle exits 1, in words."""
    failures = []
    if report.dispatched.failed:
        failures.append(f"{len(report.dispatched.failed)} send(s) failed")
    if report.tracking and report.tracking.errors:
        failures.append(
            f"{len(report.tracking.errors)} mass-send task(s) could not be tracked in WeCom"
            " (tracked again at the next run)"
        )
    return failures


def _print(report: CycleReport, fmt: str) -> None:
    summary = {
        "planned": {
            "inserted": report.planned.inserted,
            "updated": report.planned.updated,
            "cancelled": len(report.planned.cancelled),
            "revived": len(report.planned.revived),
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
        "tracking": _tracking(report),
    }
    if fmt == "json":
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    d = summary["dispatched"]
    assert isinstance(d, dict)
    print(
        f"planned: {report.planned.inserted} new, {report.planned.updated} updated, "
        f"{len(report.planned.cancelled)} cancelled, {len(report.planned.revived)} planned again"
    )
    print(
        f"dispatched: {d['submitted']} send(s) in {len(d['tasks'])} WeCom task(s); "
        f"{len(report.dispatched.failed)} failed, {d['retried']} to retry, {d['missed']} missed"
    )
    for key, reason in sorted(report.dispatched.failed.items()):
        print(f"  failed {key}: {reason}", file=sys.stderr)
    tracking = report.tracking
    if tracking is not None:
        print(
            f"tracked: {tracking.polled} task(s) polled, {len(tracking.confirmed)} confirmed, "
            f"{len(tracking.reminded)} reminded, {len(tracking.cancelled)} cancelled; "
            f"{len(tracking.errors)} error(s)"
        )
        for error in tracking.errors:
            print(f"  not tracked {error.msgid} ({error.action}): {error.message}", file=sys.stderr)


def _tracking(report: CycleReport) -> dict[str, Any]:
    tracking = report.tracking
    if tracking is None:
        return {}
    return {
        "polled": tracking.polled,
        "confirmed": len(tracking.confirmed),
        "reminded": len(tracking.reminded),
        "cancelled": len(tracking.cancelled),
        "errors": [
            {"msgid": e.msgid, "action": e.action, "message": e.message} for e in tracking.errors
        ],
    }
