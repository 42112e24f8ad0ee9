"""The order of checks for an incoming callback: signature, replay window, then decrypt.

Why this order: the signature is cheap and proves the timestamp is WeCom's, so the replay
check can trust it; only then do we spend AES on the body, which also means nobody without the
token can probe our padding or length checks. `now` is passed in (from `Clock.now()`), never
read here, so tests pin it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from botops.webhook.crypto import CallbackCrypto
from botops.webhook.errors import DecryptError, ReplayError

_MAX_TIMESTAMP_DIGITS = 12
"""Seconds since 1970 fit in 11 digits until the year 5138; anything longer is refused."""


def check_timestamp(timestamp: str, *, now: datetime, max_skew: timedelta) -> None:
    """Refuse a timestamp that is not plain ASCII digits or lies outside now ± max_skew."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (use Clock.now())")
    if max_skew < timedelta(0):
        raise ValueError("max_skew must not be negative")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        raise ReplayError("timestamp is not a number of seconds")
    if abs(int(timestamp) - now.timestamp()) > max_skew.total_seconds():
        raise ReplayError("timestamp is outside the allowed window")


def verify_request(
    crypto: CallbackCrypto,
    *,
    msg_signature: str,
    timestamp: str,
    nonce: str,
    encrypted: str,
    now: datetime,
    max_skew: timedelta,
) -> bytes:
    """Return the decrypted payload of a POST callback, or raise a CallbackError."""
    crypto.verify(msg_signature, timestamp, nonce, encrypted)
    check_timestamp(timestamp, now=now, max_skew=max_skew)
    return crypto.decrypt(encrypted)


def verify_url(
    crypto: CallbackCrypto,
    msg_signature: str,
    timestamp: str,
    nonce: str,
    echostr: str,
    now: datetime,
    max_skew: timedelta,
) -> str:
    """Answer WeCom's GET URL check: the decrypted echostr, to be sent back alone.

    The caller writes exactly this string as the response body (no quotes, BOM or newline).
    """
    plain = verify_request(
        crypto,
        msg_signature=msg_signature,
        timestamp=timestamp,
        nonce=nonce,
        encrypted=echostr,
        now=now,
        max_skew=max_skew,
    )
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptError("echostr does not decrypt to UTF-8 text") from None
