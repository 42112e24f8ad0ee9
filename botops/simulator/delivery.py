"""What happens when a staff member confirms a mass-send task in their WeCom client.

Each of the sender's targets then gets a send-result status (wecom-api.md §2):
1 sent; 2 failed, not the sender's contact (single sends); 3 failed, the target already
received as many mass messages as the receive cap allows in this period.
Confirmation comes from `POST /_sim/confirm` or, with `config.confirm_after`, by itself that
long after the task was created (applied lazily whenever the simulator handles a request).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from botops.simulator.model import MassTask, SimState
from botops.wecom.models import (
    SEND_ALREADY_RECEIVED,
    SEND_NOT_FRIEND,
    SEND_SENT,
    TASK_SENT,
    TASK_UNSENT,
)


def over_cap(state: SimState, target_id: str, at: datetime) -> bool:
    cap = state.config.receive_cap
    zone = ZoneInfo(state.config.timezone)
    local = at.astimezone(zone)
    key = cap.period_key(local)
    received = state.deliveries.get(target_id, [])
    count = sum(1 for t in received if cap.period_key(t.astimezone(zone)) == key)
    return count >= cap.allowed(local)


def confirm_sender(state: SimState, task: MassTask, userid: str, at: datetime) -> bool:
    """Send `task` for `userid` at `at`; False if already sent or the task was cancelled."""
    sender = task.senders.get(userid)
    if sender is None or sender.status != TASK_UNSENT or task.cancelled:
        return False
    ts = int(at.timestamp())
    sender.status, sender.send_time = TASK_SENT, ts
    for target in task.targets:
        if target.userid != userid:
            continue
        contact = state.externals.get(target.target_id)
        if task.chat_type == "single" and (contact is None or userid not in contact.follow_users):
            target.status = SEND_NOT_FRIEND
        elif over_cap(state, target.target_id, at):
            target.status = SEND_ALREADY_RECEIVED
        else:
            target.status = SEND_SENT
            state.deliveries.setdefault(target.target_id, []).append(at)
        target.send_time = ts
    return True


def confirm(state: SimState, msgid: str, userid: str | None, at: datetime) -> int:
    """Confirm for one sender (or all of them); returns how many senders were confirmed.

    Raises KeyError for an unknown msgid/userid and ValueError for a cancelled task.
    """
    task = state.tasks[msgid]
    if task.cancelled:
        raise ValueError(f"task {msgid} was cancelled")
    if userid is not None and userid not in task.senders:
        raise KeyError(userid)
    userids = [userid] if userid is not None else list(task.senders)
    return sum(confirm_sender(state, task, u, at) for u in userids)


def confirm_due(state: SimState, now: datetime) -> None:
    """Apply `confirm_after`: confirm, in creation order, every task whose time has come."""
    delay = state.config.confirm_after
    if delay is None:
        return
    for task in state.tasks.values():
        at = datetime.fromtimestamp(task.create_time, UTC) + delay
        if at > now:
            break  # tasks are kept in creation order
        for userid in list(task.senders):
            confirm_sender(state, task, userid, at)
