"""Keep secrets out of logs and error messages.

WeCom puts credentials in query strings (`corpsecret=`, `access_token=`, a robot's `key=`), so
any URL that reaches a log line or an exception is a leak waiting to happen. Everything that
turns a URL, an httpx error or a WeCom answer into text passes through `redact()` first, the
structlog pipeline runs `redact_secrets` as a last line of defence, and httpx's own request log
(stdlib logging, INFO) is filtered by `install_stdlib_redaction()`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

MASK = "***"

# Query/form parameters that carry credentials. `key` is the robot webhook key.
SECRET_PARAMS = ("access_token", "corpsecret", "secret", "key")
# structlog fields whose *value* is a credential, whatever it looks like.
SECRET_FIELDS = frozenset({"access_token", "corpsecret", "secret", "robot_key", "webhook_key"})

# `name=value` inside URLs, query strings and free text. The look-behind stops `key=` matching
# inside longer names such as `outbox_key=` or `api_key_id=`.
_PARAM_RE = re.compile(
    r"(?<![A-Za-z0-9_])(" + "|".join(SECRET_PARAMS) + r")=([^&\s\"'#,;)]+)", re.IGNORECASE
)
# `"access_token": "..."` inside JSON text (a WeCom gettoken answer that ended up in a message).
_JSON_RE = re.compile(r"(\"(?:access_token|corpsecret|secret|key)\"\s*:\s*\")([^\"]*)(\")")


def redact(text: str) -> str:
    """Mask every credential-looking parameter in `text`."""
    text = _PARAM_RE.sub(lambda m: f"{m.group(1)}={MASK}", text)
    return _JSON_RE.sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", text)


def redact_params(params: Mapping[str, str]) -> dict[str, str]:
    """A copy of query parameters with credential values masked."""
    return {k: (MASK if k.lower() in SECRET_PARAMS else v) for k, v in params.items()}


def fingerprint(secret: str) -> str:
    """A short, stable, non-reversible name for a secret (e.g. to tell robots apart in logs)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:10]


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {
            k: (MASK if str(k).lower() in SECRET_FIELDS else _scrub(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v) for v in value)
    return value


def redact_secrets(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask credential fields and credential-looking text in any field.

    Put it after `format_exc_info` (so tracebacks are scrubbed too) and before the renderer:
    `structlog.configure(processors=[..., format_exc_info, redact_secrets, renderer])`.
    """
    for field, value in list(event_dict.items()):
        if field.lower() in SECRET_FIELDS:
            event_dict[field] = MASK
        else:
            event_dict[field] = _scrub(value)
    return event_dict


class RedactingFilter(logging.Filter):
    """A stdlib logging filter that rewrites a record's message with `redact()` applied."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


# httpx logs every request URL at INFO ("HTTP Request: GET https://...?corpsecret=..."), and
# uvicorn's access log does the same on the simulator side.
_STDLIB_LOGGERS = ("httpx", "httpcore", "uvicorn.access", "uvicorn.error")


def install_stdlib_redaction() -> None:
    """Attach `RedactingFilter` to the third-party loggers that print URLs (idempotent)."""
    for name in _STDLIB_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())
