"""The `botops` command line.

Each command lives in its own module exposing `register(subparsers)`, which adds a sub-parser
whose `handler(args) -> int` does the work. Domain errors are turned into messages and exit
codes here and nowhere else.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from botops import __version__, logs
from botops.errors import BotopsError, PlaybookError

# Module names under botops.cli, in the order `botops --help` lists them.
COMMANDS = (
    "validate",
    "preview",
    "run",
    "schema",
    "simulator",
    "sync",
    "groups",
    "send-test",
    "import-messages",
    "points",
    "report",
    "status",
    "withdraw",
)

EXIT_OK = 0
EXIT_INVALID = 1  # validation problems / domain errors
EXIT_USAGE = 2  # argparse's own code for bad arguments
EXIT_BROKEN_PIPE = 141  # as a process killed by SIGPIPE: `set -o pipefail` sees it


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="botops", description="Community operations bot and SOP scheduler for WeCom."
    )
    parser.add_argument("--version", action="version", version=f"botops {__version__}")
    parser.add_argument(
        "--config", metavar="FILE", help="config file (default: $BOTOPS_CONFIG or ./config.yaml)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"botops.cli.{name.replace('-', '_')}_cmd").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(logging.INFO if args.command == "run" else logging.WARNING)
    try:
        code: int = args.handler(args)
    except PlaybookError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_INVALID
    except BotopsError as exc:
        print(f"botops: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except SQLAlchemyError as exc:  # disk full, database locked or unreachable
        from botops.store.db import database_error

        print(f"botops: database: {database_error(exc)}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`botops preview | head`): stop quietly, as `cat` does. Output
        # still buffered would fail again at exit, so stdout now points nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return code
