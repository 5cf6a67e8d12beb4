"""The keys a recorded assistant turn is found again by, and tenants, keyed with a deployment secret.

A client that cannot hold reasoning (an OpenAI Chat SDK app, most agent frameworks) sends a
past assistant turn back as ``content`` and ``tool_calls`` only. The server recorded that turn
whole when it produced it; these keys are how it finds it again. They cover what survives such
a client, and nothing it rewrites; and they tell apart turns of different conversations whose
visible part is the same (two conversations both answering "Done." must never receive each
other's thinking).

**What survives a client** (:func:`visible_bytes`):

* *Text*: every ``Text`` block's text, in order, joined, with **all** whitespace removed
  (clients strip ends, re-indent and normalise line ends; a turn with ``content: ""``
  decodes to no block at all).
* *Tool calls*, in order: ``name`` and the canonical ``arguments``: parsed as JSON and dumped
  compactly with sorted keys and integral floats written as integers, because OpenAI SDK
  clients and agent frameworks parse and re-serialise them (``{"a": 1}`` comes back as
  ``{"a":1}``, keys reordered, ``1.0`` as ``1`` from JavaScript). Empty arguments count as
  ``{}``. Arguments that are not JSON (or nested too deep to read) are kept as they are.
* *Not included*: ``Thinking`` / ``RedactedThinking`` (that is what is missing), images and
  opaque items, ``extra`` fields, the order of text relative to tool calls (OpenAI Chat
  writes content first), and tool-call ids (clients rewrite them: one real app sends
  ``toolu_X`` back as ``call_X_0``).

**Two keys per turn** (:meth:`Keys.turn_keys`), each ``HMAC-SHA256(secret, ...)`` in hex over
the tenant, a kind tag and the bytes below; a lookup tries them in this order:

1. ``ids`` — only for a turn whose every tool call has a *random* id: the id's longest run of
   letters and digits, when it is at least 16 characters and mixes both (:func:`id_core`:
   ``toolu_01A09q90qw90lq917835lq9`` and a client's ``call_01A09q90qw90lq917835lq9_0`` have
   the same core; ``functions.get_weather:0`` or ``call_1`` have none). Random ids are unique
   per generation, so this key names one turn of one conversation, wherever the client moved
   it in its history and whatever it did to the messages around it (compaction, injected
   reminders).
2. ``context`` — every turn: its visible bytes *and the conversation right before it*: the
   system prompt, the previous assistant turn's visible bytes, and every message between that
   turn and this one (the user's words; tool results by their id cores, or by their contents
   when their ids are not random), all whitespace-free. Two conversations share this key only
   when they are identical over that window, where the server could not tell them apart from
   the request either. The window is
   local on purpose: a client that edits or compacts older history still finds its later
   turns.

The secret makes keys unguessable, so nobody who knows a turn's text can probe the store; the
tenant inside them means the same turn of another tenant is a different key, so no client can
read or inject another's reasoning. Tenants are themselves an HMAC of the presented credential
(:meth:`Keys.tenant_of`): raw API keys are never stored.

The secret is the deployment's one secret (``thinkwire.local.signing.load_secret``:
``$THINKWIRE_SECRET`` or ``$THINKWIRE_HOME/secret``); ``Keys`` derives its own subkey from it
(``signing.subkey(secret, "state-keys")``), so the keys never equal anything else keyed with
that secret. Every replica sharing one store must use the same secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Sequence
from typing import Any

import orjson

from thinkwire.ir.blocks import Block, Text, ToolCall, ToolResult
from thinkwire.ir.conversation import Message
from thinkwire.local.signing import subkey

ANONYMOUS = "anonymous"
"""The tenant of a request that presents no credential."""

RETIRED_SECRET_ENV = "THINKWIRE_STATE_SECRET"
"""The state's own secret before thinkwire had one deployment secret; no longer read."""

_VERSION = "v2"
_MIN_SECRET = 16
_MIN_CORE = 16
_RUN = re.compile(r"[A-Za-z0-9]+")


