"""Retry only what is retryable, with jittered exponential back-off and bounded attempts.

Sleeping is injected (tenacity's `sleep=`) so tests record the waits instead of waiting.
Calls that create something in WeCom (a mass-send task, a reminder, a robot message) pass
`idempotent=False`: they are retried only when WeCom *told us* it did nothing (-1, 45033, ...)
or the connection was never made — never after `OutcomeUnknown`, which could duplicate them.
`FrequencyLimited` (45009) is never retried here: WeCom's block outlasts any back-off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt
from tenacity.retry import retry_if_exception
from tenacity.wait import wait_exponential, wait_random

from botops.errors import WeComError, WeComRetryableError
from botops.wecom.responses import FrequencyLimited, OutcomeUnknown

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Defaults follow WeCom's advice for -1: retry at most 3 times (4 attempts in all)."""

    attempts: int = 4
    base_seconds: float = 0.5  # first wait; doubles each retry
    max_seconds: float = 30.0
    jitter_seconds: float = 0.5  # uniform 0..jitter added to each wait

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")


def should_retry(exc: BaseException, *, idempotent: bool) -> bool:
    if not isinstance(exc, WeComRetryableError) or isinstance(exc, FrequencyLimited):
        return False
    return idempotent or not isinstance(exc, OutcomeUnknown)


async def call_with_retry(
    api: str,
    attempt_fn: Callable[[int], Awaitable[T]],
    *,
    policy: RetryPolicy,
    sleep: Sleep = asyncio.sleep,
    idempotent: bool = True,
) -> T:
    """Run `attempt_fn(attempt_number)` until it succeeds, fails for good, or attempts run out.

    The last error is re-raised as is (not wrapped in tenacity's RetryError), so callers
    always see a WeComError.
    """
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(multiplier=policy.base_seconds, max=policy.max_seconds)
        + wait_random(0, policy.jitter_seconds),
        retry=retry_if_exception(lambda exc: should_retry(exc, idempotent=idempotent)),
        sleep=sleep,
        reraise=True,
        before_sleep=lambda state: _log_retry(api, state),
    )
    number = 0
    try:
        async for attempt in retrying:
            with attempt:
                number = attempt.retry_state.attempt_number
                return await attempt_fn(number)
    except WeComError as exc:
        log.warning(
            "wecom.failed",
            api=api,
            attempt=number,
            errcode=exc.errcode,
            error=type(exc).__name__,
        )
        raise
    raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover


def _log_retry(api: str, state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else None
    log.warning(
        "wecom.retry",
        api=api,
        attempt=state.attempt_number,
        errcode=getattr(exc, "errcode", None),
        error=type(exc).__name__,
        wait=wait,
    )
