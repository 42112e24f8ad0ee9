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
    if "=" not in text and '"' not in text:  # neither pattern can match: most log values
        return text
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
    """A stdlib logging filter that redacts a record's message template and arguments.

    Arguments are redacted one by one, keeping the tuple's shape: formatters such as
    uvicorn's access-log formatter unpack `record.args` positionally. An argument is only
    replaced (by its redacted text) when its text actually held a secret — numbers and other
    harmless values keep their type for `%d`-style templates.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(a) for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: _redact_arg(v) for k, v in record.args.items()}
        return True


def _redact_arg(value: object) -> object:
    if isinstance(value, int | float | bool) or value is None:
        return value
    text = str(value)  # httpx passes the URL object itself
    cleaned = redact(text)
    return value if cleaned == text else cleaned


# httpx logs every request URL at INFO ("HTTP Request: GET https://...?corpsecret=..."), and
# uvicorn's access log does the same on the simulator side.
_STDLIB_LOGGERS = ("httpx", "httpcore", "uvicorn.access", "uvicorn.error")


def install_stdlib_redaction() -> None:
    """Attach `RedactingFilter` to the third-party loggers that print URLs (idempotent)."""
    for name in _STDLIB_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())
