"""Redis backend: replicas sharing one conversation state.

``redis://host:port/db`` (also ``rediss://``, ``unix://``). Keys, each with ``EX ttl``:

* ``thinkwire:turn:{key}`` — a turn's IR JSON under each of its turn keys (which bind the
  tenant);
* ``thinkwire:response:{tenant}:{id}`` — a stored response; ``thinkwire:item:{tenant}:{item}``
  — the id of the response holding an output item. The tenant in the key means another
  tenant's id is simply not there.

A hit refreshes the TTL (``GETEX``), so, as with SQLite, records expire ``ttl`` seconds after
their last use. Needs Redis >= 6.2; not Redis Cluster (one lookup script reads several keys).

* **Writes**: ``commit`` sends a batch in one ``MULTI`` / ``EXEC`` transaction (group commit).
  When ``commit`` returns, Redis has applied the batch in memory. What survives a crash of
  *Redis itself* is Redis's persistence setting: ``appendonly yes`` with ``appendfsync
  always`` loses nothing acknowledged, ``everysec`` (Redis's default for AOF) up to about a
  second, RDB snapshots alone everything since the last snapshot (docs/state.md).
* **Size**: each value is bounded here (``max_value_bytes``; a longer one is not kept and
  counted as ``rejected``). The global bound is Redis's own: set ``maxmemory`` and
  ``maxmemory-policy volatile-lru`` (or ``allkeys-lru``) on the server.
* **Timeouts**: every call gives up after ``timeout`` seconds (socket and connect), so a
  paused or unreachable Redis is an error in bounded time, never a hang.
* **Stats** are shared by every replica: ``hits``, ``misses`` and ``rejected`` are counters
  in the hash ``thinkwire:stats``; ``entries`` is the database's key count (``DBSIZE``) less
  that hash, so give thinkwire its own database number (the ``/db`` of the URL); ``bytes``,
  ``evictions`` and ``expired`` are the server's ``used_memory``, ``evicted_keys`` and
  ``expired_keys`` (``INFO``).
* **Threads**: redis-py clients are thread-safe (a connection pool).
* **Secret**: every replica must be started with the same deployment secret, or their keys
  differ and nothing is shared.
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
    ResponseDeletion,
    StoredResponse,
    StoreError,
    StoreStats,
    TurnRecord,
    Write,
    decode_response,
    decode_turn,
    encode_response,
    without_password,
)

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
    """The conversation state in Redis (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float = DEFAULT_TTL,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = 1.0,
    ) -> None:
        if ttl <= 0 or max_value_bytes < 1:
            raise ValueError("ttl and max_value_bytes must be positive")
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

    def _turn(self, key: str) -> str:
        return f"{self._prefix}turn:{key}"

    def _response(self, tenant: str, id: str) -> str:
        return f"{self._prefix}response:{tenant}:{id}"

    def _item(self, tenant: str, item: str) -> str:
        return f"{self._prefix}item:{tenant}:{item}"

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as e:
            raise StoreError(f"redis {without_password(self.url)}: {e}") from e

    def commit(self, writes: Sequence[Write]) -> list[bool]:
        done: list[bool] = []
        deletions: list[tuple[int, int]] = []  # (write, position of its DEL's reply)
        rejected = 0
        with self._errors():
            # a deleted response's items go with it: read which they are first
            doomed = [w for w in writes if isinstance(w, ResponseDeletion)]
            items = {(w.tenant, w.id): self._items_of(w.tenant, w.id) for w in doomed}
            pipe = self._redis.pipeline(transaction=True)
            for write in writes:
                if isinstance(write, ResponseDeletion):
                    deletions.append((len(done), len(pipe)))
                    pipe.delete(self._response(write.tenant, write.id))
                    for item in items[(write.tenant, write.id)]:
                        pipe.delete(self._item(write.tenant, item))
                    done.append(False)
                    continue
                value = write.encoded() if isinstance(write, TurnRecord) else encode_response(write.stored)
                if len(value) > self.max_value_bytes:
                    rejected += 1
                    done.append(False)
                    continue
                if isinstance(write, TurnRecord):
                    for key in write.keys:
                        pipe.set(self._turn(key), value, ex=self.ttl)
                else:
                    pipe.set(self._response(write.tenant, write.id), value, ex=self.ttl)
                    for item in write.stored.items:
                        pipe.set(self._item(write.tenant, item), write.id, ex=self.ttl)
                done.append(True)
            if rejected:
                pipe.hincrby(self._stats_key, "rejected", rejected)
            replies = pipe.execute() if len(pipe) else []
        for index, at in deletions:  # a DEL's reply is how many keys it removed
            done[index] = bool(replies[at])
        return done

    def turns(self, tenant: str, keys: Sequence[str]) -> list[Message | None]:
        if not keys:
            return []
        with self._errors():
            names = [self._stats_key, *(self._turn(key) for key in keys)]
            values = cast(list[bytes | None], self._lookup(keys=names, args=[self.ttl]))
        return [None if v is None else decode_turn(v) for v in values]

    def _items_of(self, tenant: str, id: str) -> tuple[str, ...]:
        value = cast(bytes | None, self._redis.get(self._response(tenant, id)))
        return () if value is None else decode_response(value).items

    def response(self, tenant: str, id: str) -> StoredResponse | None:
        with self._errors():
            value = cast(bytes | None, self._redis.getex(self._response(tenant, id), ex=self.ttl))
            if value is None:
                return None
            stored = decode_response(value)
            if stored.items:  # its items live as long as it does
                pipe = self._redis.pipeline(transaction=False)
                for item in stored.items:
                    pipe.expire(self._item(tenant, item), self.ttl)
                pipe.execute()
        return stored

    def item(self, tenant: str, item: str) -> str | None:
        with self._errors():
            value = cast(bytes | None, self._redis.get(self._item(tenant, item)))
        return None if value is None else value.decode("utf-8")

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
