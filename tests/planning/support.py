"""Run planner code under a time limit, so a regression that loops fails fast, not hangs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def within(seconds: float, work: Callable[[], T]) -> T:
    """`work()`'s result, or a test failure if it takes longer than `seconds`. The work runs
    on a daemon thread: one that never ends is left behind and dies with the test process."""
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # handed to the test's thread
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"did not finish within {seconds}s (an endless loop?)")
    if failure:
        raise failure[0]
    return result[0]
