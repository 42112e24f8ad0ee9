"""The botops error tree.

    BotopsError
    ├── ConfigError                 a setting is missing or wrong (names the key)
    ├── PlaybookError               playbooks or templates do not validate (carries Problems)
    ├── TargetsError                a groups/targets file is malformed
    ├── UnknownGroupError           (store.groups) no such group in the store
    ├── InvalidTagError             (store.groups) an empty or malformed tag
    ├── AttachmentError             (senders.base) an attachment WeCom would not accept
    ├── LeadershipError             (daemon.leader) another daemon holds the SQLite database
    └── WeComError                  WeCom answered with an error or could not be reached
        ├── WeComConfigError        bad corp id / secret, API not permitted: fix the config
        ├── WeComRetryableError     busy, rate limited, 5xx, network: worth another try
        │   ├── TokenExpired        (wecom.responses) 40014/42001: refetch the token once
        │   └── OutcomeUnknown      (wecom.responses) the request may have taken effect:
        │                           never resent blindly, reconciled instead
        └── WeComRejectedError      a permanent rejection of this request (errcode, errmsg)

Errors that belong to one package are defined there (named in brackets). Domain code raises
them; only the CLI turns them into exit codes and messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class BotopsError(Exception):
    """Base of every error botops raises on purpose."""


class ConfigError(BotopsError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"config {key}: {message}")
        self.key = key


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One validation finding, located as PATH:LINE:COL (1-based)."""

    path: str
    line: int
    col: int
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else "warning: "
        return f"{self.path}:{self.line}:{self.col}: {prefix}{self.message}"


class PlaybookError(BotopsError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        super().__init__("\n".join(str(p) for p in errors) or "playbooks do not validate")


class TargetsError(BotopsError):
    """A groups file (for preview) or target list is malformed."""


class WeComError(BotopsError):
    def __init__(self, api: str, errcode: int | None, errmsg: str) -> None:
        code = "" if errcode is None else f" errcode {errcode}"
        super().__init__(f"WeCom {api}:{code} {errmsg}".rstrip())
        self.api = api
        self.errcode = errcode
        self.errmsg = errmsg


class WeComConfigError(WeComError):
    """Retrying will not help: the corp id, secret, app permissions or IP allow-list are wrong."""


class WeComRetryableError(WeComError):
    """A transient failure: system busy, rate limited, server error or network trouble."""


class WeComRejectedError(WeComError):
    """WeCom permanently rejected this request (bad parameter, no permission, ...)."""
