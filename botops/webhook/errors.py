"""Errors raised while checking and reading a WeCom callback.

    BotopsError
    └── CallbackError           the callback is refused; the adapter answers a generic 401/400
        ├── SignatureError      msg_signature does not match token + timestamp + nonce + body
        ├── ReplayError         timestamp missing, not numeric, or outside the allowed skew
        ├── DecryptError        not base64, wrong block size, bad padding or bad length field
        ├── ReceiveIdError      decrypted fine but addressed to another corp / app / bot
        └── MalformedCallback   the (decrypted) XML or JSON is unreadable, unsafe or incomplete

Messages are written for logs: they never contain the token, the EncodingAESKey or the
decrypted text, and never echo attacker-controlled input at length. The web adapter should not
forward them to the caller at all (it answers a generic status); they are for our operators.
"""

from __future__ import annotations

from botops.errors import BotopsError


class CallbackError(BotopsError):
    """A callback that must be refused."""


class SignatureError(CallbackError):
    """The request was not signed with our token (or was altered on the way)."""


class ReplayError(CallbackError):
    """The signed timestamp is too far from now: a replayed or badly delayed request."""


class DecryptError(CallbackError):
    """The ciphertext does not decrypt to a well-formed WXBizMsgCrypt plaintext."""


class ReceiveIdError(CallbackError):
    """The plaintext names a different receive id (corp id, suite id, or '' for AI bots)."""


class MalformedCallback(CallbackError):
    """The envelope or decrypted payload cannot be parsed safely into a callback."""
