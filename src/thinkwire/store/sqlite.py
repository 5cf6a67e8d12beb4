"""SQLite backend: one file (``$THINKWIRE_HOME/state.db`` by default), WAL mode.

Tables: ``turns`` (``key`` — a keyed turn key, which binds the tenant — ``tenant``, ``value``:
the turn's IR JSON, ``last_used``, ``size``), ``responses`` (``tenant``, ``id``, ``value``: a
``StoredResponse``, ``last_used``, ``size``; primary key ``(tenant, id)``, so another tenant's
id is simply not there) and ``items`` (``tenant``, ``item`` -> ``response``), and a one-row
``totals`` kept by triggers with the record count and byte total over turns and responses, so
bounds are checked in O(1) and stay right when several processes share the file.

* **Writes** come in batches (``commit``): one ``BEGIN IMMEDIATE`` ... ``COMMIT`` for many
  records (group commit), on one writer connection.
* **Durability** (``synchronous``): ``NORMAL`` by default: in WAL mode a committed
  transaction is in the WAL file, so it survives the server process being killed; an OS crash
  or power loss may lose the last transactions. ``FULL`` (``fsync=True``) syncs the WAL on
  every commit, so a commit also survives those.
* **Reads** use one connection per thread (WAL readers never wait for the writer). A hit
  writes its new ``last_used`` only when the stored one is older than ``touch_interval``
  (60 s, at most a tenth of the TTL): every request of a tool loop re-reads the same turns,
  and most lookups then write nothing.
* **TTL** counts from the last use, so a conversation in progress keeps its records. An
  expired record is never returned; expired rows are purged on a commit at most every
  ``purge_interval`` seconds.
* **Bounds**: after a commit, while there are more than ``max_entries`` records or more than
  ``max_bytes`` bytes of values, the least recently used records (turns and responses alike)
  are deleted (``evictions``). A record over ``max_value_bytes`` is not kept (``rejected``).
* **Stats**: ``entries`` and ``bytes`` come from the file (shared); ``hits``, ``misses``,
  ``evictions``, ``expired`` and ``rejected`` are counted by this process since it opened.
* **Schema**: version 2. A version-1 file (before turns were keyed by their conversation)
  has its turns dropped on opening: their keys can no longer be computed.
"""

from __future__ import annotations

import logging
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
    ResponseDeletion,
    ResponseRecord,
    StoredResponse,
    StoreError,
    StoreStats,
    TurnRecord,
    Write,
    decode_response,
    decode_turn,
    encode_response,
)

_SCHEMA_VERSION = 2
_CHUNK = 500  # parameters per IN (...) clause
log = logging.getLogger("thinkwire.store")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    key TEXT PRIMARY KEY NOT NULL,
    tenant TEXT NOT NULL,
    value BLOB NOT NULL,
    last_used REAL NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_last_used ON turns (last_used);
