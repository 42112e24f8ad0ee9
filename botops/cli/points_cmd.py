"""`botops points`: the points leaderboard and totals; `botops points adjust`: a correction.

Both read the append-only ledger (botops.store.ledger); an adjustment is one more row, never
an edit. "Today" (for streaks, and the local day an adjustment is dated) comes from the
system clock here, at the edge, in the playbook's timezone: the playbook is only parsed
(botops.playbook.loader.load_paths), not compiled with its templates, so a broken template or
another playbook's error never blocks reading or correcting points. When the playbook is not
given or not found in `sops_dir`, `settings.timezone` is used.

A `--playbook` or `--group` nothing knows is refused, naming it (with a near match when there
is one): a typo must not read "no points yet". Known playbooks are those in `sops_dir` (parsed
or not) and those the database has rows of; known groups are the stored ones (dismissed
too) and those the ledger has rows of.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from botops.cli import common
from botops.clock import Clock, SystemClock
from botops.config import Settings
from botops.errors import BotopsError
from botops.playbook.loader import load_paths
from botops.preview.table_view import clean
from botops.reports.table_view import columns
from botops.store import ledger
from botops.store.db import open_database, session
from botops.store.models import GroupRecord, LedgerEntry, MassTask, OutboxRow
from botops.suggest import did_you_mean

FIELDS = ("rank", "name", "member_id", "points", "streak", "checkin_days")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "points",
        usage="%(prog)s [--playbook ID] [--group CHAT_ID] [--top N] [--format {table,json,csv}]\n"
        "                     [--output FILE] [--today YYYY-MM-DD]\n"
        "       %(prog)s adjust MEMBER POINTS --reason TEXT [--group CHAT_ID] [--playbook ID]",
        help="the points leaderboard and totals; `points adjust` records a correction",
        description="Members ranked by points, then current streak, from the points ledger; "
        "members equal on both share a rank (1, 1, 3) and are listed by name. "
        "`botops points adjust` adds a manual correction.",
    )
    _scope_options(parser, None, "only")
    parser.add_argument(
        "--top",
        type=common.whole_number(1),
        metavar="N",
        help="only the members ranked N or better: the first N and anyone tied with the last "
        "of them (default: all)",
    )
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table")
    parser.add_argument(
        "--output", type=Path, metavar="FILE", help="write here instead of standard output"
    )
    parser.add_argument(
        "--today",
        type=common.iso_date,
        metavar="YYYY-MM-DD",
        help="count streaks as alive on this day (default: today in the playbook's timezone)",
    )
    parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS)
    parser.set_defaults(handler=run_board)

    # prog: argparse would build it from the custom usage above, garbling adjust's usage.
    actions = parser.add_subparsers(dest="points_command", metavar="ACTION", prog=parser.prog)
    adjust = actions.add_parser(
        "adjust",
        help="add or take away points by hand (one more ledger row)",
        description="Record a manual correction for MEMBER (a WeCom userid). Without "
        "--group/--playbook the member's only group and playbook in the ledger is used.",
    )
    adjust.add_argument("member", metavar="MEMBER")
    adjust.add_argument("points", type=int, metavar="POINTS", help="may be negative, not 0")
    adjust.add_argument("--reason", required=True, metavar="TEXT", help="why (kept in the row)")
    # SUPPRESS: `botops points --group X adjust ...` keeps X when not given here.
    _scope_options(adjust, argparse.SUPPRESS, "adjust in")
    adjust.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS)
    adjust.set_defaults(handler=run_adjust)


def _scope_options(parser: argparse.ArgumentParser, default: Any, verb: str) -> None:
    parser.add_argument("--playbook", metavar="ID", default=default, help=f"{verb} this playbook")
    parser.add_argument("--group", metavar="CHAT_ID", default=default, help=f"{verb} this group")


# --- the leaderboard ----------------------------------------------------------------------


def run_board(args: argparse.Namespace) -> int:
    settings = common.settings(args)
    tz = _timezone(settings, args.playbook)
    today: date = args.today or _today(SystemClock(), tz)
    engine = common.existing_database(settings.database_url)
    try:
        with session(engine) as s:
            _check_scope(s, settings, args.playbook, args.group)
            rows = ledger.standings(s, playbook=args.playbook, chat_id=args.group, today=today)
    finally:
        engine.dispose()
    scope = _describe(args.playbook, args.group)
    if not rows:
        note = f"no points yet{scope}"
        if args.format == "table":
            common.write_output(args.output, note + "\n")
            return 0
        print(note, file=sys.stderr)  # keep standard output a valid (empty) document
    shown = ledger.within_top(rows, args.top) if args.top else rows
    if args.format == "json":
        text = json.dumps([_record(r) for r in shown], ensure_ascii=False, indent=2)
        common.write_output(args.output, text + "\n")
    elif args.format == "csv":
        common.write_output(args.output, _csv(shown), bom=True)
    else:
        heading = f"Points{scope}; streaks as of {today} ({tz.key})"
        total = sum(r.points for r in rows)
        count = f"{len(rows)} member(s)"
        if len(shown) < len(rows):
            ties = f", {len(shown)} shown with ties" if len(shown) != args.top else ""
            count = f"top {args.top} of {count}{ties}"
        common.write_output(
            args.output, f"{heading}\n{_table(shown)}{count}; {total} points in total\n"
        )
    return 0


def _record(row: ledger.Standing) -> dict[str, Any]:
    """One leaderboard row; the keys are FIELDS, in that order (JSON and CSV alike)."""
    return {
        "rank": row.rank,
        "name": row.name,
        "member_id": row.member_id,
        "points": row.points,
        "streak": row.streak,
        "checkin_days": row.days,
    }


def _csv(rows: Sequence[ledger.Standing]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _as_text(v) for k, v in _record(r).items()} for r in rows)
    return buffer.getvalue()


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _as_text(value: Any) -> Any:
    """A name or id starting like a formula (a nickname "=HYPERLINK(...)", "+86 138") would
    run as one in Excel: a leading apostrophe keeps it text. Numbers stay numbers."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_START) else value


