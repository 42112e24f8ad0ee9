"""`botops groups list|tag|untag`: the synced customer groups and their botops-side tags.

Tags here are botops' own labels (WeCom's corp tags label customers, not groups);
playbooks select groups by them (`audience.tags`). `botops sync` never touches them.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from botops.cli import common
from botops.errors import BotopsError
from botops.planning.targets import load_targets
from botops.preview.table_view import clean, display_width, pad
from botops.store.db import session
from botops.store.groups import (
    StoredGroup,
    add_group_tags,
    count_groups,
    get_group,
    list_groups,
    normalize_tag,
    remove_group_tags,
)
from botops.store.models import GroupStatus

STATUSES = {"active": GroupStatus.ACTIVE, "dismissed": GroupStatus.DISMISSED, "all": None}


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "groups",
        help="list synced customer groups; tag and untag them for playbooks",
        description="The customer groups in the store (run `botops sync` to fill it).",
    )
    actions = parser.add_subparsers(dest="groups_command", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="list stored groups")
    listing.add_argument("--tag", metavar="TAG", help="only groups with this tag")
    listing.add_argument("--status", choices=tuple(STATUSES), default="active")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    listing.set_defaults(handler=run_list)

    for name, handler, verb in (("tag", run_tag, "add"), ("untag", run_untag, "remove")):
        action = actions.add_parser(name, help=f"{verb} botops tags on a group")
        action.add_argument("chat_id", metavar="CHAT_ID")
        action.add_argument("tags", nargs="+", metavar="TAG")
        action.set_defaults(handler=handler)

    bulk = actions.add_parser(
        "import",
        help="add the tags listed in a groups file (YAML/JSON, as for preview --groups)",
        description="Tag many groups at once, e.g. from a spreadsheet export. All or nothing: "
        "an unknown chat_id changes nothing unless --skip-unknown.",
    )
    bulk.add_argument("file", type=Path, metavar="FILE")
    bulk.add_argument(
        "--skip-unknown", action="store_true", help="ignore chat_ids not in the store"
    )
    bulk.set_defaults(handler=run_import)

    for action in actions.choices.values():
        # SUPPRESS keeps `botops --config FILE groups ...` when not given here.
        action.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS)


def run_list(args: argparse.Namespace) -> int:
    # Every action needs synced groups: none creates a database just to find it empty.
    settings = common.settings(args)
    engine = common.existing_database(settings.database_url)
    try:
        with session(engine) as s:
            groups = list_groups(s, tag=args.tag, status=STATUSES[args.status])
            stored = len(groups) if groups else count_groups(s)
    finally:
        engine.dispose()
    tz = ZoneInfo(settings.timezone)
    if args.format == "json":
        print(json.dumps([_json(g, tz) for g in groups], ensure_ascii=False, indent=2))
    elif not groups and stored:  # the filters left nothing out of a synced store
        status = "" if args.status == "all" else f"{args.status} "
        tagged = "" if args.tag is None else f" tagged {normalize_tag(args.tag)!r}"
        print(f"no {status}group{tagged} ({stored} groups stored)")
    else:
        print(_table(groups, tz), end="")
    return 0


def run_tag(args: argparse.Namespace) -> int:
    return _change_tags(args, add=True)


def run_untag(args: argparse.Namespace) -> int:
    return _change_tags(args, add=False)


def _change_tags(args: argparse.Namespace, *, add: bool) -> int:
    settings = common.settings(args)
    engine = common.existing_database(settings.database_url)
    try:
        with session(engine) as s:
            change = add_group_tags if add else remove_group_tags
            done = change(s, args.chat_id, args.tags)
            group = get_group(s, args.chat_id)
    finally:
        engine.dispose()
    verb = "added" if add else "removed"
    # An untag of a tag the group lacks (a typo, most likely) changes nothing: say which.
    lacked = (
        [] if add else [t for t in dict.fromkeys(map(normalize_tag, args.tags)) if t not in done]
    )
    print(
        f"{group.chat_id} {group.name}: {verb} {', '.join(done) or 'nothing'}; "
        f"tags now: {', '.join(group.tags) or '(none)'}"
        + (f"; it did not have {', '.join(lacked)}" if lacked else "")
    )
    return 0


def run_import(args: argparse.Namespace) -> int:
    settings = common.settings(args)
    wanted = {t.id: sorted(t.tags) for t in load_targets(args.file) if t.kind == "group" and t.tags}
    engine = common.existing_database(settings.database_url)
    try:
        with session(engine) as s:
            known = {g.chat_id for g in list_groups(s, status=None)}
            unknown = sorted(set(wanted) - known)
            if unknown and not args.skip_unknown:
                raise BotopsError(_unknown_message(args.file, unknown))
            added = {
                chat_id: add_group_tags(s, chat_id, tags)
                for chat_id, tags in wanted.items()
                if chat_id in known
            }
    finally:
        engine.dispose()
    changed = {chat_id: tags for chat_id, tags in added.items() if tags}
    for chat_id, tags in sorted(changed.items()):
        print(f"{chat_id}: added {', '.join(tags)}")
    print(
        f"{len(changed)} group(s) tagged, {len(added) - len(changed)} already had their tags, {len(unknown)} unknown skipped"
    )
    return 0


def _unknown_message(path: Path, unknown: list[str], shown: int = 10) -> str:
    more = f" and {len(unknown) - shown} more" if len(unknown) > shown else ""
    groups = "group" if len(unknown) == 1 else "groups"
    return (
        f"{path}: {len(unknown)} {groups} not in the store: {', '.join(unknown[:shown])}{more}"
        " — nothing imported; run `botops sync` first, or pass --skip-unknown to import the rest"
    )


def _json(group: StoredGroup, tz: tzinfo) -> dict[str, Any]:
    return {
        "chat_id": group.chat_id,
        "name": group.name,
        "owner": group.owner,
        "status": str(group.status),
        "member_count": group.member_count,
        "tags": list(group.tags),
        "created_at": _iso(group.created_at, tz),
        "synced_at": _iso(group.synced_at, tz),
        "dismissed_at": _iso(group.dismissed_at, tz),
        "notice": group.notice,
        "wecom_status": group.wecom_status,
    }


def _iso(moment: datetime | None, tz: tzinfo) -> str | None:
    return None if moment is None else moment.astimezone(tz).isoformat()


HEADERS = ("chat_id", "name", "owner", "members", "status", "created", "tags")


def _table(groups: list[StoredGroup], tz: tzinfo) -> str:
    if not groups:
        return "no groups (run `botops sync` to fetch them from WeCom)\n"
    rows = [HEADERS] + [
        (
            g.chat_id,
            clean(g.name),
            clean(g.owner),
            str(g.member_count),
            str(g.status),
            g.created_at.astimezone(tz).strftime("%Y-%m-%d") if g.created_at else "-",
            clean(", ".join(g.tags)),
        )
        for g in groups
    ]
    widths = [max(display_width(row[i]) for row in rows) for i in range(len(HEADERS))]
    lines = [
        "  ".join(
            pad(cell, w, right=i == 3) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    return "\n".join(lines) + f"\n{len(groups)} group(s); member counts include staff\n"
