"""Our own encryption round-trips, and every kind of damage is refused with a typed error."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from botops.errors import ConfigError
from botops.webhook import (
    CallbackCrypto,
    CallbackError,
    DecryptError,
    ReceiveIdError,
    SignatureError,
)

TOKEN = "QDG6eK"
KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP = "wx5823bf96d3bd56c7"
CRYPTO = CallbackCrypto(TOKEN, KEY, CORP)
AES_KEY = base64.b64decode(KEY + "=")


def _raw_encrypt(plain: bytes) -> str:
    """AES-CBC with no padding of its own: lets a test build deliberately broken plaintexts."""
    enc = Cipher(algorithms.AES(AES_KEY), modes.CBC(AES_KEY[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


@given(st.text())
def test_any_utf8_message_round_trips(message: str) -> None:
    assert CRYPTO.decrypt(CRYPTO.encrypt(message)) == message.encode("utf-8")


@given(st.binary(max_size=200), st.binary(min_size=16, max_size=16))
def test_ciphertext_is_whole_32_byte_blocks(message: bytes, prefix: bytes) -> None:
    raw = base64.b64decode(CRYPTO.encrypt(message, nonce_bytes=prefix))
    assert len(raw) % 32 == 0
    assert len(raw) >= 16 + 4 + len(message) + len(CORP)


def test_encrypt_is_deterministic_with_injected_prefix() -> None:
    prefix = b"0123456789abcdef"
    assert CRYPTO.encrypt("hi", nonce_bytes=prefix) == CRYPTO.encrypt("hi", nonce_bytes=prefix)
    assert CRYPTO.encrypt("hi") != CRYPTO.encrypt("hi")  # random prefix by default


def test_encrypt_refuses_a_prefix_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        CRYPTO.encrypt("hi", nonce_bytes=b"short")


@given(message=st.binary(min_size=1, max_size=100), data=st.data())
def test_any_tampered_ciphertext_byte_is_refused(message: bytes, data: st.DataObject) -> None:
    encrypted = CRYPTO.encrypt(message)
    raw = bytearray(base64.b64decode(encrypted))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    tampered = base64.b64encode(bytes(raw)).decode()
    signature = CRYPTO.signature("1409659813", "nonce", encrypted)
    # The signature covers the ciphertext, so tampering is caught before decryption.
    with pytest.raises(SignatureError):
        CRYPTO.verify(signature, "1409659813", "nonce", tampered)


@given(data=st.data())
def test_any_tampered_signature_character_is_refused(data: st.DataObject) -> None:
    encrypted = CRYPTO.encrypt("hello")
    signature = CRYPTO.signature("1409659813", "nonce", encrypted)
    index = data.draw(st.integers(0, len(signature) - 1))
    replacement = data.draw(st.characters().filter(lambda c: c != signature[index]))
    forged = signature[:index] + replacement + signature[index + 1 :]
    with pytest.raises(SignatureError):
        CRYPTO.verify(forged, "1409659813", "nonce", encrypted)


@pytest.mark.parametrize("field", ["timestamp", "nonce"])
def test_signature_covers_timestamp_and_nonce(field: str) -> None:
    encrypted = CRYPTO.encrypt("hello")
    signature = CRYPTO.signature("1409659813", "nonce", encrypted)
    args = {"timestamp": "1409659813", "nonce": "nonce"}
    args[field] += "0"
    with pytest.raises(SignatureError):
        CRYPTO.verify(signature, args["timestamp"], args["nonce"], encrypted)


def test_wrong_signature_length_and_non_ascii_are_refused_not_crashing() -> None:
    encrypted = CRYPTO.encrypt("hello")
    for forged in ["", "abc", "é" * 40, "\ud800" * 40]:
        with pytest.raises(SignatureError):
            CRYPTO.verify(forged, "1", "n", encrypted)


def test_wrong_receive_id_is_refused() -> None:
    encrypted = CallbackCrypto(TOKEN, KEY, "ww-another-corp").encrypt("hello")
    with pytest.raises(ReceiveIdError):
        CRYPTO.decrypt(encrypted)


def test_ai_bot_uses_an_empty_receive_id() -> None:
    bot = CallbackCrypto(TOKEN, KEY, "")
    assert bot.decrypt(bot.encrypt('{"msgid":"1"}')) == b'{"msgid":"1"}'
    with pytest.raises(ReceiveIdError):
        bot.decrypt(CRYPTO.encrypt("for the corp"))
    with pytest.raises(ReceiveIdError):
        CRYPTO.decrypt(bot.encrypt("for the bot"))


def _framed(message: bytes, receive_id: bytes = CORP.encode()) -> bytes:
    return b"r" * 16 + len(message).to_bytes(4, "big") + message + receive_id


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(b"\x00", id="pad-zero"),
        pytest.param(b"\x21", id="pad-33-exceeds-block"),
        pytest.param(b"\x05\x05\x05\x04\x05", id="pad-bytes-disagree"),
    ],
)
def test_bad_padding_is_refused(tail: bytes) -> None:
    body = _framed(b"hi")
    body += b"\x01" * (64 - len(body) - len(tail)) + tail
    assert len(body) == 64
    with pytest.raises(DecryptError, match="padding"):
        CRYPTO.decrypt(_raw_encrypt(body))


def test_length_field_beyond_plaintext_is_refused() -> None:
    body = b"r" * 16 + (10_000).to_bytes(4, "big") + b"hi" + CORP.encode()
    amount = 32 - len(body) % 32
    with pytest.raises(DecryptError, match="length"):
        CRYPTO.decrypt(_raw_encrypt(body + bytes([amount]) * amount))


def test_plaintext_shorter_than_header_is_refused() -> None:
    with pytest.raises(DecryptError, match="header"):
        CRYPTO.decrypt(_raw_encrypt(b"short" + bytes([27]) * 27))


@pytest.mark.parametrize(
    "encrypted",
    [
        pytest.param("", id="empty"),
        pytest.param("not base64!!", id="not-base64"),
        pytest.param(base64.b64encode(b"x" * 16).decode(), id="one-aes-block-only"),
        pytest.param(base64.b64encode(b"x" * 33).decode(), id="not-whole-blocks"),
    ],
)
def test_malformed_ciphertext_is_refused(encrypted: str) -> None:
    with pytest.raises(DecryptError):
        CRYPTO.decrypt(encrypted)


def test_all_callback_errors_share_one_base() -> None:
    for cls in (SignatureError, DecryptError, ReceiveIdError):
        assert issubclass(cls, CallbackError)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        pytest.param("short", "43 base64 characters, got 5", id="too-short"),
        pytest.param(KEY + "A", "got 44", id="too-long"),
        pytest.param("!" * 43, "not valid base64", id="bad-alphabet"),
    ],
)
def test_key_is_validated_at_construction(key: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        CallbackCrypto(TOKEN, key, CORP)
    assert key not in str(info.value)


def test_empty_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="token"):
        CallbackCrypto("", KEY, CORP)


def test_secrets_never_appear_in_errors_or_repr() -> None:
    assert TOKEN not in repr(CRYPTO)
    assert KEY not in repr(CRYPTO)
    with pytest.raises(CallbackError) as bad_base64:
        CRYPTO.decrypt("garbage")
    with pytest.raises(CallbackError) as other_corp:
        CRYPTO.decrypt(CallbackCrypto(TOKEN, KEY, "other").encrypt("x"))
    with pytest.raises(CallbackError) as bad_signature:
        CRYPTO.verify("0" * 40, "1", "n", "x")
    for info in (bad_base64, other_corp, bad_signature):
        assert TOKEN not in str(info.value)
        assert KEY not in str(info.value)
