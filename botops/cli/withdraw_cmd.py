"""`botops withdraw`: stop mass-send tasks still waiting for staff, e.g. a wrong message.

    botops withdraw flash-sale open                 # lists the waiting tasks; changes nothing
    botops withdraw flash-sale open --yes           # withdraws them

A task is withdrawn in the database first (it expires now and records when it was withdrawn),
so nothing is lost if the command stops halfway: the daemon's next planning round (each
minute) runs a tracking round over withdrawn tasks and cancels them in WeCom like any expired
task. With WeCom configured the command runs that round itself, at once: what staff already
sent stays sent (WeCom cannot recall it), the rest is cancelled and its sends end as
cancelled, "withdrawn by ops". With the built-in simulator the tasks live in the running
daemon, which cancels them at its next planning round.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, select

from botops.cli import common
from botops.clock import Clock, SystemClock
from botops.config import Settings
from botops.errors import BotopsError
from botops.outbox.outcomes import apply_outcomes
from botops.playbook.loader import load_paths
from botops.playbook.types import format_duration
from botops.store import tasks as store
from botops.store.db import session
from botops.store.models import MassTask, OutboxRow, TargetStatus
from botops.tracking import TaskTracker, TrackingPolicy, TrackingReport
from botops.wecom.connect import connect


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "withdraw",
        help="withdraw mass-send tasks still waiting for staff (a wrong message)",
        description="Withdraw a playbook's (or one step's) mass-send tasks that staff have not "
        "sent yet: cancelled in WeCom, their sends recorded as withdrawn. Without --yes it "
        "only lists them. Messages staff already sent cannot be recalled.",
    )
    parser.add_argument("playbook", metavar="PLAYBOOK", help="playbook id")
    parser.add_argument("step", metavar="STEP", nargs="?", help="only this step's tasks")
    parser.add_argument("--sender", metavar="USERID", help="only this staff member's tasks")
    parser.add_argument("--yes", action="store_true", help="withdraw them (default: only list)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = common.settings(args)
    clock = SystemClock()
    engine = common.existing_database(settings.database_url)
    try:
        with session(engine) as s:
            _check_ids(s, settings, args.playbook, args.step)
            waiting = store.open_tasks(
                s, playbook=args.playbook, step=args.step, sender=args.sender
            )
            counts = {t.msgid: _waiting_targets(s, t.msgid) for t in waiting}
        what = "/".join(filter(None, (args.playbook, args.step)))
        if not waiting:
            print(f"no mass-send task of {what} is waiting for staff: nothing to withdraw")
            return 0
        _list(waiting, counts, ZoneInfo(settings.timezone))
        if not args.yes:
            print(f"{len(waiting)} task(s) of {what}: run again with --yes to withdraw them")
            return 0
        with session(engine) as s:
            withdrawn = store.withdraw(s, [t.msgid for t in waiting], clock.now())
        print(f"withdrew {len(withdrawn)} task(s) of {what} (recorded)")
        if not settings.wecom.configured:
            every = format_duration(settings.daemon.plan_every)
            print(
                "built-in simulator: the running daemon cancels them at its next planning round"
                f" (every {every})"
            )
            return 0
        report = asyncio.run(_cancel_now(settings, engine, clock, withdrawn))
    finally:
        engine.dispose()
    return _print_report(withdrawn, report)


def _check_ids(s: Session, settings: Settings, playbook: str, step: str | None) -> None:
    """A typo must not read "nothing to withdraw". Known ids are those of the playbooks in
    sops_dir (even ones that do not validate: a wrong message is no time to fix a playbook)
    and those in the database: a playbook removed from sops/ may still have tasks waiting."""
    sourced, _ = load_paths([settings.sops_dir])
    known: dict[str, set[str]] = {}
    for item in sourced:
        known.setdefault(item.playbook.id, set()).update(st.id for st in item.playbook.steps)
    for table in (MassTask, OutboxRow):
        rows = s.exec(select(table.playbook, table.step).distinct())
        for pb, st in rows:
            known.setdefault(pb, set()).add(st)
    if playbook not in known:
        names = ", ".join(sorted(known)) or f"none in {settings.sops_dir} or the database"
        raise BotopsError(f"unknown playbook {playbook!r} (known: {names})")
    if step is not None and step not in known[playbook]:
        steps = ", ".join(sorted(known[playbook]))
        raise BotopsError(f"unknown step {step!r} of {playbook} (known: {steps})")


def _waiting_targets(s: Session, msgid: str) -> int:
    return sum(t.status == TargetStatus.WAITING for t in store.task_targets(s, msgid))


def _list(tasks: Sequence[MassTask], counts: dict[str, int], tz: ZoneInfo) -> None:
    print(f"{'task':<34} {'step':<16} {'staff':<14} {'created':<16} waiting")
    for t in tasks:
        created = t.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        print(f"{t.msgid:<34} {t.step:<16} {t.sender:<14} {created:<16} {counts[t.msgid]}")


async def _cancel_now(
    settings: Settings, engine: Engine, clock: Clock, msgids: Sequence[str]
) -> TrackingReport:
    """The tracking round the daemon would run for these tasks, run now."""
    async with connect(settings, clock) as wecom:
        tracker = TaskTracker(
            wecom.client, engine, clock, TrackingPolicy.from_settings(settings.tracking)
        )
        report = await tracker.poll(only=msgids)
    with session(engine) as s:
        apply_outcomes(s, clock.now())
    return report


def _print_report(withdrawn: Sequence[str], report: TrackingReport) -> int:
    errors = {e.msgid: e.message for e in report.errors}
    for msgid in withdrawn:
        if msgid in report.cancelled:
            print(f"  {msgid}: cancelled in WeCom")
        elif msgid in report.finished and msgid in errors:  # the cancel was refused for good
            status = report.finished[msgid]
            print(
                f"  {msgid}: WeCom refused the cancel: {errors[msgid]}; recorded {status}:"
                " check in WeCom that staff can no longer send it"
            )
        elif msgid in report.finished:
            status = report.finished[msgid]
            print(f"  {msgid}: staff had already sent it ({status}); nothing left to cancel")
        elif msgid in errors:
            print(f"  {msgid}: WeCom: {errors[msgid]}; the daemon tries again at its next round")
        else:  # the daemon's own tracking round finished it meanwhile
            print(f"  {msgid}: finished by the daemon meanwhile")
    return 1 if errors else 0
