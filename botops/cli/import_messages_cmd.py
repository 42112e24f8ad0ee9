"""`botops import-messages FILE.jsonl`: score group messages exported from another system.

One JSON record per line, the shape `POST /ingest/messages` takes (msgid, chat_id,
sender_id, sender_name, text, sent_at with a UTC offset, optional source). Every line is
checked first: any bad line is reported as FILE:LINE: message and nothing is scored.
Importing the same file again scores nothing new (the ledger never counts a msgid twice).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botops.checkins.message import Message
from botops.checkins.route import (
    GROUP_DISMISSED,
    NO_CHECKIN_PLAYBOOK,
    NOT_ENROLLED,
    SENT_IN_FUTURE,
    STAFF,
    UNKNOWN_GROUP,
)
from botops.checkins.rules import Outcome
from botops.cli import common
from botops.store.db import open_database
from botops.webhook.ingest import RecordError, Tally, parse_record, score_messages

SOURCE = "import"

WHY_NOT_SCORED = {
    Outcome.NOT_CHECKIN: "not a check-in (no keyword matched)",
    Outcome.DUPLICATE: "already scored (the same message imported or received before)",
    Outcome.OUTSIDE_WINDOW: "outside the check-in window",
    Outcome.NOT_STARTED: "before the challenge's Day 1",
    Outcome.FINISHED: "after the challenge's last day",
    Outcome.ALREADY_CHECKED_IN: "already checked in that day",
    Outcome.MAKEUP_REFUSED: "make-up refused",
    SENT_IN_FUTURE: "dated in the future (check the sender's clock and time zone)",
    UNKNOWN_GROUP: "in a group botops does not know (run botops sync)",
    GROUP_DISMISSED: "sent after the group was dismissed",
    STAFF: "sent by staff",
    NOT_ENROLLED: "in a group not started yet (no Day 1: run botops run, or botops run --once,"
    " first)",
    NO_CHECKIN_PLAYBOOK: "in a group no check-in playbook selects",
}
# Details that only repeat their reason in other words: no example is shown for them.
# (A msgid scored for another member or group is a duplicate whose detail says so.)
SAID_ALREADY = {(Outcome.DUPLICATE, "this message already scored")}


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "import-messages",
        help="score group messages from a JSONL file (check-ins from another system)",
        description="Validate every line of FILE, then score the messages against the "
        "check-in rules of their groups' playbooks. All or nothing.",
    )
    parser.add_argument("file", type=Path, metavar="FILE")
    parser.set_defaults(handler=run)


def read_messages(path: Path) -> tuple[list[Message], list[str]]:
    """The file's messages, or the problems (FILE:LINE: message) that stop the import."""
    messages: list[Message] = []
    problems: list[str] = []
    with path.open(encoding="utf-8-sig") as lines:  # editors on Windows write a BOM
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                messages.append(parse_record(json.loads(line), source=SOURCE))
            except json.JSONDecodeError as exc:
                problems.append(f"{path}:{number}: not JSON: {exc.msg}")
            except RecursionError:
                problems.append(f"{path}:{number}: not JSON: nested too deeply")
            except RecordError as exc:
                problems.append(f"{path}:{number}: {exc}")
    return messages, problems


def run(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        messages, problems = read_messages(path)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"botops: cannot read {path}: {exc}", file=sys.stderr)
        return 1
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{len(problems)} bad line(s); nothing imported", file=sys.stderr)
        return 1
    settings = common.settings(args)
    library = common.library([settings.sops_dir], settings.templates_dir, settings)
    engine = open_database(settings.database_url)
    try:
        tally = score_messages(engine, library, messages, datetime.now(UTC), settings.timezone)
    finally:
        engine.dispose()
    print(f"{len(messages)} message(s) read, {tally.checkins} check-in(s) scored")
    for line in not_scored_lines(tally):
        print(f"  not scored: {line}")
    return 0


def not_scored_lines(tally: Tally) -> list[str]:
    """One line per reason, most frequent first, with the first example's detail."""
    lines = []
    for reason, count in tally.not_scored.most_common():
        example = tally.example.get(reason)
        if (reason, example) in SAID_ALREADY:
            example = None
        why = WHY_NOT_SCORED.get(reason, reason)
        lines.append(f"{count} {why}" + (f" (e.g. {example})" if example else ""))
    return lines
