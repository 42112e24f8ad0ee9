"""Mass-send tracking: list, per-sender task status, per-target results, remind, cancel."""

from __future__ import annotations

from typing import Any

from botops.simulator.calls import BAD_PARAM, ApiCall, int_field, ok, page, str_field
from botops.simulator.model import ApiError, MassTask, SimState
from botops.wecom import limits
from botops.wecom.models import SEND_UNSENT

MAX_LIST_RANGE_SECONDS = 31 * 86400  # "start_time and end_time at most one month apart"
REMIND_WINDOW_SECONDS = 86400


def _task(state: SimState, call: ApiCall) -> MassTask:
    task = state.tasks.get(str_field(call, "msgid"))
    if task is None:
        raise ApiError(41047, "invalid msgid")
    return task


def groupmsg_list_v2(state: SimState, call: ApiCall) -> dict[str, Any]:
    chat_type = call.body.get("chat_type", "single")
    start, end = int_field(call, "start_time"), int_field(call, "end_time")
    if end < start or end - start > MAX_LIST_RANGE_SECONDS:
        raise ApiError(BAD_PARAM, "start_time/end_time must be at most one month apart")
    filter_type = int_field(call, "filter_type", 2)
    creator = call.body.get("creator")
    selected = [
        t
        for t in state.tasks.values()
        if t.chat_type == chat_type
        and start <= t.create_time <= end
        and (filter_type == 2 or t.create_type == filter_type)
        and (not creator or t.creator == creator)
    ]
    items, next_cursor = page(
        selected,
        call,
        max_limit=limits.GROUPMSG_LIST_MAX_LIMIT,
        default=limits.GROUPMSG_LIST_DEFAULT_LIMIT,
    )
    msgs = []
    for task in items:
        msg: dict[str, Any] = {
            "msgid": task.msgid,
            "creator": task.creator,
            "create_time": str(task.create_time),
            "create_type": task.create_type,
            "attachments": task.attachments,
        }
        if task.text:
            msg["text"] = task.text
        msgs.append(msg)
    return ok(group_msg_list=msgs, next_cursor=next_cursor)


def groupmsg_task(state: SimState, call: ApiCall) -> dict[str, Any]:
    task = _task(state, call)
    items, next_cursor = page(
        list(task.senders.values()),
        call,
        max_limit=limits.GROUPMSG_TASK_MAX_LIMIT,
        default=limits.GROUPMSG_TASK_DEFAULT_LIMIT,
    )
    task_list = []
    for sender in items:
        entry: dict[str, Any] = {"userid": sender.userid, "status": sender.status}
        if sender.send_time is not None:
            entry["send_time"] = sender.send_time
        task_list.append(entry)
    return ok(task_list=task_list, next_cursor=next_cursor)


def groupmsg_send_result(state: SimState, call: ApiCall) -> dict[str, Any]:
    task = _task(state, call)
    userid = str_field(call, "userid")
    targets = [t for t in task.targets if t.userid == userid]
    if task.chat_type == "group":
        # WeCom lists only groups the message went to (or failed for), not unsent ones.
        targets = [t for t in targets if t.status != SEND_UNSENT]
    items, next_cursor = page(
        targets,
        call,
        max_limit=limits.GROUPMSG_RESULT_MAX_LIMIT,
        default=limits.GROUPMSG_RESULT_DEFAULT_LIMIT,
    )
    id_key = "chat_id" if task.chat_type == "group" else "external_userid"
    send_list = []
    for target in items:
        entry: dict[str, Any] = {
            id_key: target.target_id,
            "userid": userid,
            "status": target.status,
        }
        if target.send_time is not None:
            entry["send_time"] = target.send_time
        send_list.append(entry)
    return ok(send_list=send_list, next_cursor=next_cursor)


def remind_groupmsg_send(state: SimState, call: ApiCall) -> dict[str, Any]:
    task = _task(state, call)
    recent = [t for t in task.reminders if t > call.ts - REMIND_WINDOW_SECONDS]
    if len(recent) >= state.config.reminders_per_day:
        raise ApiError(
            state.config.remind_limit_errcode,
            f"remind limit reached: at most {state.config.reminders_per_day} per task per 24 h",
        )
    task.reminders.append(call.ts)
    return ok()


def cancel_groupmsg_send(state: SimState, call: ApiCall) -> dict[str, Any]:
    task = _task(state, call)
    task.cancelled = True  # unsent parts stay unsent for good; sent ones are not recalled
    return ok()