CREATE TABLE IF NOT EXISTS responses (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    value BLOB NOT NULL,
    last_used REAL NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX IF NOT EXISTS responses_last_used ON responses (last_used);
CREATE TABLE IF NOT EXISTS items (
    tenant TEXT NOT NULL,
    item TEXT NOT NULL,
    response TEXT NOT NULL,
    PRIMARY KEY (tenant, item)
);
CREATE INDEX IF NOT EXISTS items_response ON items (tenant, response);
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
CREATE TRIGGER IF NOT EXISTS responses_insert AFTER INSERT ON responses BEGIN
    UPDATE totals SET entries = entries + 1, bytes = bytes + NEW.size WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS responses_delete AFTER DELETE ON responses BEGIN
    UPDATE totals SET entries = entries - 1, bytes = bytes - OLD.size WHERE id = 0;
    DELETE FROM items WHERE tenant = OLD.tenant AND response = OLD.id;
END;
CREATE TRIGGER IF NOT EXISTS responses_resize AFTER UPDATE OF size ON responses BEGIN
    UPDATE totals SET bytes = bytes - OLD.size + NEW.size WHERE id = 0;
END;
"""


class SQLiteStore:
    """The conversation state in one SQLite file (see the module docstring)."""

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        ttl: float = DEFAULT_TTL,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
        fsync: bool = False,
        purge_interval: float = 60.0,
        touch_interval: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl <= 0 or max_entries < 1 or max_bytes < 1 or max_value_bytes < 1:
            raise ValueError("ttl and the bounds must be positive")
        self.path = Path(path).expanduser()
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_value_bytes = min(max_value_bytes, max_bytes)
        self.fsync = fsync
        self.purge_interval = purge_interval
        self.touch_interval = min(touch_interval, ttl / 10)
        self._clock = clock
        self._lock = threading.Lock()  # the writer connection and the counters
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._closed = False
        self._last_purge = -math.inf
        self._hits = self._misses = self._evictions = self._expired = self._rejected = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._connect()
            self._db.execute("PRAGMA journal_mode=WAL")
            (version,) = self._db.execute("PRAGMA user_version").fetchone()
            if version not in (0, 1, _SCHEMA_VERSION):
                raise StoreError(f"{self.path}: schema version {version}, expected {_SCHEMA_VERSION}")
            # Every statement is idempotent, so processes opening the file together agree.
            upgrade = ""
            if version == 1:
                log.warning("%s: turns recorded by an older thinkwire are dropped (new keys)", self.path)
                upgrade = "DROP TABLE IF EXISTS turns; DROP TABLE IF EXISTS totals;"
            self._db.executescript(
                f"BEGIN IMMEDIATE;{upgrade}{_SCHEMA}PRAGMA user_version = {_SCHEMA_VERSION};COMMIT;"
            )
        except (sqlite3.Error, StoreError) as e:
            if hasattr(self, "_db"):
                self._db.close()
            if isinstance(e, StoreError):
                raise
            raise StoreError(f"{self.path}: {e}") from e

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
        db.execute(f"PRAGMA synchronous={'FULL' if self.fsync else 'NORMAL'}")
        return db

    def _reader(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            with self._lock:
                if self._closed:
                    raise StoreError(f"{self.path}: the store is closed")
                db = self._connect()
                self._readers.append(db)
            self._local.db = db
        return db

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: {e}") from e

    # writes

    def commit(self, writes: Sequence[Write]) -> list[bool]:
        rows: list[tuple[Write, bytes | None]] = []
        for write in writes:
            value: bytes | None = None
            if isinstance(write, TurnRecord):
                value = write.encoded()
            elif isinstance(write, ResponseRecord):
                value = encode_response(write.stored)
            rows.append((write, value))
        done: list[bool] = []
        with self._lock, self._errors():
            if self._closed:
                raise StoreError(f"{self.path}: the store is closed")
            db = self._db
            now = self._clock()
            with _transaction(db):
                for write, value in rows:
                    done.append(self._apply(db, write, value, now))
                if now - self._last_purge >= self.purge_interval:
                    self._last_purge = now
                    self._purge(db, now)
                self._evict(db)
        return done

    def _apply(self, db: sqlite3.Connection, write: Write, value: bytes | None, now: float) -> bool:
        if value is not None and len(value) > self.max_value_bytes:
            self._rejected += 1
            return False
        if isinstance(write, TurnRecord):
            assert value is not None
            db.executemany(
                "INSERT INTO turns (key, tenant, value, last_used, size) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                " last_used = excluded.last_used, size = excluded.size",
                [(key, write.tenant, value, now, len(value)) for key in write.keys],
            )
            return True
        if isinstance(write, ResponseRecord):
            assert value is not None
            db.execute(
                "INSERT INTO responses (tenant, id, value, last_used, size) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (tenant, id) DO UPDATE SET value = excluded.value,"
                " last_used = excluded.last_used, size = excluded.size",
                (write.tenant, write.id, value, now, len(value)),
            )
            db.executemany(
                "INSERT OR REPLACE INTO items (tenant, item, response) VALUES (?, ?, ?)",
                [(write.tenant, item, write.id) for item in write.stored.items],
            )
            return True
        assert isinstance(write, ResponseDeletion)
        cur = db.execute("DELETE FROM responses WHERE tenant = ? AND id = ?", (write.tenant, write.id))
        return cur.rowcount > 0

    def _purge(self, db: sqlite3.Connection, now: float) -> None:
        for table in ("turns", "responses"):
            cur = db.execute(f"DELETE FROM {table} WHERE last_used < ?", (now - self.ttl,))
            self._expired += max(cur.rowcount, 0)

    def _evict(self, db: sqlite3.Connection) -> None:
        entries, size = db.execute("SELECT entries, bytes FROM totals WHERE id = 0").fetchone()
        extra_entries, extra_bytes = entries - self.max_entries, size - self.max_bytes
        if extra_entries <= 0 and extra_bytes <= 0:
            return
        turns: list[str] = []
        responses: list[tuple[str, str]] = []
        oldest = db.execute(
            "SELECT 0, key, '', size, last_used FROM turns UNION ALL"
            " SELECT 1, id, tenant, size, last_used FROM responses ORDER BY 5"
        )
        for kind, key, tenant, row_size, _ in oldest:
            if extra_entries <= 0 and extra_bytes <= 0:
                break
            if kind == 0:
                turns.append(key)
            else:
                responses.append((tenant, key))
            extra_entries -= 1
            extra_bytes -= row_size
        for chunk in _chunks(turns):
            db.execute(f"DELETE FROM turns WHERE key IN ({_marks(chunk)})", chunk)
        db.executemany("DELETE FROM responses WHERE tenant = ? AND id = ?", responses)
        self._evictions += len(turns) + len(responses)

    # reads

    def turns(self, tenant: str, keys: Sequence[str]) -> list[Message | None]:
        found: dict[str, bytes] = {}
        with self._errors():
            db = self._reader()
            now = self._clock()
            stale: list[str] = []
            for chunk in _chunks(list(dict.fromkeys(keys))):
                rows = db.execute(
                    f"SELECT key, value, last_used FROM turns WHERE key IN ({_marks(chunk)}) AND tenant = ?",
                    [*chunk, tenant],
                )
                for key, value, last_used in rows:
                    if now - last_used > self.ttl:
                        continue
                    found[key] = value
                    if now - last_used >= self.touch_interval:
                        stale.append(key)
            if stale:
                with _transaction(db):
                    for chunk in _chunks(stale):
                        db.execute(
                            f"UPDATE turns SET last_used = ? WHERE key IN ({_marks(chunk)})", [now, *chunk]
                        )
        hits = sum(1 for key in keys if key in found)
        with self._lock:
            self._hits += hits
            self._misses += len(keys) - hits
        return [decode_turn(found[key]) if key in found else None for key in keys]

    def response(self, tenant: str, id: str) -> StoredResponse | None:
        with self._errors():
            db = self._reader()
            now = self._clock()
            row = db.execute(
                "SELECT value, last_used FROM responses WHERE tenant = ? AND id = ?", (tenant, id)
            ).fetchone()
            if row is None or now - row[1] > self.ttl:
                return None
            if now - row[1] >= self.touch_interval:
                with _transaction(db):
                    db.execute(
                        "UPDATE responses SET last_used = ? WHERE tenant = ? AND id = ?", (now, tenant, id)
                    )
        return decode_response(row[0])

    def item(self, tenant: str, item: str) -> str | None:
        with self._errors():
            row = (
                self._reader()
                .execute("SELECT response FROM items WHERE tenant = ? AND item = ?", (tenant, item))
                .fetchone()
            )
        return None if row is None else str(row[0])

    def stats(self) -> StoreStats:
        with self._errors():
            entries, size = (
                self._reader().execute("SELECT entries, bytes FROM totals WHERE id = 0").fetchone()
            )
        with self._lock:
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
            if self._closed:
                return
            self._closed = True
            for db in (self._db, *self._readers):
                db.close()


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction on ``db``: committed at the end, rolled back on any error (so a
    failure never leaves the connection holding the write lock)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _marks(chunk: list[str]) -> str:
    return ",".join("?" * len(chunk))
