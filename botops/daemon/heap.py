"""The daemon's process heap: what CPython's allocator and collector do not do on their own.

The daemon is long-running and its work comes in bursts (a planning round every minute,
callback load). Two things keep its latency and resident size where the benchmarks
(bench/README.md) put them.
"""

from __future__ import annotations

import ctypes
import gc
import sys
from collections.abc import Callable


def freeze_startup_heap() -> None:
    """Put everything alive after start-up (modules, SQLAlchemy metadata, settings) beyond the
    cyclic GC: its full collections then walk only what requests and jobs allocate. Under
    callback load that took p99 latency from ~50 ms to ~14 ms (bench/callbacks.py)."""
    gc.collect()
    gc.freeze()


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where there is none (macOS, musl, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_MALLOC_TRIM = _malloc_trim()


def return_freed_memory() -> None:
    """Hand the memory a planning round freed back to the OS. A round builds ~15 MB of
    short-lived objects (10,000 targets, the day's sends) every minute; CPython frees them,
    but glibc keeps the freed heap, so without this the daemon's RSS stays at the round's
    peak between rounds (bench/README.md: about 5 MB less after a round). Takes ~1 ms; a
    no-op without glibc."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