def canonical_arguments(arguments: str) -> str:
    """Tool-call arguments in canonical form: compact JSON, sorted keys, integral floats as ints.

    Empty (or whitespace-only) arguments are ``{}``; text that is not JSON, or nested deeper
    than ``MAX_DEPTH``, is returned as is (the same way every time, whatever the caller's stack).
    """
    if not arguments.strip():
        return "{}"
    try:
        if _LONG_INTEGER.search(arguments):
            raise ValueError("integers over 64 bits: orjson would read them as floats")
        value = orjson.loads(arguments)
    except (orjson.JSONDecodeError, ValueError):
        # What orjson refuses or rounds but Python's json reads exactly (NaN, integers over 64
        # bits, lone surrogates) takes the slow path; the choice depends on the value.
        try:
            value = json.loads(arguments)
            normal = _normalise(value, 0)
        except (ValueError, RecursionError, _TooDeep):
            return arguments
        return json.dumps(normal, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        normal = _normalise(value, 0)
    except _TooDeep:
        return arguments
    return orjson.dumps(normal, option=orjson.OPT_SORT_KEYS).decode("utf-8")


MAX_DEPTH = 128
"""Arguments nested deeper are keyed as their exact text."""
_LONG_INTEGER = re.compile(r"\d{19,}")


class _TooDeep(Exception):
    pass


def _normalise(value: Any, depth: int) -> Any:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        raise _TooDeep
    if isinstance(value, dict):
        return {k: _normalise(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, depth + 1) for v in value]
    return value


def squeeze(text: str) -> str:
    """``text`` with every whitespace character removed."""
    return "".join(text.split())


def visible_text(message: Message) -> str:
    """The turn's text as it enters the keys: all texts joined, whitespace removed."""
    return squeeze("".join(b.text for b in message.blocks if isinstance(b, Text)))


def has_visible(message: Message) -> bool:
    """True when the turn has something to key: non-blank text or a tool call."""
    return any(isinstance(b, ToolCall) for b in message.blocks) or bool(visible_text(message))


def id_core(id: str) -> str | None:
    """The random part of a tool-call id: its longest run of letters and digits, when that is
    at least 16 characters long and holds both; else ``None`` (the id is not unique enough to
    key a turn by)."""
    runs = _RUN.findall(id)
    if not runs:
        return None
    core: str = max(runs, key=len)
    if len(core) < _MIN_CORE or core.isdigit() or core.isalpha():
        return None
    return core


def visible_bytes(message: Message) -> bytes:
    """The canonical, unkeyed bytes of the turn's visible part (module docstring)."""
    calls = [[b.name, canonical_arguments(b.arguments)] for b in message.blocks if isinstance(b, ToolCall)]
    return _dumps([_VERSION, visible_text(message), calls])


def _input_part(block: Block) -> Any:
    """What a block of a user, tool or system message contributes to a context key."""
    if isinstance(block, Text):
        return squeeze(block.text)
    if isinstance(block, ToolResult):
        # a random call id names the result; only without one does its content tell results
        # apart (apps may shorten old tool outputs, never their ids)
        core = id_core(block.call_id)
        return ["result", core] if core else ["result", "", squeeze(block.content_text())]
    return None


def context_bytes(system: Sequence[Block] | None, messages: Sequence[Message], index: int) -> bytes:
    """The conversation right before ``messages[index]`` as the context key holds it."""
    start = index
    while start > 0 and messages[start - 1].role != "assistant":
        start -= 1
    previous = visible_bytes(messages[start - 1]).decode("utf-8", "surrogatepass") if start > 0 else ""
    inputs = [
        [m.role, [p for b in m.blocks if (p := _input_part(b)) is not None]] for m in messages[start:index]
    ]
    prompt = squeeze("".join(b.text for b in system or () if isinstance(b, Text)))
    return _dumps([_VERSION, prompt, previous, inputs])


def _dumps(doc: Any) -> bytes:
    try:
        return orjson.dumps(doc)
    except orjson.JSONEncodeError:  # a lone surrogate in a text
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")


class Keys:
    """The deployment secret, and the keyed digests made with it."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes | str) -> None:
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if len(raw) < _MIN_SECRET:
            raise ValueError(f"the state secret must be at least {_MIN_SECRET} bytes")
        self._secret = subkey(raw, "state-keys")

    def __repr__(self) -> str:
        return "Keys(<secret>)"

    def tenant_of(self, credential: str | None) -> str:
        """The tenant a credential stands for: ``anonymous`` for none, else a keyed digest of it."""
        if credential is None:
            return ANONYMOUS
        digest = hmac.new(self._secret, b"tenant\0" + credential.encode("utf-8", "surrogatepass"), "sha256")
        return "t-" + digest.hexdigest()

    def turn_keys(
        self, tenant: str, system: Sequence[Block] | None, messages: Sequence[Message], index: int
    ) -> tuple[str, ...]:
        """The keys of the assistant turn ``messages[index]`` in its conversation, in lookup
        order: the ``ids`` key when every tool call has a random id, then the ``context`` key
        (module docstring)."""
        message = messages[index]
        visible = visible_bytes(message)
        keys: list[str] = []
        cores = [id_core(b.id) for b in message.blocks if isinstance(b, ToolCall)]
        if cores and all(cores):
            keys.append(self._digest(tenant, b"ids", visible, _dumps(cores)))
        keys.append(self._digest(tenant, b"context", visible, context_bytes(system, messages, index)))
        return tuple(keys)

    def _digest(self, tenant: str, kind: bytes, *parts: bytes) -> str:
        mac = hmac.new(self._secret, tenant.encode("utf-8", "surrogatepass"), hashlib.sha256)
        mac.update(b"\0" + kind)
        for part in parts:
            mac.update(b"\0" + str(len(part)).encode() + b":" + part)
        return mac.hexdigest()
