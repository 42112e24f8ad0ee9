"""`botops simulator`: serve a seeded WeCom simulator to point botops (or curl) at.

    botops simulator --port 8900 --groups examples/groups.yaml --confirm-after 30

Then set `wecom.api_base` to the printed URL and use the printed corp id and secret (they
are the simulator's own, not real credentials).
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path
from typing import Any

from botops.cli.common import whole_number
from botops.errors import TargetsError
from botops.simulator import SimConfig, Simulator
from botops.simulator.seed import DEFAULT_GROUPS_FILE, seed_groups_from
from botops.simulator.server import serve


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "simulator",
        help="serve an in-memory WeCom simulator (for trying botops without a corp)",
        description="Serve a WeCom API simulator seeded with customer groups.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    parser.add_argument(
        "--port", type=whole_number(1, 65535), default=8900, metavar="N", help="default: 8900"
    )
    parser.add_argument(
        "--groups",
        type=Path,
        metavar="FILE",
        help=f"YAML list of groups to seed (default: {DEFAULT_GROUPS_FILE} if present)",
    )
    parser.add_argument(
        "--confirm-after",
        type=float,
        metavar="SECONDS",
        help="staff confirm mass sends by themselves this long after creation "
        "(default: only via POST /_sim/confirm)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    sim = build_simulator(args)
    config = sim.config
    base_url = f"http://{args.host}:{args.port}"
    print(f"WeCom simulator on {base_url} ({len(sim.state.groups)} groups)")
    print(f"  wecom.api_base: {base_url}")
    print(f"  wecom.corp_id:  {config.corp_id}")
    print(f"  wecom.secret:   {config.secret}   (the simulator's own test secret)")
    for key in config.robot_keys:
        print(f"  robot key:      {key}")
    print(f"  inspect:        {base_url}/_sim/state")
    serve(sim.app, args.host, args.port)
    return 0


def build_simulator(args: argparse.Namespace) -> Simulator:
    if args.confirm_after is not None and args.confirm_after < 0:
        raise TargetsError("--confirm-after must not be negative")
    confirm_after = None if args.confirm_after is None else timedelta(seconds=args.confirm_after)
    config = SimConfig(confirm_after=confirm_after)
    return Simulator.from_groups(seed_groups_from(args.groups), config=config)
