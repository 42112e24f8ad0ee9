"""Helpers shared by CLI commands: settings, playbook loading, time arguments."""

from __future__ import annotations

import argparse
import os
from datetime import date, datetime
from pathlib import Path

from botops.config import Settings, load_settings
from botops.errors import PlaybookError
from botops.playbook.library import PlaybookLibrary, load_library


def settings(args: argparse.Namespace) -> Settings:
    path = Path(args.config) if getattr(args, "config", None) else None
    return load_settings(path, os.environ)


def library(paths: list[Path], templates_dir: Path, config: Settings) -> PlaybookLibrary:
    """Load playbooks or raise PlaybookError with every problem (warnings included)."""
    loaded, problems = load_library(paths, templates_dir, config.policy)
    if any(p.severity == "error" for p in problems):
        raise PlaybookError(problems)
    return loaded


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def iso_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ISO-8601, got {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. +08:00")
    return value
