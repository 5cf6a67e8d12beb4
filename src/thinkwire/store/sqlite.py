"""SQLite backend: one file (the gateway uses ``$THINKWIRE_HOME/state.db``), WAL mode.

Table ``turns``: ``key`` (the keyed fingerprint, which binds the tenant; primary key),
``tenant``, ``value`` (the turn's IR JSON), ``created_at``, ``last_used``, ``size``. A
one-row table ``totals`` kept by triggers holds the entry count and byte total, so bounds are
checked in O(1) and stay right when several processes share the file.

* **TTL** counts from the last use (a put or a hit refreshes it), so a conversation in
  progress keeps its turns. A hit writes its new ``last_used`` only when the stored one is
  older than ``touch_interval`` (60 s, at most a tenth of the TTL): every request of a tool
  loop re-reads the same turns, and most lookups then write nothing. That is also the
  precision of the LRU order. An expired row is never returned; it is deleted when looked up,
  and all expired rows are purged on a put at most every ``purge_interval`` seconds.
* **Bounds**: after a put, while there are more than ``max_entries`` rows or more than
  ``max_bytes`` bytes of values, the least recently used rows are deleted (``evictions``).
* **Threads**: one connection guarded by a lock. Each operation is one short transaction
  (tens of microseconds), so the lock costs the gateway's worker threads nothing worth a
  connection per thread, and ``close()`` works from any thread. Processes sharing the file
  are serialised by SQLite's own locking (``BEGIN IMMEDIATE``, 5 s busy timeout).
* **Durability**: ``synchronous=NORMAL``: a power loss may lose the last turns recorded;
  that costs a restore, never a wrong one.
* **Stats**: ``entries`` and ``bytes`` come from the file (shared); ``hits``, ``misses``,
  ``evictions``, ``expired`` and ``rejected`` are counted by this process since it opened.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from os import PathLike
from pathlib import Path

from thinkwire.ir.conversation import Message
from thinkwire.store.base import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ENTRIES,
    DEFAULT_MAX_VALUE_BYTES,
    DEFAULT_TTL,
    StoreError,
    StoreStats,
    decode_turn,
    encode_turn,
    recordable,
)
from thinkwire.store.fingerprint import Keys

_SCHEMA_VERSION = 1
_CHUNK = 500  # parameters per IN (...) clause

_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    key TEXT PRIMARY KEY NOT NULL,
    tenant TEXT NOT NULL,
    value BLOB NOT NULL,
    created_at REAL NOT NULL,
    last_used REAL NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_last_used ON turns (last_used);
CREATE TABLE IF NOT EXISTS totals (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    entries INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO totals (id, entries, bytes) VALUES (0, 0, 0);
CREATE TRIGGER IF NOT EXISTS turns_insert AFTER INSERT ON turns BEGIN
    UPDATE totals SET entries = entries + 1, bytes = bytes + NEW.size WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS turns_delete AFTER DELETE ON turns BEGIN
    UPDATE totals SET entries = entries - 1, bytes = bytes - OLD.size WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS turns_resize AFTER UPDATE OF size ON turns BEGIN
    UPDATE totals SET bytes = bytes - OLD.size + NEW.size WHERE id = 0;
END;
"""


