"""Thinking signatures an emulator issues and checks.

A signature is ``base64url(payload) "." base64url(HMAC-SHA256(secret, payload))``, where the
payload (JSON) holds the thinking text, the block's index in the response that issued it, and
whether it was sent with its text omitted. Like a real vendor's signature it is opaque to the
client, self-contained (an emulator checks it without remembering what it sent, and restores
the text of a ``display: "omitted"`` block from it), valid only where it was issued (the
secret), and binds the block's place in its turn (a dropped or moved block is detected).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import msgspec


class Signed(msgspec.Struct, frozen=True):
    """What a valid signature vouches for: the text, the block's index, the omitted flag."""

    t: str
    i: int
    o: bool = False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs and verifies with one secret (one emulated provider)."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, payload: bytes) -> str:
        return _b64(hmac.new(self._secret, payload, hashlib.sha256).digest())

    def sign(self, text: str, index: int, *, omitted: bool = False) -> str:
        payload = msgspec.json.encode(Signed(t=text, i=index, o=omitted))
        return f"{_b64(payload)}.{self._mac(payload)}"

    def verify(self, signature: str) -> Signed | None:
        """The signed facts, or ``None`` when the signature is not one this signer issued."""
        body, _, mac = signature.partition(".")
        try:
            payload = _unb64(body)
        except ValueError:
            return None
        given = mac.encode("utf-8", "surrogatepass")  # compare_digest refuses non-ASCII str
        if not mac or not hmac.compare_digest(given, self._mac(payload).encode()):
            return None
        try:
            return msgspec.json.decode(payload, type=Signed)
        except msgspec.DecodeError:
            return None
