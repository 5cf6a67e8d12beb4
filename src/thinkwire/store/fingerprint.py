"""Fingerprints of an assistant turn's visible part, and tenants, keyed with a deployment secret.

A client that cannot hold reasoning (an OpenAI Chat SDK app, most agent frameworks) sends a
past assistant turn back as ``content`` and ``tool_calls`` only. The gateway recorded that
turn whole when it produced it; the fingerprint is how it finds it again. So the fingerprint
covers exactly what survives such a client, and nothing it may rewrite:

* **Text**: every ``Text`` block's text, in order, concatenated with no separator (the OpenAI
  Chat encoder joins a turn's texts into one ``content`` string the same way), then stripped of
  whitespace at both ends (clients strip, and a turn with ``content: ""`` decodes to no block
  at all).
* **Tool calls**, in order: ``id``, ``name`` and the canonical ``arguments``: parsed as JSON and
  dumped compactly with sorted keys and integral floats written as integers, because OpenAI SDK
  clients and agent frameworks parse and re-serialise them (``{"a": 1}`` comes back as
  ``{"a":1}``, keys reordered, ``1.0`` as ``1`` from JavaScript). Empty arguments count as
  ``{}`` (Anthropic sends ``input: {}`` for them). Arguments that are not JSON are kept as is.
* **Not included**: ``Thinking`` / ``RedactedThinking`` (that is what is missing), images and
  opaque items (dialects that cannot hold them drop them), ``extra`` fields, the message's
  ``plain`` flag, and the order of text relative to tool calls (OpenAI Chat always writes
  content before tool_calls).

The key is ``HMAC-SHA256(secret, tenant + "\\0" + canonical visible bytes)`` in hex. The
secret makes fingerprints unguessable, so nobody who knows a turn's text can probe the store;
the tenant inside it means the same visible turn of another tenant is a different key, so no
client can read or inject another's reasoning. Tenants are themselves an HMAC of the
presented credential (:meth:`Keys.tenant_of`): raw API keys are never stored.

Every gateway replica sharing one store must use the same secret (:func:`load_secret`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from thinkwire.ir.blocks import Text, ToolCall
from thinkwire.ir.conversation import Message
from thinkwire.local.signing import read_or_create_secret

ANONYMOUS = "anonymous"
"""The tenant of a request that presents no credential."""

SECRET_ENV = "THINKWIRE_STATE_SECRET"
"""Environment variable that, when set, holds the deployment secret."""

SECRET_FILE = "state.secret"
"""File under ``$THINKWIRE_HOME`` holding the secret when the environment does not give one."""

_VERSION = "v1"
_MIN_SECRET = 16


def canonical_arguments(arguments: str) -> str:
    """Tool-call arguments in canonical form: compact JSON, sorted keys, integral floats as ints.

    Empty (or whitespace-only) arguments are ``{}``; text that is not JSON is returned as is.
    """
    if not arguments.strip():
        return "{}"
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        # What orjson refuses but Python's json reads (NaN, integers over 64 bits, lone
        # surrogates) takes the slow path; the choice depends on the value, not its spelling.
        try:
            value = json.loads(arguments)
        except ValueError:
            return arguments
        return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return orjson.dumps(_normalise(value), option=orjson.OPT_SORT_KEYS).decode("utf-8")


def _normalise(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def visible_text(message: Message) -> str:
    """The turn's text as it enters the fingerprint: all texts joined, ends stripped."""
    return "".join(b.text for b in message.blocks if isinstance(b, Text)).strip()


def has_visible(message: Message) -> bool:
    """True when the turn has something to fingerprint: non-blank text or a tool call."""
    return any(isinstance(b, ToolCall) for b in message.blocks) or bool(visible_text(message))


def visible_bytes(message: Message) -> bytes:
    """The canonical, unkeyed bytes of the turn's visible part (see the module docstring)."""
    calls = [
        [b.id, b.name, canonical_arguments(b.arguments)] for b in message.blocks if isinstance(b, ToolCall)
    ]
    doc = [_VERSION, visible_text(message), calls]
    try:
        return orjson.dumps(doc)
    except orjson.JSONEncodeError:  # a lone surrogate in the text
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")


class Keys:
    """The deployment secret, and the two keyed digests made with it."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes | str) -> None:
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if len(raw) < _MIN_SECRET:
            raise ValueError(f"the state secret must be at least {_MIN_SECRET} bytes")
        self._secret = raw

    def __repr__(self) -> str:
        return "Keys(<secret>)"

    def tenant_of(self, credential: str | None) -> str:
        """The tenant a credential stands for: ``anonymous`` for none, else a keyed digest of it."""
        if credential is None:
            return ANONYMOUS
        digest = hmac.new(self._secret, b"tenant\0" + credential.encode("utf-8", "surrogatepass"), "sha256")
        return "t-" + digest.hexdigest()

    def fingerprint(self, tenant: str, message: Message) -> str:
        """The store key of ``message``'s visible part for ``tenant`` (hex HMAC-SHA256)."""
        data = tenant.encode("utf-8", "surrogatepass") + b"\0" + visible_bytes(message)
        return hmac.new(self._secret, data, hashlib.sha256).hexdigest()


def load_secret(home: Path, environ: Mapping[str, str] | None = None) -> bytes:
    """The deployment secret: ``$THINKWIRE_STATE_SECRET`` if set, else ``home/state.secret``.

    The file is created with 32 random bytes (hex, mode 0600) on first use, as the engine's
    signing secret is (``thinkwire.local.signing.read_or_create_secret``). Replicas that share
    a Redis store must share the secret: set the variable on all of them.
    """
    env = os.environ if environ is None else environ
    value = env.get(SECRET_ENV)
    if value:
        return value.encode("utf-8")
    return read_or_create_secret(home / SECRET_FILE)  # the one way thinkwire keeps a secret file
