"""`botops validate [PATH ...]`: check playbooks and templates; exit 1 on any error."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from botops.cli import common
from botops.clock import SystemClock
from botops.playbook.checks import ValidateDefaults
from botops.playbook.library import load_library


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "validate",
        help="check playbooks and templates, reporting every problem as FILE:LINE:COL",
        description="Check playbooks and templates. Exit 0 if valid, 1 if any error.",
    )
    parser.add_argument(
        "paths", nargs="*", type=Path, metavar="PATH", help="files or folders (default: sops_dir)"
    )
    parser.add_argument(
        "--templates", type=Path, metavar="DIR", help="templates folder (default: templates_dir)"
    )
    parser.add_argument("--strict", action="store_true", help="treat warnings as errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="print problems only")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = common.settings(args)
    paths = args.paths or [settings.sops_dir]
    policy = settings.policy
    # The config's timezone and now let validate check `at` steps (past, quiet hours).
    defaults = ValidateDefaults(
        policy.quiet_hours, policy.expires_after, settings.timezone, SystemClock().now()
    )
    library, problems = load_library(paths, args.templates or settings.templates_dir, defaults)
    for problem in problems:
        print(problem, file=sys.stderr)
    errors = [p for p in problems if p.severity == "error" or args.strict]
    if not args.quiet:
        warnings = len(problems) - len([p for p in problems if p.severity == "error"])
        verdict = "FAILED" if errors else "ok"
        print(
            f"{verdict}: {len(library.playbooks)} valid playbook(s), "
            f"{len(problems) - warnings} error(s), {warnings} warning(s)"
        )
    return 1 if errors else 0
