"""A stand-in `botops run` for tests/daemon/test_leader.py, run as its own process.

    python leader_proc.py DATABASE_URL [POLL_SECONDS]

Prints one line per event: `refused <message>` (and exits 3), `ready <pid>`, `leader <pid>`,
`released`. While leading it holds on until a line arrives on stdin, then releases, and
exits when stdin closes — or dies when the test kills it.
"""

from __future__ import annotations

import asyncio
import os
import sys

from botops.daemon.leader import leadership_for
from botops.errors import BotopsError


async def main(url: str, poll: float) -> int:
    try:
        leadership = leadership_for(url)
    except BotopsError as exc:
        print(f"refused {exc}", flush=True)
        return 3
    print(f"ready {os.getpid()}", flush=True)
    while not await leadership.acquire():
        await asyncio.sleep(poll)
    print(f"leader {os.getpid()}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    await leadership.release()
    print("released", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.2)))
