"""Redis backend: gateway replicas sharing one reasoning-state store.

``redis://host:port/db`` (also ``rediss://``, ``unix://``). A turn is stored as
``thinkwire:state:{fingerprint}`` (the fingerprint binds the tenant) holding the turn's IR
JSON, with ``EX ttl``; a hit refreshes the TTL (``GETEX``), so, as with SQLite, turns expire
``ttl`` seconds after their last use. Needs Redis >= 6.2; not Redis Cluster (one lookup script
reads several keys).

* **Size**: each value is bounded here (``max_value_bytes``; a longer turn is not recorded and
  counted as ``rejected``). The global bound is Redis's own: set ``maxmemory`` and
  ``maxmemory-policy volatile-lru`` (or ``allkeys-lru``) on the server; there is no
  ``max_entries`` / ``max_bytes`` here.
* **Stats** are shared by every replica: ``hits``, ``misses`` and ``rejected`` are counters
  in the hash ``thinkwire:stats`` (``HINCRBY``, in the same round trip as the lookup);
  ``entries`` is the database's key count (``DBSIZE``) less that hash, so give thinkwire its
  own database number (the ``/db`` of the URL); ``bytes``, ``evictions`` and ``expired`` are
  the server's ``used_memory``, ``evicted_keys`` and ``expired_keys`` (``INFO``).
* **Threads**: redis-py clients are thread-safe (a connection pool), so one ``RedisStore``
  serves all worker threads.
* **Secret**: every replica must be started with the same deployment secret, or their
  fingerprints differ and nothing is shared.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import redis

from thinkwire.ir.conversation import Message
from thinkwire.store.base import (
    DEFAULT_MAX_VALUE_BYTES,
    DEFAULT_TTL,
    StoreError,
    StoreStats,
    decode_turn,
    encode_turn,
    recordable,
    without_password,
)
from thinkwire.store.fingerprint import Keys

DEFAULT_PREFIX = "thinkwire:"

# KEYS[1] is the stats hash, KEYS[2..] the turns; ARGV[1] the TTL in seconds. A miss is
# ``false`` in the reply table (a nil would end it).
_LOOKUP = """
local out = {}
local hits = 0
for i = 2, #KEYS do
    local value = redis.call('GETEX', KEYS[i], 'EX', ARGV[1])
    if value then
        hits = hits + 1
        out[i - 1] = value
    else
        out[i - 1] = false
    end
end
if hits > 0 then redis.call('HINCRBY', KEYS[1], 'hits', hits) end
if #KEYS - 1 - hits > 0 then redis.call('HINCRBY', KEYS[1], 'misses', #KEYS - 1 - hits) end
return out
"""


class RedisStore:
    """The reasoning-state store in Redis (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        keys: Keys,
        ttl: float = DEFAULT_TTL,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = 2.0,
    ) -> None:
        if ttl <= 0 or max_value_bytes < 1:
            raise ValueError("ttl and max_value_bytes must be positive")
        self.keys = keys
        self.url = url
        self.ttl = max(1, math.ceil(ttl))
        self.max_value_bytes = max_value_bytes
        self._prefix = prefix
        self._stats_key = prefix + "stats"
        self._redis: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._lookup = self._redis.register_script(_LOOKUP)

    def __repr__(self) -> str:
        return f"RedisStore({without_password(self.url)!r})"

    def _key(self, fingerprint: str) -> str:
        return f"{self._prefix}state:{fingerprint}"

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as e:
            raise StoreError(f"redis {without_password(self.url)}: {e}") from e

    def put(self, tenant: str, message: Message) -> bool:
        if not recordable(message):
            return False
        value = encode_turn(message)
        with self._errors():
            if len(value) > self.max_value_bytes:
                self._redis.hincrby(self._stats_key, "rejected", 1)
                return False
            self._redis.set(self._key(self.keys.fingerprint(tenant, message)), value, ex=self.ttl)
        return True

    def get(self, tenant: str, fingerprint: str) -> Message | None:
        return self.get_many(tenant, [fingerprint])[0]

    def get_many(self, tenant: str, fingerprints: Sequence[str]) -> list[Message | None]:
        if not fingerprints:
            return []
        with self._errors():
            keys = [self._stats_key, *(self._key(fp) for fp in fingerprints)]
            values = cast(list[bytes | None], self._lookup(keys=keys, args=[self.ttl]))
        return [None if v is None else decode_turn(v) for v in values]

    def stats(self) -> StoreStats:
        with self._errors():
            pipe = self._redis.pipeline(transaction=False)
            pipe.hgetall(self._stats_key)
            pipe.exists(self._stats_key)
            pipe.dbsize()
            pipe.info("memory")
            pipe.info("stats")
            counters, has_stats, size, memory, server = cast(
                tuple[dict[bytes, bytes], int, int, dict[str, Any], dict[str, Any]], tuple(pipe.execute())
            )
        return StoreStats(
            entries=max(size - has_stats, 0),
            bytes=int(memory.get("used_memory", 0)),
            hits=int(counters.get(b"hits", 0)),
            misses=int(counters.get(b"misses", 0)),
            evictions=int(server.get("evicted_keys", 0)),
            expired=int(server.get("expired_keys", 0)),
            rejected=int(counters.get(b"rejected", 0)),
        )

    def close(self) -> None:
        self._redis.close()
