"""`python -m bench [planning|callbacks|dispatch|memory|all] ...` (or `make bench`): run the
benchmarks (default: all) and print their reports. See bench/README.md."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def _planning(_: argparse.Namespace) -> None:
    from bench import planning

    planning.main()


def _callbacks(args: argparse.Namespace) -> None:
    from bench import callbacks

    callbacks.main(rounds=args.rounds or callbacks.ROUNDS)


def _dispatch(args: argparse.Namespace) -> None:
    from bench import dispatch

    dispatch.main(rounds=args.rounds or dispatch.ROUNDS, minute=args.minute)


def _memory(args: argparse.Namespace) -> None:
    from bench import memory

    memory.main(rounds=args.rounds or memory.ROUNDS)


BENCHMARKS: dict[str, Callable[[argparse.Namespace], None]] = {
    "planning": _planning,
    "callbacks": _callbacks,
    "dispatch": _dispatch,
    "memory": _memory,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    # A string default: argparse checks a list default against `choices` as one value.
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, "all"], default="all")
    parser.add_argument("--rounds", type=int, help="rounds per benchmark (default: its own)")
    parser.add_argument(
        "--minute", action="store_true", help="dispatch: the 60-second window as configured"
    )
    args = parser.parse_args()
    chosen = [args.names] if isinstance(args.names, str) else args.names
    names = list(BENCHMARKS) if "all" in chosen else list(dict.fromkeys(chosen))
    for name in names:
        BENCHMARKS[name](args)
        print(flush=True)


main()
