"""Fault injection: make the next N matching calls misbehave the ways WeCom and networks do.

    errcode   answer HTTP 200 {"errcode": E}      (-1 busy, 45009 rate limited, ...)
    http      answer HTTP `status` (5xx)
    drop      start an answer, then close the connection (the client sees a broken read)
    latency   wait `seconds`, then answer normally (to trip client timeouts)
    slow_ack  do the call, then wait `seconds` before answering: WeCom acted, the caller has
              not heard yet (a crash now is the one the outbox must survive)
    lost_ack  do the call, then drop the connection: WeCom acted, the caller cannot know

Token revocation is not queued here: it is an action on the token table
(`Simulator.revoke_tokens`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

FaultKind = Literal["errcode", "http", "drop", "latency", "slow_ack", "lost_ack"]
KINDS: tuple[FaultKind, ...] = ("errcode", "http", "drop", "latency", "slow_ack", "lost_ack")


@dataclass(slots=True)
class Fault:
    kind: FaultKind
    times: int = 1
    api: str | None = None  # e.g. "externalcontact/groupchat/list"; None: any API
    errcode: int = -1
    errmsg: str = "system busy"
    status: int = 503
    seconds: float = 0.0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        kind = data.get("kind")
        if kind not in KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(KINDS)}")
        fault = cls(kind=kind)
        for name in ("times", "errcode", "status"):
            if name in data:
                setattr(fault, name, int(data[name]))
        if "seconds" in data:
            fault.seconds = float(data["seconds"])
        if data.get("api"):
            fault.api = str(data["api"])
        if "errmsg" in data:
            fault.errmsg = str(data["errmsg"])
        if fault.times < 1:
            raise ValueError("fault times must be at least 1")
        return fault

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultPlan:
    """Queued faults, consumed in order by matching calls (thread-safe: tests add from
    their thread while the server thread consumes)."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, api: str) -> Fault | None:
        """The first fault that applies to `api`, with one use consumed."""
        with self._lock:
            for fault in self._faults:
                if fault.api is None or fault.api == api:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
            return None