def _table(rows: Sequence[ledger.Standing]) -> str:
    cells = [[clean(str(v)) for v in _record(r).values()] for r in rows]
    return "\n".join(columns(FIELDS, cells, numeric={0, 3, 4, 5})) + "\n"


# --- adjustments --------------------------------------------------------------------------


def run_adjust(args: argparse.Namespace) -> int:
    # Checked here, before the database is opened, so a refusal writes nothing (ledger.adjust
    # enforces the same rules for every other caller).
    if args.points == 0:
        raise BotopsError("an adjustment of 0 points changes nothing")
    if not args.reason.strip():
        raise BotopsError("an adjustment needs a reason (--reason TEXT)")
    member: str = args.member
    settings = common.settings(args)
    clock: Clock = SystemClock()
    engine = open_database(settings.database_url)
    try:
        with session(engine) as s:
            chat_id, playbook = _resolve_scope(
                s, member, getattr(args, "group", None), getattr(args, "playbook", None)
            )
            tz = _timezone(settings, playbook)
            ledger.adjust(
                s,
                member,
                args.points,
                args.reason,
                clock.now(),
                chat_id=chat_id,
                playbook=playbook,
                tz=tz,
            )
            after = next(
                r
                for r in ledger.standings(s, playbook=playbook, chat_id=chat_id)
                if r.member_id == member
            )
    finally:
        engine.dispose()
    name = f" ({after.name})" if after.name != member else ""
    print(
        f"{member}{name}: {args.points:+d} in group {chat_id}, playbook {playbook} "
        f"({args.reason.strip()}); new total {after.points}"
    )
    return 0


