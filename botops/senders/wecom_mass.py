"""`WeComMassSender`: one `Outgoing` → add_msg_template task(s) staff must confirm.

WeCom does not send a mass message by itself (wecom-api.md §2): add_msg_template creates a
task, the sender confirms it in the WeCom client, and botops.tracking follows it from there.
So a receipt from this sender lists created tasks, never delivered targets.

Attachments become add_msg_template payloads here: `file:` and `url:` media are uploaded
through the `MediaCache` (once per content, re-uploaded before WeCom's 3-day expiry),
`media_id:` is used as is, links and mini-programs are copied (a mini-program's cover via
media too). Each ≤ 2,000-target task is handed to the `TaskRecorder` as soon as WeCom
answers and before the next task is created: the client never retries a create whose
outcome is unknown, and we never lose one whose outcome is known.
"""

from __future__ import annotations

from typing import Any, Literal, cast

import structlog

from botops.playbook.model import Attachment, MediaRef
from botops.senders.base import CreatedTask, FailedTarget, Gate, Outgoing, Receipt, TaskRecorder
from botops.senders.media_source import MediaSource
from botops.wecom.client import WeComClient
from botops.wecom.mass import check_template_request, template_batches, template_body
from botops.wecom.media import MediaCache
from botops.wecom.models import MediaType

log = structlog.get_logger()

MediaKind = Literal["image", "video", "file"]
REFUSED = "WeCom refused this target (fail_list): not the sender's group or customer, or gone"


class WeComMassSender:
    channel = "wecom_mass"

    def __init__(
        self,
        client: WeComClient,
        media: MediaCache,
        *,
        record: TaskRecorder | None = None,
        source: MediaSource | None = None,
    ) -> None:
        self._client = client
        self._media = media
        self._record = record
        self._source = source or MediaSource()

    async def prepare(self, outgoing: Outgoing) -> None:
        """Upload the media: `send` then finds it in the cache."""
        for attachment in outgoing.attachments:
            await self.payload(attachment, outgoing)

    async def send(self, outgoing: Outgoing, gate: Gate | None = None) -> Receipt:
        """Create the task(s), asking `gate` before each. WeComError, AttachmentError and
        the gate's SendWindowClosed propagate; tasks created before a failure have already
        been handed to the recorder."""
        if not outgoing.targets:
            raise ValueError(f"batch {outgoing.batch} has no targets")
        payloads = [await self.payload(a, outgoing) for a in outgoing.attachments]
        ids = outgoing.target_ids
        group = outgoing.chat_type == "group"
        text = outgoing.text or None
        check_template_request(
            outgoing.chat_type, outgoing.sender, [] if group else ids, text, payloads
        )
        tasks: list[CreatedTask] = []
        failed: list[FailedTarget] = []
        for targets in template_batches(
            outgoing.chat_type, ids if group else [], [] if group else ids
        ):
            body = template_body(
                chat_type=outgoing.chat_type,
                sender=outgoing.sender,
                targets=targets,
                tag_filter=(),
                text=text,
                attachments=payloads,
                allow_select=None,
            )
            if gate is not None:
                gate()
            created = await self._client.add_msg_template_batch(body)
            refused = set(created.fail_list)
            task = CreatedTask(created.msgid, tuple(t for t in created.targets if t not in refused))
            self._recorded(outgoing, task)
            tasks.append(task)
            failed.extend(FailedTarget(t, REFUSED) for t in created.fail_list)
        return Receipt(self.channel, tasks=tuple(tasks), failed=tuple(failed))

    def _recorded(self, outgoing: Outgoing, task: CreatedTask) -> None:
        bound = log.bind(
            playbook=outgoing.playbook,
            step=outgoing.step,
            batch=outgoing.batch,
            sender=outgoing.sender,
            msgid=task.msgid,
            targets=len(task.targets),
        )
        if self._record is not None:
            try:
                self._record(outgoing, task)
            except Exception:
                # The task exists in WeCom and staff may confirm it: say so loudly.
                bound.error("send.mass.task_unrecorded")
                raise
        bound.info("send.mass.task_created")

    async def payload(self, attachment: Attachment, outgoing: Outgoing) -> dict[str, Any]:
        """One attachment in add_msg_template's shape, media uploaded."""
        kind = attachment.kind
        if kind in ("image", "video", "file"):
            ref = cast(MediaRef, getattr(attachment, kind))
            media_id = await self.media_id(ref, cast(MediaKind, kind), outgoing)
            return {"msgtype": kind, kind: {"media_id": media_id}}
        if attachment.link is not None:
            # title and url always; desc and picurl only when given
            return {"msgtype": "link", "link": attachment.link.model_dump(exclude_defaults=True)}
        program = attachment.miniprogram
        assert program is not None  # Attachment holds exactly one kind
        return {
            "msgtype": "miniprogram",
            "miniprogram": {
                "title": program.title,
                "pic_media_id": await self.media_id(program.pic, "image", outgoing),
                "appid": program.appid,
                "page": program.page,
            },
        }

    async def media_id(self, ref: MediaRef, kind: MediaKind, outgoing: Outgoing) -> str:
        if ref.media_id is not None:
            return ref.media_id
        loaded = await self._source.load(ref, kind, outgoing.base_dir)
        media_type: MediaType = kind
        return await self._media.media_id(media_type, loaded.filename, loaded.data)
