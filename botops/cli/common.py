"""Helpers shared by CLI commands: settings, playbook loading, time arguments."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Engine, make_url
from sqlalchemy.exc import ArgumentError

from botops.config import Settings, find_config, load_settings
from botops.errors import BotopsError, PlaybookError
from botops.playbook.library import PlaybookLibrary, load_library
from botops.store.db import open_database

DEFAULT_DATA_DIR: Path = Settings.model_fields["data_dir"].default

# The commands that write to the database, as (command, action): without a config file they
# say where it is, so one run in the wrong folder does not fill a database nobody looks at.
WRITERS = {
    ("run", None),
    ("sync", None),
    ("import-messages", None),
    ("withdraw", None),
    ("send-test", None),  # with credentials only: to the built-in simulator nothing is kept
    ("points", "adjust"),
    ("groups", "tag"),
    ("groups", "untag"),
    ("groups", "import"),
}


def settings(args: argparse.Namespace) -> Settings:
    path = Path(args.config) if getattr(args, "config", None) else None
    loaded = load_settings(path, os.environ)
    if _writes(args, loaded) and find_config(path, os.environ) is None:
        note = no_config_note(loaded)
        if note:
            print(note, file=sys.stderr)
    return loaded


def _writes(args: argparse.Namespace, config: Settings) -> bool:
    command = getattr(args, "command", None)
    action = getattr(args, f"{str(command).replace('-', '_')}_command", None)
    if command == "send-test" and not config.wecom.configured:
        return False
    return (command, action) in WRITERS


def no_config_note(config: Settings) -> str | None:
    """For a command that writes when no config file was found: where the database is, unless
    the environment chose it (BOTOPS_DATABASE__URL, BOTOPS_DATA_DIR)."""
    if config.database.url is not None or config.data_dir != DEFAULT_DATA_DIR:
        return None
    database = (config.data_dir / "botops.db").absolute()
    return (
        "botops: no config file here (./config.yaml, $BOTOPS_CONFIG or --config): "
        f"the default database, {database}"
    )


def library(paths: list[Path], templates_dir: Path, config: Settings) -> PlaybookLibrary:
    """Load playbooks or raise PlaybookError with every problem (warnings included)."""
    loaded, problems = load_library(paths, templates_dir, config.policy)
    if any(p.severity == "error" for p in problems):
        raise PlaybookError(problems)
    return loaded


# Dates and times given on the command line: years far from year 9999, where adding a day or
# a window overflows Python's datetime.
FIRST_YEAR, LAST_YEAR = 1970, 2999


def _in_range(year: int, text: str) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise argparse.ArgumentTypeError(
            f"{text!r} is out of range (years {FIRST_YEAR} to {LAST_YEAR})"
        )


def iso_date(text: str) -> date:
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None
    _in_range(value.year, text)
    return value


def iso_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ISO-8601, got {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. +08:00")
    _in_range(value.year, text)
    return value


def existing_database(url: str, hint: str = "run `botops sync` (or `botops run`) first") -> Engine:
    """The database of a command that only reads: a SQLite file must exist already (an empty
    one is never created just to find it empty). The caller disposes of the engine."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None  # open_database reports it, naming the database.url key
    path = parsed.database if parsed and parsed.get_backend_name() == "sqlite" else None
    if path not in (None, "", ":memory:") and not Path(str(path)).is_file():
        raise BotopsError(f"no database at {path}: {hint}")
    return open_database(url)


def write_output(output: Path | None, text: str, *, bom: bool = False) -> None:
    """Standard output, or the file named by --output (`bom`: for CSV read by Excel)."""
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8-sig" if bom else "utf-8")
    except OSError as exc:  # a folder, no permission, a full disk: the user's to fix
        raise BotopsError(f"cannot write {output}: {exc.strerror or exc}") from None
    print(f"wrote {output}", file=sys.stderr)


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse `type` for an integer in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if high is not None and not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}")
        return value

    return parse
