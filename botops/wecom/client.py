"""`WeComClient`: the async WeCom server-API client botops sends and tracks mass messages with.

One shared `httpx.AsyncClient`; every call goes through the same path:

    rate limiter (per API) -> token cache -> HTTP -> map_response
        TokenExpired   -> invalidate, refetch once, resend at once (no back-off)
        retryable      -> tenacity: jittered exponential back-off, bounded attempts
        anything else  -> raised to the caller

Secrets live only in `_secret` and in the query string of the requests themselves; logs bind
api/attempt/errcode and messages are redacted (see redact.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import httpx
import structlog

from botops.clock import Clock, SystemClock
from botops.errors import WeComRejectedError
from botops.wecom import limits
from botops.wecom.mass import check_template_request, template_batches, template_body
from botops.wecom.models import (
    ChatType,
    CorpTagGroup,
    GroupChat,
    GroupChatRef,
    GroupMsg,
    GroupMsgTaskItem,
    MassTask,
    MediaType,
    SendResultItem,
)
from botops.wecom.ratelimit import Monotonic, RateLimiter, RateLimits
from botops.wecom.responses import TokenExpired
from botops.wecom.retry import RetryPolicy, Sleep, call_with_retry
from botops.wecom.tokens import DEFAULT_REFRESH_MARGIN, TokenCache
from botops.wecom.transport import (
    DEFAULT_TIMEOUT_SECONDS,
    HttpApiClient,
    Upload,
    new_http_client,
    request_json,
)

log = structlog.get_logger()

Json = dict[str, Any]


class WeComClient(HttpApiClient):
    def __init__(
        self,
        api_base: str,
        corp_id: str,
        secret: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        monotonic: Monotonic = time.monotonic,
        retry: RetryPolicy | None = None,
        rate_limits: RateLimits | None = None,
        tokens: TokenCache | None = None,
        token_refresh_margin: timedelta = DEFAULT_REFRESH_MARGIN,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        limits_ = rate_limits or RateLimits()
        self._corp_id = corp_id
        self._secret = secret
        self._sleep = sleep
        self._retry = retry or RetryPolicy()
        self._tokens = tokens or TokenCache(
            clock or SystemClock(), refresh_margin=token_refresh_margin
        )
        self._limiter = RateLimiter(
            limits_.per_api, overrides=limits_.per_api_overrides, monotonic=monotonic, sleep=sleep
        )
        self._http = new_http_client(api_base, transport=transport, timeout=timeout)

    def __repr__(self) -> str:
        return f"WeComClient(corp_id={self._corp_id!r})"

    # -- tokens ---------------------------------------------------------------------------

    async def get_token(self) -> str:
        """A valid access token (cached; retried like any call when WeCom is busy)."""
        return await call_with_retry(
            "gettoken", lambda _attempt: self._token(), policy=self._retry, sleep=self._sleep
        )

    async def _token(self) -> str:
        return await self._tokens.get(self._corp_id, self._secret, self._fetch_token)

    async def _fetch_token(self) -> tuple[str, int]:
        await self._limiter.acquire("gettoken")
        params = {"corpid": self._corp_id, "corpsecret": self._secret}
        answer = await request_json(self._http, "gettoken", method="GET", params=params)
        return str(answer["access_token"]), int(
            answer.get("expires_in", limits.ACCESS_TOKEN_TTL_SECONDS)
        )

    # -- the call path --------------------------------------------------------------------

    async def _call(
        self,
        api: str,
        body: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, str] | None = None,
        upload: Upload | None = None,
        idempotent: bool = True,
    ) -> Json:
        async def attempt(number: int) -> Json:
            token = await self._token()
            try:
                return await self._send(api, token, body, params, upload)
            except TokenExpired as exc:
                # WeCom may revoke a token before its expiry: refetch once and resend now.
                log.info("wecom.token.rejected", api=api, attempt=number, errcode=exc.errcode)
                self._tokens.invalidate(self._corp_id, self._secret, token)
                return await self._send(api, await self._token(), body, params, upload)

        return await call_with_retry(
            api, attempt, policy=self._retry, sleep=self._sleep, idempotent=idempotent
        )

    async def _send(
        self,
        api: str,
        token: str,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
        upload: Upload | None,
    ) -> Json:
        await self._limiter.acquire(api)
        query = {"access_token": token, **(params or {})}
        return await request_json(self._http, api, params=query, body=body, upload=upload)

    async def _pages(self, api: str, body: Mapping[str, Any], items_key: str) -> list[Any]:
        """Follow `next_cursor` until WeCom stops returning one."""
        items: list[Any] = []
        cursor = ""
        while True:
            answer = await self._call(api, {**body, "cursor": cursor})
            items.extend(answer.get(items_key) or [])
            cursor = str(answer.get("next_cursor") or "")
            if not cursor:
                return items

    # -- customer groups (wecom-api.md §3) ------------------------------------------------

    async def list_group_chats(
        self,
        status_filter: int = 0,
        owner_userids: Sequence[str] | None = None,
        *,
        limit: int = limits.GROUPCHAT_LIST_MAX_LIMIT,
    ) -> list[GroupChatRef]:
        """Every customer group (of these owners), all pages; owners are sent 100 per call."""
        if not 1 <= limit <= limits.GROUPCHAT_LIST_MAX_LIMIT:
            raise ValueError(f"limit must be 1..{limits.GROUPCHAT_LIST_MAX_LIMIT}")
        owner_batches: list[list[str] | None] = [None]
        if owner_userids:
            owners = list(dict.fromkeys(owner_userids))
            size = limits.GROUPCHAT_LIST_MAX_OWNERS
            owner_batches = [owners[i : i + size] for i in range(0, len(owners), size)]
        chats: list[GroupChatRef] = []
        for owners_batch in owner_batches:
            body: Json = {"status_filter": status_filter, "limit": limit}
            if owners_batch is not None:
                body["owner_filter"] = {"userid_list": owners_batch}
            chats.extend(
                await self._pages("externalcontact/groupchat/list", body, "group_chat_list")
            )
        return chats

    async def get_group_chat(self, chat_id: str, *, need_name: bool = True) -> GroupChat:
        answer = await self._call(
            "externalcontact/groupchat/get", {"chat_id": chat_id, "need_name": int(need_name)}
        )
        return cast(GroupChat, answer["group_chat"])

    async def get_corp_tags(
        self, tag_ids: Sequence[str] = (), group_ids: Sequence[str] = ()
    ) -> list[CorpTagGroup]:
        body: Json = {}
        if tag_ids:
            body["tag_id"] = list(tag_ids)
        if group_ids:
            body["group_id"] = list(group_ids)
        answer = await self._call("externalcontact/get_corp_tag_list", body)
        return cast(list[CorpTagGroup], answer.get("tag_group") or [])

    # -- mass send (wecom-api.md §2) ------------------------------------------------------

    async def add_msg_template(
        self,
        *,
        chat_type: ChatType,
        sender: str | None = None,
        chat_id_list: Sequence[str] = (),
        external_userid: Sequence[str] = (),
        tag_filter: Sequence[Sequence[str]] = (),
        text: str | None = None,
        attachments: Sequence[Mapping[str, Any]] = (),
        allow_select: bool | None = None,
    ) -> list[MassTask]:
        """Create mass-send task(s); more than 2,000 groups become several tasks.

        Tasks are created one after another; if one fails, the error is raised and the tasks
        already created are in the log (`wecom.mass.created`). Callers that need per-task
        durability call `add_msg_template_batch` per batch of at most 2,000 themselves.
        """
        check_template_request(chat_type, sender, external_userid, text, attachments)
        tasks = []
        for targets in template_batches(chat_type, chat_id_list, external_userid):
            body = template_body(
                chat_type=chat_type,
                sender=sender,
                targets=targets,
                tag_filter=tag_filter,
                text=text,
                attachments=attachments,
                allow_select=allow_select,
            )
            tasks.append(await self.add_msg_template_batch(body))
        return tasks

    async def add_msg_template_batch(self, body: Mapping[str, Any]) -> MassTask:
        """One add_msg_template call with a ready body (see `mass.template_body`).

        Not retried after an ambiguous failure (`OutcomeUnknown`): a resend could create a
        second task; reconcile with `get_groupmsg_list_v2` instead.
        """
        answer = await self._call("externalcontact/add_msg_template", body, idempotent=False)
        targets = body.get("chat_id_list") or body.get("external_userid") or []
        task = MassTask(
            msgid=str(answer["msgid"]),
            targets=tuple(targets),
            fail_list=tuple(answer.get("fail_list") or []),
        )
        log.info(
            "wecom.mass.created",
            msgid=task.msgid,
            targets=len(task.targets),
            failed=len(task.fail_list),
        )
        return task

    async def get_groupmsg_list_v2(
        self,
        chat_type: ChatType,
        start_time: datetime,
        end_time: datetime,
        *,
        creator: str | None = None,
        filter_type: int = 2,
        limit: int = limits.GROUPMSG_LIST_MAX_LIMIT,
    ) -> list[GroupMsg]:
        """Mass sends created in [start_time, end_time] (WeCom allows at most one month)."""
        body: Json = {
            "chat_type": chat_type,
            "start_time": int(start_time.timestamp()),
            "end_time": int(end_time.timestamp()),
            "filter_type": filter_type,
            "limit": limit,
        }
        if creator:
            body["creator"] = creator
        return await self._pages("externalcontact/get_groupmsg_list_v2", body, "group_msg_list")

    async def get_groupmsg_task(
        self, msgid: str, *, limit: int = limits.GROUPMSG_TASK_MAX_LIMIT
    ) -> list[GroupMsgTaskItem]:
        """Per staff member: has the task been confirmed and sent (status 2) or not (0)."""
        body = {"msgid": msgid, "limit": limit}
        return await self._pages("externalcontact/get_groupmsg_task", body, "task_list")

    async def get_groupmsg_send_result(
        self, msgid: str, userid: str, *, limit: int = limits.GROUPMSG_RESULT_MAX_LIMIT
    ) -> list[SendResultItem]:
        """Per target of one sender. Group sends list only groups already sent (or failed)."""
        body = {"msgid": msgid, "userid": userid, "limit": limit}
        return await self._pages("externalcontact/get_groupmsg_send_result", body, "send_list")

    async def remind_groupmsg_send(self, msgid: str) -> None:
        """Nudge the senders again; at most 3 per task per 24 h (a 4th is WeComRejectedError)."""
        # Not idempotent: each successful call spends one of the three daily reminders.
        await self._call("externalcontact/remind_groupmsg_send", {"msgid": msgid}, idempotent=False)

    async def cancel_groupmsg_send(self, msgid: str) -> None:
        """Stop a task's unsent part; delivered messages cannot be recalled."""
        await self._call("externalcontact/cancel_groupmsg_send", {"msgid": msgid})

    # -- media ----------------------------------------------------------------------------

    async def upload_media(self, media_type: MediaType, filename: str, data: bytes) -> str:
        """Upload a temporary media file (valid 3 days); returns its media_id.

        Use `MediaCache` rather than calling this per send.
        """
        if not data:
            raise WeComRejectedError("media/upload", None, "empty media file")
        answer = await self._call(
            "media/upload", params={"type": media_type}, upload=(filename, data)
        )
        return str(answer["media_id"])

    # -- AI bot ---------------------------------------------------------------------------

    async def aibot_respond(self, response_url: str, markdown: str) -> None:
        """Answer an AI-bot message through its `response_url` (usable once, within an hour).

        Only the URL's `response_code` is used: the request goes to `/cgi-bin/aibot/response`
        on this client's api_base, so a callback can never make botops post anywhere else.
        Not retried: the code is single-use, and a retry after a lost answer would fail anyway.
        """
        parts = urlsplit(response_url)
        codes = parse_qs(parts.query).get("response_code")
        if not parts.path.endswith("/cgi-bin/aibot/response") or not codes:
            raise WeComRejectedError("aibot/response", None, "not an AI bot response_url")
        await self._limiter.acquire("aibot/response")
        await request_json(
            self._http,
            "aibot/response",
            params={"response_code": codes[0]},
            body={"msgtype": "markdown", "markdown": {"content": markdown}},
        )
