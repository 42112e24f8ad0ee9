"""verify_request / verify_url: signature first, then the replay window, then decryption."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from botops.clock import FrozenClock
from botops.webhook import (
    CallbackCrypto,
    DecryptError,
    ReplayError,
    SignatureError,
    verify_request,
    verify_url,
)

CRYPTO = CallbackCrypto(
    "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7"
)
SKEW = timedelta(minutes=5)
NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
CLOCK = FrozenClock(NOW)


def _request(timestamp: str, message: str = "<xml/>", *, now: datetime = NOW) -> bytes:
    encrypted = CRYPTO.encrypt(message)
    return verify_request(
        CRYPTO,
        msg_signature=CRYPTO.signature(timestamp, "n1", encrypted),
        timestamp=timestamp,
        nonce="n1",
        encrypted=encrypted,
        now=now,
        max_skew=SKEW,
    )


def _ts(delta: timedelta) -> str:
    return str(int((NOW + delta).timestamp()))


@pytest.mark.parametrize(
    "delta", [timedelta(0), SKEW, -SKEW, timedelta(seconds=-299), timedelta(seconds=299)]
)
def test_inside_the_window_is_accepted(delta: timedelta) -> None:
    assert _request(_ts(delta), "<xml>ok</xml>", now=CLOCK.now()) == b"<xml>ok</xml>"


@pytest.mark.parametrize(
    "delta", [SKEW + timedelta(seconds=1), -SKEW - timedelta(seconds=1), timedelta(days=-3650)]
)
def test_outside_the_window_is_refused(delta: timedelta) -> None:
    with pytest.raises(ReplayError, match="window"):
        _request(_ts(delta))


def test_a_captured_request_replayed_later_is_refused() -> None:
    clock = FrozenClock(NOW)
    timestamp = _ts(timedelta(0))
    encrypted = CRYPTO.encrypt("<xml/>")
    signature = CRYPTO.signature(timestamp, "n1", encrypted)
    kwargs = {
        "msg_signature": signature,
        "timestamp": timestamp,
        "nonce": "n1",
        "encrypted": encrypted,
    }
    assert verify_request(CRYPTO, **kwargs, now=clock.now(), max_skew=SKEW) == b"<xml/>"
    clock.advance(SKEW + timedelta(seconds=1))
    with pytest.raises(ReplayError):
        verify_request(CRYPTO, **kwargs, now=clock.now(), max_skew=SKEW)


def test_now_in_another_timezone_is_the_same_instant() -> None:
    beijing = NOW.astimezone(timezone(timedelta(hours=8)))
    assert _request(_ts(timedelta(0)), now=beijing) == b"<xml/>"


@pytest.mark.parametrize("timestamp", ["", "abc", "1.5", "-1", " 1740819600", "١٢٣", "9" * 13])
def test_non_numeric_timestamp_is_refused(timestamp: str) -> None:
    with pytest.raises(ReplayError, match="not a number"):
        _request(timestamp)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _request(_ts(timedelta(0)), now=NOW.replace(tzinfo=None))


def test_signature_is_checked_before_the_timestamp() -> None:
    # A forged request gets "bad signature", not a hint about our clock window.
    with pytest.raises(SignatureError):
        verify_request(
            CRYPTO,
            msg_signature="0" * 40,
            timestamp="not-a-number",
            nonce="n",
            encrypted="garbage",
            now=NOW,
            max_skew=SKEW,
        )


def test_timestamp_is_checked_before_decryption() -> None:
    stale = _ts(timedelta(hours=-1))
    garbage = "not base64!!"
    with pytest.raises(ReplayError):
        verify_request(
            CRYPTO,
            msg_signature=CRYPTO.signature(stale, "n", garbage),
            timestamp=stale,
            nonce="n",
            encrypted=garbage,
            now=NOW,
            max_skew=SKEW,
        )


def test_verify_url_returns_the_plaintext_alone() -> None:
    timestamp = _ts(timedelta(0))
    echostr = CRYPTO.encrypt("5927782489442352469")
    signature = CRYPTO.signature(timestamp, "n", echostr)
    assert (
        verify_url(CRYPTO, signature, timestamp, "n", echostr, NOW, SKEW) == "5927782489442352469"
    )


def test_verify_url_refuses_a_non_utf8_echostr() -> None:
    timestamp = _ts(timedelta(0))
    echostr = CRYPTO.encrypt(b"\xff\xfe")
    signature = CRYPTO.signature(timestamp, "n", echostr)
    with pytest.raises(DecryptError, match="UTF-8"):
        verify_url(CRYPTO, signature, timestamp, "n", echostr, NOW, SKEW)


def test_verify_url_refuses_a_bad_signature() -> None:
    echostr = CRYPTO.encrypt("123")
    with pytest.raises(SignatureError):
        verify_url(CRYPTO, "0" * 40, _ts(timedelta(0)), "n", echostr, NOW, SKEW)


def test_negative_skew_is_a_programming_error() -> None:
    encrypted = CRYPTO.encrypt("x")
    timestamp = _ts(timedelta(0))
    with pytest.raises(ValueError, match="max_skew"):
        verify_request(
            CRYPTO,
            msg_signature=CRYPTO.signature(timestamp, "n", encrypted),
            timestamp=timestamp,
            nonce="n",
            encrypted=encrypted,
            now=NOW,
            max_skew=timedelta(seconds=-1),
        )
