"""The conversation state: every assistant turn the server produced, and the Responses API's
stored responses, per tenant, durable, bounded in bytes and by a TTL (docs/state.md).

``fingerprint`` (the keys a turn is found by, tenants, the deployment secret), ``base`` (the
records, the ``StateBackend`` protocol, stats), two backends: ``sqlite`` (default) and
``redis`` (shared by replicas), ``restore`` (which turns to look up; the merge), ``state``
(``ConversationState``: async reads in worker threads, group commit, durability, degrading
when the store fails), ``issuer`` (signatures the server issues itself) and ``pipeline``
(``Stateful``: all of it in front of any backend).

Errors: ``StoreError`` (a ``ThinkwireError``) when a backend fails; ``StoreUnavailable`` when
the state layer has marked it down.
"""

from __future__ import annotations

from os import PathLike

from thinkwire.store.base import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ENTRIES,
    DEFAULT_MAX_VALUE_BYTES,
    DEFAULT_TTL,
    StateBackend,
    StoredResponse,
    StoreError,
    StoreStats,
    recordable,
)
from thinkwire.store.fingerprint import ANONYMOUS, Keys, canonical_arguments, visible_bytes
from thinkwire.store.sqlite import SQLiteStore
from thinkwire.store.state import DURABILITIES, ConversationState, Durability, StoreUnavailable

STATE_DB = "state.db"
"""The SQLite file's name under ``$THINKWIRE_HOME``."""

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def open_store(
    target: str | PathLike[str],
    *,
    ttl: float = DEFAULT_TTL,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    fsync: bool = False,
) -> StateBackend:
    """A Redis backend for a ``redis://`` / ``rediss://`` / ``unix://`` URL, else SQLite at a path.

    ``max_entries``, ``max_bytes`` and ``fsync`` apply to SQLite only; Redis is bounded by its
    ``maxmemory`` and made durable by its own persistence (see ``thinkwire.store.redis``).
    """
    if isinstance(target, str) and target.startswith(_REDIS_SCHEMES):
        from thinkwire.store.redis import RedisStore  # redis-py is needed only here

        return RedisStore(target, ttl=ttl, max_value_bytes=max_value_bytes)
    return SQLiteStore(
        target,
        ttl=ttl,
        max_entries=max_entries,
        max_bytes=max_bytes,
        max_value_bytes=max_value_bytes,
        fsync=fsync,
    )


def open_state(
    target: str | PathLike[str], *, keys: Keys, durability: Durability = "commit", **bounds: float
) -> ConversationState:
    """The conversation state over ``open_store(target, ...)`` with ``durability``."""
    backend = open_store(target, fsync=durability == "fsync", **bounds)  # type: ignore[arg-type]
    return ConversationState(backend, keys, durability=durability)


__all__ = [
    "ANONYMOUS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ENTRIES",
    "DEFAULT_MAX_VALUE_BYTES",
    "DEFAULT_TTL",
    "DURABILITIES",
    "STATE_DB",
    "ConversationState",
    "Durability",
    "Keys",
    "SQLiteStore",
    "StateBackend",
    "StoreError",
    "StoreStats",
    "StoreUnavailable",
    "StoredResponse",
    "canonical_arguments",
    "open_state",
    "open_store",
    "recordable",
    "visible_bytes",
]
