"""The reasoning-state store interface, its statistics, and what the backends share.

A store maps a keyed fingerprint (``Keys.fingerprint(tenant, turn)``, which binds the tenant)
to a whole assistant turn, serialised with the IR's own serde. Backends: ``SQLiteStore``
(one file, one host) and ``RedisStore`` (replicas sharing state).

Errors: a backend failure (disk full, Redis down) raises :class:`StoreError`, a
``ThinkwireError``; the gateway decides whether to go on without the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import msgspec

from thinkwire.errors import ThinkwireError
from thinkwire.ir.blocks import is_reasoning
from thinkwire.ir.conversation import Message
from thinkwire.ir.serde import from_json, to_json
from thinkwire.store.fingerprint import Keys, has_visible

DEFAULT_TTL = 7 * 24 * 3600.0
"""Seconds a turn is kept after its last use (put or hit)."""
DEFAULT_MAX_ENTRIES = 100_000
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_VALUE_BYTES = 4 * 1024 * 1024
"""A longer turn is not recorded (counted in ``StoreStats.rejected``)."""


class StoreError(ThinkwireError):
    """The store's backend failed (I/O, connection, corrupt value)."""


class StoreStats(msgspec.Struct, frozen=True, kw_only=True):
    """What a store holds and how it has been used.

    ``entries`` and ``bytes`` describe the stored turns now. ``hits`` / ``misses`` count
    lookups, ``evictions`` turns dropped to honour a size bound, ``expired`` turns dropped
    after their TTL, ``rejected`` turns not recorded because they exceed the per-value limit.
    Which of these are per process and which shared is documented per backend.
    """

    entries: int = 0
    bytes: int = 0
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    expired: int = 0
    rejected: int = 0


@runtime_checkable
class StateStore(Protocol):
    """Where whole assistant turns are kept, keyed per tenant by their visible part."""

    keys: Keys
    """The deployment secret's digests; ``restore`` fingerprints with them."""

    def put(self, tenant: str, message: Message) -> bool:
        """Record a whole assistant turn that holds reasoning.

        Returns whether it was recorded: turns of other roles, turns without any
        ``Thinking`` / ``RedactedThinking``, turns with nothing visible (no text, no tool
        call: they could not be told apart) and turns over the per-value limit are not.
        A turn with the same visible part replaces the one recorded before.
        """
        ...

    def get(self, tenant: str, fingerprint: str) -> Message | None:
        """The turn recorded under ``fingerprint`` (from ``keys.fingerprint(tenant, ...)``)."""
        ...

    def get_many(self, tenant: str, fingerprints: Sequence[str]) -> list[Message | None]:
        """``get`` for several fingerprints in one round trip, results in the same order."""
        ...

    def stats(self) -> StoreStats: ...

    def close(self) -> None: ...


def recordable(message: Message) -> bool:
    """Whether ``put`` would record this turn (ignoring the size limit)."""
    return (
        message.role == "assistant" and any(is_reasoning(b) for b in message.blocks) and has_visible(message)
    )


def encode_turn(message: Message) -> bytes:
    """A turn as stored: the IR's JSON."""
    return to_json(message)


def decode_turn(data: bytes) -> Message:
    """A stored turn back to the IR; a value that does not decode is a ``StoreError``."""
    try:
        return from_json(data, Message)
    except msgspec.DecodeError as e:
        raise StoreError(f"stored turn does not decode: {e}") from e


def without_password(url: str) -> str:
    """The URL as it may appear in errors and logs: any password replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    auth, _, host = rest.rpartition("@")
    user = auth.partition(":")[0]
    return f"{scheme}://{user}:***@{host}" if ":" in auth else f"{scheme}://***@{host}"