def _resolve_scope(
    s: Session, member: str, group: str | None, playbook: str | None
) -> tuple[str, str]:
    """The (chat_id, playbook) an adjustment goes to. The member's own rows decide when the
    options leave one choice. A scope the member has no rows in needs both options, a group
    and playbook that already have ledger rows, and the member on the group's roster: a typo
    would otherwise leave a row that, the ledger being append-only, can only be offset."""
    scopes = ledger.member_scopes(s, member)
    matching = [
        (c, p)
        for c, p in scopes
        if (group is None or c == group) and (playbook is None or p == playbook)
    ]
    if len(matching) == 1:
        return matching[0]
    choices = ", ".join(f"--group {c} --playbook {p}" for c, p in scopes)
    elsewhere = f"; {member} has points with: {choices}" if choices else ""
    if len(matching) > 1:
        raise BotopsError(
            f"{member} has points in {len(matching)} groups/playbooks; choose one: "
            + ", ".join(f"--group {c} --playbook {p}" for c, p in matching)
        )
    if group is not None and playbook is not None:
        known = ledger.standings(s, playbook=playbook, chat_id=group)
        if known and member in ledger.group_roster(s, group):
            return group, playbook
        if not known:
            raise BotopsError(
                f"no ledger rows in group {group} under playbook {playbook}{elsewhere}"
            )
        raise BotopsError(f"{member} is not a member of group {group}{elsewhere}")
    if not scopes:
        raise BotopsError(
            f"{member} has no points yet; name the scope with --group CHAT_ID --playbook ID"
        )
    raise BotopsError(f"{member} has no points{_describe(playbook, group)}; choose: {choices}")


# --- shared -------------------------------------------------------------------------------


def _check_scope(s: Session, settings: Settings, playbook: str | None, group: str | None) -> None:
    """Refuse a --playbook or --group that neither sops_dir nor the database knows."""
    if playbook is not None:
        sourced, _problems = load_paths([settings.sops_dir])  # a broken one is still known
        known = {item.playbook.id for item in sourced}
        for table in (LedgerEntry, MassTask, OutboxRow):
            known.update(s.exec(select(table.playbook).distinct()))
        if playbook not in known:
            names = ", ".join(sorted(known)) or f"none in {settings.sops_dir} or the database"
            hint = did_you_mean(playbook, sorted(known)) or f" (known: {names})"
            raise BotopsError(f"unknown playbook {playbook!r}{hint}")
    if group is not None:
        names_by_id = {row.chat_id: row.name for row in s.exec(select(GroupRecord))}
        ledger_groups = set(s.exec(select(LedgerEntry.chat_id).distinct()))
        if group in names_by_id or group in ledger_groups:
            return
        # A group's name given for its chat id is a near match too.
        by_name = {name: chat for chat, name in names_by_id.items() if name}
        if group in by_name:
            hint = f" (did you mean {by_name[group]!r}, the chat id of {group}?)"
        else:
            # Chat ids share a long corp prefix: only a character or two off is near.
            hint = did_you_mean(group, sorted(set(names_by_id) | ledger_groups), cutoff=0.9)
        raise BotopsError(
            f"unknown group {group!r}: not in the local store or the ledger{hint}"
            + ("" if hint else " (`botops groups list` shows the stored groups)")
        )


def _timezone(settings: Settings, playbook_id: str | None) -> ZoneInfo:
    """The playbook's own timezone when it parses, else the configured one."""
    if playbook_id is not None:
        sourced, _problems = load_paths([settings.sops_dir])
        for item in sourced:
            if item.playbook.id == playbook_id and item.playbook.timezone:
                return ZoneInfo(item.playbook.timezone)
    return ZoneInfo(settings.timezone)


def _today(clock: Clock, tz: ZoneInfo) -> date:
    return clock.now().astimezone(tz).date()


def _describe(playbook: str | None, group: str | None) -> str:
    parts = ([f"playbook {playbook}"] if playbook else []) + ([f"group {group}"] if group else [])
    return f" ({', '.join(parts)})" if parts else ""
