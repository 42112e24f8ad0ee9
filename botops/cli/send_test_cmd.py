"""`botops send-test`: render one step for one group and send it NOW, to check it on a phone.

The step is rendered as the campaign would send it to that group on day N (`--day`, default:
the step's first occurrence): Day 1 as the planner has it for the group, the day's
occurrence (the n-th lecture) and scheduled time. A day a `day`/`days` step does not list is
refused; a weekday or cron step is rendered as its next occurrence from day N.

    botops send-test checkin-100days milestone --group wrOg...AAAA --day 7
    botops send-test flash-sale open --group wrOg...EEEE --to wrStaffTestGroup --via robot

`--via mass` (default) creates a real mass-send task to the `--to` group; like every mass
send it reaches the group only after the group's owner confirms it in the WeCom client, so
the command says who must confirm. `--via robot` posts at once through the group robot of
`--to` (wecom.robot_keys_file, else alerts.robot_key). With no WeCom credentials it all runs
against the built-in simulator. With credentials `--to` is required, whatever `wecom.api_base`
is (a proxy or mirror reaches the same customers): without it the test would go to `--group`,
a customer group.

A group the campaign never sends the step to — not in the playbook's audience, or the
playbook disabled — is still rendered and sent (a test tool: a playbook may be tried before
its groups are tagged), with a warning on standard error: the rendering is not what any
group receives.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from botops.cli import common
from botops.cli.wecom_guard import may_reach_customers
from botops.clock import Clock, SystemClock
from botops.config import Settings
from botops.errors import BotopsError, TargetsError
from botops.planning.render_one import RenderedMessage, render_step
from botops.planning.sends import send_key
from botops.planning.targets import Target, load_targets, matches
from botops.playbook.library import PlaybookLibrary
from botops.playbook.model import Playbook
from botops.playbook.templates import TemplateProblem
from botops.senders.base import Outgoing, Receipt
from botops.senders.robot import RobotSender, load_robot_keys
from botops.senders.wecom_mass import WeComMassSender
from botops.store.db import open_database, session
from botops.store.groups import targets as stored_targets
from botops.store.media import DbMediaStore
from botops.store.tasks import StoreTaskRecorder
from botops.wecom.connect import WeCom, connect
from botops.wecom.media import MediaCache, MediaStore


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "send-test",
        help="render one step for a group and send it now (mass task or group robot)",
        description="Render a playbook step for one group on day N and send it now, to check "
        "it on a phone. A mass send still waits for the group owner's confirmation in WeCom. "
        "A group outside the playbook's audience (or a disabled playbook) is still sent to, "
        "with a warning on standard error: the campaign never sends that group this step.",
    )
    parser.add_argument("playbook", metavar="PLAYBOOK", help="playbook id, or a playbook file")
    parser.add_argument("step", metavar="STEP", help="step id")
    parser.add_argument(
        "--group",
        required=True,
        metavar="CHAT_ID",
        help="render the message for this group (one outside the playbook's audience: a warning)",
    )
    parser.add_argument(
        "--to",
        metavar="CHAT_ID",
        help="the test group to send it to (required with WeCom credentials; on the built-in "
        "simulator the default is --group)",
    )
    parser.add_argument(
        "--via",
        choices=("mass", "robot"),
        default="mass",
        help="mass: a mass-send task the owner confirms (default); robot: the group robot",
    )
    parser.add_argument(
        "--day",
        type=int,
        metavar="N",
        help="render as day N (a weekday or cron step: its next occurrence from day N;"
        " default: the step's first occurrence)",
    )
    parser.add_argument(
        "--groups",
        type=Path,
        metavar="FILE",
        help="YAML/JSON list of groups (default: the groups in the local store)",
    )
    parser.add_argument(
        "--templates", type=Path, metavar="DIR", help="templates folder (default: templates_dir)"
    )
    parser.set_defaults(handler=run)


@dataclass(frozen=True, slots=True)
class _Test:
    outgoing: Outgoing
    to: Target | None  # the receiving group, when known


def run(args: argparse.Namespace) -> int:
    settings = common.settings(args)
    if may_reach_customers(settings) and args.to is None:  # --group is a customer group
        raise SystemExit(
            "botops send-test: against real WeCom, name the test group with --to CHAT_ID "
            f"(credentials are set, wecom.api_base is {settings.wecom.api_base}: without --to "
            f"the message would go to --group {args.group}, the customers' group)"
        )
    clock = SystemClock()
    test = _prepare(args, settings, clock)
    return asyncio.run(_send(args, settings, clock, test))


def _prepare(args: argparse.Namespace, settings: Settings, clock: Clock) -> _Test:
    paths = [Path(args.playbook)] if Path(args.playbook).is_file() else [settings.sops_dir]
    library = common.library(paths, args.templates or settings.templates_dir, settings)
    playbook_id = _playbook_id(library, args.playbook)
    groups = {t.id: t for t in _groups(args, settings)}
    if args.group not in groups:
        raise TargetsError(f"unknown group {args.group!r}: {_where(args)}")
    to_id = args.to or args.group
    to = groups.get(to_id)
    if to is None and args.via == "mass":
        raise TargetsError(
            f"unknown group --to {to_id!r} (its owner sends the task): {_where(args)}"
        )
    now = clock.now()
    try:
        # Day 1 as the daemon has it for this group; a group not yet enrolled enrols today.
        message = render_step(
            library,
            playbook_id,
            args.step,
            groups[args.group],
            day=args.day,
            now=now,
            timezone=settings.timezone,
        )
    except TemplateProblem as exc:
        raise BotopsError(f"{playbook_id}/{args.step}: {exc}") from None
    if not message.text.strip() and not message.attachments:  # e.g. nobody to remind that day
        raise BotopsError(
            f"{playbook_id}/{args.step} renders empty for group {args.group} on day "
            f"{message.day}: nothing to send (the daemon skips such a send too)"
        )
    print(_rendered_as(message, args.day))
    source = next(s for s in library.sourced if s.playbook.id == playbook_id)
    warning = _not_sent_by_campaign(source.playbook, groups[args.group])
    if warning:
        print(f"warning: {warning}; sending the test anyway", file=sys.stderr)
    step = next(s for s in source.playbook.steps if s.id == args.step)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    outgoing = Outgoing(
        batch=f"send-test:{playbook_id}:{args.step}:{stamp}",
        playbook=playbook_id,
        step=args.step,
        sender=to.owner if to else "",
        chat_type="group",
        targets=((to_id, send_key(playbook_id, args.step, to_id, f"test-{stamp}")),),
        text=message.text,
        attachments=message.attachments,
        base_dir=source.path.parent,
        expires_at=now + (step.expires_after or settings.send_policy.expires_after),
    )
    return _Test(outgoing, to)


def _not_sent_by_campaign(playbook: Playbook, group: Target) -> str:
    """Why the campaign never sends `playbook` to `group`, or "" when it may."""
    name = f" ({group.name})" if group.name else ""
    if not playbook.enabled:
        return f"playbook {playbook.id} is disabled (enabled: false): it sends nothing"
    if not matches(playbook.audience, group):
        tags = ", ".join(sorted(group.tags)) or "none"
        return (
            f"group {group.id}{name} is not in the audience of {playbook.id} (its tags: "
            f"{tags}): the campaign never sends this step to it"
        )
    return ""


def _rendered_as(message: RenderedMessage, day: int | None) -> str:
    """What was rendered: `rendered as day 8: 2026-12-15 20:00, occurrence 2`."""
    line = f"rendered as day {message.day}"
    if day is None:
        line += ", the step's first occurrence (--day N)"
    elif message.day != day:
        line += f", its next occurrence from day {day}"
    line += f": {message.local_time:%Y-%m-%d %H:%M}"
    if message.occurrence is not None:
        line += f", occurrence {message.occurrence}"
    return line


def _playbook_id(library: PlaybookLibrary, given: str) -> str:
    """PLAYBOOK is an id, or a file holding exactly one playbook."""
    if Path(given).is_file() and len(library.playbooks) == 1:
        return library.playbooks[0].id
    return given


def _groups(args: argparse.Namespace, settings: Settings) -> list[Target]:
    if args.groups is not None:
        return load_targets(args.groups)
    # Reads only: a store that is not there is not created just to be found empty.
    engine = common.existing_database(
        settings.database_url, "run `botops sync` first, or pass --groups FILE"
    )
    try:
        with session(engine) as s:
            found = stored_targets(s)
    finally:
        engine.dispose()
    return found


def _where(args: argparse.Namespace) -> str:
    if args.groups is not None:
        return f"not in {args.groups}"
    return "not in the local store (run `botops sync`, or pass --groups FILE)"


async def _send(args: argparse.Namespace, settings: Settings, clock: Clock, test: _Test) -> int:
    async with connect(settings, clock, seed_file=args.groups) as wecom:
        if args.via == "robot":
            receipt = await _via_robot(wecom, settings, test.outgoing)
        else:
            receipt = await _via_mass(wecom, settings, clock, test)
    for failure in receipt.failed:
        print(f"not sent to {failure.target_id}: {failure.reason}", file=sys.stderr)
    return 1 if receipt.failed else 0


async def _via_mass(wecom: WeCom, settings: Settings, clock: Clock, test: _Test) -> Receipt:
    # A throwaway simulator's msgids and media_ids mean nothing to a later process: keep them
    # out of the database, where the tracker would poll a task no WeCom knows.
    engine = None if wecom.simulated else open_database(settings.database_url)
    try:
        store: MediaStore | None = DbMediaStore(engine) if engine else None
        media = MediaCache(wecom.client.upload_media, clock, namespace=wecom.corp_id, store=store)
        record = StoreTaskRecorder(engine, clock) if engine else None
        receipt = await WeComMassSender(wecom.client, media, record=record).send(test.outgoing)
    finally:
        if engine is not None:
            engine.dispose()
    name = f" ({test.to.name})" if test.to and test.to.name else ""
    for task in receipt.tasks:
        print(f"created mass-send task {task.msgid} for {', '.join(task.targets)}{name}")
        print(
            f"  staff {test.outgoing.sender} must confirm it in the WeCom client"
            " (客户群发) before anything reaches the group"
        )
        if wecom.simulated:
            print(
                "  built-in simulator: nothing reached real WeCom and the task is not recorded"
                " (configure wecom.corp_id and wecom.secret to send for real)"
            )
        else:
            print(f"  recorded for tracking (expires {_local(test.outgoing, settings)})")
    return receipt


async def _via_robot(wecom: WeCom, settings: Settings, outgoing: Outgoing) -> Receipt:
    to = outgoing.target_ids[0]
    keys_file = settings.wecom.robot_keys_file
    keys = load_robot_keys(keys_file) if keys_file is not None else {}
    if to not in keys and settings.alerts.robot_key is not None:
        keys[to] = settings.alerts.robot_key.get_secret_value()
    if to not in keys and wecom.simulator is not None:
        keys[to] = wecom.simulator.config.robot_keys[0]
    receipt = await RobotSender(wecom.robots, keys).send(outgoing)
    for target in receipt.sent:
        simulated = " (built-in simulator)" if wecom.simulated else ""
        print(f"sent to {target} via its group robot{simulated}")
    return receipt


def _local(outgoing: Outgoing, settings: Settings) -> str:
    expires: datetime | None = outgoing.expires_at
    if expires is None:
        return "never"
    return expires.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M")
