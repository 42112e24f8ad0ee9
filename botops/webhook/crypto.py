"""WXBizMsgCrypt: WeCom's callback signature and AES scheme (wecom-api.md §5).

Why each check exists:
- The signature is sha1 over the sorted token, timestamp, nonce and ciphertext. Compared in
  constant time so response timing tells an attacker nothing about a near-miss.
- PKCS#7 uses **32-byte** blocks (not AES's 16). The official samples trust the pad byte
  blindly; we check every pad byte, so a corrupted body is refused instead of half-read.
- The 4-byte length and the trailing receive id are checked so a message encrypted for
  another corp (same key reused) or a truncated one is refused. AI-bot callbacks use an
  empty receive id.

Nothing here reads the clock or the network; randomness is injectable for tests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from botops.errors import ConfigError
from botops.webhook.errors import DecryptError, ReceiveIdError, SignatureError

BLOCK_SIZE = 32
"""WeCom pads to 32-byte blocks, unlike AES's 16."""

RANDOM_PREFIX = 16
LENGTH_FIELD = 4
_HEADER = RANDOM_PREFIX + LENGTH_FIELD
_KEY_CONFIG_NAME = "wecom.callback_aes_key"
_TOKEN_CONFIG_NAME = "wecom.callback_token"


def _decode_key(encoding_aes_key: str) -> bytes:
    """Turn the 43-character EncodingAESKey into the 32-byte AES key, or explain why not."""
    if len(encoding_aes_key) != 43:
        raise ConfigError(
            _KEY_CONFIG_NAME,
            f"EncodingAESKey must be 43 base64 characters, got {len(encoding_aes_key)}",
        )
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(
            _KEY_CONFIG_NAME, "EncodingAESKey is not valid base64 (A-Z, a-z, 0-9, +, /)"
        ) from None
    if len(key) != 32:  # pragma: no cover - 43 valid chars + "=" always decode to 32 bytes
        raise ConfigError(_KEY_CONFIG_NAME, "EncodingAESKey does not decode to 32 bytes")
    return key


def _pad(data: bytes) -> bytes:
    amount = BLOCK_SIZE - len(data) % BLOCK_SIZE
    return data + bytes([amount]) * amount


def _unpad(data: bytes) -> bytes:
    if not data:
        raise DecryptError("ciphertext decrypts to nothing")
    amount = data[-1]
    if not 1 <= amount <= BLOCK_SIZE or data[-amount:] != bytes([amount]) * amount:
        raise DecryptError("bad PKCS#7 padding")
    return data[:-amount]


class CallbackCrypto:
    """Signs, verifies, decrypts and encrypts WeCom callback payloads for one receive id."""

    __slots__ = ("_cipher", "_receive_id", "_token")

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        if not token:
            raise ConfigError(_TOKEN_CONFIG_NAME, "the callback token must not be empty")
        self._token = token
        key = _decode_key(encoding_aes_key)
        # WeCom's IV is the key's first 16 bytes, so one Cipher serves every message; each
        # call still gets a fresh context from it (half the cost of building both).
        self._cipher = Cipher(algorithms.AES(key), modes.CBC(key[:16]))
        self._receive_id = receive_id.encode("utf-8")

    def __repr__(self) -> str:
        # Never show the token or key, even in a traceback's locals.
        return f"CallbackCrypto(receive_id={self._receive_id.decode('utf-8')!r})"

    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        """sha1 over the four strings sorted and concatenated, lower-case hex."""
        parts = sorted([self._token, timestamp, nonce, encrypted])
        return hashlib.sha1("".join(parts).encode("utf-8")).hexdigest()

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        """Raise SignatureError unless msg_signature is ours; constant-time comparison."""
        expected = self.signature(timestamp, nonce, encrypted).encode("ascii")
        given = msg_signature.encode("utf-8", errors="replace")
        if not hmac.compare_digest(expected, given):
            raise SignatureError("msg_signature does not match")

    def decrypt(self, encrypted: str) -> bytes:
        """Decrypt and unwrap one payload; checks padding, length field and receive id."""
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise DecryptError("ciphertext is not valid base64") from None
        if not raw or len(raw) % BLOCK_SIZE:
            raise DecryptError(f"ciphertext length {len(raw)} is not a multiple of {BLOCK_SIZE}")
        decryptor = self._cipher.decryptor()
        plain = _unpad(decryptor.update(raw) + decryptor.finalize())
        if len(plain) < _HEADER:
            raise DecryptError("plaintext is shorter than its header")
        (length,) = struct.unpack(">I", plain[RANDOM_PREFIX:_HEADER])
        if length > len(plain) - _HEADER:
            raise DecryptError("length field exceeds the plaintext")
        message = plain[_HEADER : _HEADER + length]
        if plain[_HEADER + length :] != self._receive_id:
            raise ReceiveIdError("payload is addressed to a different receive id")
        return message

    def encrypt(self, message: bytes | str, *, nonce_bytes: bytes | None = None) -> str:
        """Encrypt a message for WeCom (passive replies) or for our own round-trip tests.

        `nonce_bytes` is the 16-byte random prefix; pass it only to make tests repeatable.
        """
        body = message.encode("utf-8") if isinstance(message, str) else message
        prefix = os.urandom(RANDOM_PREFIX) if nonce_bytes is None else nonce_bytes
        if len(prefix) != RANDOM_PREFIX:
            raise ValueError(f"nonce_bytes must be {RANDOM_PREFIX} bytes, got {len(prefix)}")
        plain = prefix + struct.pack(">I", len(body)) + body + self._receive_id
        encryptor = self._cipher.encryptor()
        raw = encryptor.update(_pad(plain)) + encryptor.finalize()
        return base64.b64encode(raw).decode("ascii")
