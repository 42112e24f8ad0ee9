"""WeCom callbacks: verify, decrypt and decode, with no HTTP, database or clock of its own.

The web adapter (elsewhere) is two conversions around this core: query string and body in,
status and body out. Everything that decides whether a callback is genuine lives here, so it
can be tested with WeCom's published vectors and a fixed `now`.

    crypto.py   CallbackCrypto: WXBizMsgCrypt signature, AES-256-CBC decrypt/encrypt
    verify.py   verify_request / verify_url: signature, then replay window, then decrypt
    decode.py   parse_envelope / parse_event: safe XML to typed events (Unknown fallback)
    events.py   the frozen event dataclasses and their dedup keys
    aibot.py    the AI bot's decrypted JSON message
    errors.py   CallbackError and its subclasses
"""

from __future__ import annotations

from botops.webhook.aibot import AiBotMessage, parse_aibot_message
from botops.webhook.crypto import CallbackCrypto
from botops.webhook.decode import parse_envelope, parse_event, parse_json_envelope
from botops.webhook.errors import (
    CallbackError,
    DecryptError,
    MalformedCallback,
    ReceiveIdError,
    ReplayError,
    SignatureError,
)
from botops.webhook.events import (
    CallbackEvent,
    ExternalChatEvent,
    ExternalContactEvent,
    ExternalTagEvent,
    MsgAuditNotify,
    TextMessage,
    UnknownEvent,
)
from botops.webhook.verify import verify_request, verify_url

__all__ = [
    "AiBotMessage",
    "CallbackCrypto",
    "CallbackError",
    "CallbackEvent",
    "DecryptError",
    "ExternalChatEvent",
    "ExternalContactEvent",
    "ExternalTagEvent",
    "MalformedCallback",
    "MsgAuditNotify",
    "ReceiveIdError",
    "ReplayError",
    "SignatureError",
    "TextMessage",
    "UnknownEvent",
    "parse_aibot_message",
    "parse_envelope",
    "parse_event",
    "parse_json_envelope",
    "verify_request",
    "verify_url",
]
