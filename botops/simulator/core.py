"""`Simulator`: WeCom's behaviour over an in-memory world, independent of HTTP.

The ASGI app (asgi.py) only moves bytes in and out; every rule lives in the handlers this
class dispatches to. Tests can drive it in-process, and inspect or steer it (confirm tasks,
revoke tokens, queue faults) from the test thread while uvicorn serves it from another — so
state changes happen under one lock.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.types import ASGIApp

from botops.clock import Clock, SystemClock
from botops.simulator import (
    api_aibot,
    api_contacts,
    api_mass,
    api_media,
    api_robot,
    api_token,
    api_tracking,
    delivery,
)
from botops.simulator.calls import ApiCall, Handler
from botops.simulator.config import SimConfig
from botops.simulator.faults import FaultPlan
from botops.simulator.model import (
    EXTERNAL,
    AiBotReply,
    ApiError,
    MassTask,
    Member,
    RecordedRequest,
    RobotMessage,
    SimState,
)
from botops.simulator.seed import seed_groups
from botops.wecom.redact import redact_params

HANDLERS: dict[str, Handler] = {
    "gettoken": api_token.gettoken,
    "externalcontact/groupchat/list": api_contacts.groupchat_list,
    "externalcontact/groupchat/get": api_contacts.groupchat_get,
    "externalcontact/get_corp_tag_list": api_contacts.corp_tag_list,
    "externalcontact/add_msg_template": api_mass.add_msg_template,
    "externalcontact/get_groupmsg_list_v2": api_tracking.groupmsg_list_v2,
    "externalcontact/get_groupmsg_task": api_tracking.groupmsg_task,
    "externalcontact/get_groupmsg_send_result": api_tracking.groupmsg_send_result,
    "externalcontact/remind_groupmsg_send": api_tracking.remind_groupmsg_send,
    "externalcontact/cancel_groupmsg_send": api_tracking.cancel_groupmsg_send,
    "media/upload": api_media.upload,
    "webhook/send": api_robot.send,
    "webhook/upload_media": api_robot.upload_media,
    "aibot/response": api_aibot.respond,
}
# Authenticated by corpsecret (gettoken) or by the robot key instead of an access token.
NO_TOKEN_APIS = frozenset({"gettoken", "webhook/send", "webhook/upload_media", "aibot/response"})


class Simulator:
    def __init__(self, config: SimConfig | None = None, *, clock: Clock | None = None) -> None:
        self.config = config or SimConfig()
        self.clock: Clock = clock or SystemClock()
        self.state = SimState(self.config, robot_keys=set(self.config.robot_keys))
        self.faults = FaultPlan()
        self.lock = threading.RLock()
        self._app: ASGIApp | None = None

    @classmethod
    def from_groups(
        cls,
        groups: Iterable[Mapping[str, Any]],
        *,
        config: SimConfig | None = None,
        clock: Clock | None = None,
    ) -> Simulator:
        """A simulator seeded with `{chat_id, name, owner, tags, created_at, member_count}`s."""
        sim = cls(config, clock=clock)
        sim.add_groups(groups)
        return sim

    @property
    def app(self) -> ASGIApp:
        if self._app is None:
            from botops.simulator.asgi import build_app  # asgi imports this module

            self._app = build_app(self)
        return self._app

    # -- the call path --------------------------------------------------------------------

    def record(self, method: str, api: str, query: Mapping[str, str], body: Any) -> None:
        with self.lock:
            at = int(self.clock.now().timestamp())
            entry = RecordedRequest(at, method, api, redact_params(query), body)
            self.state.requests.append(entry)

    def call(
        self, api: str, query: Mapping[str, str], raw: bytes = b"", content_type: str = ""
    ) -> dict[str, Any]:
        """Answer one API call the way WeCom would (errors included, as errcode answers)."""
        handler = HANDLERS[api]
        with self.lock:
            now = self.clock.now()
            delivery.confirm_due(self.state, now)
            try:
                body = parse_body(raw, content_type)
                call = ApiCall(api, now, query, body, raw, content_type)
                if api not in NO_TOKEN_APIS:
                    api_token.check_token(self.state, call)
                answer = handler(self.state, call)
            except ApiError as exc:
                answer = error_answer(exc.errcode, exc.errmsg)
            delivery.confirm_due(self.state, now)  # a zero delay sends at once
            return answer

    # -- steering and inspection (tests, /_sim/*) -----------------------------------------

    def add_groups(self, groups: Iterable[Mapping[str, Any]]) -> None:
        with self.lock:
            seed_groups(self.state, groups, self.clock.now())

    def dismiss(self, chat_id: str) -> None:
        """The owner dismisses a group: WeCom no longer lists or returns it (90501)."""
        with self.lock:
            del self.state.groups[chat_id]

    def leave(self, chat_id: str, userid: str) -> None:
        """A member leaves a group (groupchat/get no longer lists them)."""
        with self.lock:
            group = self.state.groups[chat_id]
            group.members = [m for m in group.members if m.userid != userid]

    def join(self, chat_id: str, userid: str, name: str, *, join_scene: int = 3) -> None:
        """A customer joins a group now (3: by QR code, groupchat/get numbering)."""
        with self.lock:
            group = self.state.groups[chat_id]
            at = int(self.clock.now().timestamp())
            group.members.append(Member(userid, EXTERNAL, at, join_scene=join_scene, name=name))

    def add_robot(self, key: str) -> None:
        with self.lock:
            self.state.robot_keys.add(key)

    def revoke_tokens(self, errcode: int = 42001) -> int:
        """WeCom revoking tokens early: every issued token now answers `errcode`."""
        with self.lock:
            return api_token.revoke_tokens(self.state, errcode)

    def confirm(self, msgid: str, userid: str | None = None) -> int:
        """The sender(s) confirm the task in their WeCom client, now."""
        with self.lock:
            return delivery.confirm(self.state, msgid, userid, self.clock.now())

    def requests(self, api: str | None = None) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.state.requests if api is None or r.api == api]

    def count(self, api: str) -> int:
        return len(self.requests(api))

    def tasks(self) -> list[MassTask]:
        with self.lock:
            delivery.confirm_due(self.state, self.clock.now())
            return list(self.state.tasks.values())

    def robot_messages(self) -> list[RobotMessage]:
        with self.lock:
            return list(self.state.robot_messages)

    def aibot_replies(self) -> list[AiBotReply]:
        with self.lock:
            return list(self.state.aibot_replies)

    def issued_tokens(self) -> list[str]:
        """Every access token handed out (so tests can check none leaked into logs)."""
        with self.lock:
            return list(self.state.tokens)

    def snapshot(self) -> dict[str, Any]:
        """A secret-free summary for GET /_sim/state."""
        with self.lock:
            state = self.state
            delivery.confirm_due(state, self.clock.now())
            return {
                "corp_id": self.config.corp_id,
                "now": self.clock.now().isoformat(),
                "staff": sorted(state.staff),
                "groups": [
                    {
                        "chat_id": g.chat_id,
                        "name": g.name,
                        "owner": g.owner,
                        "tags": g.tags,
                        "member_count": len(g.members),
                        "member_version": g.member_version,
                    }
                    for g in state.groups.values()
                ],
                "corp_tags": sum(len(g.tags) for g in state.tag_groups),
                "tasks": len(state.tasks),
                "media": len(state.media),
                "robot_messages": len(state.robot_messages),
                "tokens_issued": len(state.tokens),
                "requests": len(state.requests),
                "faults_pending": [f.as_json() for f in self.faults.pending()],
            }


def parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """JSON request bodies; multipart ones are read by the upload handlers themselves."""
    if not raw.strip() or content_type.lower().startswith("multipart/"):
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(47001, "data format error: not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(47001, "data format error: not a JSON object")
    return body


def error_answer(errcode: int, errmsg: str) -> dict[str, Any]:
    # WeCom appends a pointer to its error-code lookup; clients must not parse errmsg.
    more = f"more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}"
    return {"errcode": errcode, "errmsg": f"{errmsg}, {more}"}


def recordable_body(raw: bytes, content_type: str) -> Any:
    """What /_sim/requests shows of a body: JSON as is, uploads by size only."""
    if content_type.lower().startswith("multipart/"):
        return {"multipart": True, "bytes": len(raw)}
    try:
        return parse_body(raw, content_type)
    except ApiError:
        return {"unparsable": True, "bytes": len(raw)}
