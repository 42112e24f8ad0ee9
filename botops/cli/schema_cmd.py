"""`botops schema`: the JSON Schema of the playbook format, for editor completion."""

from __future__ import annotations

import argparse
import json
from typing import Any

from botops.playbook.schema import playbook_schema


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "schema",
        help="print the JSON Schema of the playbook format",
        description="Print the playbook JSON Schema (see docs/playbooks.md for VS Code set-up).",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print(json.dumps(playbook_schema(), ensure_ascii=False, indent=2))
    return 0
