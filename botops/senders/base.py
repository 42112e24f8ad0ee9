"""What every sender takes (`Outgoing`) and gives back (`Receipt`).

An `Outgoing` is one WeCom task's worth of message: the planner gives sends that share a
`batch` the same text, attachments, sender and time, and WeCom's staff confirm a task once,
so the batch is the unit a sender works on. Each target carries its send key (the outbox's
idempotency key) so whatever records the outcome can tie it back to the plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from botops.errors import BotopsError
from botops.planning.sends import PlannedSend
from botops.playbook.library import PlaybookLibrary
from botops.playbook.model import Attachment
from botops.wecom.models import ChatType


class AttachmentError(BotopsError):
    """An attachment cannot be turned into something WeCom accepts (missing, too big, ...)."""


class SendWindowClosed(BotopsError):
    """Raised by a `Gate`: too late to start creating anything; nothing was created since
    the last task the sender handed to its recorder."""


Gate = Callable[[], None]
"""Called by a sender right before each WeCom call that creates what customers will see; it
raises SendWindowClosed once the caller may no longer start one (botops.outbox.dispatcher:
another replica would take the batch for unsent)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    batch: str  # the planner's batch id: one WeCom task (or several past 2,000 targets)
    playbook: str
    step: str
    sender: str  # staff userid: the group owner who confirms the task
    chat_type: ChatType  # "group" (customer groups) or "single" (customers)
    targets: tuple[tuple[str, str], ...]  # (chat_id or external_userid, send key)
    text: str
    attachments: tuple[Attachment, ...] = ()
    base_dir: Path | None = None  # attachment `file:` paths are relative to this folder
    expires_at: datetime | None = None  # after this, unsent targets are cancelled

    @property
    def target_ids(self) -> list[str]:
        return [target for target, _ in self.targets]

    def send_keys(self) -> dict[str, str]:
        return dict(self.targets)


@dataclass(frozen=True, slots=True)
class CreatedTask:
    """A mass-send task WeCom created: `msgid` and the targets it accepted into it."""

    msgid: str
    targets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FailedTarget:
    target_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Receipt:
    channel: str
    tasks: tuple[CreatedTask, ...] = ()  # created, waiting for staff to confirm
    sent: tuple[str, ...] = ()  # delivered at once (robots); mass sends never land here
    failed: tuple[FailedTarget, ...] = ()

    @property
    def task_targets(self) -> list[str]:
        return [target for task in self.tasks for target in task.targets]


class Sender(Protocol):
    channel: str

    async def prepare(self, outgoing: Outgoing) -> None:
        """Whatever can be done ahead without customers seeing anything (media uploads),
        so that `send` itself is quick."""

    async def send(self, outgoing: Outgoing, gate: Gate | None = None) -> Receipt: ...


class TaskRecorder(Protocol):
    """Called right after WeCom created a task, before the next WeCom call, so a crash
    between two tasks of one batch never loses a task that staff may still confirm."""

    def __call__(self, outgoing: Outgoing, task: CreatedTask) -> None: ...


def outgoing_from_plan(sends: Iterable[PlannedSend], library: PlaybookLibrary) -> list[Outgoing]:
    """The sendable sends grouped by batch, in the order their batches first appear.

    A sendable send without a batch (the planner batches every one it can) goes alone.
    """
    folders = {s.playbook.id: s.path.parent for s in library.sourced}
    groups: dict[str, list[PlannedSend]] = {}
    for send in sends:
        if send.sendable:
            groups.setdefault(send.batch or f"send:{send.key}", []).append(send)
    return [_outgoing(batch, members, folders) for batch, members in groups.items()]


def _outgoing(batch: str, members: Sequence[PlannedSend], folders: dict[str, Path]) -> Outgoing:
    first = members[0]
    return Outgoing(
        batch=batch,
        playbook=first.playbook,
        step=first.step,
        sender=first.sender,
        chat_type="group" if first.target_kind == "group" else "single",
        targets=tuple((s.target, s.key) for s in members),
        text=first.text,
        attachments=first.attachments,
        base_dir=folders.get(first.playbook),
        expires_at=min(s.expires_at for s in members),
    )
