"""Group messages forwarded by other systems: the signed JSON ingest route.

    POST /ingest/messages   {"messages": [{msgid, chat_id, sender_id, sender_name, text,
                                           sent_at (ISO-8601 with offset), source?}, ...]}

The raw body is signed with HMAC-SHA256 under `ingest.secret`, sent as
`X-Botops-Signature: sha256=<hex>`. A batch is all or nothing: one bad record and nothing is
scored (400 naming the record and field). Every message then goes through the same
check-in path as any other source (botops.checkins.route); the ledger never counts a
msgid twice, so a redelivered batch scores nothing new. Answers
{"accepted": N, "checkins": M, "not_scored": {reason: count}}, reasons as in `Tally`.
`botops import-messages` reads the same records from a JSONL file (`parse_record`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from botops.checkins.message import Message
from botops.checkins.route import groups, route
from botops.clock import Clock
from botops.config import IngestSettings
from botops.playbook.library import PlaybookLibrary
from botops.store.db import session
from botops.webhook.body import BodyRefused, read_capped

log = structlog.get_logger()

PATH = "/ingest/messages"
HEADER = "X-Botops-Signature"
FIELDS = ("msgid", "chat_id", "sender_id", "sender_name", "text", "sent_at")
DEFAULT_SOURCE = "ingest"


class RecordError(ValueError):
    """A record that is not a valid message; the text names the field."""


def parse_record(record: Any, *, source: str = DEFAULT_SOURCE) -> Message:
    """One forwarded record as a Message; RecordError names the first bad field."""
    if not isinstance(record, dict):
        raise RecordError("a record must be a JSON object")
    for name in FIELDS:
        value = record.get(name)
        if value is None:
            raise RecordError(f"field {name!r} is missing")
        if not isinstance(value, str):
            raise RecordError(f"field {name!r} must be a string")
        if name in ("msgid", "chat_id", "sender_id", "sent_at") and not value.strip():
            raise RecordError(f"field {name!r} must not be empty")
    given = record.get("source", source)
    if not isinstance(given, str) or not given:
        raise RecordError("field 'source' must be a non-empty string")
    try:
        sent_at = datetime.fromisoformat(record["sent_at"])
    except ValueError:
        raise RecordError(f"field 'sent_at' is not ISO-8601: {record['sent_at']!r}") from None
    if sent_at.tzinfo is None or sent_at.utcoffset() is None:
        raise RecordError("field 'sent_at' needs a UTC offset, e.g. +08:00")
    return Message(
        msgid=record["msgid"],
        chat_id=record["chat_id"],
        sender_id=record["sender_id"],
        sender_name=record["sender_name"],
        text=record["text"],
        sent_at=sent_at,
        source=given,
    )


def parse_batch(body: bytes) -> list[Message]:
    """The request body as messages; RecordError on anything malformed."""
    try:
        data = json.loads(body)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an int over 4,300 digits
        raise RecordError(f"body is not JSON: {exc}") from None
    except RecursionError:  # [[[[...: Python's parser gives up long before any limit of ours
        raise RecordError("body is not JSON: nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise RecordError("body must be an object with a 'messages' list")
    messages = []
    for index, record in enumerate(data["messages"]):
        try:
            messages.append(parse_record(record))
        except RecordError as exc:
            raise RecordError(f"messages[{index}]: {exc}") from None
    return messages


@dataclass
class Tally:
    """What scoring a batch did: check-ins (and make-ups) scored, and why the rest did not
    score: a decision's Outcome (`not_checkin`, `outside_window`, ...) or, for a message no
    playbook decided on, the router's reason (`sent_in_future`, `unknown_group`,
    `group_dismissed`, `staff`, `not_enrolled`, `no_checkin_playbook`: botops.checkins.route).
    A forwarder (or ops person) whose messages score nothing can tell a late check-in from a
    missing `botops sync`."""

    checkins: int = 0
    not_scored: Counter[str] = field(default_factory=Counter)
    example: dict[str, str] = field(default_factory=dict)  # reason -> its first detail


def score_messages(
    engine: Engine,
    library: PlaybookLibrary,
    messages: Iterable[Message],
    now: datetime,
    tz_default: str,
) -> Tally:
    """Score every message in one transaction."""
    tally = Tally()
    with session(engine) as s:
        known = groups(s)
        for message in messages:
            routed = route(s, library, message, now, tz_default, known=known)
            if routed.not_scored:
                tally.not_scored[routed.not_scored] += 1
                if routed.detail:
                    tally.example.setdefault(routed.not_scored, routed.detail)
            for result in routed.results:
                decision = result.decision
                if decision.scored:
                    tally.checkins += 1
                    continue
                reason = str(decision.outcome)
                tally.not_scored[reason] += 1
                if decision.detail:
                    tally.example.setdefault(reason, decision.detail)
    return tally


def signature(secret: str, body: bytes) -> str:
    """The header value for `body`: sha256=<hex>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def ingest_routes(
    settings: IngestSettings,
    engine: Engine,
    clock: Clock,
    library: Callable[[], PlaybookLibrary],
    tz_default: str,
) -> list[Route]:
    """The ingest route; without `ingest.secret` it answers 503."""

    async def post(request: Request) -> Response:
        if settings.secret is None:
            log.error("ingest.unavailable", hint="set ingest.secret")
            return PlainTextResponse("ingest is not configured", status_code=503)
        try:
            body = await read_capped(request, settings.max_body_bytes)
        except BodyRefused as exc:
            log.warning("ingest.refused", status=exc.status, reason=exc.reason)
            answer = "payload too large" if exc.status == 413 else "bad request"
            return PlainTextResponse(answer, status_code=exc.status)
        expected = signature(settings.secret.get_secret_value(), body)
        given = request.headers.get(HEADER, "")
        if not hmac.compare_digest(expected.encode(), given.encode()):
            log.warning("ingest.refused", status=401, reason="bad signature")
            return PlainTextResponse("unauthorized", status_code=401)
        try:
            messages = parse_batch(body)
        except RecordError as exc:
            log.warning("ingest.refused", status=400, reason=str(exc))
            return JSONResponse({"error": str(exc)}, status_code=400)
        tally = await asyncio.to_thread(
            score_messages, engine, library(), messages, clock.now(), tz_default
        )
        not_scored = dict(tally.not_scored)
        log.info(
            "ingest.accepted",
            accepted=len(messages),
            checkins=tally.checkins,
            not_scored=not_scored,
        )
        return JSONResponse(
            {"accepted": len(messages), "checkins": tally.checkins, "not_scored": not_scored}
        )

    return [Route(PATH, post, methods=["POST"])]