class SQLiteStore:
    """The reasoning-state store in one SQLite file (see the module docstring)."""

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        keys: Keys,
        ttl: float = DEFAULT_TTL,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
        purge_interval: float = 60.0,
        touch_interval: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl <= 0 or max_entries < 1 or max_bytes < 1 or max_value_bytes < 1:
            raise ValueError("ttl and the bounds must be positive")
        self.keys = keys
        self.path = Path(path).expanduser()
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_value_bytes = min(max_value_bytes, max_bytes)
        self.purge_interval = purge_interval
        self.touch_interval = min(touch_interval, ttl / 10)
        self._clock = clock
        self._lock = threading.Lock()
        self._last_purge = -math.inf
        self._hits = self._misses = self._evictions = self._expired = self._rejected = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            (version,) = self._db.execute("PRAGMA user_version").fetchone()
            if version not in (0, _SCHEMA_VERSION):
                raise StoreError(f"{self.path}: schema version {version}, expected {_SCHEMA_VERSION}")
            # Every statement is idempotent, so processes opening the file together agree.
            self._db.executescript(
                f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version = {_SCHEMA_VERSION};COMMIT;"
            )
        except (sqlite3.Error, StoreError) as e:
            if hasattr(self, "_db"):
                self._db.close()
            if isinstance(e, StoreError):
                raise
            raise StoreError(f"{self.path}: {e}") from e

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            try:
                with self._transaction():
                    yield
            except sqlite3.Error as e:
                raise StoreError(f"{self.path}: {e}") from e

    def put(self, tenant: str, message: Message) -> bool:
        if not recordable(message):
            return False
        value = encode_turn(message)
        if len(value) > self.max_value_bytes:
            with self._lock:
                self._rejected += 1
            return False
        key = self.keys.fingerprint(tenant, message)
        with self._locked():
            now = self._clock()
            self._db.execute(
                "INSERT INTO turns (key, tenant, value, created_at, last_used, size)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value, created_at = excluded.created_at,"
                " last_used = excluded.last_used, size = excluded.size",
                (key, tenant, value, now, now, len(value)),
            )
            if now - self._last_purge >= self.purge_interval:
                self._last_purge = now
                cur = self._db.execute("DELETE FROM turns WHERE last_used < ?", (now - self.ttl,))
                self._expired += max(cur.rowcount, 0)
            self._evict()
        return True

    def _evict(self) -> None:
        entries, size = self._db.execute("SELECT entries, bytes FROM totals WHERE id = 0").fetchone()
        extra_entries, extra_bytes = entries - self.max_entries, size - self.max_bytes
        if extra_entries <= 0 and extra_bytes <= 0:
            return
        victims: list[str] = []
        for key, row_size in self._db.execute("SELECT key, size FROM turns ORDER BY last_used, rowid"):
            if extra_entries <= 0 and extra_bytes <= 0:
                break
            victims.append(key)
            extra_entries -= 1
            extra_bytes -= row_size
        for chunk in _chunks(victims):
            self._db.execute(f"DELETE FROM turns WHERE key IN ({_marks(chunk)})", chunk)
        self._evictions += len(victims)

    def get(self, tenant: str, fingerprint: str) -> Message | None:
        return self.get_many(tenant, [fingerprint])[0]

    def get_many(self, tenant: str, fingerprints: Sequence[str]) -> list[Message | None]:
        found: dict[str, bytes] = {}
        with self._lock:
            try:
                now = self._clock()
                expired: list[str] = []
                stale: list[str] = []  # hits whose last_used is older than touch_interval
                # Read outside a write transaction: a lookup of fresh turns writes nothing.
                for chunk in _chunks(list(dict.fromkeys(fingerprints))):
                    rows = self._db.execute(
                        f"SELECT key, value, last_used FROM turns WHERE key IN ({_marks(chunk)})", chunk
                    )
                    for key, value, last_used in rows:
                        if now - last_used > self.ttl:
                            expired.append(key)
                            continue
                        found[key] = value
                        if now - last_used >= self.touch_interval:
                            stale.append(key)
                if expired or stale:
                    with self._transaction():
                        for chunk in _chunks(expired):
                            self._db.execute(
                                f"DELETE FROM turns WHERE last_used < ? AND key IN ({_marks(chunk)})",
                                [now - self.ttl, *chunk],
                            )
                        for chunk in _chunks(stale):
                            self._db.execute(
                                f"UPDATE turns SET last_used = ? WHERE key IN ({_marks(chunk)})",
                                [now, *chunk],
                            )
            except sqlite3.Error as e:
                raise StoreError(f"{self.path}: {e}") from e
            self._expired += len(expired)
            hits = sum(1 for fp in fingerprints if fp in found)
            self._hits += hits
            self._misses += len(fingerprints) - hits
        return [decode_turn(found[fp]) if fp in found else None for fp in fingerprints]

    def stats(self) -> StoreStats:
        with self._locked():
            entries, size = self._db.execute("SELECT entries, bytes FROM totals WHERE id = 0").fetchone()
            return StoreStats(
                entries=entries,
                bytes=size,
                hits=self._hits,
                misses=self._misses,
                evictions=self._evictions,
                expired=self._expired,
                rejected=self._rejected,
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _marks(chunk: list[str]) -> str:
    return ",".join("?" * len(chunk))
