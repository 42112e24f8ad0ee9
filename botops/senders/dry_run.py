"""`DryRunSender`: records every Outgoing instead of sending it (preview, tests, `--dry-run`).

It goes through the same pipeline as the real senders, so what it records is exactly what
they would have been handed.
"""

from __future__ import annotations

from botops.senders.base import Gate, Outgoing, Receipt


class DryRunSender:
    channel = "dry_run"

    def __init__(self) -> None:
        self.outgoing: list[Outgoing] = []

    async def prepare(self, outgoing: Outgoing) -> None:
        pass

    async def send(self, outgoing: Outgoing, gate: Gate | None = None) -> Receipt:
        if gate is not None:
            gate()
        self.outgoing.append(outgoing)
        return Receipt(self.channel, sent=tuple(outgoing.target_ids))
