"""The plan as JSON: one object per planned send, for scripts and diffs.

Keys come in a fixed order (not sorted) so two previews diff line by line, and times carry
the display timezone's offset so a reader never has to convert from UTC in their head.
"""

from __future__ import annotations

import json
from datetime import datetime, tzinfo
from typing import Any

from botops.planning.planner import Plan
from botops.planning.sends import PlannedSend, attachment_payload
from botops.preview.notes import Annotations


def render_json(plan: Plan, tz: tzinfo, annotations: Annotations | None = None) -> str:
    """A list of sends, as ever (scripts read it so): warnings go to standard error."""
    notes = annotations or Annotations()
    return json.dumps(
        [send_object(s, tz, notes.notes(s)) for s in plan.sends], ensure_ascii=False, indent=2
    )


def send_object(send: PlannedSend, tz: tzinfo, notes: tuple[str, ...] = ()) -> dict[str, Any]:
    target_field = "chat_id" if send.target_kind == "group" else "external_userid"
    return {
        "at": _iso(send.at, tz),
        "planned_at": _iso(send.planned_at, tz),
        "expires_at": _iso(send.expires_at, tz),
        "playbook": send.playbook,
        "step": send.step,
        "target_kind": send.target_kind,
        target_field: send.target,
        "target_name": send.target_name,
        "sender": send.sender,
        "segment": send.segment,
        "day": send.day,
        "occurrence": send.occurrence,
        "text": send.text,
        "attachments": [attachment_payload(a) for a in send.attachments],
        "key": send.key,
        "status": str(send.status),
        "reason": send.reason,
        # The preview's own remarks (the planner's are in `reason`): not sent by the daemon,
        # text with sample figures.
        "notes": list(notes),
        "batch": send.batch,
        "priority": send.priority,
        "playbook_version": send.playbook_digest,
    }


def _iso(instant: datetime, tz: tzinfo) -> str:
    return instant.astimezone(tz).isoformat()
