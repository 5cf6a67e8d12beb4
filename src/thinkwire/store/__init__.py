"""The gateway's reasoning-state store: whole assistant turns, found again by their visible part.

``fingerprint`` (what identifies a turn, keyed per deployment and tenant), ``base`` (the
``StateStore`` protocol and stats), ``restore`` (record a response; put reasoning back into a
request), two backends: ``sqlite`` (default) and ``redis`` (shared by replicas), and
``writer`` (``WriteBehind``: any backend with its puts written by one thread, off the request
path).

Errors: ``StoreError`` (a ``ThinkwireError``) when a backend fails.
"""

from __future__ import annotations

from os import PathLike

from thinkwire.store.base import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ENTRIES,
    DEFAULT_MAX_VALUE_BYTES,
    DEFAULT_TTL,
    StateStore,
    StoreError,
    StoreStats,
    recordable,
)
from thinkwire.store.fingerprint import ANONYMOUS, Keys, canonical_arguments, load_secret, visible_bytes
from thinkwire.store.restore import merge, needs_restore, record, restore
from thinkwire.store.sqlite import SQLiteStore

STATE_DB = "state.db"
"""The SQLite file's name under ``$THINKWIRE_HOME``."""

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def open_store(
    target: str | PathLike[str],
    *,
    keys: Keys,
    ttl: float = DEFAULT_TTL,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
) -> StateStore:
    """A Redis store for a ``redis://`` / ``rediss://`` / ``unix://`` URL, else SQLite at a path.

    ``max_entries`` and ``max_bytes`` apply to SQLite only; Redis is bounded by its
    ``maxmemory`` (see ``thinkwire.store.redis``).
    """
    if isinstance(target, str) and target.startswith(_REDIS_SCHEMES):
        from thinkwire.store.redis import RedisStore  # redis-py is needed only here

        return RedisStore(target, keys=keys, ttl=ttl, max_value_bytes=max_value_bytes)
    return SQLiteStore(
        target,
        keys=keys,
        ttl=ttl,
        max_entries=max_entries,
        max_bytes=max_bytes,
        max_value_bytes=max_value_bytes,
    )


__all__ = [
    "ANONYMOUS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ENTRIES",
    "DEFAULT_MAX_VALUE_BYTES",
    "DEFAULT_TTL",
    "STATE_DB",
    "Keys",
    "SQLiteStore",
    "StateStore",
    "StoreError",
    "StoreStats",
    "canonical_arguments",
    "load_secret",
    "merge",
    "needs_restore",
    "open_store",
    "record",
    "recordable",
    "restore",
    "visible_bytes",
]
